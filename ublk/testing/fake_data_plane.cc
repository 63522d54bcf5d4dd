#include "fake_data_plane.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>

namespace warmblock::ublk {

class FakeDataPlane::Files_ final : public DeviceFiles {
 public:
  explicit Files_(FakeDataPlane& plane) : p_(plane) {}

  Result<Backing> OpenBacking(const std::string& path) override {
    MutexLock lock(p_.mu_);
    if (path == p_.missing_backing_) return Status::NotFound("open backing " + path + ": No such file or directory");
    Backing b;
    b.fd = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    b.size = p_.backing_size_;
    b.is_block = p_.backing_is_block_;
    return b;
  }
  Result<Fd> OpenChar(uint32_t id) override {
    Fd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno(errno, "open /dev/null");
    MutexLock lock(p_.mu_);
    p_.char_fds_[fd.get()] = id;
    return fd;
  }
  Result<Mapping> MapDescriptors(int, uint16_t q, size_t len) override {
    {
      MutexLock lock(p_.mu_);
      if (!p_.map_error_.ok()) return p_.map_error_.Annotate("queue " + std::to_string(q));
    }
    void* m = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return Status::FromErrno(errno, "mmap");
    return Mapping(m, len);
  }
  bool ExclusivelyHeld(const std::string& disk) override {
    MutexLock lock(p_.mu_);
    return p_.held_.count(disk) != 0;
  }

 private:
  FakeDataPlane& p_;
};

class FakeDataPlane::Reactor_ final : public Reactor {
 public:
  Reactor_(FakeDataPlane& plane, unsigned index) : p_(plane), index_(index) {}
  void Post(std::function<void()> fn) override {
    if (fn) fn();
  }
  std::future<Status> AddQueue(Queue* q) override {
    std::promise<Status> done;
    MutexLock lock(p_.mu_);
    if (!p_.fetch_error_.ok()) {
      q->drained.set_value();  // no tag was fetched
      done.set_value(p_.fetch_error_);
    } else {
      q->live = static_cast<unsigned>(q->tags.size());
      p_.taken_.push_back({index_, q});
      done.set_value(Status::OK());
    }
    return done.get_future();
  }
  ReactorStats Stats() const override { return {}; }

 private:
  FakeDataPlane& p_;
  unsigned index_;
};

std::unique_ptr<DeviceFiles> FakeDataPlane::Files() { return std::make_unique<Files_>(*this); }

std::function<Result<std::unique_ptr<Reactor>>(unsigned, bool, BlockingWorker&)> FakeDataPlane::ReactorStarter() {
  return [this](unsigned index, bool zero_copy, BlockingWorker&) -> Result<std::unique_ptr<Reactor>> {
    MutexLock lock(mu_);
    if (!reactor_error_.ok()) return reactor_error_;
    reactors_.push_back(zero_copy);
    return std::unique_ptr<Reactor>(std::make_unique<Reactor_>(*this, index));
  };
}

void FakeDataPlane::ReturnTags(uint32_t id) {
  MutexLock lock(mu_);
  std::vector<Taken> kept;
  for (const Taken& t : taken_) {
    auto it = char_fds_.find(t.queue->char_fd);
    if (it == char_fds_.end() || it->second != id) {
      kept.push_back(t);
      continue;
    }
    t.queue->live = 0;
    t.queue->drained.set_value();
  }
  taken_ = std::move(kept);
}

unsigned FakeDataPlane::queues_on(unsigned index) const {
  MutexLock lock(mu_);
  unsigned n = 0;
  for (const Taken& t : taken_) n += t.reactor == index;
  return n;
}

std::vector<bool> FakeDataPlane::reactors_zero_copy() const {
  MutexLock lock(mu_);
  return reactors_;
}

void FakeDataPlane::set_backing(uint64_t size, bool is_block) {
  MutexLock lock(mu_);
  backing_size_ = size;
  backing_is_block_ = is_block;
}
void FakeDataPlane::set_missing_backing(const std::string& path) {
  MutexLock lock(mu_);
  missing_backing_ = path;
}
void FakeDataPlane::FailMap(Status error) {
  MutexLock lock(mu_);
  map_error_ = std::move(error);
}
void FakeDataPlane::FailFetch(Status error) {
  MutexLock lock(mu_);
  fetch_error_ = std::move(error);
}
void FakeDataPlane::FailReactor(Status error) {
  MutexLock lock(mu_);
  reactor_error_ = std::move(error);
}
void FakeDataPlane::SetHeld(const std::string& disk, bool held) {
  MutexLock lock(mu_);
  if (held) {
    held_.insert(disk);
  } else {
    held_.erase(disk);
  }
}

}  // namespace warmblock::ublk
