#include "placement.h"

namespace warmblock::ublk {

Result<CopyMode> ChooseCopyMode(const Features& f, CopyMode wanted, BackendKind backend, bool zero_copy_fits) {
  switch (wanted) {
    case CopyMode::kZeroCopy:
      if (!f.auto_buf_reg()) return Status::Unsupported("zero copy needs ublk AUTO_BUF_REG (Linux >= 6.16)");
      if (backend != BackendKind::kIoUring) return Status::Unsupported("zero copy needs the io_uring back end");
      return CopyMode::kZeroCopy;
    case CopyMode::kUserCopy:
      if (!f.user_copy()) return Status::Unsupported("user copy needs ublk USER_COPY (Linux >= 6.5)");
      return CopyMode::kUserCopy;
    case CopyMode::kBuffered:
      if (!f.need_get_data()) return Status::Unsupported("buffered copy needs ublk NEED_GET_DATA");
      return CopyMode::kBuffered;
    case CopyMode::kAuto:
      break;
  }
  if (zero_copy_fits && f.auto_buf_reg() && backend == BackendKind::kIoUring) return CopyMode::kZeroCopy;
  if (f.user_copy()) return CopyMode::kUserCopy;
  if (f.need_get_data()) return CopyMode::kBuffered;
  return Status::Unsupported("the ublk driver offers no copy mode warmblock knows (" + f.Describe() + ")");
}

Placement::Placement(unsigned reactors, unsigned zero_copy_slots) : load_(reactors), slots_(zero_copy_slots) {}

std::optional<std::vector<unsigned>> Placement::Place(unsigned queues, unsigned depth, bool zero_copy) {
  std::vector<Load> trial = load_;
  std::vector<unsigned> picked;
  for (unsigned q = 0; q < queues; ++q) {
    int best = -1;
    for (unsigned r = 0; r < trial.size(); ++r) {
      if (zero_copy && trial[r].slots_used + depth > slots_) continue;
      if (best < 0 || trial[r].queues < trial[best].queues) best = static_cast<int>(r);
    }
    if (best < 0) return std::nullopt;
    ++trial[best].queues;
    if (zero_copy) {
      ++trial[best].zero_copy_queues;
      trial[best].slots_used += depth;
    }
    picked.push_back(static_cast<unsigned>(best));
  }
  load_ = std::move(trial);
  return picked;
}

void Placement::Release(unsigned reactor, unsigned depth, bool zero_copy) {
  Load& l = load_[reactor];
  --l.queues;
  if (zero_copy) {
    --l.zero_copy_queues;
    l.slots_used -= depth;
  }
}

}  // namespace warmblock::ublk
