// The warm stock: a golden image per class, and refillers that keep each
// class's stock of ready volumes at its target.
#include <sys/resource.h>
#include <unistd.h>

#include "names.h"
#include "service.h"
#include "warmblock/base/clock.h"

namespace warmblock::provisioner {

Status Service::EnsureGolden(ClassState& cs) {
  if (cs.golden != 0 || pool_->FindByName("golden-" + cs.spec.name).ok()) return Status::OK();
  VolumeRecord r;
  r.class_name = cs.spec.name;
  r.fs = cs.spec.fs;
  r.size_bytes = cs.spec.size_bytes;
  r.thin_name = "golden-" + cs.spec.name;
  r.created_ms = UnixMs();
  WB_RETURN_IF_ERROR(store_->Insert(&r));
  auto start = std::chrono::steady_clock::now();
  WB_RETURN_IF_ERROR(Prepare(&r, std::nullopt, VolumeState::kGolden).Annotate("golden image of class " + cs.spec.name));
  cs.golden = r.thin_id;
  Log("golden image for class " + cs.spec.name + " (" + cs.spec.fs + ") made in " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()) +
      " ms");
  return Status::OK();
}

// Keeps each class's stock at its target, `refill_concurrency` threads
// making one volume each at a time, never holding mu_ across kernel work.
void Service::RefillLoop() {
  // Restocking yields the CPU to hand-outs and to the containers being
  // started with them (the tools it runs inherit this): a burst of starts
  // is not slowed down by making its replacements. Sustained load that
  // starves it empties the stock, and hand-outs go cold.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    ClassState* need = nullptr;
    for (auto& [name, cs] : classes_)
      if (cs.warm.size() + cs.preparing < cs.spec.warm) {
        need = &cs;
        break;
      }
    if (need == nullptr || !pool_full_.empty()) {
      warm_cv_.notify_all();
      refill_cv_.wait_for(lock, std::chrono::seconds(1));
      continue;
    }
    ++need->preparing;
    VolumeRecord r;
    r.class_name = need->spec.name;
    r.fs = need->spec.fs;
    r.size_bytes = need->spec.size_bytes;
    r.thin_name = RandomThinName("w");
    r.created_ms = UnixMs();
    Status s = store_->Insert(&r);
    uint32_t golden = need->golden;
    lock.unlock();
    if (s.ok()) s = Prepare(&r, golden, VolumeState::kWarm);
    lock.lock();
    --need->preparing;
    if (s.ok()) {
      need->warm.push_back(r.id);
      warm_cv_.notify_all();
    } else {
      Log("refill of class " + need->spec.name + " failed: " + s.ToString() + "; retrying in 1 s");
      refill_cv_.wait_for(lock, std::chrono::seconds(1));
    }
  }
}

}  // namespace warmblock::provisioner
