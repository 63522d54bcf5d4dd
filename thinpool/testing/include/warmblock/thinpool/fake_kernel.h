// In-memory stand-ins for device-mapper and block devices, with thin-pool
// semantics close enough for unit tests: thin ids, snapshots, the
// transaction id, data blocks used, open counts and fault injection. They
// do not replace the kernel tests in the VM.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "warmblock/thinpool/kernel.h"

namespace warmblock::thinpool {

class FakeDeviceMapper final : public DeviceMapper {
 public:
  struct Device {
    std::vector<DmTarget> table;
    DmInfo info;
    int closes_after_infos = -1;  // see SetOpenBriefly
  };
  struct PoolState {
    uint64_t transaction_id = 0;
    std::set<uint32_t> thins;
    uint64_t data_used = 0;
    // Status mode out_of_data_space (an allocation failed); a reload that
    // gives the pool free blocks ends it, as the kernel's does.
    bool out_of_data_space = false;
  };

  Status Create(const std::string& name, const std::vector<DmTarget>& table) override;
  Status Reload(const std::string& name, const std::vector<DmTarget>& table) override;
  Status Remove(const std::string& name) override;
  Status Suspend(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<DmInfo> Info(const std::string& name) override;
  Result<std::vector<DmTarget>> Table(const std::string& name, bool table) override;
  Status Message(const std::string& name, const std::string& message) override;
  Result<std::vector<std::string>> List() override;
  Result<uint32_t> WaitEvent(const std::string& name, uint32_t last_event_nr, int timeout_ms) override;
  Result<std::string> NodePath(uint32_t major, uint32_t minor) override;

  // Test hooks. `fail_message` sees each message before it runs; returning a
  // non-zero errno fails it. With `apply_then_fail` the message takes effect
  // and then reports the error: a crash right after the kernel step.
  std::function<int(const std::string& message)> fail_message;
  bool apply_then_fail = false;
  // Simulates a reboot: every dm device disappears; pool metadata (per
  // metadata device "major:minor") survives.
  void Reboot();
  void SetOpenCount(const std::string& name, int n);
  // Open `n` times for the next `infos` Info calls, then closed: a last
  // reference the kernel drops a moment after its holder closed it.
  void SetOpenBriefly(const std::string& name, int n, int infos);
  void BumpEvent(const std::string& name);
  // Pool metadata by metadata device; tests may inspect or edit it.
  std::map<std::string, PoolState> metadata;
  std::vector<std::string> log;  // every call, "op name [args]"

 private:
  PoolState* PoolOf(const std::string& name);
  std::mutex mu_;
  std::map<std::string, Device> devices_;
  uint32_t next_minor_ = 0;
};

class FakeBlockDevices final : public BlockDevices {
 public:
  Result<std::unique_ptr<LoopDevice>> Attach(const std::string& file) override;
  Result<BlockInfo> Probe(const std::string& path) override;
  Status RefreshLoop(dev_t loop) override;
  // Block devices Probe knows; loop devices get the same device number for
  // the same file path so that pool metadata survives a fake reboot.
  std::map<std::string, BlockInfo> devices;
  int attached = 0;  // live loop handles
  // Size each loop device ("/dev/loopN") sees: its file's size when it was
  // attached or last refreshed.
  std::map<std::string, uint64_t> loop_bytes;
  // Non-zero: RefreshLoop fails with this errno and changes nothing.
  int refresh_errno = 0;

 private:
  std::map<std::string, int> loop_of_file_;
};

}  // namespace warmblock::thinpool
