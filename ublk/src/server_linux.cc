// Server and Device: each device's life over the Control interface (add,
// configure, start, adopt, stop, delete), its queues' /dev/ublkcN mappings
// handed to the reactors (reactor.cc), and the sysfs census of abandoned
// devices.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "census.h"
#include "control.h"
#include "placement.h"
#include "queue.h"
#include "reactor.h"
#include "request.h"
#include "warmblock/base/fd.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {
namespace {

unsigned Log2(uint32_t v) {
  unsigned s = 0;
  while ((1u << s) < v) ++s;
  return s;
}

uint64_t ModeFlag(CopyMode mode) {
  switch (mode) {
    case CopyMode::kZeroCopy:
      return abi::kFAutoBufReg;
    case CopyMode::kUserCopy:
      return abi::kFUserCopy;
    default:
      return abi::kFNeedGetData;
  }
}

CopyMode ModeOfFlags(uint64_t flags) {
  if (flags & abi::kFAutoBufReg) return CopyMode::kZeroCopy;
  if (flags & abi::kFUserCopy) return CopyMode::kUserCopy;
  return CopyMode::kBuffered;
}

class ServerImpl;

class DeviceImpl final : public Device {
 public:
  DeviceImpl(ServerImpl* server, uint32_t id, uint64_t size, CopyMode mode)
      : server_(server), id_(id), size_(size), mode_(mode) {
    disk_path_ = "/dev/ublkb" + std::to_string(id);
  }
  ~DeviceImpl() override { (void)Teardown(); }
  uint32_t id() const override { return id_; }
  const std::string& disk_path() const override { return disk_path_; }
  uint64_t size_bytes() const override { return size_; }
  CopyMode copy_mode() const override { return mode_; }
  DeviceStats stats() const override {
    DeviceStats s;
    for (const auto& q : queues_) {
      s.reads += q->reads.load(std::memory_order_relaxed);
      s.writes += q->writes.load(std::memory_order_relaxed);
      s.flushes += q->flushes.load(std::memory_order_relaxed);
      s.discards += q->discards.load(std::memory_order_relaxed);
      s.read_bytes += q->read_bytes.load(std::memory_order_relaxed);
      s.write_bytes += q->write_bytes.load(std::memory_order_relaxed);
      s.errors += q->errors.load(std::memory_order_relaxed);
    }
    return s;
  }
  Status Remove(bool force) override;
  Status Resize(uint64_t bytes) override;
  Status Teardown();
  // Whether something holds the disk with O_EXCL (a mount does).
  bool ExclusivelyHeld() const;
  // The refusal of a remove, saying whether the disk looks mounted.
  Status Busy() const;

  ServerImpl* server_;
  uint32_t id_;
  uint64_t size_;
  CopyMode mode_;
  std::string disk_path_;
  Fd char_fd_;
  Fd backing_fd_;
  BackendKind backend_ = BackendKind::kIoUring;
  uint16_t depth_ = 0;
  std::vector<unsigned> queue_reactor_;         // placement held, one per queue
  std::vector<std::unique_ptr<Queue>> queues_;  // those handed to a reactor
  bool added_ = false;                          // the kernel device exists
  bool started_ = false;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(std::unique_ptr<Control> control, Features features, const ServerOptions& options, unsigned reactors)
      : control_(std::move(control)),
        features_(features),
        options_(options),
        placement_(reactors, abi::kMaxRingBuffers) {}

  Status StartReactors(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      WB_ASSIGN_OR_RETURN(auto reactor, Reactor::Start(i, options_, features_.auto_buf_reg()));
      reactors_.push_back(std::move(reactor));
    }
    return Status::OK();
  }

  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  struct Backing {
    Fd fd;
    uint64_t size = 0;
    bool is_block = false;
  };

  static Result<Backing> OpenBacking(const std::string& path) {
    Backing b;
    b.fd = Fd(::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!b.fd.valid()) return Status::FromErrno(errno, "open backing " + path, "O_DIRECT");
    struct stat st {};
    b.is_block = ::fstat(b.fd.get(), &st) == 0 && S_ISBLK(st.st_mode);
    if (b.is_block) {
      ::ioctl(b.fd.get(), BLKGETSIZE64, &b.size);
    } else {
      b.size = static_cast<uint64_t>(st.st_size);
    }
    return b;
  }

