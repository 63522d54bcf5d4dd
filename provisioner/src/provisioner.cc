#include "warmblock/provisioner/provisioner.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "process.h"
#include "store.h"
#include "warmblock/base/clock.h"
#include "warmblock/base/proc.h"
#include "warmblock/base/text.h"
#include "warmblock/base/units.h"

namespace warmblock::provisioner {
namespace {

class Mkfs final : public Formatter {
 public:
  Status Format(const std::string& device, const std::string& fs) override {
    // Lazy init and no discard: a fresh thin reads as zeroes already, and
    // discarding it would only cost time. metadata_csum_seed lets
    // NewIdentity change the UUID without rewriting every checksum.
    if (fs == "xfs") return RunProgram({"mkfs.xfs", "-q", "-f", "-K", device});
    return RunProgram(
        {"mkfs.ext4", "-q", "-F", "-O", "metadata_csum_seed", "-E", "nodiscard,lazy_itable_init=1", device});
  }

  Status NewIdentity(const std::string& device, const std::string& fs) override {
    if (fs == "xfs") return RunProgram({"xfs_admin", "-U", "generate", device});
    return RunProgram({"tune2fs", "-U", "random", device});
  }

  Status Grow(const std::string& device, const std::string& fs) override {
    // A warm volume's filesystem was never mounted: resize2fs may skip its
    // fsck (-f). XFS grows only while mounted.
    if (fs != "xfs") return RunProgram({"resize2fs", "-f", device});
    char dir[] = "/tmp/warmblock-grow-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status::FromErrno(errno, "mkdtemp for xfs_growfs");
    Status s = RunProgram({"mount", "-t", "xfs", "-o", "nouuid", device, dir});
    if (s.ok()) {
      s = RunProgram({"xfs_growfs", "-d", dir});
      Status u = RunProgram({"umount", dir});
      if (s.ok()) s = u;
    }
    ::rmdir(dir);
    return s;
  }
};

// The start time of `pid` (which changes when the pid is reused).
std::optional<uint64_t> ProcStartTime(int64_t pid) {
  auto st = ReadProcStat(pid);
  if (!st) return std::nullopt;
  return st->start_time;
}

std::string RandomThinName(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[24];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix, static_cast<unsigned long long>(rng()));
  return buf;
}

struct ClassState {
  VolumeClass spec;
  uint32_t golden = 0;       // thin id of the golden image
  std::deque<int64_t> warm;  // rows ready to hand out
  unsigned preparing = 0;    // rows being made by refillers
  uint64_t hits = 0, misses = 0;
};

class Impl final : public Provisioner {
 public:
  Impl(Config config, Services services) : cfg_(std::move(config)), svc_(std::move(services)) {
    if (!svc_.process_start) svc_.process_start = ProcStartTime;
  }

  ~Impl() override {
    StopRefill();
    // The disks stay up (user recovery): a restarted daemon adopts them.
    // Dropping a Device would remove it, so hand them to the kernel as they are.
    for (auto& [row, dev] : served_) (void)dev.release();
  }

  Status Shutdown() override {
    StopRefill();
    {
      std::lock_guard<std::mutex> lock(served_mu_);
      while (!served_.empty()) {
        auto it = served_.begin();
        WB_RETURN_IF_ERROR(it->second->Remove(/*force=*/false).Annotate("shut down"));
        served_.erase(it);
      }
    }
    WB_RETURN_IF_ERROR(pool_->Shutdown());
    Log("shut down: every disk stopped, pool devices removed; state kept in " + cfg_.state_dir);
    return Status::OK();
  }

  Status Init() {
    std::error_code ec;
    std::filesystem::create_directories(cfg_.state_dir, ec);
    if (ec) return Status::FromErrno(ec.value(), "create state directory " + cfg_.state_dir);
    WB_ASSIGN_OR_RETURN(store_, Store::Open(cfg_.state_dir + "/warmblock.db"));
    WB_RETURN_IF_ERROR(OpenPool());
    for (const auto& vc : cfg_.classes) classes_[vc.name].spec = vc;
    WB_RETURN_IF_ERROR(Repair());
    for (auto& [name, cls] : classes_) WB_RETURN_IF_ERROR(EnsureGolden(cls));
    RefreshPoolState();
    for (unsigned i = 0; i < cfg_.refill_concurrency; ++i) refillers_.emplace_back([this] { RefillLoop(); });
    refillers_.emplace_back([this] { MonitorLoop(); });
    return Status::OK();
  }

