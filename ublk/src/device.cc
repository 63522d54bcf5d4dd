// Each device's life over the Control interface, its queues' /dev/ublkcN
// mappings handed to the reactors its server placed them on.
#include "device.h"

#include <unistd.h>

#include <chrono>

#include "census.h"
#include "device_queues.h"

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

// The kernel's device from ADD_DEV (or adoption) until DEL_DEV.
class KernelDevice {
 public:
  explicit KernelDevice(Control& control) : control_(control) {}
  ~KernelDevice() { (void)Delete(); }
  KernelDevice(const KernelDevice&) = delete;
  KernelDevice& operator=(const KernelDevice&) = delete;
  void Added(uint32_t id) {
    id_ = id;
    added_ = true;
  }
  // Idempotent.
  Status Delete() {
    if (!added_) return Status::OK();
    added_ = false;
    return DeleteDev(control_, id_);
  }

 private:
  Control& control_;
  uint32_t id_ = 0;
  bool added_ = false;
};

class DeviceImpl final : public Device {
 public:
  DeviceImpl(DeviceHost& host, uint32_t id, uint64_t size, CopyMode mode, uint16_t depth,
             std::vector<unsigned> reactors, BackendKind backend)
      : host_(host),
        id_(id),
        size_(size),
        mode_(mode),
        backend_(backend),
        kernel_(host.control()),
        queues_(host, mode, depth, std::move(reactors)) {
    SetId(id);
  }
  // The members' destructors remove the device, in Teardown's order.
  ~DeviceImpl() override = default;
  uint32_t id() const override { return id_; }
  const std::string& disk_path() const override { return disk_path_; }
  uint64_t size_bytes() const override { return size_; }
  CopyMode copy_mode() const override { return mode_; }
  DeviceStats stats() const override { return queues_.stats(); }
  Status Remove(bool force) override;
  Status Resize(uint64_t bytes) override;

  void SetId(uint32_t id) {
    id_ = id;
    disk_path_ = "/dev/ublkb" + std::to_string(id);
  }
  Status OpenBacking(const std::string& path) {
    WB_ASSIGN_OR_RETURN(DeviceFiles::Backing backing, host_.files().OpenBacking(path));
    backing_fd_ = std::move(backing.fd);
    backing_size_ = backing.size;
    backing_is_block_ = backing.is_block;
    return Status::OK();
  }
  Status Add(const DeviceOptions& o);
  Status Configure(const DeviceOptions& o);
  Status Adopt(uint32_t max_io_bytes);
  uint64_t backing_size() const { return backing_size_; }
  void set_size(uint64_t size) { size_ = size; }

 private:
  Status AttachQueues(uint32_t max_io_bytes);
  Status Teardown();
  // The refusal of a remove, saying whether the disk looks mounted.
  Status Busy() const;

  DeviceHost& host_;
  uint32_t id_;
  uint64_t size_;
  CopyMode mode_;
  BackendKind backend_;
  std::string disk_path_;
  uint64_t backing_size_ = 0;
  bool backing_is_block_ = false;
  bool started_ = false;
  // Destroyed bottom up: the queues stop and unmap before the fds they
  // came from close, and DEL_DEV comes last (the synchronous one waits for
  // /dev/ublkcN to be closed and unmapped).
  KernelDevice kernel_;
  Fd backing_fd_;
  Fd char_fd_;
  DeviceQueues queues_;
};

Status DeviceImpl::Add(const DeviceOptions& o) {
  abi::DevInfo info{};
  info.nr_hw_queues = o.queues;
  info.queue_depth = o.depth;
  info.max_io_buf_bytes = o.max_io_bytes;
  info.dev_id = ~0u;
  info.ublksrv_pid = ::getpid();
  info.ublksrv_flags = abi::WarmblockMark(host_.owner());
  info.flags = abi::kFCmdIoctlEncode | ModeFlag(mode_);
  // Optional features this kernel has: no partition scan at START_DEV (a
  // read that a fresh volume does not need), a stop that refuses while
  // the disk is open, and growing a live disk.
  const Features& features = host_.features();
  info.flags |= features.flags & (abi::kFNoAutoPartScan | abi::kFSafeStopDev | abi::kFUpdateSize);
  if (o.recovery && features.user_recovery()) {
    info.flags |= abi::kFUserRecovery;
    if (features.recovery_reissue()) info.flags |= abi::kFUserRecoveryReissue;
  }
  WB_RETURN_IF_ERROR(host_.control().AddDev(&info));
  SetId(info.dev_id);
  kernel_.Added(info.dev_id);
  return Status::OK();
}

