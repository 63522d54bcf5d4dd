#include "stock.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>

#include "names.h"
#include "rows.h"
#include "warmblock/base/clock.h"

namespace warmblock::provisioner {

Stock::Stock(const std::vector<VolumeClass>& classes, Store* store, Disks* disks, LogSink log)
    : store_(store), disks_(disks), log_(std::move(log)) {
  for (const auto& vc : classes) classes_[vc.name].spec = vc;
}

Stock::~Stock() { Stop(); }

bool Stock::Has(const std::string& cls) const {
  MutexLock lock(mu_);
  return classes_.count(cls) != 0;
}

void Stock::SetGolden(const std::string& cls, uint32_t thin_id) {
  MutexLock lock(mu_);
  auto it = classes_.find(cls);
  if (it != classes_.end()) it->second.golden = thin_id;
}

void Stock::AddWarm(const std::string& cls, int64_t row) {
  MutexLock lock(mu_);
  auto it = classes_.find(cls);
  if (it != classes_.end()) it->second.warm.push_back(row);
}

Status Stock::MakeGoldenImages() {
  // Before the refillers start, so holding the lock across mkfs keeps no one
  // waiting.
  MutexLock lock(mu_);
  for (auto& [name, c] : classes_) WB_RETURN_IF_ERROR(MakeGolden(c));
  return Status::OK();
}

Status Stock::MakeGolden(Class& c) {
  if (c.golden) return Status::OK();
  VolumeRecord r;
  r.class_name = c.spec.name;
  r.fs = c.spec.fs;
  r.size_bytes = c.spec.size_bytes;
  r.thin_name = "golden-" + c.spec.name;
  r.created_ms = UnixMs();
  WB_RETURN_IF_ERROR(store_->Insert(&r));
  auto start = std::chrono::steady_clock::now();
  WB_RETURN_IF_ERROR(MakeVolume(*store_, *disks_, &r, std::nullopt, RowState::kGolden)
                         .Annotate("golden image of class " + c.spec.name));
  c.golden = r.thin_id;
  if (log_)
    log_("golden image for class " + c.spec.name + " (" + c.spec.fs + ") made in " +
         std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()) +
         " ms");
  return Status::OK();
}

void Stock::Start(unsigned refillers) {
  for (unsigned i = 0; i < refillers; ++i) refillers_.emplace_back([this] { RefillLoop(); });
}

void Stock::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  refill_cv_.notify_all();
  for (auto& t : refillers_) t.join();
  refillers_.clear();
}

std::optional<uint32_t> Stock::Golden(const std::string& cls) const {
  MutexLock lock(mu_);
  auto it = classes_.find(cls);
  return it == classes_.end() ? std::nullopt : it->second.golden;
}

Result<bool> Stock::Take(const std::string& cls, const std::function<Status(int64_t row)>& claim) {
  MutexLock lock(mu_);
  auto it = classes_.find(cls);
  if (it == classes_.end()) return false;
  Class& c = it->second;
  while (!c.warm.empty()) {
    int64_t row = c.warm.front();
    c.warm.pop_front();
    Status s = claim(row);
    if (s.code() == Status::Code::kBusy) continue;  // not warm any more; take the next
    if (!s.ok()) {
      c.warm.push_front(row);
      return s;
    }
    ++c.hits;
    refill_cv_.notify_one();
    return true;
  }
  ++c.misses;
  refill_cv_.notify_one();
  return false;
}

std::optional<int64_t> Stock::TakeSmaller(const std::string& fs, uint64_t size_bytes) {
  MutexLock lock(mu_);
  Class* donor = nullptr;
  for (auto& [name, c] : classes_)
    if (c.spec.fs == fs && c.spec.size_bytes < size_bytes && !c.warm.empty() &&
        (donor == nullptr || c.spec.size_bytes > donor->spec.size_bytes))
      donor = &c;
  if (donor == nullptr) return std::nullopt;
  int64_t row = donor->warm.front();
  donor->warm.pop_front();
  ++donor->hits;
  refill_cv_.notify_one();
  return row;
}

void Stock::SetPoolFull(bool full) {
  {
    MutexLock lock(mu_);
    if (pool_full_ == full) return;
    pool_full_ = full;
  }
  refill_cv_.notify_all();
}

std::vector<ClassReport> Stock::Report() const {
  MutexLock lock(mu_);
  std::vector<ClassReport> out;
  for (const auto& [name, c] : classes_)
    out.push_back(ClassReport{name, c.spec.fs, c.spec.size_bytes, static_cast<unsigned>(c.warm.size()), c.spec.warm,
                              c.hits, c.misses});
  return out;
}

bool Stock::WaitFull(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  MutexLock lock(mu_);
  for (;;) {
    bool full = true;
    for (const auto& [name, c] : classes_) full &= c.warm.size() >= c.spec.warm;
    if (full) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    (void)mu_.AwaitUntil(full_cv_, deadline);
  }
}

// Keeps each class's stock at its target, one volume at a time per thread,
// never holding the lock across kernel work.
void Stock::RefillLoop() {
  // Restocking yields the CPU to hand-outs and to the containers being
  // started with them (the tools it runs inherit this): a burst of starts
  // is not slowed down by making its replacements. Sustained load that
  // starves it empties the stock, and hand-outs go cold.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  MutexLock lock(mu_);
  while (!stopping_) {
    Class* need = nullptr;
    for (auto& [name, c] : classes_)
      if (c.golden && c.warm.size() + c.preparing < c.spec.warm) {
        need = &c;
        break;
      }
    if (need == nullptr || pool_full_) {
      full_cv_.notify_all();
      (void)mu_.AwaitFor(refill_cv_, std::chrono::seconds(1));
      continue;
    }
    ++need->preparing;
    VolumeRecord r;
    r.class_name = need->spec.name;
    r.fs = need->spec.fs;
    r.size_bytes = need->spec.size_bytes;
    r.thin_name = RandomThinName("w");
    r.created_ms = UnixMs();
    const uint32_t golden = *need->golden;
    lock.Unlock();
    Status s = store_->Insert(&r);
    if (s.ok()) s = MakeVolume(*store_, *disks_, &r, golden, RowState::kWarm);
    lock.Lock();
    --need->preparing;
    if (s.ok()) {
      need->warm.push_back(r.id);
      full_cv_.notify_all();
    } else {
      if (log_) log_("refill of class " + need->spec.name + " failed: " + s.ToString() + "; retrying in 1 s");
      (void)mu_.AwaitFor(refill_cv_, std::chrono::seconds(1));
    }
  }
}

}  // namespace warmblock::provisioner