  Result<Volume> Create(const CreateRequest& req) override {
    WB_RETURN_IF_ERROR(ValidateVolumeName(req.name));
    VolumeClass spec;
    const VolumeClass* cls = nullptr;
    if (!req.class_name.empty()) {
      cls = cfg_.FindClass(req.class_name);
      if (cls == nullptr) return Status::InvalidArgument("class: no class named " + Quoted(req.class_name));
      spec = *cls;
    } else {
      if (!IsSupportedFs(req.fs)) return Status::InvalidArgument("fs: must be ext4 or xfs, not " + Quoted(req.fs));
      if (req.size_bytes < (16ull << 20) || req.size_bytes % (1 << 20) != 0 || req.size_bytes > (1ull << 50))
        return Status::InvalidArgument("size: must be a whole number of MiB between 16M and 1P");
      cls = cfg_.FindClass(req.fs, req.size_bytes);
      spec = cls != nullptr ? *cls : VolumeClass{"", req.fs, req.size_bytes, 0};
    }
    uint64_t owner_start = 0;
    if (req.owner_pid != 0) {
      if (!req.ephemeral) return Status::InvalidArgument("owner_pid: only an ephemeral volume has an owner");
      auto start = req.owner_pid > 0 ? svc_.process_start(req.owner_pid) : std::nullopt;
      if (!start) return Status::InvalidArgument("owner_pid: no process " + std::to_string(req.owner_pid));
      owner_start = *start;
    }

    const PendingSpec want{spec.fs, spec.size_bytes, req.ephemeral};
    // Declared before the lock so that it ends after it: the reservation
    // takes mu_ to end.
    std::optional<NameReservation> reserved;
    std::unique_lock<std::mutex> lock(mu_);
    // Identical requests racing each other get the one volume the first
    // makes (it may take seconds on the grown and cold paths); another spec
    // for the name is a conflict at once.
    for (auto it = creating_.find(req.name); it != creating_.end(); it = creating_.find(req.name)) {
      if (it->second != want)
        return Status::AlreadyExists("volume " + Quoted(req.name) +
                                     " is being created with another size, filesystem or lifetime");
      created_cv_.wait(lock);
    }
    auto existing = store_->FindByName(req.name);
    if (existing.ok()) {
      if (PendingSpec{existing->fs, existing->size_bytes, existing->ephemeral} != want)
        return Status::AlreadyExists("volume " + Quoted(req.name) +
                                     " exists with another size, filesystem or lifetime");
      WB_RETURN_IF_ERROR(CheckSettled(*existing));
      return ToVolume(*existing, "existing");
    }
    if (existing.status().code() != Status::Code::kNotFound) return existing.status();
    if (!pool_full_.empty()) return Status::Error(Status::Code::kNoSpace, pool_full_);

    if (cls != nullptr) {
      ClassState& cs = classes_[cls->name];
      while (!cs.warm.empty()) {
        int64_t row = cs.warm.front();
        cs.warm.pop_front();
        auto r = store_->Get(row);
        if (!r.ok()) continue;
        Name(&*r, req, owner_start);
        Status s = store_->Claim(*r);
        if (s.code() == Status::Code::kBusy) continue;  // not warm any more; take the next
        if (!s.ok()) {
          cs.warm.push_front(row);
          return s;
        }
        ++cs.hits;
        refill_cv_.notify_one();
        return ToVolume(*r, "warm");
      }
      ++cs.misses;
      refill_cv_.notify_one();
    } else if (svc_.ublk->features().update_size()) {
      // No class of this size: grow a warm volume of the largest smaller
      // class with the same filesystem (thin, disk, filesystem), cheaper
      // than making one from nothing.
      ClassState* donor = nullptr;
      for (auto& [name, cs] : classes_)
        if (cs.spec.fs == spec.fs && cs.spec.size_bytes < spec.size_bytes && !cs.warm.empty() &&
            (donor == nullptr || cs.spec.size_bytes > donor->spec.size_bytes))
          donor = &cs;
      if (donor != nullptr) {
        int64_t row = donor->warm.front();
        donor->warm.pop_front();
        ++donor->hits;
        refill_cv_.notify_one();
        reserved.emplace(this, req.name, want);
        lock.unlock();
        auto grown = GrowWarm(row, req, owner_start, spec.size_bytes);
        if (grown.ok() || grown.status().code() != Status::Code::kIOError) return grown;
        Log("growing a warm volume for " + Quoted(req.name) + " failed (" + grown.status().ToString() +
            "); making it cold");
        lock.lock();
      }
    }

    // Cold: made for this request, outside the lock. The row inserted now
    // reserves the name.
    VolumeRecord r;
    Name(&r, req, owner_start);
    r.state = VolumeState::kCreating;
    r.class_name = spec.name;
    r.fs = spec.fs;
    r.size_bytes = spec.size_bytes;
    r.thin_name = RandomThinName("v");
    WB_RETURN_IF_ERROR(store_->Insert(&r));
    if (!reserved) reserved.emplace(this, req.name, want);
    std::optional<uint32_t> origin;
    if (cls != nullptr) origin = classes_[cls->name].golden;
    lock.unlock();
    WB_RETURN_IF_ERROR(Prepare(&r, origin, VolumeState::kReady));
    return ToVolume(r, "cold");
  }

  // What decides whether two creates of one name ask for the same volume.
  struct PendingSpec {
    std::string fs;
    uint64_t size_bytes = 0;
    bool ephemeral = false;
    bool operator==(const PendingSpec&) const = default;
  };

