// The ublk disks warmblockd serves, by volume row. Thread-safe: hand-outs,
// refillers, deletes and the monitor reach it from their own threads, and
// its lock is its own (never held across a kernel call), apart from the
// service's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::provisioner {

class Disks {
 public:
  Disks() = default;
  // The disks stay up (user recovery): a restarted daemon adopts them.
  ~Disks();
  Disks(const Disks&) = delete;
  Disks& operator=(const Disks&) = delete;

  bool Has(int64_t row) const;
  // The disk of `row`, or null. The pointer stays valid while the caller
  // owns the row (only the row's owner stops its disk).
  ublk::Device* Find(int64_t row) const;
  void Put(int64_t row, std::unique_ptr<ublk::Device> disk);
  // Stops the disk of `row`, if it has one. Without `force`, kBusy (and
  // nothing changes) while it is mounted or open: a container's disk never
  // goes away under it. The caller owns the row.
  Status Stop(int64_t row, bool force);
  // Stops every disk; kBusy at the first one still mounted or open (that
  // one and the rest stay).
  Status StopAll();

 private:
  mutable std::mutex mu_;
  std::map<int64_t, std::unique_ptr<ublk::Device>> by_row_;  // guarded by mu_
};

}  // namespace warmblock::provisioner
