// Which ephemeral volumes have outlived their owner long enough to be
// released. A container that never reached its poststop hook (the runtime
// killed it after a hook timeout, or crashed) must leave no volume behind;
// the grace leaves the normal case, poststop right after the container's
// exit, to the hook. Pure bookkeeping over what the caller observed, so
// that unit tests drive the clock. Not thread-safe: the monitor thread owns
// it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace warmblock::provisioner {

class OrphanWatch {
 public:
  using Clock = std::chrono::steady_clock;
  explicit OrphanWatch(std::chrono::seconds grace) : grace_(grace) {}

  // One round: `gone` are the rows whose owner is gone now (all others are
  // forgotten). Returns the rows gone for at least the grace, to release.
  std::vector<int64_t> Due(const std::vector<int64_t>& gone, Clock::time_point now);

  // A release of `row` failed: true the first time in a row, so that the
  // caller logs it once and not every round.
  bool FirstFailure(int64_t row) { return failed_.insert(row).second; }

 private:
  std::chrono::seconds grace_;
  std::map<int64_t, Clock::time_point> since_;  // row -> when its owner was first seen gone
  std::set<int64_t> failed_;                    // rows whose release failed, logged once
};

}  // namespace warmblock::provisioner
