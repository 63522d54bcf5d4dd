#include <sys/eventfd.h>

#include <cerrno>
#include <string>

#include "backend.h"

namespace warmblock::ublk {

Result<std::unique_ptr<LibaioBackend>> LibaioBackend::Create(Complete complete) {
  Fd event_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event_fd.valid()) return Status::FromErrno(errno, "libaio eventfd");
  io_context_t ctx{};
  int rc = io_setup(kDepth, &ctx);
  if (rc < 0) return Status::FromErrno(-rc, "io_setup (libaio)");
  return std::unique_ptr<LibaioBackend>(new LibaioBackend(ctx, std::move(event_fd), std::move(complete)));
}

LibaioBackend::LibaioBackend(io_context_t ctx, Fd event_fd, Complete complete)
    : ctx_(ctx), event_fd_(std::move(event_fd)), complete_(std::move(complete)) {}

LibaioBackend::~LibaioBackend() { io_destroy(ctx_); }

void LibaioBackend::Read(Tag& t, char* buf, uint32_t len, uint64_t off) {
  io_prep_pread(&t.aio, t.queue->backing_fd, buf, len, static_cast<long long>(off));
  Submit(t);
}

void LibaioBackend::Write(Tag& t, char* buf, uint32_t len, uint64_t off, bool fua) {
  io_prep_pwrite(&t.aio, t.queue->backing_fd, buf, len, static_cast<long long>(off));
  if (fua) t.aio.aio_rw_flags = RWF_DSYNC;
  Submit(t);
}

void LibaioBackend::Flush(Tag& t) {
  io_prep_fdsync(&t.aio, t.queue->backing_fd);
  Submit(t);
}

void LibaioBackend::Submit(Tag& t) {
  t.aio.data = &t;
  io_set_eventfd(&t.aio, event_fd_.get());
  iocb* list[1] = {&t.aio};
  int rc = io_submit(ctx_, 1, list);
  if (rc == 1) return;
  if (rc == -EAGAIN) {
    waiting_.push_back(&t);  // the context is full: retried on completions
    return;
  }
  complete_(t, rc < 0 ? rc : -EIO);
}

void LibaioBackend::Reap() {
  io_event events[64];
  timespec zero{0, 0};
  int n;
  while ((n = io_getevents(ctx_, 0, 64, events, &zero)) > 0) {
    for (int i = 0; i < n; ++i)
      complete_(*static_cast<Tag*>(events[i].data), static_cast<int>(static_cast<long>(events[i].res)));
    std::vector<Tag*> retry;
    retry.swap(waiting_);
    for (Tag* t : retry) Submit(*t);
  }
}

}  // namespace warmblock::ublk