  // The copy mode for a new device and the reactors of its queues. Zero
  // copy falls back (kAuto) when no reactor has buffer-table room.
  Result<CopyMode> PlaceNew(const DeviceOptions& o, std::vector<unsigned>* reactors) {
    WB_ASSIGN_OR_RETURN(CopyMode mode, ChooseCopyMode(features_, o.copy, o.backend));
    std::lock_guard<std::mutex> lock(mu_);
    auto placed = placement_.Place(o.queues, o.depth, mode == CopyMode::kZeroCopy);
    if (!placed) {
      if (o.copy == CopyMode::kZeroCopy)
        return Status::Error(Status::Code::kNoSpace, "zero copy: every reactor's buffer table is full");
      WB_ASSIGN_OR_RETURN(mode, ChooseCopyMode(features_, o.copy, o.backend, /*zero_copy_fits=*/false));
      Log("ublk: buffer tables full, new device falls back to " + std::string(CopyModeName(mode)));
      placed = placement_.Place(o.queues, o.depth, false);
    }
    *reactors = std::move(*placed);
    return mode;
  }

  Result<std::unique_ptr<Device>> AddDevice(const DeviceOptions& o) override {
    WB_RETURN_IF_ERROR(ValidateDeviceOptions(o));
    std::vector<unsigned> reactors;
    WB_ASSIGN_OR_RETURN(CopyMode mode, PlaceNew(o, &reactors));
    auto dev = std::make_unique<DeviceImpl>(this, 0, 0, mode);
    dev->depth_ = o.depth;
    dev->queue_reactor_ = std::move(reactors);  // released by the destructor from here
    dev->backend_ = o.backend;
    WB_ASSIGN_OR_RETURN(Backing backing, OpenBacking(o.backing_path));
    dev->backing_fd_ = std::move(backing.fd);
    dev->size_ = o.size_bytes != 0 ? o.size_bytes : backing.size;
    if (dev->size_ == 0 || dev->size_ % o.logical_block != 0)
      return Status::InvalidArgument("device size " + std::to_string(dev->size_) + " is not a positive multiple of " +
                                     std::to_string(o.logical_block));

    abi::DevInfo info{};
    info.nr_hw_queues = o.queues;
    info.queue_depth = o.depth;
    info.max_io_buf_bytes = o.max_io_bytes;
    info.dev_id = ~0u;
    info.ublksrv_pid = ::getpid();
    info.ublksrv_flags = abi::WarmblockMark(options_.owner);
    info.flags = abi::kFCmdIoctlEncode | ModeFlag(mode);
    // Optional features this kernel has: no partition scan at START_DEV (a
    // read that a fresh volume does not need), a stop that refuses while
    // the disk is open, and growing a live disk.
    info.flags |= features_.flags & (abi::kFNoAutoPartScan | abi::kFSafeStopDev | abi::kFUpdateSize);
    if (o.recovery && features_.user_recovery()) {
      info.flags |= abi::kFUserRecovery;
      if (features_.recovery_reissue()) info.flags |= abi::kFUserRecoveryReissue;
    }
    WB_RETURN_IF_ERROR(control_->AddDev(&info));
    dev->id_ = info.dev_id;
    dev->disk_path_ = "/dev/ublkb" + std::to_string(info.dev_id);
    dev->added_ = true;
    WB_RETURN_IF_ERROR(Configure(*dev, o, backing.is_block));
    Log("ublk: " + dev->disk_path_ + " serves " + o.backing_path + " (" + CopyModeName(mode) + ", " +
        (o.backend == BackendKind::kLibaio ? "libaio" : "io_uring") + ")");
    return std::unique_ptr<Device>(std::move(dev));
  }