// SET_PARAMS, queues on reactors, START_DEV. On error the destructor
// removes whatever exists.
Status DeviceImpl::Configure(const DeviceOptions& o) {
  abi::Params p{};
  p.len = sizeof p;
  p.types = abi::kParamBasic | abi::kParamDiscard;
  p.basic.attrs = abi::kAttrVolatileCache | abi::kAttrFua;
  p.basic.logical_bs_shift = static_cast<uint8_t>(Log2(o.logical_block));
  p.basic.physical_bs_shift = static_cast<uint8_t>(Log2(o.physical_block));
  p.basic.io_opt_shift = p.basic.physical_bs_shift;
  p.basic.io_min_shift = p.basic.logical_bs_shift;
  p.basic.max_sectors = o.max_io_bytes / 512;
  p.basic.dev_sectors = size_ / 512;
  p.discard.discard_granularity = o.physical_block;
  p.discard.max_discard_sectors = 0xffffffffu >> 9;
  p.discard.max_write_zeroes_sectors = 0xffffffffu >> 9;
  p.discard.max_discard_segments = 1;
  WB_RETURN_IF_ERROR(host_.control().SetParams(id_, p));

  WB_RETURN_IF_ERROR(AttachQueues(o.max_io_bytes));
  // START_DEV waits until the kernel has every fetch: from this thread,
  // never a reactor.
  WB_RETURN_IF_ERROR(host_.control().StartDev(id_, ::getpid()));
  started_ = true;
  return Status::OK();
}

Status DeviceImpl::Adopt(uint32_t max_io_bytes) {
  const std::string what = "adopt ublk device " + std::to_string(id_);
  WB_RETURN_IF_ERROR(StartRecovery(host_.control(), id_, ::getpid(), std::chrono::seconds(10)).Annotate(what));
  kernel_.Added(id_);  // from here a failure removes the device
  WB_RETURN_IF_ERROR(AttachQueues(max_io_bytes));
  // Like START_DEV, this waits for every fetch: never from a reactor.
  WB_RETURN_IF_ERROR(host_.control().EndUserRecovery(id_, ::getpid()).Annotate(what));
  started_ = true;
  return Status::OK();
}

// Opens /dev/ublkcN and has the reactors placed for its queues fetch
// every tag; returns once all fetches are submitted.
Status DeviceImpl::AttachQueues(uint32_t max_io_bytes) {
  WB_ASSIGN_OR_RETURN(char_fd_, host_.files().OpenChar(id_));
  return queues_.Attach(id_, char_fd_.get(), backing_fd_.get(), backing_is_block_, max_io_bytes, backend_);
}

Status DeviceImpl::Remove(bool force) {
  if (started_ && !force) {
    // A mounted file system (or any other opener) keeps the disk: never
    // tear a volume away from under a container. Where the kernel can
    // refuse a stop while the disk is open, ask it first and look for an
    // exclusive holder only to explain a refusal: a probe fd of our own,
    // copied into a child this daemon spawns at that moment (mkfs,
    // tune2fs), would itself keep the disk open and fail the stop.
    if (host_.features().safe_stop()) {
      Status s = host_.control().TryStopDev(id_);
      if (s.code() == Status::Code::kBusy) return Busy();
      if (!s.ok()) return s.Annotate("remove " + disk_path_);
    } else if (host_.files().ExclusivelyHeld(disk_path_)) {
      return Busy();
    }
  }
  return Teardown();
}

Status DeviceImpl::Busy() const {
  if (host_.files().ExclusivelyHeld(disk_path_))
    return Status::Error(Status::Code::kBusy, "remove " + disk_path_ + ": in use (mounted?); unmount it first");
  return Status::Error(Status::Code::kBusy, "remove " + disk_path_ + ": open by another process");
}

