#include "orphans.h"

namespace warmblock::provisioner {

std::vector<int64_t> OrphanWatch::Due(const std::vector<int64_t>& gone, Clock::time_point now) {
  std::map<int64_t, Clock::time_point> since;
  std::vector<int64_t> due;
  for (int64_t row : gone) {
    auto seen = since_.find(row);
    since[row] = seen != since_.end() ? seen->second : now;
    if (now - since[row] >= grace_) due.push_back(row);
  }
  std::erase_if(failed_, [&](int64_t row) { return since.count(row) == 0; });
  since_ = std::move(since);
  return due;
}

}  // namespace warmblock::provisioner