  Result<std::unique_ptr<Device>> AdoptDevice(uint32_t id, const std::string& backing_path,
                                              BackendKind backend) override {
    const std::string what = "adopt ublk device " + std::to_string(id);
    auto info = control_->GetDevInfo(id);
    if (!info.ok()) return info.status().Annotate(what);
    // Another daemon's disk (another state directory) may be mounted in its
    // containers: never take it over.
    if (info->ublksrv_flags != abi::WarmblockMark(options_.owner))
      return Status::InvalidArgument(what + ": it belongs to another owner (another warmblockd's state directory)");
    if (!(info->flags & abi::kFUserRecovery))
      return Status::Unsupported(what + ": it was created without user recovery");
    auto params = control_->GetParams(id);
    if (!params.ok()) return params.status().Annotate(what);
    // The copy mode is the device's: fixed when it was added.
    CopyMode mode = ModeOfFlags(info->flags);
    if (mode == CopyMode::kZeroCopy && backend != BackendKind::kIoUring)
      return Status::Unsupported(what + ": a zero-copy device needs the io_uring back end");
    std::optional<std::vector<unsigned>> placed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      placed = placement_.Place(info->nr_hw_queues, info->queue_depth, mode == CopyMode::kZeroCopy);
    }
    if (!placed) return Status::Error(Status::Code::kNoSpace, what + ": every reactor's buffer table is full");
    auto dev = std::make_unique<DeviceImpl>(this, id, params->basic.dev_sectors * 512, mode);
    dev->depth_ = info->queue_depth;
    dev->queue_reactor_ = std::move(*placed);
    dev->backend_ = backend;
    WB_ASSIGN_OR_RETURN(Backing backing, OpenBacking(backing_path));
    dev->backing_fd_ = std::move(backing.fd);
    WB_RETURN_IF_ERROR(StartRecovery(*control_, id, ::getpid(), std::chrono::seconds(10)).Annotate(what));
    dev->added_ = true;  // from here a failure removes the device
    WB_RETURN_IF_ERROR(AttachQueues(*dev, info->max_io_buf_bytes, backing.is_block));
    // Like START_DEV, this waits for every fetch: never from a reactor.
    WB_RETURN_IF_ERROR(control_->EndUserRecovery(id, ::getpid()).Annotate(what));
    dev->started_ = true;
    Log("ublk: adopted " + dev->disk_path_ + " over " + backing_path + " (" + CopyModeName(mode) + ")");
    return std::unique_ptr<Device>(std::move(dev));
  }

  // SET_PARAMS, queues on reactors, START_DEV. On error the caller's
  // DeviceImpl destructor removes whatever exists.
  Status Configure(DeviceImpl& dev, const DeviceOptions& o, bool is_block) {
    abi::Params p{};
    p.len = sizeof p;
    p.types = abi::kParamBasic | abi::kParamDiscard;
    p.basic.attrs = abi::kAttrVolatileCache | abi::kAttrFua;
    p.basic.logical_bs_shift = static_cast<uint8_t>(Log2(o.logical_block));
    p.basic.physical_bs_shift = static_cast<uint8_t>(Log2(o.physical_block));
    p.basic.io_opt_shift = p.basic.physical_bs_shift;
    p.basic.io_min_shift = p.basic.logical_bs_shift;
    p.basic.max_sectors = o.max_io_bytes / 512;
    p.basic.dev_sectors = dev.size_ / 512;
    p.discard.discard_granularity = o.physical_block;
    p.discard.max_discard_sectors = 0xffffffffu >> 9;
    p.discard.max_write_zeroes_sectors = 0xffffffffu >> 9;
    p.discard.max_discard_segments = 1;
    WB_RETURN_IF_ERROR(control_->SetParams(dev.id_, p));

    WB_RETURN_IF_ERROR(AttachQueues(dev, o.max_io_bytes, is_block));
    // START_DEV waits until the kernel has every fetch: from this thread,
    // never a reactor.
    WB_RETURN_IF_ERROR(control_->StartDev(dev.id_, ::getpid()));
    dev.started_ = true;
    return Status::OK();
  }

  // Opens /dev/ublkcN, maps each queue's descriptors and has the reactors
  // placed for it fetch every tag; returns once all fetches are submitted.
  Status AttachQueues(DeviceImpl& dev, uint32_t max_io_bytes, bool is_block) {
    const std::string what = "ublk device " + std::to_string(dev.id_);
    std::string char_path = "/dev/ublkc" + std::to_string(dev.id_);
    // devtmpfs (or udev) creates the node; give udev a moment where it runs.
    for (int i = 0; i < 200 && !dev.char_fd_.valid(); ++i) {
      dev.char_fd_ = Fd(::open(char_path.c_str(), O_RDWR | O_CLOEXEC));
      if (!dev.char_fd_.valid() && errno != ENOENT) break;
      if (!dev.char_fd_.valid()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!dev.char_fd_.valid()) return Status::FromErrno(errno, "open " + char_path);

    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<std::future<Status>> fetched;
    for (uint16_t qi = 0; qi < dev.queue_reactor_.size(); ++qi) {
      auto q = std::make_unique<Queue>();
      q->q_id = qi;
      q->char_fd = dev.char_fd_.get();
      q->backing_fd = dev.backing_fd_.get();
      q->backing_is_block = is_block;
      q->max_io_bytes = max_io_bytes;
      q->backend = dev.backend_;
      q->mode = dev.mode_;
      const size_t len = (dev.depth_ * sizeof(abi::IoDesc) + page - 1) / page * page;
      void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, dev.char_fd_.get(),
                       static_cast<off_t>(abi::DescOffset(qi)));
      if (m == MAP_FAILED) return Status::FromErrno(errno, "mmap descriptors of queue " + std::to_string(qi), what);
      q->descs_map = Mapping(m, len);
      q->descs = static_cast<const abi::IoDesc*>(m);
      q->tags.resize(dev.depth_);
      for (uint16_t t = 0; t < dev.depth_; ++t) {
        q->tags[t].queue = q.get();
        q->tags[t].tag = t;
      }
      fetched.push_back(reactors_[dev.queue_reactor_[qi]]->AddQueue(q.get()));
      dev.queues_.push_back(std::move(q));
    }
    Status result;
    for (auto& f : fetched) {
      Status s = f.get();
      if (result.ok() && !s.ok()) result = s.Annotate(what);
    }
    return result;
  }

  void Unplace(unsigned reactor, uint16_t depth, CopyMode mode) {
    std::lock_guard<std::mutex> lock(mu_);
    placement_.Release(reactor, depth, mode == CopyMode::kZeroCopy);
  }

  std::vector<uint32_t> ListAbandoned() override {
    std::vector<uint32_t> out;
    for (const auto& [id, info] : OwnedDevices(*control_, abi::WarmblockMark(options_.owner)))
      if (IsAbandoned(info, ::getpid())) out.push_back(id);
    return out;
  }

  Status DeleteAbandoned(uint32_t id) override {
    const std::string what = "delete abandoned ublk device " + std::to_string(id);
    auto info = control_->GetDevInfo(id);
    if (!info.ok()) return info.status().Annotate(what);
    if (info->ublksrv_flags != abi::WarmblockMark(options_.owner))
      return Status::InvalidArgument(what + ": not made by this owner");
    if (!IsAbandoned(*info, ::getpid()))
      return Status::Error(Status::Code::kBusy, what + ": served by live process " + std::to_string(info->ublksrv_pid));
    Status s = control_->StopDev(id);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate(what);
    s = control_->DelDev(id, true);
    if (s.code() == Status::Code::kUnsupported || s.code() == Status::Code::kInvalidArgument)
      s = control_->DelDev(id, false);
    return s.Annotate(what);
  }

  const Features& features() const override { return features_; }
  std::vector<ReactorStats> Reactors() const override {
    std::vector<ReactorStats> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (unsigned i = 0; i < reactors_.size(); ++i) {
      ReactorStats s = reactors_[i]->Stats();
      s.queues = placement_.queues(i);
      s.zero_copy_queues = placement_.zero_copy_queues(i);
      out.push_back(s);
    }
    return out;
  }

  std::unique_ptr<Control> control_;
  Features features_;
  ServerOptions options_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
  mutable std::mutex mu_;
  Placement placement_;  // guarded by mu_
};

