// A volume row's two transitions that pair the store with the kernel side:
// made (intent row already inserted, then thin and disk, then the result
// recorded) and dropped (disk, thin, then the row). Used by the hand-out,
// the stock and repair alike.
#pragma once

#include <optional>

#include "disks.h"
#include "store.h"

namespace warmblock::provisioner {

// Makes row r's thin and disk (Disks::Make) and records it in
// `final_state`; on failure its disk, thin and row go.
Status MakeVolume(Store& store, Disks& disks, VolumeRecord* r, std::optional<uint32_t> origin, RowState final_state);

// Removes row r's disk, thin and row, whatever of them exists.
Status DropVolume(Store& store, Disks& disks, const VolumeRecord& r);

}  // namespace warmblock::provisioner
