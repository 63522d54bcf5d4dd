// The Provisioner itself, private to the library: the volumes' names and
// their rows' transitions. It uses the Stock (warm volumes per class), which
// uses Disks (the kernel side: thins and ublk disks); both get the log sink
// passed down. Its operations are in files of their own: hand-out
// (create.cc), deletion (delete.cc), start-up repair (repair.cc), and the
// monitor thread that grows the pool and releases orphans (monitor.cc); the
// policies the monitor consults are pure code apart (growth.h, orphans.h).
//
// Locks: mu_ guards the members marked so, and orders the store writes that
// must agree with them (a name is looked up and claimed under it). Stock and
// Disks have their own, taken after mu_ if at all. Kernel work (thin, disk,
// mkfs) never runs under a lock: a hand-out waits only for database
// updates.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "disks.h"
#include "orphans.h"
#include "stock.h"
#include "store.h"
#include "warmblock/base/mutex.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {

class Service final : public Provisioner {
 public:
  Service(Config config, Services services);
  ~Service() override;

  // Opens the store and the pool, repairs, makes the golden images and
  // starts the threads.
  Status Init();

  Result<Volume> Create(const CreateRequest& req) override;
  Result<Volume> Get(const std::string& name) override;
  Result<std::vector<Volume>> List(const std::map<std::string, std::string>& labels) override;
  Status Delete(const std::string& name) override { return DeleteRow(name, std::nullopt); }
  Result<PoolReport> Report() override;
  std::vector<std::string> Repairs() const override;
  Status Shutdown() override;
  bool WaitWarm(int timeout_ms) override;

 private:
  // What decides whether two creates of one name ask for the same volume.
  struct PendingSpec {
    std::string fs;
    uint64_t size_bytes = 0;
    bool ephemeral = false;
    bool operator==(const PendingSpec&) const = default;
  };
  class NameReservation;

  // service.cc
  void Log(const std::string& line) const;
  void Note(const std::string& line);  // a repair, kept for Repairs()
  Status OpenPool();
  void StopThreads();
  // kBusy for a row in the middle of a change.
  Status CheckSettled(const VolumeRecord& r) const REQUIRES(mu_);
  static Volume ToVolume(const VolumeRecord& r, Source source);
  static std::string Describe(const VolumeRecord& r);

  // create.cc
  static void Name(VolumeRecord* r, const CreateRequest& req, uint64_t owner_start);
  Result<Volume> GrowWarm(int64_t row, const CreateRequest& req, uint64_t owner_start, uint64_t size);

  // delete.cc
  Status DeleteRow(const std::string& name, std::optional<int64_t> row);

  // repair.cc
  Status Repair();

  // monitor.cc
  void MonitorLoop();
  void RefreshPoolState();
  bool GrowIfLow(const thinpool::PoolStatus& st);
  bool CanGrow(const thinpool::PoolOptions& o) const;
  void ReapOrphans();

  const Config cfg_;
  Services svc_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<thinpool::Pool> pool_;
  std::unique_ptr<Disks> disks_;  // over pool_ (made once it is open)
  std::unique_ptr<Stock> stock_;  // over disks_

  mutable Mutex mu_;
  std::vector<std::string> repairs_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::string pool_full_ GUARDED_BY(mu_);  // why creates get kNoSpace; empty: there is space
  uint64_t grow_events_ GUARDED_BY(mu_) = 0;
  std::map<std::string, PendingSpec> creating_ GUARDED_BY(mu_);  // names a Create makes outside mu_
  std::set<int64_t> deleting_ GUARDED_BY(mu_);                   // rows a Delete works on outside mu_
  std::condition_variable_any created_cv_;                       // a name left creating_

  // The monitor thread's own (Init's before the thread starts).
  std::chrono::steady_clock::time_point grow_retry_at_;  // no growth (nor queueing) before this
  std::string grow_error_;                               // the last failed growth's
  OrphanWatch orphans_;

  std::thread monitor_;
};

}  // namespace warmblock::provisioner
