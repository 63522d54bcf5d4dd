#include "fake_control.h"

namespace warmblock::ublk {
namespace {

Status NoDevice(const char* name, uint32_t id) {
  return Status::NotFound(std::string(name) + " (ublk device " + std::to_string(id) + "): no such device");
}

}  // namespace

Result<FakeControl::Dev*> FakeControl::Find(const char* name, uint32_t id) {
  auto it = devs_.find(id);
  if (it == devs_.end()) return NoDevice(name, id);
  return &it->second;
}

Result<FakeControl::Dev*> FakeControl::Begin(const char* name, uint32_t id, bool logged) {
  WB_RETURN_IF_ERROR(Enter(name, id, logged));
  return Find(name, id);
}

Status FakeControl::Enter(const char* name, uint32_t dev_id, bool logged) {
  if (logged) commands_.push_back(std::string(name) + " " + (dev_id == ~0u ? "any" : std::to_string(dev_id)));
  auto it = failures_.find(name);
  if (it == failures_.end()) return Status::OK();
  Status s = it->second.first;
  if (--it->second.second == 0) failures_.erase(it);
  return s;
}

std::vector<uint32_t> FakeControl::DeviceIds() {
  MutexLock lock(mu_);
  std::vector<uint32_t> out;
  for (const auto& [id, dev] : devs_) out.push_back(id);
  return out;
}

Result<uint64_t> FakeControl::GetFeatures() {
  MutexLock lock(mu_);
  WB_RETURN_IF_ERROR(Enter("GET_FEATURES", ~0u, false));
  return features_;
}

Status FakeControl::AddDev(abi::DevInfo* info) {
  MutexLock lock(mu_);
  WB_RETURN_IF_ERROR(Enter("ADD_DEV", info->dev_id));
  uint32_t id = info->dev_id;
  if (id == ~0u) {
    id = 0;
    while (devs_.count(id) != 0) ++id;
  } else if (devs_.count(id) != 0) {
    return Status::AlreadyExists("ADD_DEV: ublk device " + std::to_string(id) + " exists");
  }
  info->dev_id = id;
  info->state = abi::kStateDead;
  devs_[id].info = *info;
  return Status::OK();
}

Status FakeControl::SetParams(uint32_t id, const abi::Params& params) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("SET_PARAMS", id));
  if (d->info.state == abi::kStateLive) return Status::Error(Status::Code::kBusy, "SET_PARAMS: live");
  d->params = params;
  d->has_params = true;
  return Status::OK();
}

Status FakeControl::StartDev(uint32_t id, pid_t pid) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("START_DEV", id));
  if (!d->has_params) return Status::InvalidArgument("START_DEV: no parameters");
  if (d->info.state != abi::kStateDead) return Status::AlreadyExists("START_DEV: started");
  d->info.state = abi::kStateLive;
  d->info.ublksrv_pid = pid;
  return Status::OK();
}

Status FakeControl::Stop(uint32_t id) {
  WB_ASSIGN_OR_RETURN(Dev * d, Find("STOP_DEV", id));
  d->info.state = abi::kStateDead;
  d->recovering = false;
  return Status::OK();
}

Status FakeControl::StopDev(uint32_t id) {
  {
    MutexLock lock(mu_);
    WB_RETURN_IF_ERROR(Enter("STOP_DEV", id));
    WB_RETURN_IF_ERROR(Stop(id));
  }
  if (on_stop_) on_stop_(id);
  return Status::OK();
}

Status FakeControl::TryStopDev(uint32_t id) {
  {
    MutexLock lock(mu_);
    WB_RETURN_IF_ERROR(Enter("TRY_STOP_DEV", id));
    if (!(features_ & abi::kFSafeStopDev)) return Status::InvalidArgument("TRY_STOP_DEV: unknown command");
    if (open_.count(id) != 0) return Status::Error(Status::Code::kBusy, "TRY_STOP_DEV: disk open");
    WB_RETURN_IF_ERROR(Stop(id));
  }
  if (on_stop_) on_stop_(id);
  return Status::OK();
}

Status FakeControl::DelDev(uint32_t id, bool async) {
  MutexLock lock(mu_);
  const char* name = async ? "DEL_DEV_ASYNC" : "DEL_DEV";
  WB_RETURN_IF_ERROR(Enter(name, id));
  if (async && !async_delete_) return Status::InvalidArgument("DEL_DEV_ASYNC: unknown command");
  if (devs_.erase(id) == 0) return NoDevice(name, id);
  open_.erase(id);
  return Status::OK();
}

Result<abi::DevInfo> FakeControl::GetDevInfo(uint32_t id) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("GET_DEV_INFO", id, false));
  return d->info;
}

Result<abi::Params> FakeControl::GetParams(uint32_t id) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("GET_PARAMS", id, false));
  return d->params;
}

Status FakeControl::UpdateSize(uint32_t id, uint64_t sectors) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("UPDATE_SIZE", id));
  if (!(features_ & abi::kFUpdateSize)) return Status::InvalidArgument("UPDATE_SIZE: unknown command");
  d->params.basic.dev_sectors = sectors;
  return Status::OK();
}

Status FakeControl::StartUserRecovery(uint32_t id) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("START_USER_RECOVERY", id));
  // The kernel's answer while the device is neither quiesced nor failing
  // I/O, which is all StartRecovery can wait for.
  if (d->info.state != abi::kStateQuiesced && d->info.state != abi::kStateFailFast)
    return Status::Error(Status::Code::kBusy, "START_USER_RECOVERY: not quiesced");
  d->recovering = true;
  return Status::OK();
}

Status FakeControl::EndUserRecovery(uint32_t id, pid_t pid) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(Dev * d, Begin("END_USER_RECOVERY", id));
  if (!d->recovering) return Status::Error(Status::Code::kBusy, "END_USER_RECOVERY: not recovering");
  d->recovering = false;
  d->info.state = abi::kStateLive;
  d->info.ublksrv_pid = pid;
  return Status::OK();
}

std::vector<std::string> FakeControl::commands() const {
  MutexLock lock(mu_);
  return commands_;
}

void FakeControl::clear_commands() {
  MutexLock lock(mu_);
  commands_.clear();
}

void FakeControl::Fail(const std::string& name, Status error, int times) {
  MutexLock lock(mu_);
  failures_[name] = {std::move(error), times};
}

void FakeControl::Put(const abi::DevInfo& info, const abi::Params& params) {
  MutexLock lock(mu_);
  Dev& d = devs_[info.dev_id];
  d.info = info;
  d.params = params;
  d.has_params = true;
}

std::optional<FakeControl::Dev> FakeControl::device(uint32_t id) const {
  MutexLock lock(mu_);
  auto it = devs_.find(id);
  if (it == devs_.end()) return std::nullopt;
  return it->second;
}

void FakeControl::ServerDied(uint32_t id) {
  MutexLock lock(mu_);
  auto it = devs_.find(id);
  if (it == devs_.end()) return;
  abi::DevInfo& info = it->second.info;
  info.ublksrv_pid = -1;
  if (info.state == abi::kStateLive)
    info.state = (info.flags & abi::kFUserRecovery) ? abi::kStateQuiesced : abi::kStateDead;
}

void FakeControl::SetDiskOpen(uint32_t id, bool open) {
  MutexLock lock(mu_);
  if (open) {
    open_.insert(id);
  } else {
    open_.erase(id);
  }
}

}  // namespace warmblock::ublk
