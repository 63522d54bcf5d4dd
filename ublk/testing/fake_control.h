// An in-memory /dev/ublk-control for the ublk module's own unit tests: a
// device table with the kernel's states and transitions, the feature flags
// GET_FEATURES reports, a log of the commands that change something, and
// injected failures. It fakes a private interface (src/control.h), so only
// tests that see the module's sources can use it. Thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control.h"
#include "warmblock/base/mutex.h"

namespace warmblock::ublk {

class FakeControl final : public Control {
 public:
  struct Dev {
    abi::DevInfo info{};
    abi::Params params{};
    bool has_params = false;
    bool recovering = false;  // START_USER_RECOVERY taken, END not yet
  };

  explicit FakeControl(uint64_t features) : features_(features) {}

  std::vector<uint32_t> DeviceIds() override;
  Result<uint64_t> GetFeatures() override;
  Status AddDev(abi::DevInfo* info) override;
  Status SetParams(uint32_t dev_id, const abi::Params& params) override;
  Status StartDev(uint32_t dev_id, pid_t server_pid) override;
  Status StopDev(uint32_t dev_id) override;
  Status TryStopDev(uint32_t dev_id) override;
  Status DelDev(uint32_t dev_id, bool async) override;
  Result<abi::DevInfo> GetDevInfo(uint32_t dev_id) override;
  Result<abi::Params> GetParams(uint32_t dev_id) override;
  Status UpdateSize(uint32_t dev_id, uint64_t sectors) override;
  Status StartUserRecovery(uint32_t dev_id) override;
  Status EndUserRecovery(uint32_t dev_id, pid_t server_pid) override;

  // The commands that change the table, oldest first, as "NAME id" with
  // the kernel's names ("ADD_DEV any", "DEL_DEV_ASYNC 0"); queries are
  // left out. A refused command is logged too.
  std::vector<std::string> commands() const;
  void clear_commands();
  // The next `times` commands named `name` (as in commands(), or
  // "GET_FEATURES", "GET_DEV_INFO", "GET_PARAMS") fail with `error`
  // without effect.
  void Fail(const std::string& name, Status error, int times = 1);
  // A device as another process left it (its id is info.dev_id).
  void Put(const abi::DevInfo& info, const abi::Params& params);
  // The device, or nullptr; a copy, safe to keep.
  std::optional<Dev> device(uint32_t dev_id) const;
  // Its server process is gone: a device with user recovery waits
  // (quiesced), another stops; GET_DEV_INFO then reports pid -1.
  void ServerDied(uint32_t dev_id);
  // While `open` a TRY_STOP_DEV of the device is refused (kBusy).
  void SetDiskOpen(uint32_t dev_id, bool open);
  // Before Linux 6.9 there is no DEL_DEV_ASYNC (kInvalidArgument).
  void set_async_delete(bool has) {
    MutexLock lock(mu_);
    async_delete_ = has;
  }
  // Runs after each STOP_DEV (and a TRY_STOP_DEV that stops), outside the
  // lock: the kernel handing every fetched tag back to the reactors. Set
  // it before the server starts.
  void set_on_stop(std::function<void(uint32_t dev_id)> on_stop) { on_stop_ = std::move(on_stop); }

 private:
  // Logs `name id` and returns the injected failure, if any.
  Status Enter(const char* name, uint32_t dev_id, bool logged = true) REQUIRES(mu_);
  // The device `dev_id`, or kNotFound for command `name`.
  Result<Dev*> Find(const char* name, uint32_t dev_id) REQUIRES(mu_);
  // Enter, then Find.
  Result<Dev*> Begin(const char* name, uint32_t dev_id, bool logged = true) REQUIRES(mu_);
  Status Stop(uint32_t dev_id) REQUIRES(mu_);

  const uint64_t features_;
  mutable Mutex mu_;
  std::map<uint32_t, Dev> devs_ GUARDED_BY(mu_);
  std::vector<std::string> commands_ GUARDED_BY(mu_);
  std::map<std::string, std::pair<Status, int>> failures_ GUARDED_BY(mu_);
  std::set<uint32_t> open_ GUARDED_BY(mu_);
  bool async_delete_ GUARDED_BY(mu_) = true;
  std::function<void(uint32_t)> on_stop_;
};

}  // namespace warmblock::ublk
