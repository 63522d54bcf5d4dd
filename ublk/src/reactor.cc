// The ublk data plane on io_uring: the reactor threads and the steps of
// each request they serve.
#include "reactor.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <thread>

#include "backend.h"
#include "buffer_pool.h"
#include "request.h"
#include "ring.h"
#include "warmblock/base/fd.h"
#include "warmblock/base/mutex.h"

namespace warmblock::ublk {
namespace {

constexpr uint64_t kEventFdTag = 1;  // user_data of the reactor's wake-up read

constexpr uint64_t kAioEventTag = 2;  // user_data of the libaio completion eventfd read

class ReactorImpl final : public Reactor {
 public:
  ReactorImpl(unsigned index, const ServerOptions& options, bool zero_copy, BlockingWorker& blocking)
      : index_(index),
        buffers_(options.max_buffer_bytes),
        zero_copy_(zero_copy),
        log_(options.log),
        blocking_(blocking) {}
  ~ReactorImpl() override {
    if (thread_.joinable()) {
      Post(nullptr);  // stop
      thread_.join();
    }
    for (auto [buf, size] : lent_) buffers_.Put(buf, size);
  }

  Status Start() {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 8192;
    WB_RETURN_IF_ERROR(ring_.Init(1024, &p, "reactor " + std::to_string(index_)));
    if (zero_copy_) {
      // An empty table the driver fills: one entry per tag of every
      // zero-copy queue on this reactor (Placement keeps within it).
      int rc = io_uring_register_buffers_sparse(ring_.get(), abi::kMaxRingBuffers);
      if (rc < 0) return Status::FromErrno(-rc, "reactor " + std::to_string(index_) + ": register buffer table");
      for (unsigned i = abi::kMaxRingBuffers; i > 0; --i) free_buf_indexes_.push_back(static_cast<uint16_t>(i - 1));
    }
    if (void* page = nullptr; ::posix_memalign(&page, 4096, 4096) == 0) scratch_.reset(static_cast<char*>(page));
    event_fd_ = Fd(::eventfd(0, EFD_CLOEXEC));
    if (!event_fd_.valid()) return Status::FromErrno(errno, "reactor eventfd");
    thread_ = std::thread([this] { Loop(); });
    return Status::OK();
  }

  void Post(std::function<void()> fn) override {
    {
      MutexLock lock(mu_);
      inbox_.push_back(std::move(fn));
    }
    uint64_t one = 1;
    ssize_t n = ::write(event_fd_.get(), &one, sizeof one);
    (void)n;  // an eventfd write of 1 cannot fail short of overflow
  }

  std::future<Status> AddQueue(Queue* q) override {
    auto done = std::make_shared<std::promise<Status>>();
    auto fut = done->get_future();
    Post([this, q, done] {
      if (q->backend == BackendKind::kLibaio) {
        Status s = EnsureAio();
        if (!s.ok()) {
          q->drained.set_value();  // no tag was fetched
          return done->set_value(s);
        }
        q->io = aio_.get();
      } else {
        q->io = &uring_;
      }
      q->live = static_cast<unsigned>(q->tags.size());
      for (Tag& t : q->tags) {
        t.phase = Tag::Phase::kFetching;
        t.req.mode = q->mode;
        if (q->mode == CopyMode::kZeroCopy) {
          t.buf_index = free_buf_indexes_.back();
          free_buf_indexes_.pop_back();
        }
        SubmitIoCmd(t, abi::kIoFetchReq, -1, NextFetchAddr(t));
      }
      io_uring_submit(ring_.get());
      done->set_value(Status::OK());
    });
    return fut;
  }

