// A thread for the reactors' calls that block, so that a slow one holds up
// no ring: BLKDISCARD, for kernels without an io_uring discard for block
// devices (before 6.12), may take as long as the device needs to unmap or
// erase the range. Jobs run one at a time, in order; a job reports back to
// its reactor through Reactor::Post. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

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

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;                      // guarded by mu_ until joined
};

}  // namespace warmblock::ublk
