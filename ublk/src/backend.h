// Where a queue's reads, writes and flushes of its backing file go: the
// reactor's own io_uring, or libaio (for kernels or files where io_uring
// I/O is unwanted). Each call starts one operation for tag `t` on
// t.queue->backing_fd; its result comes back to the reactor as a
// completion of `t`. Discards and zeroing have no libaio form and always
// use the ring. Reactor-thread only.
#pragma once

#include <liburing.h>

#include <functional>
#include <memory>
#include <vector>

#include "queue.h"
#include "warmblock/base/fd.h"
#include "warmblock/base/status.h"

namespace warmblock::ublk {

class Backend {
 public:
  virtual ~Backend() = default;
  // `buf` may be kRequestPages (zero copy: the pages the driver registered
  // at t.buf_index); only the io_uring back end is given those.
  virtual void Read(Tag& t, char* buf, uint32_t len, uint64_t off) = 0;
  virtual void Write(Tag& t, char* buf, uint32_t len, uint64_t off, bool fua) = 0;
  virtual void Flush(Tag& t) = 0;
};

// A free SQE of `ring` whose completion carries `user_data`; submits what
// is queued when the SQ ring is full.
io_uring_sqe* NextSqe(io_uring* ring, uint64_t user_data);

// On the reactor's ring: the completion carries the tag's address.
class UringBackend final : public Backend {
 public:
  explicit UringBackend(io_uring* ring) : ring_(ring) {}
  void Read(Tag& t, char* buf, uint32_t len, uint64_t off) override;
  void Write(Tag& t, char* buf, uint32_t len, uint64_t off, bool fua) override;
  void Flush(Tag& t) override;

 private:
  io_uring* ring_;
};

// libaio: completions are signalled on event_fd(), which the reactor reads
// through its ring; Reap() then hands each to `complete`, which also gets
// the submissions the kernel refused.
class LibaioBackend final : public Backend {
 public:
  using Complete = std::function<void(Tag& t, int result)>;
  static Result<std::unique_ptr<LibaioBackend>> Create(Complete complete);
  ~LibaioBackend() override;
  LibaioBackend(const LibaioBackend&) = delete;
  LibaioBackend& operator=(const LibaioBackend&) = delete;

  int event_fd() const { return event_fd_.get(); }
  // Delivers what completed, and retries submissions that found the
  // context full.
  void Reap();

  void Read(Tag& t, char* buf, uint32_t len, uint64_t off) override;
  void Write(Tag& t, char* buf, uint32_t len, uint64_t off, bool fua) override;
  void Flush(Tag& t) override;

 private:
  static constexpr int kDepth = 4096;
  LibaioBackend(io_context_t ctx, Fd event_fd, Complete complete);
  void Submit(Tag& t);

  io_context_t ctx_;
  Fd event_fd_;
  Complete complete_;
  std::vector<Tag*> waiting_;  // submissions that found the context full
};

}  // namespace warmblock::ublk
