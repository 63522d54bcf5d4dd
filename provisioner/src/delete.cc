// Deletion: a volume's disk, thin and row go, in that order, with the row
// marked deleting in between so that a crash is finished by repair.
#include "rows.h"
#include "service.h"
#include "warmblock/base/text.h"

namespace warmblock::provisioner {

// Deletes volume `name`; with `row`, only if the name still belongs to that
// row (not to a volume made under the same name since).
Status Service::DeleteRow(const std::string& name, std::optional<int64_t> row) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->FindByName(name));
  if (row && r.id != *row) return Status::NotFound("volume " + Quoted(name) + " is another volume now");
  // A row an earlier Delete left deleting (its thin would not go) is
  // finished by this one.
  bool resume = r.state == RowState::kDeleting && deleting_.count(r.id) == 0;
  if (!resume) WB_RETURN_IF_ERROR(CheckSettled(r));
  // Stopping a disk takes the kernel a while (STOP_DEV waits for its
  // queues): hand-outs go on meanwhile, and this row is ours alone.
  deleting_.insert(r.id);
  lock.Unlock();
  Status s = resume ? Status::OK() : disks_->Stop(r.id, /*force=*/false);
  if (s.ok() && !resume) {
    r.state = RowState::kDeleting;
    s = store_->Update(r);
  }
  if (s.ok()) s = DropVolume(*store_, *disks_, r);
  lock.Lock();
  deleting_.erase(r.id);
  return s.Annotate("delete volume " + Quoted(name));
}

}  // namespace warmblock::provisioner
