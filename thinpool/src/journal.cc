#include "journal.h"

#include <unistd.h>

#include <cerrno>

namespace warmblock::thinpool {

Status Journal::Replace(Catalog next) {
  WB_RETURN_IF_ERROR(WriteCatalog(dir_, next));
  cat_ = std::move(next);
  return Status::OK();
}

Status Journal::Commit(PendingChange change, const std::string& message) {
  const uint64_t t = cat_.transaction_id;
  Catalog intent = cat_;
  intent.pending = change;
  WB_RETURN_IF_ERROR(Replace(std::move(intent)));
  Status s = dm_->Message(cat_.options.name, message);
  if (!s.ok()) {
    // The message failed as a whole: the pool is unchanged.
    cat_.pending.reset();
    Status w = WriteCatalog(dir_, cat_);
    return w.ok() ? s : s.Annotate(w.message());
  }
  s = SetTransactionId(t, t + 1);
  if (!s.ok())
    return s.Annotate(message + " took effect but the transaction id was not bumped; reopen the pool to repair");
  Apply(change);
  return WriteCatalog(dir_, cat_);
}

Status Journal::Reconcile(uint64_t pool_txid, std::vector<std::string>* repairs) {
  const uint64_t t = cat_.transaction_id;
  if (!cat_.pending) return pool_txid == t ? Status::OK() : Disagree(pool_txid);
  const PendingChange p = *cat_.pending;
  const std::string what = std::string(p.kind == PendingChange::Kind::kDelete ? "delete" : "create") + " of thin " +
                           std::to_string(p.thin.id) + " (" + p.thin.name + ")";
  const std::string del = "delete " + std::to_string(p.thin.id);
  if (pool_txid == t + 1) {
    Apply(p);
    repairs->push_back("rolled forward an interrupted " + what);
  } else if (pool_txid == t && p.kind != PendingChange::Kind::kDelete) {
    Status s = dm_->Message(cat_.options.name, del);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("roll back " + what);
    cat_.pending.reset();
    repairs->push_back("rolled back an interrupted " + what);
  } else if (pool_txid == t) {
    // A delete whose message may or may not have landed: finish it.
    Status s = dm_->Message(cat_.options.name, del);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("complete " + what);
    WB_RETURN_IF_ERROR(SetTransactionId(t, t + 1));
    Apply(p);
    repairs->push_back("completed an interrupted " + what);
  } else {
    return Disagree(pool_txid);
  }
  return WriteCatalog(dir_, cat_);
}

Status Journal::CheckNoPending() const {
  if (!cat_.pending) return Status::OK();
  return Status::Error(Status::Code::kCorruption,
                       "pool " + cat_.options.name + " has an unfinished change; reopen the pool to repair it");
}

Result<uint32_t> Journal::AllocateId() {
  uint32_t id = cat_.next_id;
  for (uint64_t tries = 0; tries <= kMaxThinId; ++tries, id = id >= kMaxThinId ? 0 : id + 1) {
    if (!cat_.thins.count(id)) {
      cat_.next_id = id >= kMaxThinId ? 0 : id + 1;
      return id;
    }
  }
  return Status::Error(Status::Code::kNoSpace, "pool " + cat_.options.name + ": all 2^24 thin ids are in use");
}

Status Journal::Remove() {
  if (::unlink(CatalogPath(dir_).c_str()) < 0 && errno != ENOENT)
    return Status::FromErrno(errno, "remove " + CatalogPath(dir_));
  return Status::OK();
}

Status Journal::SetTransactionId(uint64_t from, uint64_t to) {
  return dm_->Message(cat_.options.name, "set_transaction_id " + std::to_string(from) + " " + std::to_string(to));
}

void Journal::Apply(const PendingChange& p) {
  if (p.kind == PendingChange::Kind::kDelete) {
    cat_.thins.erase(p.thin.id);
  } else {
    cat_.thins[p.thin.id] = p.thin;
  }
  cat_.transaction_id += 1;
  cat_.pending.reset();
}

Status Journal::Disagree(uint64_t pool_txid) const {
  return Status::Corruption("pool " + cat_.options.name + " has transaction id " + std::to_string(pool_txid) +
                            " but its catalogue " + CatalogPath(dir_) + " has " + std::to_string(cat_.transaction_id) +
                            "; the two were changed apart");
}

}  // namespace warmblock::thinpool
