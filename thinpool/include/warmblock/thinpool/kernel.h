// The kernel interfaces the thin-pool library uses: device-mapper and block
// devices. LinuxDeviceMapper()/LinuxBlockDevices() talk to the kernel
// (libdevmapper ioctls, udev sync off; LOOP_CONFIGURE); unit tests pass fakes.
// No method forks a process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::thinpool {

// One line of a device-mapper table, or of its status output.
struct DmTarget {
  uint64_t start = 0;   // sectors
  uint64_t length = 0;  // sectors
  std::string type;     // "thin-pool", "thin", "linear", ...
  std::string params;
};

struct DmInfo {
  uint32_t major = 0;
  uint32_t minor = 0;
  bool suspended = false;
  int32_t open_count = 0;
  uint32_t event_nr = 0;  // bumped by the target on events (e.g. low water)
};

// Device-mapper control. Names are dm device names. Every method is a
// synchronous ioctl round trip; implementations are thread-safe.
class DeviceMapper {
 public:
  virtual ~DeviceMapper() = default;

  // Creates `name`, loads `table` and resumes it. On failure nothing is left.
  virtual Status Create(const std::string& name, const std::vector<DmTarget>& table) = 0;
  // Loads `table` into the inactive slot and swaps it in (suspend + resume).
  virtual Status Reload(const std::string& name, const std::vector<DmTarget>& table) = 0;
  virtual Status Remove(const std::string& name) = 0;
  virtual Status Suspend(const std::string& name) = 0;
  virtual Status Resume(const std::string& name) = 0;
  // kNotFound if `name` does not exist.
  virtual Result<DmInfo> Info(const std::string& name) = 0;
  // The live table (`table` = true) or the targets' status lines.
  virtual Result<std::vector<DmTarget>> Table(const std::string& name, bool table) = 0;
  // Sends a target message at sector 0 (e.g. "create_thin 7").
  virtual Status Message(const std::string& name, const std::string& message) = 0;
  virtual Result<std::vector<std::string>> List() = 0;
  // Waits until `name`'s event counter differs from `last_event_nr` or
  // `timeout_ms` passes (kTimeout). Returns the new counter.
  virtual Result<uint32_t> WaitEvent(const std::string& name, uint32_t last_event_nr, int timeout_ms) = 0;
  // Block device node for major:minor usable without udev ("/dev/dm-N").
  virtual Result<std::string> NodePath(uint32_t major, uint32_t minor) = 0;
};

// A loop device bound to a file. Holding it keeps an fd on the loop device;
// the binding uses autoclear, so once every holder (this handle, device-mapper
// tables) lets go, the kernel detaches it by itself: a crashed daemon leaks
// no loop devices.
class LoopDevice {
 public:
  virtual ~LoopDevice() = default;
  virtual const std::string& path() const = 0;  // "/dev/loopN"
  virtual dev_t devno() const = 0;
  virtual bool direct_io() const = 0;  // false if the file system refused O_DIRECT
};

struct BlockInfo {
  dev_t devno = 0;
  uint64_t size_bytes = 0;
};

// Loop devices and facts about block devices.
class BlockDevices {
 public:
  virtual ~BlockDevices() = default;
  // Binds `file` to a free loop device, asking for direct I/O (falls back to
  // buffered I/O where the backing file system cannot do it).
  virtual Result<std::unique_ptr<LoopDevice>> Attach(const std::string& file) = 0;
  // Device number and size of the block device at `path` (kInvalidArgument
  // if it is not a block device).
  virtual Result<BlockInfo> Probe(const std::string& path) = 0;
  // Makes loop device `loop` take the current size of its backing file,
  // after the file grew (LOOP_SET_CAPACITY). Works on a loop device nobody
  // here holds (a pool table does). kInvalidArgument if `loop` is not a loop
  // device.
  virtual Status RefreshLoop(dev_t loop) = 0;
};

// The real kernel. Creating the device mapper turns libdevmapper's udev sync
// off (a process-wide libdevmapper setting; warmblock never wants udev sync).
std::unique_ptr<DeviceMapper> LinuxDeviceMapper();
std::unique_ptr<BlockDevices> LinuxBlockDevices();

}  // namespace warmblock::thinpool
