// Hand-out: a create is served from the warm stock (one database update),
// by growing a smaller warm volume, or cold (made for it); identical
// requests racing each other get the one volume.
#include "names.h"
#include "rows.h"
#include "service.h"
#include "warmblock/base/clock.h"
#include "warmblock/base/text.h"

namespace warmblock::provisioner {

// A name being created outside mu_ (grown or cold): in creating_ from
// construction (under mu_) until destruction (which takes mu_), when the
// requests waiting for it look again.
class Service::NameReservation {
 public:
  NameReservation(Service* self, std::string name, PendingSpec spec) : self_(self), name_(std::move(name)) {
    self_->creating_.emplace(name_, std::move(spec));
  }
  ~NameReservation() {
    MutexLock lock(self_->mu_);
    self_->creating_.erase(name_);
    self_->created_cv_.notify_all();
  }
  NameReservation(const NameReservation&) = delete;
  NameReservation& operator=(const NameReservation&) = delete;

 private:
  Service* self_;
  std::string name_;
};

Result<Volume> Service::Create(const CreateRequest& req) {
  WB_RETURN_IF_ERROR(ValidateVolumeName(req.name));
  VolumeClass spec;
  const VolumeClass* cls = nullptr;
  if (!req.class_name.empty()) {
    cls = cfg_.FindClass(req.class_name);
    if (cls == nullptr) return Status::InvalidArgument("class: no class named " + Quoted(req.class_name));
    spec = *cls;
  } else {
    if (!IsSupportedFs(req.fs)) return Status::InvalidArgument("fs: must be ext4 or xfs, not " + Quoted(req.fs));
    if (req.size_bytes < (16ull << 20) || req.size_bytes % (1 << 20) != 0 || req.size_bytes > (1ull << 50))
      return Status::InvalidArgument("size: must be a whole number of MiB between 16M and 1P");
    cls = cfg_.FindClass(req.fs, req.size_bytes);
    spec = cls != nullptr ? *cls : VolumeClass{"", req.fs, req.size_bytes, 0};
  }
  uint64_t owner_start = 0;
  if (req.owner_pid != 0) {
    if (!req.ephemeral) return Status::InvalidArgument("owner_pid: only an ephemeral volume has an owner");
    auto start = req.owner_pid > 0 ? svc_.process_start(req.owner_pid) : std::nullopt;
    if (!start) return Status::InvalidArgument("owner_pid: no process " + std::to_string(req.owner_pid));
    owner_start = *start;
  }

  const PendingSpec want{spec.fs, spec.size_bytes, req.ephemeral};
  // Declared before the lock so that it ends after it: the reservation
  // takes mu_ to end.
  std::optional<NameReservation> reserved;
  MutexLock lock(mu_);
  // Identical requests racing each other get the one volume the first
  // makes (it may take seconds on the grown and cold paths); another spec
  // for the name is a conflict at once.
  for (auto it = creating_.find(req.name); it != creating_.end(); it = creating_.find(req.name)) {
    if (it->second != want)
      return Status::AlreadyExists("volume " + Quoted(req.name) +
                                   " is being created with another size, filesystem or lifetime");
    mu_.Await(created_cv_);
  }
  auto existing = store_->FindByName(req.name);
  if (existing.ok()) {
    if (PendingSpec{existing->fs, existing->size_bytes, existing->ephemeral} != want)
      return Status::AlreadyExists("volume " + Quoted(req.name) + " exists with another size, filesystem or lifetime");
    WB_RETURN_IF_ERROR(CheckSettled(*existing));
    return ToVolume(*existing, Source::kExisting);
  }
  if (existing.status().code() != Status::Code::kNotFound) return existing.status();
  if (!pool_full_.empty()) return Status::Error(Status::Code::kNoSpace, pool_full_);

  if (cls != nullptr) {
    VolumeRecord claimed;
    auto claim = [&](int64_t row) -> Status {
      auto r = store_->Get(row);
      if (!r.ok()) return Status::Error(Status::Code::kBusy, "warm row " + std::to_string(row) + " is gone");
      Name(&*r, req, owner_start);
      WB_RETURN_IF_ERROR(store_->Claim(*r));
      claimed = std::move(*r);
      return Status::OK();
    };
    WB_ASSIGN_OR_RETURN(bool hit, stock_->Take(cls->name, claim));
    if (hit) return ToVolume(claimed, Source::kWarm);
  } else if (svc_.ublk->features().update_size()) {
    // No class of this size: grow a warm volume of the largest smaller
    // class with the same filesystem (thin, disk, filesystem), cheaper
    // than making one from nothing.
    if (auto row = stock_->TakeSmaller(spec.fs, spec.size_bytes)) {
      reserved.emplace(this, req.name, want);
      lock.Unlock();
      auto grown = GrowWarm(*row, req, owner_start, spec.size_bytes);
      if (grown.ok() || grown.status().code() != Status::Code::kIOError) return grown;
      Log("growing a warm volume for " + Quoted(req.name) + " failed (" + grown.status().ToString() +
          "); making it cold");
      lock.Lock();
    }
  }

  // Cold: made for this request, outside the lock. The row inserted now
  // reserves the name.
  VolumeRecord r;
  Name(&r, req, owner_start);
  r.state = RowState::kCreating;
  r.class_name = spec.name;
  r.fs = spec.fs;
  r.size_bytes = spec.size_bytes;
  r.thin_name = RandomThinName("v");
  WB_RETURN_IF_ERROR(store_->Insert(&r));
  if (!reserved) reserved.emplace(this, req.name, want);
  std::optional<uint32_t> origin;
  if (cls != nullptr) origin = stock_->Golden(cls->name);
  lock.Unlock();
  WB_RETURN_IF_ERROR(MakeVolume(*store_, *disks_, &r, origin, RowState::kReady));
  return ToVolume(r, Source::kCold);
}

// Fills in what a request makes of a warm row: its name, labels and
// lifetime, ready now.
void Service::Name(VolumeRecord* r, const CreateRequest& req, uint64_t owner_start) {
  r->name = req.name;
  r->labels = req.labels;
  r->ephemeral = req.ephemeral;
  r->owner_pid = req.owner_pid;
  r->owner_start = owner_start;
  r->created_ms = UnixMs();
  r->state = RowState::kReady;
}

// Grows warm row `row` (already out of stock) to `size` and hands it out
// as req.name. On failure the row is dropped; kIOError means the caller
// may still make the volume cold.
Result<Volume> Service::GrowWarm(int64_t row, const CreateRequest& req, uint64_t owner_start, uint64_t size) {
  WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->Get(row));
  ublk::Device* dev = disks_->Find(row);
  Status s = dev == nullptr ? Status::Error(Status::Code::kIOError, "warm volume has no disk")
                            : pool_->Resize(r.thin_id, size);
  if (s.ok()) s = dev->Resize(size);
  if (s.ok()) s = svc_.formatter->Grow(dev->disk_path(), r.fs);
  if (s.ok()) {
    Name(&r, req, owner_start);
    r.class_name.clear();
    r.size_bytes = size;
    MutexLock lock(mu_);
    s = store_->Claim(r);
  }
  if (!s.ok()) {
    (void)DropVolume(*store_, *disks_, r);
    return Status::Error(s.code() == Status::Code::kAlreadyExists ? Status::Code::kBusy : Status::Code::kIOError,
                         "grow a warm volume for " + Quoted(req.name) + ": " + s.ToString());
  }
  return ToVolume(r, Source::kGrown);
}

}  // namespace warmblock::provisioner