  // A name being created outside mu_ (grown or cold): in creating_ from
  // construction (under mu_) until destruction (which takes mu_), when the
  // requests waiting for it look again.
  class NameReservation {
   public:
    NameReservation(Impl* self, std::string name, PendingSpec spec) : self_(self), name_(std::move(name)) {
      self_->creating_.emplace(name_, std::move(spec));
    }
    ~NameReservation() {
      std::lock_guard<std::mutex> lock(self_->mu_);
      self_->creating_.erase(name_);
      self_->created_cv_.notify_all();
    }
    NameReservation(const NameReservation&) = delete;
    NameReservation& operator=(const NameReservation&) = delete;

   private:
    Impl* self_;
    std::string name_;
  };

  // Fills in what a request makes of a warm row: its name, labels and
  // lifetime, ready now.
  static void Name(VolumeRecord* r, const CreateRequest& req, uint64_t owner_start) {
    r->name = req.name;
    r->labels = req.labels;
    r->ephemeral = req.ephemeral;
    r->owner_pid = req.owner_pid;
    r->owner_start = owner_start;
    r->created_ms = UnixMs();
    r->state = VolumeState::kReady;
  }

  // Grows warm row `row` (already out of stock) to `size` and hands it out
  // as req.name. On failure the row is dropped; kIOError means the caller
  // may still make the volume cold.
  Result<Volume> GrowWarm(int64_t row, const CreateRequest& req, uint64_t owner_start, uint64_t size) {
    WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->Get(row));
    ublk::Device* dev = nullptr;
    {
      std::lock_guard<std::mutex> lock(served_mu_);
      auto it = served_.find(row);
      if (it != served_.end()) dev = it->second.get();
    }
    Status s = dev == nullptr ? Status::Error(Status::Code::kIOError, "warm volume has no disk")
                              : pool_->Resize(r.thin_id, size);
    if (s.ok()) s = dev->Resize(size);
    if (s.ok()) s = svc_.formatter->Grow(dev->disk_path(), r.fs);
    if (s.ok()) {
      Name(&r, req, owner_start);
      r.class_name.clear();
      r.size_bytes = size;
      std::lock_guard<std::mutex> lock(mu_);
      s = store_->Claim(r);
    }
    if (!s.ok()) {
      (void)DropThin(r);
      return Status::Error(s.code() == Status::Code::kAlreadyExists ? Status::Code::kBusy : Status::Code::kIOError,
                           "grow a warm volume for " + Quoted(req.name) + ": " + s.ToString());
    }
    return ToVolume(r, "grown");
  }

