// Where and how a device is served: the copy mode it gets from the kernel's
// features and its back end, and which reactor takes each of its queues.
// Pure logic, unit-tested; the server holds the lock around it.
#pragma once

#include <optional>
#include <vector>

#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

// The best mode `wanted` allows on this kernel and back end (never kAuto).
// Zero copy needs AUTO_BUF_REG and the io_uring back end (libaio cannot use
// ring-registered pages); `zero_copy_fits` = false rules it out for kAuto.
// kUnsupported names what is missing for an explicit mode.
Result<CopyMode> ChooseCopyMode(const Features& features, CopyMode wanted, BackendKind backend,
                                bool zero_copy_fits = true);

class Placement {
 public:
  // `zero_copy_slots`: entries of each reactor's registered-buffer table;
  // every tag of a zero-copy queue holds one for the queue's life.
  Placement(unsigned reactors, unsigned zero_copy_slots);

  // A reactor for each of `queues` queues of `depth` tags, least loaded
  // first. With `zero_copy` only reactors with `depth` free slots qualify,
  // and nullopt (nothing taken) if some queue finds none.
  std::optional<std::vector<unsigned>> Place(unsigned queues, unsigned depth, bool zero_copy);
  void Release(unsigned reactor, unsigned depth, bool zero_copy);

  unsigned queues(unsigned reactor) const { return load_[reactor].queues; }
  unsigned zero_copy_queues(unsigned reactor) const { return load_[reactor].zero_copy_queues; }

 private:
  struct Load {
    unsigned queues = 0;
    unsigned zero_copy_queues = 0;
    unsigned slots_used = 0;
  };
  std::vector<Load> load_;
  unsigned slots_;
};

}  // namespace warmblock::ublk
