// The Server: the reactors, the placement of device queues on them, and
// the census of devices no server serves. Each device's own life is in
// device.cc.
#include "server.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "census.h"
#include "device.h"
#include "placement.h"
#include "warmblock/base/mutex.h"

namespace warmblock::ublk {
namespace {

class ServerImpl final : public Server, private DeviceHost {
 public:
  ServerImpl(ServerParts parts, Features features, const ServerOptions& options, unsigned reactors)
      : control_(std::move(parts.control)),
        files_(std::move(parts.files)),
        features_(features),
        options_(options),
        placement_(reactors, abi::kMaxRingBuffers) {}

  Status StartReactors(unsigned n, const decltype(ServerParts::start_reactor)& start_reactor) {
    for (unsigned i = 0; i < n; ++i) {
      WB_ASSIGN_OR_RETURN(auto reactor, start_reactor(i, features_.auto_buf_reg(), blocking_));
      reactors_.push_back(std::move(reactor));
    }
    return Status::OK();
  }

  Result<std::unique_ptr<Device>> AddDevice(const DeviceOptions& o) override {
    WB_RETURN_IF_ERROR(ValidateDeviceOptions(o));
    std::vector<unsigned> reactors;
    WB_ASSIGN_OR_RETURN(CopyMode mode, PlaceNew(o, &reactors));
    return ublk::AddDevice(*this, o, mode, std::move(reactors));
  }

  Result<std::unique_ptr<Device>> AdoptDevice(uint32_t id, const std::string& backing_path,
                                              BackendKind backend) override {
    return ublk::AdoptDevice(*this, id, backing_path, backend);
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
    return DeleteDev(*control_, id).Annotate(what);
  }

  const Features& features() const override { return features_; }

  std::vector<ReactorStats> Reactors() const override {
    std::vector<ReactorStats> out;
    MutexLock lock(mu_);
    for (unsigned i = 0; i < reactors_.size(); ++i) {
      ReactorStats s = reactors_[i]->Stats();
      s.queues = placement_.queues(i);
      s.zero_copy_queues = placement_.zero_copy_queues(i);
      out.push_back(s);
    }
    return out;
  }

  void Log(const std::string& line) const override {
    if (options_.log) options_.log(line);
  }

 private:
  // The copy mode for a new device and the reactors of its queues. Zero
  // copy falls back (kAuto) when no reactor has buffer-table room.
  Result<CopyMode> PlaceNew(const DeviceOptions& o, std::vector<unsigned>* reactors) {
    WB_ASSIGN_OR_RETURN(CopyMode mode, ChooseCopyMode(features_, o.copy, o.backend));
    MutexLock lock(mu_);
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

  // DeviceHost:
  Control& control() override { return *control_; }
  DeviceFiles& files() override { return *files_; }
  uint32_t owner() const override { return options_.owner; }
  std::optional<std::vector<unsigned>> Place(unsigned queues, unsigned depth, bool zero_copy) override {
    MutexLock lock(mu_);
    return placement_.Place(queues, depth, zero_copy);
  }
  void Unplace(unsigned reactor, unsigned depth, bool zero_copy) override {
    MutexLock lock(mu_);
    placement_.Release(reactor, depth, zero_copy);
  }
  std::future<Status> AddQueue(unsigned reactor, Queue* q) override { return reactors_[reactor]->AddQueue(q); }

  std::unique_ptr<Control> control_;
  std::unique_ptr<DeviceFiles> files_;
  Features features_;
  ServerOptions options_;
  std::vector<std::unique_ptr<Reactor>> reactors_;  // fixed once started
  // After the reactors: it goes first, so that its last jobs still find
  // the reactors they post back to.
  BlockingWorker blocking_;
  mutable Mutex mu_;
  Placement placement_ GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Server>> StartServer(const ServerOptions& options, ServerParts parts) {
  auto flags = parts.control->GetFeatures();
  if (!flags.ok()) return flags.status().Annotate("probe ublk features (Linux >= 6.5 needed)");
  Features f{*flags};
  unsigned n = options.reactors != 0 ? options.reactors : std::max(1u, std::thread::hardware_concurrency());
  auto start_reactor = std::move(parts.start_reactor);
  auto server = std::make_unique<ServerImpl>(std::move(parts), f, options, n);
  auto best = ChooseCopyMode(f, CopyMode::kAuto, BackendKind::kIoUring);
  server->Log("ublk: kernel features: " + f.Describe() +
              "; copy mode: " + (best.ok() ? CopyModeName(*best) : best.status().ToString()));
  WB_RETURN_IF_ERROR(server->StartReactors(n, start_reactor));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace warmblock::ublk
