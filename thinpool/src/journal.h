// The pool's crash protocol over its catalogue. Every change to the pool's
// metadata goes intent -> pool message -> transaction id -> result: the
// catalogue records the change as pending, the message changes the pool,
// the pool's transaction id is bumped, and the catalogue records the
// outcome. After a crash the pool's transaction id says how far the change
// got (Reconcile). The journal owns the catalogue: nothing else writes it.
// Not thread-safe (the Pool serialises calls).
#pragma once

#include <string>
#include <vector>

#include "catalog.h"
#include "warmblock/thinpool/kernel.h"

namespace warmblock::thinpool {

class Journal {
 public:
  Journal(DeviceMapper* dm, std::string dir, Catalog catalog)
      : dm_(dm), dir_(std::move(dir)), cat_(std::move(catalog)) {}

  const Catalog& catalog() const { return cat_; }
  const std::string& dir() const { return dir_; }

  // Makes `next` the catalogue: written durably first, adopted after.
  Status Replace(Catalog next);

  // Sends `message` to the pool as `change` under the protocol above.
  Status Commit(PendingChange change, const std::string& message);

  // Makes catalogue and pool agree after an interrupted change, given the
  // pool's transaction id now: rolls a landed change forward, an unlanded
  // create back, finishes a delete; one line per repair to `repairs`.
  // kCorruption when they disagree beyond one step.
  Status Reconcile(uint64_t pool_txid, std::vector<std::string>* repairs);

  // kCorruption while a change is pending (only Reconcile clears it).
  Status CheckNoPending() const;

  // The next id that no thin has, from next_id, wrapping at 2^24 (recorded
  // with the next write); kNoSpace when all are taken.
  Result<uint32_t> AllocateId();

  // Removes the catalogue file (the pool is destroyed).
  Status Remove();

 private:
  Status SetTransactionId(uint64_t from, uint64_t to);
  void Apply(const PendingChange& p);
  Status Disagree(uint64_t pool_txid) const;

  DeviceMapper* dm_;
  std::string dir_;
  Catalog cat_;
};

}  // namespace warmblock::thinpool
