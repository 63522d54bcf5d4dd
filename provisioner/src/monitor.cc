// The monitor thread: grows the pool when it runs low, keeps its
// out-of-space mode and the reason creates fail in step with it, and
// releases the ephemeral volumes whose owner is gone.
#include "growth.h"
#include "service.h"
#include "warmblock/base/text.h"
#include "warmblock/base/units.h"

namespace warmblock::provisioner {

// Refreshes the pool state on each pool event (low water, out of space,
// mode change) and at least four times a second; reaps orphaned ephemeral
// volumes every second.
void Service::MonitorLoop() {
  auto last = pool_->EventCounter();
  uint32_t event = last.ok() ? *last : 0;
  auto next_reap = std::chrono::steady_clock::now();
  for (;;) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    auto next = pool_->WaitEvent(event, 250);
    if (next.ok()) event = *next;
    RefreshPoolState();
    if (std::chrono::steady_clock::now() >= next_reap) {
      ReapOrphans();
      next_reap = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
  }
}

// Whether the pool may grow now: embedded, below its limit, and not just
// after a failed attempt.
bool Service::CanGrow(const thinpool::PoolOptions& o) const {
  return o.data_device.empty() && o.data_bytes < DataLimit(cfg_, o) &&
         std::chrono::steady_clock::now() >= grow_retry_at_;
}

// Grows the pool as PlanGrowth says. Returns whether it grew.
bool Service::GrowIfLow(const thinpool::PoolStatus& st) {
  if (std::chrono::steady_clock::now() < grow_retry_at_) return false;
  const thinpool::PoolOptions o = pool_->options();
  const uint64_t block = pool_->block_bytes();
  auto plan = PlanGrowth(cfg_, o, st, block);
  if (!plan) return false;
  std::string sizes = "data " + FormatSize(o.data_bytes) + " -> " + FormatSize(plan->data_bytes) + " (limit " +
                      FormatSize(DataLimit(cfg_, o)) + "), metadata " + FormatSize(o.metadata_bytes) + " -> " +
                      FormatSize(plan->metadata_bytes);
  Status s = pool_->Grow(plan->data_bytes, plan->metadata_bytes);
  if (!s.ok()) {
    // Writers must not wait on a growth that keeps failing: CanGrow is
    // false for a while, so the pool errors instead of queueing.
    grow_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    grow_error_ = s.ToString();
    Log("could not grow the pool (" + sizes + "): " + grow_error_ + "; retrying in 5 s");
    return false;
  }
  grow_error_.clear();
  Log("grew the pool: " + sizes + "; " + FormatSize((st.data_total - st.data_used) * block) + " of " +
      FormatSize(st.data_total * block) + " data was free");
  MutexLock lock(mu_);
  ++grow_events_;
  return true;
}

// Grows the pool when it runs low, keeps error_if_no_space on exactly while
// it cannot grow (queued writes are worth it only while growth can serve
// them; at the limit they would hang for the kernel's no_space_timeout
// instead), and reads the pool's status into pool_full_, so that requests
// learn of a full pool without a kernel call.
void Service::RefreshPoolState() {
  auto st = pool_->GetStatus();
  if (st.ok() && GrowIfLow(*st)) st = pool_->GetStatus();
  const thinpool::PoolOptions o = pool_->options();
  const bool can_grow = CanGrow(o);
  if (o.error_if_no_space == can_grow) {
    Status s = pool_->SetErrorIfNoSpace(!can_grow);
    if (!s.ok()) {
      Log("could not switch the pool's out-of-space mode: " + s.ToString());
    } else if (can_grow) {
      Log("the pool can grow to " + FormatSize(DataLimit(cfg_, o)) + ": writes that find it full wait for it to grow");
    } else {
      Log("the pool cannot grow: writes that find it full fail at once with ENOSPC");
    }
  }
  std::string full = st.ok() ? FullReason(cfg_, o, *st, pool_->block_bytes(), grow_error_) : "";
  stock_->SetPoolFull(!full.empty());
  MutexLock lock(mu_);
  if (full != pool_full_) Log(full.empty() ? "the pool has space again" : full);
  pool_full_ = full;
}

// Deletes the ephemeral volumes whose owner process has been gone for
// orphan_grace_s (OrphanWatch); one still mounted stays until it is not.
// Deletions that failed half-way (the thin would not go) are retried too.
void Service::ReapOrphans() {
  std::vector<VolumeRecord> owned, unfinished;
  {
    MutexLock lock(mu_);
    auto rows = store_->List();
    if (!rows.ok()) return;
    for (auto& r : *rows) {
      if (r.state == RowState::kDeleting && deleting_.count(r.id) == 0)
        unfinished.push_back(std::move(r));
      else if (r.state == RowState::kReady && r.ephemeral && r.owner_pid != 0)
        owned.push_back(std::move(r));
    }
  }
  for (const auto& r : unfinished)
    if (DeleteRow(r.name, r.id).ok()) Log("finished the deletion of volume " + Quoted(r.name));
  // /proc is read outside the lock: hand-outs do not wait for it.
  std::map<int64_t, const VolumeRecord*> gone;
  for (const auto& r : owned)
    if (svc_.process_start(r.owner_pid) != std::optional<uint64_t>(r.owner_start)) gone[r.id] = &r;
  std::vector<int64_t> rows;
  for (const auto& [row, r] : gone) rows.push_back(row);
  for (int64_t row : orphans_.Due(rows, std::chrono::steady_clock::now())) {
    const VolumeRecord& r = *gone[row];
    Status s = DeleteRow(r.name, r.id);
    std::string why =
        "ephemeral volume " + Quoted(r.name) + ": its owner, pid " + std::to_string(r.owner_pid) + ", is gone";
    if (s.ok()) {
      Log("released " + why);
    } else if (s.code() != Status::Code::kNotFound && orphans_.FirstFailure(row)) {
      Log("cannot release " + why + ": " + s.ToString() + "; retrying");
    }
  }
}

}  // namespace warmblock::provisioner
