// What a device's service touches besides the control commands, without
// the driver, for the ublk module's own unit tests: DeviceFiles that open
// /dev/null for /dev/ublkcN and map anonymous memory for the descriptors,
// and reactors with no ring that take a queue's tags as if fetched. The
// kernel hands fetched tags back at STOP_DEV; ReturnTags does that here
// (wire FakeControl::set_on_stop to it). Must outlive the server it feeds.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "device_files.h"
#include "reactor.h"
#include "warmblock/base/mutex.h"

namespace warmblock::ublk {

class FakeDataPlane {
 public:
  // The files: OpenBacking gives `backing_size` bytes (a block device if
  // `backing_is_block`) for any path but `missing_backing`.
  std::unique_ptr<DeviceFiles> Files();
  // For ServerParts::start_reactor.
  std::function<Result<std::unique_ptr<Reactor>>(unsigned index, bool zero_copy, BlockingWorker&)> ReactorStarter();

  // Every fetched tag of device `id` comes back: its queues drain.
  void ReturnTags(uint32_t id);
  // Queues taken by reactor `index` and not yet drained.
  unsigned queues_on(unsigned index) const;
  // Reactors started, and whether each got a buffer table.
  std::vector<bool> reactors_zero_copy() const;

  // Injected failures, each until cleared.
  void set_backing(uint64_t size, bool is_block);
  void set_missing_backing(const std::string& path);
  void FailMap(Status error);      // MapDescriptors
  void FailFetch(Status error);    // Reactor::AddQueue
  void FailReactor(Status error);  // starting a reactor
  void SetHeld(const std::string& disk, bool held);

 private:
  class Files_;
  class Reactor_;
  struct Taken {
    unsigned reactor;
    Queue* queue;
  };

  mutable Mutex mu_;
  uint64_t backing_size_ GUARDED_BY(mu_) = 1ull << 30;
  bool backing_is_block_ GUARDED_BY(mu_) = false;
  std::string missing_backing_ GUARDED_BY(mu_);
  Status map_error_ GUARDED_BY(mu_);
  Status fetch_error_ GUARDED_BY(mu_);
  Status reactor_error_ GUARDED_BY(mu_);
  std::set<std::string> held_ GUARDED_BY(mu_);
  std::map<int, uint32_t> char_fds_ GUARDED_BY(mu_);  // fd -> device id
  std::vector<Taken> taken_ GUARDED_BY(mu_);
  std::vector<bool> reactors_ GUARDED_BY(mu_);
};

}  // namespace warmblock::ublk
