#include <map>
#include <set>

#include "rows.h"
#include "service.h"
#include "warmblock/base/text.h"

namespace warmblock::provisioner {

// Start-up repair: the database against the pool's thins. Rows left mid-
// change are rolled back (creating: never acknowledged) or finished
// (deleting); rows whose thin is gone are dropped (stock) or marked lost
// (handed out); thins no row owns are deleted; served rows get their disk
// back, adopting the one a previous process left running.
Status Service::Repair() {
  WB_ASSIGN_OR_RETURN(auto rows, store_->List());
  std::set<std::string> owned;
  std::vector<VolumeRecord*> to_serve;
  for (auto& r : rows) {
    auto thin = pool_->FindByName(r.thin_name);
    if (r.state == RowState::kCreating || r.state == RowState::kDeleting) {
      Note(std::string(r.state == RowState::kCreating ? "rolled back creation" : "finished deletion") + " of " +
           Describe(r));
      WB_RETURN_IF_ERROR(DropVolume(*store_, *disks_, r));
      continue;
    }
    if (!thin.ok()) {
      if (r.state == RowState::kReady) {
        r.state = RowState::kLost;
        WB_RETURN_IF_ERROR(store_->Update(r));
        Note("volume " + Quoted(r.name) + " lost its thin " + r.thin_name + "; marked lost");
      } else if (r.state != RowState::kLost) {
        WB_RETURN_IF_ERROR(store_->Remove(r.id));
        Note("dropped " + Describe(r) + ": its thin is gone");
      }
      continue;
    }
    owned.insert(r.thin_name);
    if (r.state == RowState::kGolden) {
      stock_->SetGolden(r.class_name, thin->id);
      continue;
    }
    if (r.state == RowState::kWarm && !stock_->Has(r.class_name)) {
      Note("dropped warm " + Describe(r) + ": class " + Quoted(r.class_name) + " is no longer configured");
      WB_RETURN_IF_ERROR(DropVolume(*store_, *disks_, r));
      owned.erase(r.thin_name);
      continue;
    }
    if (r.state == RowState::kWarm || r.state == RowState::kReady) {
      to_serve.push_back(&r);
      if (r.state == RowState::kWarm) stock_->AddWarm(r.class_name, r.id);
    }
  }
  // Two rows naming one disk: one is stale (a delete stops its disk
  // before it records the deletion, and the freed number may go to a
  // new disk meanwhile). Which one cannot be told, and adopting for the
  // wrong one would show a volume's data under another's name: both get
  // new disks, and the old one is deleted below as abandoned.
  std::map<int64_t, int> named;
  for (const VolumeRecord* r : to_serve)
    if (r->ublk_id >= 0) ++named[r->ublk_id];
  for (VolumeRecord* r : to_serve) {
    if (r->ublk_id < 0 || named[r->ublk_id] < 2) continue;
    Note("ublk device " + std::to_string(r->ublk_id) + " is named by " + std::to_string(named[r->ublk_id]) +
         " volumes; " + Describe(*r) + " gets a new disk");
    r->ublk_id = -1;
  }
  // Every disk a previous process left is adopted before any new one
  // starts: a new disk takes the lowest free number, which after a reboot
  // is one that a later row still names, and adopting that live disk
  // fails only after ublk's ~10 s of busy retries (seen after power cuts).
  for (bool adopt_only : {true, false}) {
    for (VolumeRecord* r : to_serve) {
      WB_ASSIGN_OR_RETURN(Disks::Served how, disks_->Serve(r, adopt_only));
      if (how == Disks::Served::kAdopted)
        Note("adopted /dev/ublkb" + std::to_string(r->ublk_id) + " of " + Describe(*r));
      if (how == Disks::Served::kStarted) WB_RETURN_IF_ERROR(store_->Update(*r));
    }
  }
  // Disks of this daemon that nobody adopted (their row is gone, or a
  // crash came between adding the disk and recording it).
  for (uint32_t id : svc_.ublk->ListAbandoned()) {
    Status s = svc_.ublk->DeleteAbandoned(id);
    if (s.ok()) {
      Note("deleted abandoned ublk device " + std::to_string(id));
    } else {
      Log("could not delete abandoned ublk device " + std::to_string(id) + ": " + s.ToString());
    }
  }
  for (const auto& t : pool_->List()) {
    if (owned.count(t.name) != 0) continue;
    Note("deleted orphan thin " + t.name + " (id " + std::to_string(t.id) + ")");
    (void)pool_->Deactivate(t.id);
    WB_RETURN_IF_ERROR(pool_->DeleteThin(t.id));
  }
  return Status::OK();
}

}  // namespace warmblock::provisioner