Status DeviceImpl::Resize(uint64_t bytes) {
  const std::string what = "resize " + disk_path_ + " to " + std::to_string(bytes) + " bytes";
  if (!host_.features().update_size()) return Status::Unsupported(what + ": needs ublk UPDATE_SIZE (Linux >= 6.16)");
  if (bytes < size_ || bytes % 4096 != 0)
    return Status::InvalidArgument(what + ": must be a multiple of 4096, at least the current " +
                                   std::to_string(size_));
  if (bytes == size_) return Status::OK();
  WB_RETURN_IF_ERROR(host_.control().UpdateSize(id_, bytes / 512).Annotate(what));
  size_ = bytes;
  return Status::OK();
}

// The destructors' work, in their order, reporting errors.
Status DeviceImpl::Teardown() {
  Status result = queues_.Release();
  char_fd_.reset();
  backing_fd_.reset();
  Status s = kernel_.Delete();
  if (!s.ok() && result.ok()) result = s.Annotate("remove ublk device " + std::to_string(id_));
  return result;
}

}  // namespace

Status DeleteDev(Control& control, uint32_t id) {
  // Synchronous DEL_DEV also waits for the last opener of /dev/ublkbN to
  // close it, which may be the caller itself: let the kernel free the
  // device when the disk is released.
  Status s = control.DelDev(id, true);
  if (s.code() == Status::Code::kUnsupported || s.code() == Status::Code::kInvalidArgument)
    s = control.DelDev(id, false);
  return s;
}

Result<std::unique_ptr<Device>> AddDevice(DeviceHost& host, const DeviceOptions& o, CopyMode mode,
                                          std::vector<unsigned> reactors) {
  // The device releases the placement from here, whatever happens.
  auto dev = std::make_unique<DeviceImpl>(host, 0, 0, mode, o.depth, std::move(reactors), o.backend);
  WB_RETURN_IF_ERROR(dev->OpenBacking(o.backing_path));
  dev->set_size(o.size_bytes != 0 ? o.size_bytes : dev->backing_size());
  if (dev->size_bytes() == 0 || dev->size_bytes() % o.logical_block != 0)
    return Status::InvalidArgument("device size " + std::to_string(dev->size_bytes()) +
                                   " is not a positive multiple of " + std::to_string(o.logical_block));
  WB_RETURN_IF_ERROR(dev->Add(o));
  WB_RETURN_IF_ERROR(dev->Configure(o));
  host.Log("ublk: " + dev->disk_path() + " serves " + o.backing_path + " (" + CopyModeName(mode) + ", " +
           (o.backend == BackendKind::kLibaio ? "libaio" : "io_uring") + ")");
  return std::unique_ptr<Device>(std::move(dev));
}

Result<std::unique_ptr<Device>> AdoptDevice(DeviceHost& host, uint32_t id, const std::string& backing_path,
                                            BackendKind backend) {
  const std::string what = "adopt ublk device " + std::to_string(id);
  auto info = host.control().GetDevInfo(id);
  if (!info.ok()) return info.status().Annotate(what);
  // Another daemon's disk (another state directory) may be mounted in its
  // containers: never take it over.
  if (info->ublksrv_flags != abi::WarmblockMark(host.owner()))
    return Status::InvalidArgument(what + ": it belongs to another owner (another warmblockd's state directory)");
  if (!(info->flags & abi::kFUserRecovery)) return Status::Unsupported(what + ": it was created without user recovery");
  auto params = host.control().GetParams(id);
  if (!params.ok()) return params.status().Annotate(what);
  // The copy mode is the device's: fixed when it was added.
  CopyMode mode = ModeOfFlags(info->flags);
  if (mode == CopyMode::kZeroCopy && backend != BackendKind::kIoUring)
    return Status::Unsupported(what + ": a zero-copy device needs the io_uring back end");
  auto placed = host.Place(info->nr_hw_queues, info->queue_depth, mode == CopyMode::kZeroCopy);
  if (!placed) return Status::Error(Status::Code::kNoSpace, what + ": every reactor's buffer table is full");
  auto dev = std::make_unique<DeviceImpl>(host, id, params->basic.dev_sectors * 512, mode, info->queue_depth,
                                          std::move(*placed), backend);
  WB_RETURN_IF_ERROR(dev->OpenBacking(backing_path));
  WB_RETURN_IF_ERROR(dev->Adopt(info->max_io_buf_bytes));
  host.Log("ublk: adopted " + dev->disk_path() + " over " + backing_path + " (" + CopyModeName(mode) + ")");
  return std::unique_ptr<Device>(std::move(dev));
}

}  // namespace warmblock::ublk