Status DeviceImpl::Remove(bool force) {
  if (started_ && !force) {
    // A mounted file system (or any other opener) keeps the disk: never
    // tear a volume away from under a container. Where the kernel can
    // refuse a stop while the disk is open, ask it first and look for an
    // exclusive holder only to explain a refusal: a probe fd of our own,
    // copied into a child this daemon spawns at that moment (mkfs,
    // tune2fs), would itself keep the disk open and fail the stop.
    const bool safe_stop = server_->features().safe_stop();
    if (safe_stop) {
      Status s = server_->control_->TryStopDev(id_);
      if (s.code() == Status::Code::kBusy) return Busy();
      if (!s.ok()) return s.Annotate("remove " + disk_path_);
    } else if (ExclusivelyHeld()) {
      return Busy();
    }
  }
  return Teardown();
}

bool DeviceImpl::ExclusivelyHeld() const {
  int fd = ::open(disk_path_.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd >= 0) ::close(fd);
  return fd < 0 && errno == EBUSY;
}

Status DeviceImpl::Busy() const {
  if (ExclusivelyHeld())
    return Status::Error(Status::Code::kBusy, "remove " + disk_path_ + ": in use (mounted?); unmount it first");
  return Status::Error(Status::Code::kBusy, "remove " + disk_path_ + ": open by another process");
}

