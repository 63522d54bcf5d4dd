// A thread for the reactors' calls that block, so that a slow one holds up
// no ring: BLKDISCARD, for kernels without an io_uring discard for block
// devices (before 6.12), may take as long as the device needs to unmap or
// erase the range. Jobs run one at a time, in order; a job reports back to
// its reactor through Reactor::Post. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

#include "warmblock/base/mutex.h"

namespace warmblock::ublk {

class BlockingWorker {
 public:
  BlockingWorker() = default;
  // Runs every job already queued, then joins the thread.
  ~BlockingWorker();
  BlockingWorker(const BlockingWorker&) = delete;
  BlockingWorker& operator=(const BlockingWorker&) = delete;

  // Queues `job`; the thread starts with the first.
  void Run(std::function<void()> job);

 private:
  void Loop();

  Mutex mu_;
  std::condition_variable_any wake_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_ GUARDED_BY(mu_);  // moved out to be joined
};

}  // namespace warmblock::ublk
