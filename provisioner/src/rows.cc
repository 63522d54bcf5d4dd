#include "rows.h"

namespace warmblock::provisioner {

Status MakeVolume(Store& store, Disks& disks, VolumeRecord* r, std::optional<uint32_t> origin, RowState final_state) {
  Status s = disks.Make(r, origin, final_state == RowState::kGolden);
  if (s.ok()) {
    r->state = final_state;
    s = store.Update(*r);
  }
  if (!s.ok()) (void)DropVolume(store, disks, *r);
  return s;
}

Status DropVolume(Store& store, Disks& disks, const VolumeRecord& r) {
  WB_RETURN_IF_ERROR(disks.Drop(r));
  return store.Remove(r.id);
}

}  // namespace warmblock::provisioner
