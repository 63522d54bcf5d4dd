// The warm stock: per volume class a golden image (formatted once) and a
// stock of warm volumes made from it (snapshot, fresh filesystem identity,
// disk started), kept at the class's target by refill threads, so that a
// hand-out is one database update.
//
// Thread-safe. Its lock guards the classes' stock and counters and is held
// only for bookkeeping (and the claim a hand-out makes in the store):
// never across kernel work. Lock order: the service's lock, then this one.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "disks.h"
#include "store.h"
#include "warmblock/base/mutex.h"
#include "warmblock/provisioner/config.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {

class Stock {
 public:
  using LogSink = std::function<void(const std::string&)>;
  // Store and disks are not owned and outlive this.
  Stock(const std::vector<VolumeClass>& classes, Store* store, Disks* disks, LogSink log);
  // Stops the refillers; the warm volumes stay for the next start.
  ~Stock();
  Stock(const Stock&) = delete;
  Stock& operator=(const Stock&) = delete;

  // What start-up repair found, before Start: whether class `cls` is still
  // configured, its golden image, its warm rows.
  bool Has(const std::string& cls) const;
  void SetGolden(const std::string& cls, uint32_t thin_id);
  void AddWarm(const std::string& cls, int64_t row);
  // Makes the golden image of each class that has none (mkfs: slow).
  Status MakeGoldenImages();
  // Starts `refillers` threads; Stop (or the destructor) ends them.
  void Start(unsigned refillers);
  void Stop();

  // The golden image of class `cls`, if it has one.
  std::optional<uint32_t> Golden(const std::string& cls) const;
  // Hand-out from class `cls`: takes warm rows oldest first and calls
  // `claim` on each until one returns anything but kBusy (that row was no
  // longer warm): true once a claim succeeded (a hit), false when the stock
  // ran out (a miss); a claim's other error puts its row back and is
  // returned. `claim` runs under the stock's lock and must not call it.
  Result<bool> Take(const std::string& cls, const std::function<Status(int64_t row)>& claim);
  // For a size no class has: a warm row, out of the stock now, of the
  // largest class smaller than `size_bytes` with filesystem `fs`; nullopt
  // if none has one.
  std::optional<int64_t> TakeSmaller(const std::string& fs, uint64_t size_bytes);

  // While the pool is full no refill starts.
  void SetPoolFull(bool full);
  std::vector<ClassReport> Report() const;
  // Blocks until every class is at its target or `timeout_ms` passes (false).
  bool WaitFull(int timeout_ms);

 private:
  struct Class {
    VolumeClass spec;
    std::optional<uint32_t> golden;  // thin id of the golden image
    std::deque<int64_t> warm;        // rows ready to hand out
    unsigned preparing = 0;          // rows being made by refillers
    uint64_t hits = 0, misses = 0;
  };
  Status MakeGolden(Class& c);
  void RefillLoop();

  Store* const store_;
  Disks* const disks_;
  const LogSink log_;

  mutable Mutex mu_;
  std::map<std::string, Class> classes_ GUARDED_BY(mu_);
  bool pool_full_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::condition_variable_any refill_cv_;  // a class fell below its target, the pool has space, or stopping_
  std::condition_variable_any full_cv_;    // a warm row joined the stock
  std::vector<std::thread> refillers_;
};

}  // namespace warmblock::provisioner