  ReactorStats Stats() const override {
    ReactorStats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.buffer_bytes = buffers_.in_use_bytes();
    s.waits_for_buffer = waits_for_buffer_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // The reactor's side of one request's steps (see request.h).
  class Steps final : public IoSteps {
   public:
    Steps(ReactorImpl& r, Tag& t) : r_(r), t_(t), q_(*t.queue) {}
    char* GetBuffer() override { return r_.buffers_.Get(q_.max_io_bytes); }
    void PutBuffer(char* buf) override { r_.buffers_.Put(buf, q_.max_io_bytes); }
    void ReadBacking(char* buf, uint32_t len, uint64_t off) override { q_.io->Read(t_, buf, len, off); }
    void WriteBacking(char* buf, uint32_t len, uint64_t off, bool fua) override {
      q_.io->Write(t_, buf, len, off, fua);
    }
    void FlushBacking() override { q_.io->Flush(t_); }
    // libaio has no discard or zeroing: both back ends use these paths.
    void DiscardBacking(uint64_t off, uint32_t len) override {
      if (q_.backing_is_block) {
        // No io_uring discard for block devices before 6.12, and BLKDISCARD
        // lasts as long as the device takes over the range: off the ring.
        // The tag stays in service meanwhile, so its queue (and the
        // backing fd) cannot drain away before the answer is back.
        return r_.blocking_.Run([r = &r_, t = &t_, fd = q_.backing_fd, off, len] {
          uint64_t range[2] = {off, len};
          int rc = ::ioctl(fd, BLKDISCARD, range) < 0 ? -errno : 0;
          r->Post([r, t, rc] { r->Complete(*t, rc); });
        });
      }
      io_uring_prep_fallocate(r_.Sqe(t_), q_.backing_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
    }
    void ZeroBacking(uint64_t off, uint32_t len) override {
      io_uring_prep_fallocate(r_.Sqe(t_), q_.backing_fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
    }
    void CopyFromRequest(char* buf, uint32_t len) override {
      if (q_.mode == CopyMode::kBuffered) {
        return r_.SubmitIoCmd(t_, abi::kIoNeedGetData, 0, reinterpret_cast<uint64_t>(buf));
      }
      io_uring_prep_read(r_.Sqe(t_), q_.char_fd, buf, len, abi::UserCopyOffset(q_.q_id, t_.tag));
    }
    void CopyToRequest(char* buf, uint32_t len) override {
      io_uring_prep_write(r_.Sqe(t_), q_.char_fd, buf, len, abi::UserCopyOffset(q_.q_id, t_.tag));
    }
    void Commit(int32_t result, char* lent) override {
      Count(result);
      uint64_t addr = r_.NextFetchAddr(t_);
      if (q_.mode == CopyMode::kBuffered && t_.req.op == abi::kOpRead) {
        // The driver wants an address with every read commit, even a
        // failed one it copies nothing from.
        addr = reinterpret_cast<uint64_t>(lent != nullptr ? lent : r_.scratch_.get());
        if (lent != nullptr) r_.lent_.push_back({lent, q_.max_io_bytes});
      }
      t_.phase = Tag::Phase::kFetching;
      r_.SubmitIoCmd(t_, abi::kIoCommitAndFetchReq, result, addr);
    }

   private:
    void Count(int32_t result) {
      r_.requests_.fetch_add(1, std::memory_order_relaxed);
      if (result < 0) q_.errors.fetch_add(1, std::memory_order_relaxed);
      uint64_t bytes = result > 0 ? static_cast<uint64_t>(result) : 0;
      switch (t_.req.op) {
        case abi::kOpRead:
          q_.reads.fetch_add(1, std::memory_order_relaxed);
          q_.read_bytes.fetch_add(bytes, std::memory_order_relaxed);
          break;
        case abi::kOpWrite:
          q_.writes.fetch_add(1, std::memory_order_relaxed);
          q_.write_bytes.fetch_add(bytes, std::memory_order_relaxed);
          break;
        case abi::kOpFlush:
          q_.flushes.fetch_add(1, std::memory_order_relaxed);
          break;
        default:
          q_.discards.fetch_add(1, std::memory_order_relaxed);
      }
    }

    ReactorImpl& r_;
    Tag& t_;
    Queue& q_;
  };

  // sqe->addr for a FETCH or COMMIT_AND_FETCH of `t` (before any lent buffer).
  uint64_t NextFetchAddr(const Tag& t) const {
    return t.queue->mode == CopyMode::kZeroCopy ? abi::AutoBufRegAddr(t.buf_index) : 0;
  }

  io_uring_sqe* Sqe(uint64_t user_data) { return NextSqe(ring_.get(), user_data); }
  io_uring_sqe* Sqe(Tag& t) { return Sqe(reinterpret_cast<uint64_t>(&t)); }

  void SubmitIoCmd(Tag& t, uint32_t op, int32_t result, uint64_t addr) {
    io_uring_sqe* sqe = Sqe(t);
    std::memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = t.queue->char_fd;
    sqe->cmd_op = op;
    // AUTO_BUF_REG reads its index from sqe->addr and refuses a buffer
    // address in the command block; the copying modes use the block.
    abi::IoCmd cmd{t.queue->q_id, t.tag, result, addr};
    if (t.queue->mode == CopyMode::kZeroCopy) {
      sqe->addr = addr;
      cmd.addr = 0;
    }
    std::memcpy(sqe->cmd, &cmd, sizeof cmd);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(&t));
  }

  void Serve(Tag& t) {
    Queue& q = *t.queue;
    Steps steps(*this, t);
    StartRequest(t.req, q.descs[t.tag], q.max_io_bytes, steps);
  }

  void ResumeWaiting() {
    while (!waiting_for_buffer_.empty() && !buffers_.OverCap(waiting_for_buffer_.front()->queue->max_io_bytes)) {
      Tag* t = waiting_for_buffer_.front();
      waiting_for_buffer_.pop_front();
      Serve(*t);
    }
  }

  // Buffers lent to buffered read commits: the driver copied from them
  // while taking the commit, which happened inside the submit that just
  // returned if nothing is left unsubmitted.
  void ReturnLent() {
    if (lent_.empty() || io_uring_sq_ready(ring_.get()) != 0) return;
    for (auto [buf, size] : lent_) buffers_.Put(buf, size);
    lent_.clear();
  }

  Status EnsureAio() {
    if (aio_) return Status::OK();
    auto made = LibaioBackend::Create([this](Tag& t, int res) { Complete(t, res); });
    if (!made.ok()) return made.status().Annotate("reactor " + std::to_string(index_));
    aio_ = std::move(made).value();
    ArmRead(aio_->event_fd(), &aio_event_value_, kAioEventTag);
    return Status::OK();
  }

  void Complete(Tag& t, int res) {
    Queue& q = *t.queue;
    if (t.phase == Tag::Phase::kServing) {
      Steps steps(*this, t);
      return CompleteStep(t.req, res, steps);
    }
    if (t.phase != Tag::Phase::kFetching) return;
    if (res == abi::kIoResOk || res == abi::kIoResNeedGetData) {
      t.phase = Tag::Phase::kServing;
      if (NeedsBuffer(q.mode, q.descs[t.tag]) && (!waiting_for_buffer_.empty() || buffers_.OverCap(q.max_io_bytes))) {
        waits_for_buffer_.fetch_add(1, std::memory_order_relaxed);
        waiting_for_buffer_.push_back(&t);
        return;
      }
      return Serve(t);
    }
    // -ENODEV: the device is stopping and the kernel gave the tag back.
    // Anything else is a refused command, which leaves START_DEV waiting
    // for this tag: say so.
    if (res != -ENODEV && log_)
      log_("ublk reactor " + std::to_string(index_) + ": queue " + std::to_string(q.q_id) + " tag " +
           std::to_string(t.tag) + ": fetch failed: " + std::strerror(-res));
    t.phase = Tag::Phase::kDone;
    if (q.mode == CopyMode::kZeroCopy) free_buf_indexes_.push_back(t.buf_index);
    if (--q.live == 0) q.drained.set_value();
  }

  void ArmRead(int fd, uint64_t* value, uint64_t tag) { io_uring_prep_read(Sqe(tag), fd, value, sizeof *value, 0); }

  // Returns false once asked to stop.
  bool RunInbox() {
    std::vector<std::function<void()>> work;
    {
      MutexLock lock(mu_);
      work.swap(inbox_);
    }
    bool running = true;
    for (auto& fn : work) {
      if (fn) {
        fn();
      } else {
        running = false;
      }
    }
    return running;
  }

  void Loop() {
    ArmRead(event_fd_.get(), &event_value_, kEventFdTag);
    bool running = true;
    while (running) {
      if (!lent_.empty()) {
        // Lent buffers come back only once their commits are submitted, and
        // requests waiting at the buffer cap may need them: submit, take
        // them back and serve the waiting before sleeping on the ring.
        io_uring_submit(ring_.get());
        ReturnLent();
        ResumeWaiting();
      }
      int rc = io_uring_submit_and_wait(ring_.get(), 1);
      if (rc < 0 && rc != -EINTR && rc != -EBUSY) {
        std::fprintf(stderr, "ublk reactor %u: io_uring_submit_and_wait: %s\n", index_, std::strerror(-rc));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0, seen = 0;
      bool wake = false, aio = false;
      io_uring_for_each_cqe(ring_.get(), head, cqe) {
        ++seen;
        uint64_t data = io_uring_cqe_get_data64(cqe);
        if (data == kEventFdTag) {
          wake = true;
        } else if (data == kAioEventTag) {
          aio = true;
        } else if (data != 0) {
          Complete(*reinterpret_cast<Tag*>(data), cqe->res);
        }
      }
      io_uring_cq_advance(ring_.get(), seen);
      ResumeWaiting();
      if (aio) {
        aio_->Reap();
        ArmRead(aio_->event_fd(), &aio_event_value_, kAioEventTag);
      }
      if (wake) {
        running = RunInbox();
        ArmRead(event_fd_.get(), &event_value_, kEventFdTag);
      }
    }
  }

  unsigned index_;
  BufferPool buffers_;  // reactor-thread only (its byte count is read by Stats)
  bool zero_copy_;
  std::function<void(const std::string&)> log_;
  BlockingWorker& blocking_;
  Ring ring_;
  Fd event_fd_;
  uint64_t event_value_ = 0;
  std::thread thread_;
  Mutex mu_;
  std::vector<std::function<void()>> inbox_ GUARDED_BY(mu_);
  // Reactor-thread only:
  UringBackend uring_{ring_.get()};
  std::unique_ptr<LibaioBackend> aio_;  // made for the first libaio queue
  uint64_t aio_event_value_ = 0;
  std::vector<uint16_t> free_buf_indexes_;  // zero copy: unused buffer-table entries
  std::vector<std::pair<char*, uint32_t>> lent_;
  std::deque<Tag*> waiting_for_buffer_;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> scratch_;  // a page to name in read commits that have no buffer
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> waits_for_buffer_{0};
};

}  // namespace

Result<std::unique_ptr<Reactor>> Reactor::Start(unsigned index, const ServerOptions& options, bool zero_copy,
                                                BlockingWorker& blocking) {
  auto r = std::make_unique<ReactorImpl>(index, options, zero_copy, blocking);
  WB_RETURN_IF_ERROR(r->Start());
  return std::unique_ptr<Reactor>(std::move(r));
}

}  // namespace warmblock::ublk