Status DeviceImpl::Resize(uint64_t bytes) {
  const std::string what = "resize " + disk_path_ + " to " + std::to_string(bytes) + " bytes";
  if (!server_->features().update_size()) return Status::Unsupported(what + ": needs ublk UPDATE_SIZE (Linux >= 6.16)");
  if (bytes < size_ || bytes % 4096 != 0)
    return Status::InvalidArgument(what + ": must be a multiple of 4096, at least the current " +
                                   std::to_string(size_));
  if (bytes == size_) return Status::OK();
  WB_RETURN_IF_ERROR(server_->control_->UpdateSize(id_, bytes / 512).Annotate(what));
  size_ = bytes;
  return Status::OK();
}

Status DeviceImpl::Teardown() {
  Status result = Status::OK();
  const std::string what = "remove ublk device " + std::to_string(id_);
  if (added_ && !queues_.empty()) {
    // STOP_DEV makes the kernel hand every fetched tag back (-ENODEV); once
    // a queue has all its tags back it can be unmapped.
    Status s = server_->control_->StopDev(id_);
    if (!s.ok()) result = s.Annotate(what);
    for (size_t i = 0; i < queues_.size(); ++i) {
      auto fut = queues_[i]->drained.get_future();
      if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        // The reactors still reference these queues and their placement:
        // leaking both is the only safe choice.
        for (size_t j = i; j < queues_.size(); ++j) (void)queues_[j].release();
        queues_.resize(i);
        queue_reactor_.clear();
        result = Status::Error(Status::Code::kTimeout, what + ": queue " + std::to_string(i) + " did not drain");
        break;
      }
    }
  }
  for (unsigned r : queue_reactor_) server_->Unplace(r, depth_, mode_);
  queue_reactor_.clear();
  // The mappings go with their queues, before the fds they came from.
  queues_.clear();
  char_fd_.reset();
  backing_fd_.reset();
  if (added_) {
    // Synchronous DEL_DEV also waits for the last opener of /dev/ublkbN to
    // close it, which may be the caller itself: use DEL_DEV_ASYNC (6.9+) and
    // let the kernel free the device when the disk is released.
    Status s = server_->control_->DelDev(id_, true);
    if (s.code() == Status::Code::kUnsupported || s.code() == Status::Code::kInvalidArgument)
      s = server_->control_->DelDev(id_, false);
    if (!s.ok() && result.ok()) result = s.Annotate(what);
    added_ = false;
  }
  return result;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  WB_ASSIGN_OR_RETURN(auto control, LinuxControl());
  auto flags = control->GetFeatures();
  if (!flags.ok()) return flags.status().Annotate("probe ublk features (Linux >= 6.5 needed)");
  Features f{*flags};
  unsigned n = options.reactors != 0 ? options.reactors : std::max(1u, std::thread::hardware_concurrency());
  auto server = std::make_unique<ServerImpl>(std::move(control), f, options, n);
  auto best = ChooseCopyMode(f, CopyMode::kAuto, BackendKind::kIoUring);
  server->Log("ublk: kernel features: " + f.Describe() +
              "; copy mode: " + (best.ok() ? CopyModeName(*best) : best.status().ToString()));
  WB_RETURN_IF_ERROR(server->StartReactors(n));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace warmblock::ublk
