// The files a device's service opens besides the control commands: its
// backing, /dev/ublkcN and each queue's descriptor mapping, and the probe
// of its disk. One Linux implementation (device_files_linux.cc); unit tests
// use a fake so that a device's life runs without the driver.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "warmblock/base/fd.h"
#include "warmblock/base/mapping.h"
#include "warmblock/base/status.h"

namespace warmblock::ublk {

class DeviceFiles {
 public:
  struct Backing {
    Fd fd;
    uint64_t size = 0;
    bool is_block = false;
  };

  virtual ~DeviceFiles() = default;
  // Opens `path` read-write with O_DIRECT; its size is a block device's or
  // a file's.
  virtual Result<Backing> OpenBacking(const std::string& path) = 0;
  // Opens /dev/ublkcN of device `id` (ADD_DEV made it; udev may be slow to
  // show it).
  virtual Result<Fd> OpenChar(uint32_t id) = 0;
  // Maps the first `len` bytes of queue `q`'s descriptors, read-only.
  virtual Result<Mapping> MapDescriptors(int char_fd, uint16_t q, size_t len) = 0;
  // Whether something holds `disk` with O_EXCL (a mount does).
  virtual bool ExclusivelyHeld(const std::string& disk) = 0;
};

std::unique_ptr<DeviceFiles> LinuxDeviceFiles();

}  // namespace warmblock::ublk
