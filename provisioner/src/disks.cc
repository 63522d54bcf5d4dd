#include "disks.h"

namespace warmblock::provisioner {

Disks::Disks(thinpool::Pool* pool, ublk::Server* ublk, Formatter* formatter, LogSink log)
    : pool_(pool), ublk_(ublk), formatter_(formatter), log_(std::move(log)) {}

Disks::~Disks() {
  // Dropping a Device would remove it: hand them to the kernel as they are.
  for (auto& [row, disk] : by_row_) (void)disk.release();
}

Status Disks::Make(VolumeRecord* r, std::optional<uint32_t> origin, bool golden) {
  auto fail = [&](Status s) {
    (void)Drop(*r);
    return s;
  };
  thinpool::ThinSpec spec{r->thin_name, r->size_bytes, std::nullopt};
  auto thin = origin ? pool_->Snapshot(*origin, spec) : pool_->CreateThin(spec);
  if (!thin.ok()) return fail(thin.status());
  r->thin_id = thin->id;
  auto act = pool_->Activate(thin->id);
  if (!act.ok()) return fail(act.status());
  // A snapshot gets a fresh filesystem UUID: XFS refuses to mount two
  // filesystems with the same one, and by-uuid links would collide.
  Status made = origin ? formatter_->NewIdentity(act->path, r->fs) : formatter_->Format(act->path, r->fs);
  if (!made.ok()) return fail(made);
  if (golden) {
    Status s = pool_->Deactivate(thin->id);
    return s.ok() ? s : fail(s);
  }
  auto served = Serve(r, /*adopt_only=*/false);
  return served.ok() ? Status::OK() : fail(served.status());
}

Result<Disks::Served> Disks::Serve(VolumeRecord* r, bool adopt_only) {
  if (Find(r->id) != nullptr) return Served::kAlready;
  if (adopt_only && r->ublk_id < 0) return Served::kNotAdopted;
  WB_ASSIGN_OR_RETURN(thinpool::Thin thin, pool_->FindByName(r->thin_name));
  WB_ASSIGN_OR_RETURN(thinpool::Activation act, pool_->Activate(thin.id));
  if (r->ublk_id >= 0) {
    auto adopted = ublk_->AdoptDevice(static_cast<uint32_t>(r->ublk_id), act.path);
    if (adopted.ok()) {
      Put(r->id, std::move(adopted).value());
      return Served::kAdopted;
    }
    if (log_)
      log_("could not adopt ublk device " + std::to_string(r->ublk_id) + " of thin " + r->thin_name + ": " +
           adopted.status().ToString() + "; starting a new one");
    r->ublk_id = -1;  // its number may go to another disk meanwhile
    if (adopt_only) return Served::kNotAdopted;
  }
  ublk::DeviceOptions o;
  o.backing_path = act.path;
  WB_ASSIGN_OR_RETURN(std::unique_ptr<ublk::Device> disk, ublk_->AddDevice(o));
  r->ublk_id = disk->id();
  Put(r->id, std::move(disk));
  return Served::kStarted;
}

ublk::Device* Disks::Find(int64_t row) const {
  MutexLock lock(mu_);
  auto it = by_row_.find(row);
  return it == by_row_.end() ? nullptr : it->second.get();
}

void Disks::Put(int64_t row, std::unique_ptr<ublk::Device> disk) {
  MutexLock lock(mu_);
  by_row_[row] = std::move(disk);
}

Status Disks::Stop(int64_t row, bool force) {
  ublk::Device* disk = Find(row);
  if (disk == nullptr) return Status::OK();
  // Outside the lock: a stop waits for the kernel, and other rows' disks
  // are handed out and stopped meanwhile.
  Status s = disk->Remove(force);
  if (!s.ok() && !force) return s;
  MutexLock lock(mu_);
  by_row_.erase(row);
  return Status::OK();
}

Status Disks::Drop(const VolumeRecord& r) {
  (void)Stop(r.id, /*force=*/true);
  auto thin = pool_->FindByName(r.thin_name);
  if (!thin.ok()) return Status::OK();
  Status s = pool_->Deactivate(thin->id);
  if (s.ok() || s.code() == Status::Code::kNotFound) s = pool_->DeleteThin(thin->id);
  return s;
}

Status Disks::StopAll() {
  MutexLock lock(mu_);
  while (!by_row_.empty()) {
    auto it = by_row_.begin();
    WB_RETURN_IF_ERROR(it->second->Remove(/*force=*/false).Annotate("shut down"));
    by_row_.erase(it);
  }
  return Status::OK();
}

}  // namespace warmblock::provisioner