  Result<Volume> Get(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->FindByName(name));
    if (r.state != VolumeState::kReady && r.state != VolumeState::kLost)
      return Status::NotFound("volume " + Quoted(name) + " is being " + StateName(r.state));
    return ToVolume(r, "existing");
  }

  Result<std::vector<Volume>> List(const std::map<std::string, std::string>& labels) override {
    std::lock_guard<std::mutex> lock(mu_);
    WB_ASSIGN_OR_RETURN(auto rows, store_->List());
    std::vector<Volume> out;
    for (const auto& r : rows) {
      if (r.state != VolumeState::kReady && r.state != VolumeState::kLost) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = r.labels.find(k);
        if (it == r.labels.end() || it->second != v) match = false;
      }
      if (match) out.push_back(ToVolume(r, "existing").value());
    }
    return out;
  }

  Status Delete(const std::string& name) override { return DeleteRow(name, std::nullopt); }

  // Deletes volume `name`; with `row`, only if the name still belongs to
  // that row (not to a volume made under the same name since).
  Status DeleteRow(const std::string& name, std::optional<int64_t> row) {
    std::unique_lock<std::mutex> lock(mu_);
    WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->FindByName(name));
    if (row && r.id != *row) return Status::NotFound("volume " + Quoted(name) + " is another volume now");
    // A row an earlier Delete left deleting (its thin would not go) is
    // finished by this one.
    bool resume = r.state == VolumeState::kDeleting && deleting_.count(r.id) == 0;
    if (!resume) WB_RETURN_IF_ERROR(CheckSettled(r));
    // Stopping a disk takes the kernel a while (STOP_DEV waits for its
    // queues): hand-outs go on meanwhile, and this row is ours alone.
    deleting_.insert(r.id);
    lock.unlock();
    Status s = resume ? Status::OK() : StopDisk(r.id, /*force=*/false);
    if (s.ok() && !resume) {
      r.state = VolumeState::kDeleting;
      s = store_->Update(r);
    }
    if (s.ok()) s = DropThin(r);
    lock.lock();
    deleting_.erase(r.id);
    return s.Annotate("delete volume " + Quoted(name));
  }

  Result<PoolReport> Report() override {
    WB_ASSIGN_OR_RETURN(thinpool::PoolStatus st, pool_->GetStatus());
    PoolReport rep;
    uint64_t block = pool_->block_bytes();
    rep.data_total_bytes = st.data_total * block;
    rep.data_used_bytes = st.data_used * block;
    rep.metadata_total_bytes = st.metadata_total * 4096;
    rep.metadata_used_bytes = st.metadata_used * 4096;
    rep.transaction_id = st.transaction_id;
    thinpool::PoolOptions o = pool_->options();
    rep.data_limit_bytes = o.data_device.empty() ? DataLimit(o) / block * block : rep.data_total_bytes;
    std::lock_guard<std::mutex> lock(mu_);
    rep.grow_events = grow_events_;
    rep.full = !pool_full_.empty();
    rep.full_reason = pool_full_;
    WB_ASSIGN_OR_RETURN(auto rows, store_->List());
    for (const auto& r : rows) {
      if (r.state == VolumeState::kGolden) continue;
      rep.provisioned_bytes += r.size_bytes;
      if (r.state == VolumeState::kReady) ++rep.volumes;
    }
    for (const auto& [name, cs] : classes_) {
      rep.classes.push_back(ClassReport{name, cs.spec.fs, cs.spec.size_bytes, static_cast<unsigned>(cs.warm.size()),
                                        cs.spec.warm, cs.hits, cs.misses});
    }
    return rep;
  }

  std::vector<std::string> Repairs() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return repairs_;
  }

  bool WaitWarm(int timeout_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    return warm_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] {
      for (const auto& [name, cs] : classes_)
        if (cs.warm.size() < cs.spec.warm) return false;
      return true;
    });
  }

 private:
  void Log(const std::string& line) const {
    if (svc_.log) svc_.log(line);
  }

  void StopRefill() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    refill_cv_.notify_all();
    for (auto& t : refillers_) t.join();
    refillers_.clear();
  }

  Status OpenPool() {
    const std::string dir = cfg_.state_dir + "/pool";
    auto opened = thinpool::Pool::Open(dir, svc_.kernel);
    if (opened.ok()) {
      pool_ = std::move(opened).value();
      for (const auto& r : pool_->repairs()) Note("pool: " + r);
      return Status::OK();
    }
    if (opened.status().code() != Status::Code::kNotFound) return opened.status();
    thinpool::PoolOptions o;
    o.state_dir = dir;
    o.data_bytes = cfg_.pool_data_bytes;
    o.metadata_bytes = cfg_.pool_metadata_bytes;
    o.data_device = cfg_.pool_data_device;
    o.metadata_device = cfg_.pool_metadata_device;
    o.block_sectors = static_cast<uint32_t>(cfg_.pool_block_bytes / 512);
    // Writers get ENOSPC at once, never hang, unless the pool can still
    // grow: then their writes wait the moment it takes to grow it.
    o.error_if_no_space = cfg_.MaxPoolDataBytes() <= cfg_.pool_data_bytes;
    WB_ASSIGN_OR_RETURN(pool_, thinpool::Pool::Create(o, svc_.kernel));
    Log("created pool " + pool_->name() + " in " + dir);
    return Status::OK();
  }

  void Note(const std::string& line) {
    repairs_.push_back(line);
    Log("repair: " + line);
  }

  // Start-up repair: the database against the pool's thins. Rows left mid-
  // change are rolled back (creating: never acknowledged) or finished
  // (deleting); rows whose thin is gone are dropped (stock) or marked lost
  // (handed out); thins no row owns are deleted; served rows get their disk
  // back, adopting the one a previous process left running.
  Status Repair() {
    WB_ASSIGN_OR_RETURN(auto rows, store_->List());
    std::set<std::string> owned;
    std::vector<VolumeRecord*> to_serve;
    for (auto& r : rows) {
      auto thin = pool_->FindByName(r.thin_name);
      if (r.state == VolumeState::kCreating || r.state == VolumeState::kDeleting) {
        Note(std::string(r.state == VolumeState::kCreating ? "rolled back creation" : "finished deletion") + " of " +
             Describe(r));
        WB_RETURN_IF_ERROR(DropThin(r));
        continue;
      }
      if (!thin.ok()) {
        if (r.state == VolumeState::kReady) {
          r.state = VolumeState::kLost;
          WB_RETURN_IF_ERROR(store_->Update(r));
          Note("volume " + Quoted(r.name) + " lost its thin " + r.thin_name + "; marked lost");
        } else if (r.state != VolumeState::kLost) {
          WB_RETURN_IF_ERROR(store_->Remove(r.id));
          Note("dropped " + Describe(r) + ": its thin is gone");
        }
        continue;
      }
      owned.insert(r.thin_name);
      if (r.state == VolumeState::kGolden) {
        classes_[r.class_name].golden = thin->id;
        continue;
      }
      if (r.state == VolumeState::kWarm && classes_.count(r.class_name) == 0) {
        Note("dropped warm " + Describe(r) + ": class " + Quoted(r.class_name) + " is no longer configured");
        WB_RETURN_IF_ERROR(DropThin(r));
        owned.erase(r.thin_name);
        continue;
      }
      if (r.state == VolumeState::kWarm || r.state == VolumeState::kReady) {
        to_serve.push_back(&r);
        if (r.state == VolumeState::kWarm) classes_[r.class_name].warm.push_back(r.id);
      }
    }
    // Two rows naming one disk: one is stale (a delete stops its disk
    // before it records the deletion, and the freed number may go to a
    // new disk meanwhile). Which one cannot be told, and adopting for the
    // wrong one would show a volume's data under another's name: both get
    // new disks, and the old one is deleted below as abandoned.
    std::map<int64_t, int> named;
    for (const VolumeRecord* r : to_serve)
      if (r->ublk_id >= 0) ++named[r->ublk_id];
    for (VolumeRecord* r : to_serve) {
      if (r->ublk_id < 0 || named[r->ublk_id] < 2) continue;
      Note("ublk device " + std::to_string(r->ublk_id) + " is named by " + std::to_string(named[r->ublk_id]) +
           " volumes; " + Describe(*r) + " gets a new disk");
      r->ublk_id = -1;
    }
    // Every disk a previous process left is adopted before any new one
    // starts: a new disk takes the lowest free number, which after a reboot
    // is one that a later row still names, and adopting that live disk
    // fails only after ublk's ~10 s of busy retries (seen after power cuts).
    for (VolumeRecord* r : to_serve) WB_RETURN_IF_ERROR(Serve(r, /*adopt_only=*/true));
    for (VolumeRecord* r : to_serve) WB_RETURN_IF_ERROR(Serve(r, /*adopt_only=*/false));
    // Disks of this daemon that nobody adopted (their row is gone, or a
    // crash came between adding the disk and recording it).
    for (uint32_t id : svc_.ublk->ListAbandoned()) {
      Status s = svc_.ublk->DeleteAbandoned(id);
      if (s.ok()) {
        Note("deleted abandoned ublk device " + std::to_string(id));
      } else {
        Log("could not delete abandoned ublk device " + std::to_string(id) + ": " + s.ToString());
      }
    }
    for (const auto& t : pool_->List()) {
      if (owned.count(t.name) != 0) continue;
      Note("deleted orphan thin " + t.name + " (id " + std::to_string(t.id) + ")");
      (void)pool_->Deactivate(t.id);
      WB_RETURN_IF_ERROR(pool_->DeleteThin(t.id));
    }
    WB_RETURN_IF_ERROR(store_->SetMeta("pool_txid", std::to_string(pool_->transaction_id())));
    return Status::OK();
  }

  static std::string Describe(const VolumeRecord& r) {
    return (r.name.empty() ? std::string(StateName(r.state)) + " volume" : "volume " + Quoted(r.name)) + " (thin " +
           r.thin_name + ")";
  }

  // Activates row r's thin and gives it a disk: adopts the ublk device a
  // previous process left if there is one, else starts a new one. With
  // `adopt_only`, only adopts: a row whose disk cannot be adopted is left
  // (with no disk number) for a later call to start a new one.
  Status Serve(VolumeRecord* r, bool adopt_only = false) {
    {
      std::lock_guard<std::mutex> lock(served_mu_);
      if (served_.count(r->id) != 0) return Status::OK();
    }
    if (adopt_only && r->ublk_id < 0) return Status::OK();
    auto thin = pool_->FindByName(r->thin_name);
    if (!thin.ok()) return thin.status();
    WB_ASSIGN_OR_RETURN(thinpool::Activation act, pool_->Activate(thin->id));
    std::unique_ptr<ublk::Device> dev;
    if (r->ublk_id >= 0) {
      auto adopted = svc_.ublk->AdoptDevice(static_cast<uint32_t>(r->ublk_id), act.path);
      if (adopted.ok()) {
        dev = std::move(adopted).value();
        Note("adopted " + dev->disk_path() + " of " + Describe(*r));
      } else {
        Log("could not adopt ublk device " + std::to_string(r->ublk_id) + " of " + Describe(*r) + ": " +
            adopted.status().ToString() + "; starting a new one");
        r->ublk_id = -1;  // its number may go to another disk meanwhile
        if (adopt_only) return Status::OK();
      }
    }
    if (!dev) {
      ublk::DeviceOptions o;
      o.backing_path = act.path;
      WB_ASSIGN_OR_RETURN(dev, svc_.ublk->AddDevice(o));
      r->ublk_id = dev->id();
      WB_RETURN_IF_ERROR(store_->Update(*r));
    }
    std::lock_guard<std::mutex> lock(served_mu_);
    served_[r->id] = std::move(dev);
    return Status::OK();
  }

  // The kernel steps for row r (already inserted, state creating): thin
  // (snapshot of `origin`, or new and formatted), active, disk started; then
  // the row moves to `final_state`. On failure everything is undone.
  Status Prepare(VolumeRecord* r, std::optional<uint32_t> origin, VolumeState final_state) {
    auto fail = [&](Status s) {
      (void)DropThin(*r);
      return s;
    };
    thinpool::ThinSpec spec{r->thin_name, r->size_bytes, std::nullopt};
    auto thin = origin ? pool_->Snapshot(*origin, spec) : pool_->CreateThin(spec);
    if (!thin.ok()) return fail(thin.status());
    r->thin_id = thin->id;
    r->pool_txid = pool_->transaction_id();
    auto act = pool_->Activate(thin->id);
    if (!act.ok()) return fail(act.status());
    // A snapshot gets a fresh filesystem UUID: XFS refuses to mount two
    // filesystems with the same one, and by-uuid links would collide.
    Status made = origin ? svc_.formatter->NewIdentity(act->path, r->fs) : svc_.formatter->Format(act->path, r->fs);
    if (!made.ok()) return fail(made);
    // A golden image is never active again: snapshots of an inactive origin
    // need no suspend. Anything else gets its disk.
    Status s = final_state == VolumeState::kGolden ? pool_->Deactivate(thin->id) : Serve(r);
    if (!s.ok()) return fail(s);
    r->state = final_state;
    s = store_->Update(*r);
    if (!s.ok()) return fail(s);
    return Status::OK();
  }

  // kBusy for a row in the middle of a change (call under mu_).
  Status CheckSettled(const VolumeRecord& r) const {
    bool deleting = r.state == VolumeState::kDeleting || deleting_.count(r.id) != 0;
    if (!deleting && r.state != VolumeState::kCreating) return Status::OK();
    return Status::Error(Status::Code::kBusy,
                         "volume " + Quoted(r.name) + " is being " + (deleting ? "deleted" : "created") + "; retry");
  }

  // Stops the disk of row `row`, if it has one. Without `force`, kBusy (and
  // nothing changes) while it is mounted or open: a container's disk never
  // goes away under it. The caller owns the row, so nobody else removes the
  // disk while this runs outside served_mu_.
  Status StopDisk(int64_t row, bool force) {
    ublk::Device* dev = nullptr;
    {
      std::lock_guard<std::mutex> lock(served_mu_);
      auto it = served_.find(row);
      if (it == served_.end()) return Status::OK();
      dev = it->second.get();
    }
    Status s = dev->Remove(force);
    if (!s.ok() && !force) return s;
    std::lock_guard<std::mutex> lock(served_mu_);
    served_.erase(row);
    return Status::OK();
  }

  // Removes row r's disk, thin and row, whatever of them exists.
  Status DropThin(const VolumeRecord& r) {
    (void)StopDisk(r.id, /*force=*/true);
    auto thin = pool_->FindByName(r.thin_name);
    if (thin.ok()) {
      Status s = pool_->Deactivate(thin->id);
      if (s.ok() || s.code() == Status::Code::kNotFound) s = pool_->DeleteThin(thin->id);
      if (!s.ok()) return s;
    }
    return store_->Remove(r.id);
  }

  Status EnsureGolden(ClassState& cs) {
    if (cs.golden != 0 || pool_->FindByName("golden-" + cs.spec.name).ok()) return Status::OK();
    VolumeRecord r;
    r.class_name = cs.spec.name;
    r.fs = cs.spec.fs;
    r.size_bytes = cs.spec.size_bytes;
    r.thin_name = "golden-" + cs.spec.name;
    r.created_ms = UnixMs();
    WB_RETURN_IF_ERROR(store_->Insert(&r));
    auto start = std::chrono::steady_clock::now();
    WB_RETURN_IF_ERROR(
        Prepare(&r, std::nullopt, VolumeState::kGolden).Annotate("golden image of class " + cs.spec.name));
    cs.golden = r.thin_id;
    Log("golden image for class " + cs.spec.name + " (" + cs.spec.fs + ") made in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()) +
        " ms");
    return Status::OK();
  }

  // The most an embedded pool's data may reach: the configured limit, but
  // never less than it has (a lowered limit does not shrink it).
  uint64_t DataLimit(const thinpool::PoolOptions& o) const { return std::max(cfg_.MaxPoolDataBytes(), o.data_bytes); }

  // Metadata for `data_bytes` of data by the rule the pool was sized with:
  // the configured metadata_size in proportion, or the pool's default.
  uint64_t MetadataFor(uint64_t data_bytes) const {
    uint32_t sectors = static_cast<uint32_t>(pool_->block_bytes() / 512);
    if (cfg_.pool_metadata_bytes == 0) return thinpool::DefaultMetadataBytes(data_bytes, sectors);
    double scaled = static_cast<double>(cfg_.pool_metadata_bytes) * static_cast<double>(data_bytes) /
                    static_cast<double>(cfg_.pool_data_bytes);
    uint64_t bytes = (static_cast<uint64_t>(scaled) + 4095) / 4096 * 4096;
    return std::min(bytes, thinpool::kMaxMetadataBytes);
  }

  // Whether the pool may grow now: embedded, below its limit, and not just
  // after a failed attempt.
  bool CanGrow(const thinpool::PoolOptions& o) const {
    return o.data_device.empty() && o.data_bytes < DataLimit(o) && std::chrono::steady_clock::now() >= grow_retry_at_;
  }

  // Grows an embedded pool below its limit whose free data fell to the
  // low-water mark (the kernel's event woke us) or ran out, by grow_step,
  // metadata in proportion; metadata alone when it fell to the kernel's
  // metadata threshold. Returns whether it grew. Monitor thread (and Init).
  bool GrowIfLow(const thinpool::PoolStatus& st) {
    thinpool::PoolOptions o = pool_->options();
    if (!o.data_device.empty() || std::chrono::steady_clock::now() < grow_retry_at_) return false;
    const uint64_t limit = DataLimit(o);
    bool data_low = st.mode == thinpool::PoolStatus::Mode::kOutOfDataSpace ||
                    st.data_total - st.data_used <= thinpool::LowWaterBlocks(o, st.data_total);
    uint64_t meta_mark = st.metadata_low_watermark != 0 ? st.metadata_low_watermark : st.metadata_total / 4;
    bool meta_low = st.metadata_total - st.metadata_used <= meta_mark;
    uint64_t data = o.data_bytes, meta = o.metadata_bytes;
    if (data_low && data < limit) {
      uint64_t step = cfg_.pool_grow_step_bytes != 0 ? cfg_.pool_grow_step_bytes : cfg_.pool_data_bytes;
      data = std::min(limit, data + step);
      meta = std::max(meta, MetadataFor(data));
    }
    if (meta_low) meta = std::max(meta, MetadataFor(limit));
    if (data == o.data_bytes && meta == o.metadata_bytes) return false;
    const uint64_t block = pool_->block_bytes();
    std::string sizes = "data " + FormatSize(o.data_bytes) + " -> " + FormatSize(data) + " (limit " +
                        FormatSize(limit) + "), metadata " + FormatSize(o.metadata_bytes) + " -> " + FormatSize(meta);
    Status s = pool_->Grow(data, meta);
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
    std::lock_guard<std::mutex> lock(mu_);
    ++grow_events_;
    return true;
  }

  // Grows the pool when it runs low (see GrowIfLow), keeps error_if_no_space
  // on exactly while it cannot grow (queued writes are worth it only while
  // growth can serve them; at the limit they would hang for the kernel's
  // no_space_timeout instead), and reads the pool's status into pool_full_
  // (empty while writable with space), so that requests learn of a full
  // pool without a kernel call.
  void RefreshPoolState() {
    auto st = pool_->GetStatus();
    if (st.ok() && GrowIfLow(*st)) st = pool_->GetStatus();
    const thinpool::PoolOptions o = pool_->options();
    const bool can_grow = CanGrow(o);
    if (o.error_if_no_space == can_grow) {
      Status s = pool_->SetErrorIfNoSpace(!can_grow);
      if (!s.ok()) {
        Log("could not switch the pool's out-of-space mode: " + s.ToString());
      } else if (can_grow) {
        Log("the pool can grow to " + FormatSize(DataLimit(o)) + ": writes that find it full wait for it to grow");
      } else {
        Log("the pool cannot grow: writes that find it full fail at once with ENOSPC");
      }
    }
    std::string full;
    if (st.ok()) {
      const uint64_t block = pool_->block_bytes();
      bool out = st->mode != thinpool::PoolStatus::Mode::kReadWrite || st->data_used >= st->data_total;
      if (out) {
        full = std::string("the pool is full (") + thinpool::ModeName(st->mode) + ", " +
               FormatSize(st->data_used * block) + " of " + FormatSize(st->data_total * block) + " used)";
        if (!o.data_device.empty()) {
          full += "; delete volumes or extend its devices";
        } else if (!grow_error_.empty()) {
          full += "; growing it failed (" + grow_error_ + "); delete volumes or free space on the host";
        } else if (o.data_bytes < DataLimit(o)) {
          full += "; delete volumes";
        } else if (cfg_.MaxPoolDataBytes() > cfg_.pool_data_bytes) {
          full += " at its limit, pool.max_data_size = " + FormatSize(DataLimit(o)) +
                  "; delete volumes, or raise pool.max_data_size and restart warmblockd";
        } else {
          full += "; delete volumes, or set pool.max_data_size so that it grows and restart warmblockd";
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (full != pool_full_) Log(full.empty() ? "the pool has space again" : full);
    pool_full_ = full;
  }

  // Deletes the ephemeral volumes whose owner process has been gone for
  // orphan_grace_s: a container that never reached its poststop hook (the
  // runtime killed it after a hook timeout, or crashed) leaves no volume
  // behind. The grace leaves the normal case, poststop right after the
  // container's exit, to the hook. One still mounted stays until it is not.
  // Deletions that failed half-way (the thin would not go) are retried too.
  void ReapOrphans() {
    std::vector<VolumeRecord> owned, unfinished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto rows = store_->List();
      if (!rows.ok()) return;
      for (auto& r : *rows) {
        if (r.state == VolumeState::kDeleting && deleting_.count(r.id) == 0)
          unfinished.push_back(std::move(r));
        else if (r.state == VolumeState::kReady && r.ephemeral && r.owner_pid != 0)
          owned.push_back(std::move(r));
      }
    }
    for (const auto& r : unfinished)
      if (DeleteRow(r.name, r.id).ok()) Log("finished the deletion of volume " + Quoted(r.name));
    // /proc is read outside the lock: hand-outs do not wait for it.
    auto now = std::chrono::steady_clock::now();
    std::map<int64_t, std::chrono::steady_clock::time_point> gone;
    for (const auto& r : owned) {
      if (svc_.process_start(r.owner_pid) == std::optional<uint64_t>(r.owner_start)) continue;
      auto seen = orphan_since_.find(r.id);
      gone[r.id] = seen != orphan_since_.end() ? seen->second : now;
      if (now - gone[r.id] < std::chrono::seconds(cfg_.orphan_grace_s)) continue;
      Status s = DeleteRow(r.name, r.id);
      std::string why =
          "ephemeral volume " + Quoted(r.name) + ": its owner, pid " + std::to_string(r.owner_pid) + ", is gone";
      if (s.ok()) {
        Log("released " + why);
      } else if (s.code() != Status::Code::kNotFound && reap_busy_.insert(r.id).second) {
        Log("cannot release " + why + ": " + s.ToString() + "; retrying");
      }
    }
    std::erase_if(reap_busy_, [&](int64_t row) { return gone.count(row) == 0; });
    orphan_since_ = std::move(gone);
  }

  // Background: refreshes the pool state on each pool event (low water,
  // out of space, mode change) and at least four times a second; reaps
  // orphaned ephemeral volumes every second.
  void MonitorLoop() {
    auto last = pool_->EventCounter();
    uint32_t event = last.ok() ? *last : 0;
    auto next_reap = std::chrono::steady_clock::now();
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
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

  // Background: keeps each class's stock at its target, `refill_concurrency`
  // volumes at a time, never holding the lock across kernel work.
  void RefillLoop() {
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

  Result<Volume> ToVolume(const VolumeRecord& r, const std::string& source) {
    Volume v;
    v.name = r.name;
    v.class_name = r.class_name;
    v.fs = r.fs;
    v.size_bytes = r.size_bytes;
    v.device = r.ublk_id >= 0 ? "/dev/ublkb" + std::to_string(r.ublk_id) : "";
    v.labels = r.labels;
    v.ephemeral = r.ephemeral;
    v.owner_pid = r.owner_pid;
    v.created_ms = r.created_ms;
    v.state = StateName(r.state);
    v.source = source;
    return v;
  }

  Config cfg_;
  Services svc_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<thinpool::Pool> pool_;

  mutable std::mutex mu_;  // guards the maps below and orders store writes with them
  std::map<std::string, ClassState> classes_;
  std::vector<std::string> repairs_;
  bool stopping_ = false;
  std::string pool_full_;  // why creates fail with kNoSpace; empty while the pool has space
  uint64_t grow_events_ = 0;
  // After a failed growth: no new attempt (and no queueing) before this;
  // its error. Monitor thread (and Init) only.
  std::chrono::steady_clock::time_point grow_retry_at_;
  std::string grow_error_;
  std::condition_variable refill_cv_, warm_cv_;
  std::map<std::string, PendingSpec> creating_;  // names a Create is making outside mu_
  std::condition_variable created_cv_;           // a name left creating_
  std::set<int64_t> deleting_;                   // rows a Delete is working on, outside mu_
  std::set<int64_t> reap_busy_;                  // orphan rows whose release failed, logged once; monitor thread only
  // Row -> when its owner was first seen gone; monitor thread only.
  std::map<int64_t, std::chrono::steady_clock::time_point> orphan_since_;
  std::vector<std::thread> refillers_;

  std::mutex served_mu_;                                     // served_ is touched by refillers outside mu_
  std::map<int64_t, std::unique_ptr<ublk::Device>> served_;  // row id -> its disk
};

}  // namespace

std::unique_ptr<Formatter> MkfsFormatter() { return std::make_unique<Mkfs>(); }

uint32_t OwnerTag(const std::string& state_dir) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : state_dir) h = (h ^ c) * 16777619u;
  return h;
}

Status ValidateVolumeName(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("name: " + Quoted(name) + " " + why +
                                   " (1-63 of A-Z a-z 0-9 _ . -, not starting with . _ or -)");
  };
  if (name.empty() || name.size() > 63) return bad("has the wrong length");
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool alnum = std::isalnum(c) != 0;
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return bad("has a character it may not");
  }
  return Status::OK();
}

Result<std::unique_ptr<Provisioner>> Provisioner::Start(const Config& config, Services services) {
  WB_RETURN_IF_ERROR(ValidateConfig(config));
  if (services.ublk == nullptr || services.formatter == nullptr || services.kernel.dm == nullptr)
    return Status::InvalidArgument("provisioner services incomplete");
  auto p = std::make_unique<Impl>(config, std::move(services));
  WB_RETURN_IF_ERROR(p->Init());
  return std::unique_ptr<Provisioner>(std::move(p));
}

}  // namespace warmblock::provisioner
