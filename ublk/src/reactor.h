// A reactor thread: one io_uring for the ublk commands of its queues and,
// with the io_uring back end, their back-end I/O; the libaio back end's
// completions arrive through an eventfd read in the same ring. Other
// threads reach a reactor only through Post() and AddQueue(); Stats() may
// be read from any thread.
#pragma once

#include <functional>
#include <future>
#include <memory>

#include "blocking_worker.h"
#include "queue.h"
#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

class Reactor {
 public:
  // Sets up the ring (with a sparse buffer table for zero copy) and starts
  // the thread. Calls that would block the ring go to `blocking`, which
  // must outlive the reactor.
  static Result<std::unique_ptr<Reactor>> Start(unsigned index, const ServerOptions& options, bool zero_copy,
                                                BlockingWorker& blocking);
  // Stops the thread; queues still on it are abandoned to the kernel.
  virtual ~Reactor() = default;

  // Runs `fn` on the reactor thread; a null fn asks the reactor to stop.
  virtual void Post(std::function<void()> fn) = 0;
  // Registers every tag of `q` with the kernel (FETCH_REQ). The future is
  // ready once the fetches are submitted, which START_DEV waits for, or
  // holds the error (libaio set-up).
  virtual std::future<Status> AddQueue(Queue* q) = 0;
  virtual ReactorStats Stats() const = 0;
};

}  // namespace warmblock::ublk
