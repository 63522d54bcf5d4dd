#include "backend.h"

namespace warmblock::ublk {

io_uring_sqe* NextSqe(io_uring* ring, uint64_t user_data) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  while (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  io_uring_sqe_set_data64(sqe, user_data);
  return sqe;
}

namespace {
uint64_t UserData(Tag& t) { return reinterpret_cast<uint64_t>(&t); }
}  // namespace

void UringBackend::Read(Tag& t, char* buf, uint32_t len, uint64_t off) {
  io_uring_sqe* sqe = NextSqe(ring_, UserData(t));
  if (buf == IoSteps::kRequestPages) {
    // Offset 0 of the buffer the driver registered for this request.
    io_uring_prep_read_fixed(sqe, t.queue->backing_fd, nullptr, len, off, t.buf_index);
  } else {
    io_uring_prep_read(sqe, t.queue->backing_fd, buf, len, off);
  }
}

void UringBackend::Write(Tag& t, char* buf, uint32_t len, uint64_t off, bool fua) {
  io_uring_sqe* sqe = NextSqe(ring_, UserData(t));
  if (buf == IoSteps::kRequestPages) {
    io_uring_prep_write_fixed(sqe, t.queue->backing_fd, nullptr, len, off, t.buf_index);
  } else {
    io_uring_prep_write(sqe, t.queue->backing_fd, buf, len, off);
  }
  if (fua) sqe->rw_flags = RWF_DSYNC;
}

void UringBackend::Flush(Tag& t) {
  io_uring_prep_fsync(NextSqe(ring_, UserData(t)), t.queue->backing_fd, IORING_FSYNC_DATASYNC);
}

}  // namespace warmblock::ublk
