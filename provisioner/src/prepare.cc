// The kernel steps that make a database row a served volume: a thin (a
// snapshot of a golden image, or new and formatted), its activation, and
// the ublk disk in front of it.
#include "service.h"

namespace warmblock::provisioner {

// For row r (already inserted, state creating): thin, active, disk started;
// then the row moves to `final_state`. On failure everything is undone.
Status Service::Prepare(VolumeRecord* r, std::optional<uint32_t> origin, VolumeState final_state) {
  auto fail = [&](Status s) {
    (void)DropThin(*r);
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
  Status made = origin ? svc_.formatter->NewIdentity(act->path, r->fs) : svc_.formatter->Format(act->path, r->fs);
  if (!made.ok()) return fail(made);
  // A golden image is never active again: snapshots of an inactive origin
  // need no suspend. Anything else gets its disk.
  Status s = final_state == VolumeState::kGolden ? pool_->Deactivate(thin->id) : Serve(r);
  if (!s.ok()) return fail(s);
  r->state = final_state;
  s = store_->Update(*r);
  if (!s.ok()) return fail(s);
  return Status::OK();
}

// Activates row r's thin and gives it a disk: adopts the ublk device a
// previous process left if there is one, else starts a new one. With
// `adopt_only`, only adopts: a row whose disk cannot be adopted is left
// (with no disk number) for a later call to start a new one.
Status Service::Serve(VolumeRecord* r, bool adopt_only) {
  if (disks_.Has(r->id)) return Status::OK();
  if (adopt_only && r->ublk_id < 0) return Status::OK();
  auto thin = pool_->FindByName(r->thin_name);
  if (!thin.ok()) return thin.status();
  WB_ASSIGN_OR_RETURN(thinpool::Activation act, pool_->Activate(thin->id));
  std::unique_ptr<ublk::Device> dev;
  if (r->ublk_id >= 0) {
    auto adopted = svc_.ublk->AdoptDevice(static_cast<uint32_t>(r->ublk_id), act.path);
    if (adopted.ok()) {
      dev = std::move(adopted).value();
      Note("adopted " + dev->disk_path() + " of " + Describe(*r));
    } else {
      Log("could not adopt ublk device " + std::to_string(r->ublk_id) + " of " + Describe(*r) + ": " +
          adopted.status().ToString() + "; starting a new one");
      r->ublk_id = -1;  // its number may go to another disk meanwhile
      if (adopt_only) return Status::OK();
    }
  }
  if (!dev) {
    ublk::DeviceOptions o;
    o.backing_path = act.path;
    WB_ASSIGN_OR_RETURN(dev, svc_.ublk->AddDevice(o));
    r->ublk_id = dev->id();
    WB_RETURN_IF_ERROR(store_->Update(*r));
  }
  disks_.Put(r->id, std::move(dev));
  return Status::OK();
}

}  // namespace warmblock::provisioner
