// An owned io_uring, torn down when it goes out of scope. Not movable: the
// kernel's rings are mapped at the address of the io_uring inside.
#pragma once

#include <liburing.h>

#include <string>

#include "warmblock/base/status.h"

namespace warmblock::ublk {

class Ring {
 public:
  Ring() = default;
  ~Ring() {
    if (ready_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Sets the ring up with `entries` SQEs and `params`; `what` names it in
  // the error.
  Status Init(unsigned entries, io_uring_params* params, const std::string& what) {
    int rc = io_uring_queue_init_params(entries, &ring_, params);
    if (rc < 0) return Status::FromErrno(-rc, what, "io_uring setup");
    ready_ = true;
    return Status::OK();
  }

  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
  bool ready_ = false;
};

}  // namespace warmblock::ublk
