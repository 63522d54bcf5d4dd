// One ublk device's life over the Control interface: add, configure and
// start it, or adopt it from a dead server; resize; stop and delete it. Its
// queues are served by the reactors of the server that made it, reached
// through DeviceHost.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control.h"
#include "device_files.h"
#include "queue.h"
#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

// What a device uses of the server that made it. The server outlives its
// devices; every method is thread-safe.
class DeviceHost {
 public:
  virtual ~DeviceHost() = default;
  virtual Control& control() = 0;
  virtual DeviceFiles& files() = 0;
  virtual const Features& features() const = 0;
  virtual uint32_t owner() const = 0;
  // A reactor for each of `queues` queues of `depth` tags (see Placement);
  // nullopt if zero copy finds no room.
  virtual std::optional<std::vector<unsigned>> Place(unsigned queues, unsigned depth, bool zero_copy) = 0;
  virtual void Unplace(unsigned reactor, unsigned depth, bool zero_copy) = 0;
  // Reactor::AddQueue on reactor `reactor`.
  virtual std::future<Status> AddQueue(unsigned reactor, Queue* q) = 0;
  virtual void Log(const std::string& line) const = 0;
};

// ADD_DEV, SET_PARAMS, the queues on `reactors` (one per queue, already
// placed: the device releases them), START_DEV. On failure whatever was
// made is stopped and deleted again.
Result<std::unique_ptr<Device>> AddDevice(DeviceHost& host, const DeviceOptions& options, CopyMode mode,
                                          std::vector<unsigned> reactors);

// Server::AdoptDevice (ublk.h) for `host`.
Result<std::unique_ptr<Device>> AdoptDevice(DeviceHost& host, uint32_t id, const std::string& backing_path,
                                            BackendKind backend);

// DEL_DEV_ASYNC where the kernel has it (6.9+), else the synchronous one.
Status DeleteDev(Control& control, uint32_t id);

}  // namespace warmblock::ublk
