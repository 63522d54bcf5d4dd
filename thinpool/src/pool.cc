#include "warmblock/thinpool/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "catalog.h"
#include "warmblock/base/fd.h"
#include "words.h"

namespace warmblock::thinpool {
namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kMetadataBlock = 4096;
constexpr uint64_t kMinMetadataBytes = 2ull << 20;
constexpr uint64_t kDefaultMinMetadataBytes = 256ull << 20;
constexpr uint64_t kMaxDataBytes = 1ull << 50;
// How long a thin that looks open is given to close before Deactivate says
// it is busy.
constexpr auto kCloseGrace = std::chrono::seconds(1);

std::string DevString(uint32_t major, uint32_t minor) { return std::to_string(major) + ":" + std::to_string(minor); }
std::string DevString(dev_t dev) { return DevString(::major(dev), ::minor(dev)); }

std::string DataFile(const std::string& dir) { return dir + "/data.img"; }
std::string MetadataFile(const std::string& dir) { return dir + "/metadata.img"; }

Status CheckSize(const char* what, uint64_t bytes) {
  if (bytes == 0) return Status::InvalidArgument(std::string(what) + " must be greater than 0");
  if (bytes % kSector != 0)
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(bytes) + " is not a multiple of 512");
  if (bytes > kMaxThinBytes)
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(bytes) + " exceeds the 1 PiB limit");
  return Status::OK();
}

// Creates a sparse file of `bytes`; kAlreadyExists if it is there.
Status CreateSparseFile(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  int rc = ::ftruncate(fd, static_cast<off_t>(bytes));
  int err = errno;
  ::close(fd);
  if (rc < 0) return Status::FromErrno(err, "truncate " + path + " to " + std::to_string(bytes));
  return Status::OK();
}

// dm-thin formats new metadata only when its superblock is zero; a device
// that held another pool must be wiped or the old pool comes back.
Status ZeroSuperblock(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  char zeros[kMetadataBlock] = {};
  bool ok = ::pwrite(fd, zeros, sizeof zeros, 0) == static_cast<ssize_t>(sizeof zeros) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::FromErrno(err, "zero metadata superblock of " + path);
  return Status::OK();
}

// Makes the file at `path` at least `bytes` long (sparse; never shrinks it)
// and durable at that size before anyone records it.
Status ExtendFile(const std::string& path, uint64_t bytes) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return Status::FromErrno(errno, "stat " + path);
  if (static_cast<uint64_t>(st.st_size) >= bytes) return Status::OK();
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) < 0 || ::fsync(fd.get()) < 0)
    return Status::FromErrno(errno, "extend " + path + " to " + std::to_string(bytes) + " bytes");
  return Status::OK();
}

// "major:minor" as the kernel prints it in a table.
std::optional<dev_t> ParseDev(const std::string& s) {
  unsigned maj = 0, min = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u:%u%c", &maj, &min, &extra) != 2) return std::nullopt;
  return ::makedev(maj, min);
}

}  // namespace

uint64_t DefaultMetadataBytes(uint64_t data_bytes, uint32_t block_sectors) {
  // 48 bytes per data block is the kernel's rule for one thin mapping the
  // whole pool; every snapshot adds its own mapping tree nodes as it is
  // written (a warm volume's tune2fs alone does), so an 8 GiB pool's 6 MiB
  // ran out at 452 warm volumes. The embedded file is sparse: a generous
  // floor costs nothing until it is used.
  uint64_t bytes = 48 * (data_bytes / (block_sectors * kSector));
  bytes = std::clamp(bytes, kDefaultMinMetadataBytes, kMaxMetadataBytes);
  return (bytes + kMetadataBlock - 1) / kMetadataBlock * kMetadataBlock;
}

uint64_t LowWaterBlocks(const PoolOptions& o, uint64_t data_blocks) {
  return o.low_water_blocks != 0 ? o.low_water_blocks : std::max<uint64_t>(1, data_blocks / 20);
}

Status ValidateName(const std::string& what, const std::string& name) {
  if (name.empty()) return Status::InvalidArgument(what + " name is empty");
  if (name.size() > 64) return Status::InvalidArgument(what + " name is longer than 64 characters");
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!ok(name[0])) return Status::InvalidArgument(what + " name \"" + name + "\" must start with a letter or digit");
  for (char c : name) {
    if (!ok(c) && c != '.' && c != '_' && c != '-')
      return Status::InvalidArgument(what + " name \"" + name + "\" may only contain A-Z a-z 0-9 . _ -");
  }
  return Status::OK();
}

class Pool::Impl {
 public:
  Impl(Kernel kernel, std::string dir, Catalog catalog) : k_(kernel), dir_(std::move(dir)), cat_(std::move(catalog)) {}

  static Status ValidateOptions(const PoolOptions& o, bool embedded) {
    WB_RETURN_IF_ERROR(ValidateName("pool", o.name));
    if (o.state_dir.empty()) return Status::InvalidArgument("pool state_dir is empty");
    if (o.block_sectors < 128 || o.block_sectors > 2097152 || o.block_sectors % 128 != 0)
      return Status::InvalidArgument("pool block size " + std::to_string(o.block_sectors) +
                                     " sectors: must be a multiple of 128 between 128 and 2097152");
    if (o.data_device.empty() != o.metadata_device.empty())
      return Status::InvalidArgument("pool: data_device and metadata_device must be given together");
    if (embedded) {
      uint64_t min = 16ull * o.block_sectors * kSector;
      if (o.data_bytes < min || o.data_bytes > kMaxDataBytes)
        return Status::InvalidArgument("pool data size " + std::to_string(o.data_bytes) + " bytes: must be between " +
                                       std::to_string(min) + " (16 blocks) and 1 PiB");
      if (o.metadata_bytes != 0 && (o.metadata_bytes < kMinMetadataBytes || o.metadata_bytes > kMaxMetadataBytes))
        return Status::InvalidArgument("pool metadata size " + std::to_string(o.metadata_bytes) +
                                       " bytes: must be between 2 MiB and 15.9 GiB");
    }
    return Status::OK();
  }

  // Binds the pool's storage and loads the pool table. Fresh metadata is
  // formatted by the kernel; existing metadata is opened as it is.
  Status Load() {
    const PoolOptions& o = cat_.options;
    std::vector<std::unique_ptr<LoopDevice>> loops;  // released once the table holds them
    std::string meta_dev, data_dev;
    uint64_t data_bytes = o.data_bytes;
    if (cat_.embedded) {
      // A grow whose file extension a crash lost is finished here: the
      // catalogue's sizes are the ones the pool's metadata may know.
      WB_RETURN_IF_ERROR(ExtendFile(MetadataFile(dir_), o.metadata_bytes).Annotate("load pool " + o.name));
      WB_RETURN_IF_ERROR(ExtendFile(DataFile(dir_), o.data_bytes).Annotate("load pool " + o.name));
      for (const std::string& file : {MetadataFile(dir_), DataFile(dir_)}) {
        WB_ASSIGN_OR_RETURN(auto loop, k_.block->Attach(file));
        loops.push_back(std::move(loop));
      }
      meta_dev = DevString(loops[0]->devno());
      data_dev = DevString(loops[1]->devno());
    } else {
      WB_ASSIGN_OR_RETURN(BlockInfo meta, k_.block->Probe(o.metadata_device));
      WB_ASSIGN_OR_RETURN(BlockInfo data, k_.block->Probe(o.data_device));
      meta_dev = DevString(meta.devno);
      data_dev = DevString(data.devno);
      data_bytes = data.size_bytes;
    }
    WB_ASSIGN_OR_RETURN(DmTarget table, PoolTable(meta_dev, data_dev, data_bytes));
    WB_RETURN_IF_ERROR(k_.dm->Create(o.name, {table}).Annotate("load pool " + o.name));
    return RefreshPoolDevice();
  }

  // The pool's table line for the catalogue's options over `data_bytes` of
  // data (rounded down to whole blocks).
  Result<DmTarget> PoolTable(const std::string& meta_dev, const std::string& data_dev, uint64_t data_bytes) const {
    const PoolOptions& o = cat_.options;
    uint64_t data_sectors = data_bytes / kSector / o.block_sectors * o.block_sectors;
    if (data_sectors == 0) return Status::InvalidArgument("pool " + o.name + ": data device is smaller than one block");
    uint64_t blocks = data_sectors / o.block_sectors;
    uint64_t low_water = LowWaterBlocks(o, blocks);
    std::vector<std::string> features;
    if (o.skip_block_zeroing) features.push_back("skip_block_zeroing");
    if (o.error_if_no_space) features.push_back("error_if_no_space");
    std::string params = meta_dev + " " + data_dev + " " + std::to_string(o.block_sectors) + " " +
                         std::to_string(low_water) + " " + std::to_string(features.size());
    for (const auto& f : features) params += " " + f;
    return DmTarget{0, data_sectors, "thin-pool", params};
  }

  // Brings the live pool in line with the catalogue: reloads its table when
  // the features or (embedded mode, with `resize`) the length differ, or
  // always with `force` (a grown metadata device shows in no table; dm-thin
  // looks at its size on resume). Loop devices take their files' sizes
  // first: a table longer than its data device is refused. Without `resize`
  // the live length is kept, so that a mode switch does not depend on a
  // grow that failed. Returns whether it reloaded.
  Result<bool> ApplyTable(bool force, bool resize) {
    const std::string& name = cat_.options.name;
    WB_ASSIGN_OR_RETURN(auto live, k_.dm->Table(name, true));
    if (live.size() != 1 || live[0].type != "thin-pool")
      return Status::Corruption("dm device " + name + " is not a thin pool");
    auto words = Words(live[0].params);
    if (words.size() < 2) return Status::Corruption("pool " + name + " has a malformed table: " + live[0].params);
    uint64_t data_bytes = cat_.embedded && resize ? cat_.options.data_bytes : live[0].length * kSector;
    WB_ASSIGN_OR_RETURN(DmTarget want, PoolTable(words[0], words[1], data_bytes));
    if (!force && want.length == live[0].length && Words(want.params) == words) return false;
    if (cat_.embedded && (force || want.length != live[0].length)) {
      for (const std::string& dev : {words[0], words[1]}) {
        auto devno = ParseDev(dev);
        if (!devno) return Status::Corruption("pool " + name + " table names device \"" + dev + "\"");
        WB_RETURN_IF_ERROR(k_.block->RefreshLoop(*devno));
      }
    }
    WB_RETURN_IF_ERROR(k_.dm->Reload(name, {want}));
    return true;
  }

  Status Grow(uint64_t data_bytes, uint64_t metadata_bytes) {
    const PoolOptions& o = cat_.options;
    const std::string what = "grow pool " + o.name;
    if (!cat_.embedded)
      return Status::Unsupported(what + ": it is on block devices (" + o.data_device + ", " + o.metadata_device +
                                 "); only an embedded pool of sparse files grows itself");
    if (metadata_bytes == 0) metadata_bytes = o.metadata_bytes;
    if (data_bytes < o.data_bytes || metadata_bytes < o.metadata_bytes)
      return Status::InvalidArgument(what + " to " + std::to_string(data_bytes) + " bytes of data and " +
                                     std::to_string(metadata_bytes) + " of metadata: it has " +
                                     std::to_string(o.data_bytes) + " and " + std::to_string(o.metadata_bytes) +
                                     " already and cannot shrink");
    if (data_bytes % kSector != 0 || data_bytes > kMaxDataBytes)
      return Status::InvalidArgument(what + ": data size " + std::to_string(data_bytes) +
                                     " must be a multiple of 512 and at most 1 PiB");
    if (metadata_bytes % kMetadataBlock != 0 || metadata_bytes > kMaxMetadataBytes)
      return Status::InvalidArgument(what + ": metadata size " + std::to_string(metadata_bytes) +
                                     " must be a multiple of 4096 and at most 15.9 GiB");
    // Files first: a file larger than the catalogue says is harmless (Load
    // uses the catalogue's size), so a crash here loses nothing.
    WB_RETURN_IF_ERROR(ExtendFile(MetadataFile(dir_), metadata_bytes).Annotate(what));
    WB_RETURN_IF_ERROR(ExtendFile(DataFile(dir_), data_bytes).Annotate(what));
    bool changed = data_bytes != o.data_bytes || metadata_bytes != o.metadata_bytes;
    if (changed) {
      Catalog next = cat_;
      next.options.data_bytes = data_bytes;
      next.options.metadata_bytes = metadata_bytes;
      WB_RETURN_IF_ERROR(WriteCatalog(dir_, next).Annotate(what));
      cat_ = std::move(next);
    }
    // Equal sizes still reload when the kernel has less than the catalogue
    // (an earlier Grow failed after its catalogue write).
    WB_ASSIGN_OR_RETURN(PoolStatus st, Status_());
    const uint64_t block = uint64_t{cat_.options.block_sectors} * kSector;
    bool behind = st.data_total < data_bytes / block || st.metadata_total < metadata_bytes / kMetadataBlock;
    return ApplyTable(changed || behind, true).status().Annotate(what);
  }

  Status SetErrorIfNoSpace(bool on) {
    const std::string what = std::string(on ? "set" : "clear") + " error_if_no_space on pool " + cat_.options.name;
    if (cat_.options.error_if_no_space != on) {
      Catalog next = cat_;
      next.options.error_if_no_space = on;
      WB_RETURN_IF_ERROR(WriteCatalog(dir_, next).Annotate(what));
      cat_ = std::move(next);
    }
    return ApplyTable(false, false).status().Annotate(what);
  }

  Status RefreshPoolDevice() {
    WB_ASSIGN_OR_RETURN(DmInfo info, k_.dm->Info(cat_.options.name));
    pool_dev_ = DevString(info.major, info.minor);
    return Status::OK();
  }

  // Makes catalogue and pool agree after an interrupted change (see pool.h).
  Status Reconcile() {
    WB_ASSIGN_OR_RETURN(PoolStatus st, Status_());
    if (st.mode == PoolStatus::Mode::kFail)
      return Status::Corruption("pool " + cat_.options.name + " has failed; run thin_check");
    const uint64_t t = cat_.transaction_id;
    if (!cat_.pending) {
      if (st.transaction_id != t) return Disagree(st.transaction_id);
      return Status::OK();
    }
    const PendingChange p = *cat_.pending;
    const std::string what = std::string(p.kind == PendingChange::Kind::kDelete ? "delete" : "create") + " of thin " +
                             std::to_string(p.thin.id) + " (" + p.thin.name + ")";
    if (st.transaction_id == t + 1) {
      Apply(p);
      repairs_.push_back("rolled forward an interrupted " + what);
    } else if (st.transaction_id == t && p.kind != PendingChange::Kind::kDelete) {
      Status s = k_.dm->Message(cat_.options.name, "delete " + std::to_string(p.thin.id));
      if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("roll back " + what);
      cat_.pending.reset();
      repairs_.push_back("rolled back an interrupted " + what);
    } else if (st.transaction_id == t) {
      // A delete whose message may or may not have landed: finish it.
      Status s = k_.dm->Message(cat_.options.name, "delete " + std::to_string(p.thin.id));
      if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("complete " + what);
      WB_RETURN_IF_ERROR(SetTransactionId(t, t + 1));
      Apply(p);
      repairs_.push_back("completed an interrupted " + what);
    } else {
      return Disagree(st.transaction_id);
    }
    return WriteCatalog(dir_, cat_);
  }

  Status Disagree(uint64_t pool_txid) {
    return Status::Corruption("pool " + cat_.options.name + " has transaction id " + std::to_string(pool_txid) +
                              " but its catalogue " + CatalogPath(dir_) + " has " +
                              std::to_string(cat_.transaction_id) + "; the two were changed apart");
  }

  Status SetTransactionId(uint64_t from, uint64_t to) {
    return k_.dm->Message(cat_.options.name, "set_transaction_id " + std::to_string(from) + " " + std::to_string(to));
  }

  void Apply(const PendingChange& p) {
    if (p.kind == PendingChange::Kind::kDelete) {
      cat_.thins.erase(p.thin.id);
    } else {
      cat_.thins[p.thin.id] = p.thin;
    }
    cat_.transaction_id += 1;
    cat_.pending.reset();
  }

  // intent -> pool message -> transaction id -> result (see pool.h).
  Status Commit(PendingChange change, const std::string& message) {
    const uint64_t t = cat_.transaction_id;
    Catalog intent = cat_;
    intent.pending = change;
    WB_RETURN_IF_ERROR(WriteCatalog(dir_, intent));
    cat_ = std::move(intent);
    Status s = k_.dm->Message(cat_.options.name, message);
    if (!s.ok()) {
      // The message failed as a whole: the pool is unchanged.
      cat_.pending.reset();
      Status w = WriteCatalog(dir_, cat_);
      return w.ok() ? s : s.Annotate(w.message());
    }
    s = SetTransactionId(t, t + 1);
    if (!s.ok()) {
      return s.Annotate(message + " took effect but the transaction id was not bumped; reopen the pool to repair");
    }
    Apply(change);
    return WriteCatalog(dir_, cat_);
  }

  Status CheckNoPending() const {
    if (!cat_.pending) return Status::OK();
    return Status::Error(Status::Code::kCorruption,
                         "pool " + cat_.options.name + " has an unfinished change; reopen the pool to repair it");
  }

  Status CheckNewThin(const ThinSpec& spec) const {
    WB_RETURN_IF_ERROR(CheckNoPending());
    WB_RETURN_IF_ERROR(ValidateName("thin", spec.name));
    if (cat_.options.name.size() + 1 + spec.name.size() > 127)
      return Status::InvalidArgument("thin name \"" + spec.name + "\" is too long for this pool's dm names");
    for (const auto& [id, t] : cat_.thins)
      if (t.name == spec.name)
        return Status::AlreadyExists("thin \"" + spec.name + "\" exists (id " + std::to_string(id) + ", pool " +
                                     cat_.options.name + ")");
    if (spec.id) {
      if (*spec.id > kMaxThinId)
        return Status::InvalidArgument("thin id " + std::to_string(*spec.id) + " exceeds the 24-bit limit");
      if (cat_.thins.count(*spec.id))
        return Status::AlreadyExists("thin id " + std::to_string(*spec.id) + " exists (pool " + cat_.options.name +
                                     ")");
    }
    return Status::OK();
  }

  // Next id not in the catalogue, starting at next_id and wrapping at 2^24.
  Result<uint32_t> AllocateId() {
    uint32_t id = cat_.next_id;
    for (uint64_t tries = 0; tries <= kMaxThinId; ++tries, id = id >= kMaxThinId ? 0 : id + 1) {
      if (!cat_.thins.count(id)) {
        cat_.next_id = id >= kMaxThinId ? 0 : id + 1;
        return id;
      }
    }
    return Status::Error(Status::Code::kNoSpace, "pool " + cat_.options.name + ": all 2^24 thin ids are in use");
  }

  // Creates a thin (or a snapshot when `origin` is set) under a fresh or the
  // requested id. An allocated id the pool already knows (a device created
  // behind the catalogue's back) is skipped, not reused.
  Result<Thin> NewThin(const ThinSpec& spec, std::optional<uint32_t> origin, uint64_t size) {
    Thin thin{0, spec.name, size, origin};
    for (int attempt = 0;; ++attempt) {
      if (spec.id) {
        thin.id = *spec.id;
      } else {
        WB_ASSIGN_OR_RETURN(thin.id, AllocateId());
      }
      std::string msg = origin ? "create_snap " + std::to_string(thin.id) + " " + std::to_string(*origin)
                               : "create_thin " + std::to_string(thin.id);
      auto kind = origin ? PendingChange::Kind::kSnapshot : PendingChange::Kind::kCreate;
      Status s = Commit({kind, thin}, msg);
      if (s.ok()) return thin;
      if (s.code() != Status::Code::kAlreadyExists || spec.id || attempt >= 16) return s;
      repairs_.push_back("thin id " + std::to_string(thin.id) + " is in the pool but not in the catalogue; skipped");
    }
  }

  Result<Thin> Create(const ThinSpec& spec) {
    WB_RETURN_IF_ERROR(CheckNewThin(spec));
    WB_RETURN_IF_ERROR(CheckSize("thin size", spec.size_bytes));
    return NewThin(spec, std::nullopt, spec.size_bytes);
  }

  Result<Thin> Snapshot(uint32_t origin, const ThinSpec& spec) {
    WB_RETURN_IF_ERROR(CheckNewThin(spec));
    WB_ASSIGN_OR_RETURN(Thin o, Get(origin));
    uint64_t size = spec.size_bytes != 0 ? spec.size_bytes : o.size_bytes;
    WB_RETURN_IF_ERROR(CheckSize("snapshot size", size));
    const std::string origin_dm = DmName(o);
    bool active = k_.dm->Info(origin_dm).ok();
    if (active) WB_RETURN_IF_ERROR(k_.dm->Suspend(origin_dm).Annotate("snapshot of active thin " + o.name));
    auto thin = NewThin(spec, origin, size);
    if (active) {
      Status r = k_.dm->Resume(origin_dm);
      if (!r.ok() && thin.ok()) return r.Annotate("resume origin after snapshot");
    }
    return thin;
  }

  Status Delete(uint32_t id) {
    WB_RETURN_IF_ERROR(CheckNoPending());
    WB_ASSIGN_OR_RETURN(Thin t, Get(id));
    if (k_.dm->Info(DmName(t)).ok())
      return Status::Error(Status::Code::kBusy, "delete thin " + std::to_string(id) + " (" + t.name +
                                                    "): it is active; deactivate it first (pool " + cat_.options.name +
                                                    ")");
    return Commit({PendingChange::Kind::kDelete, t}, "delete " + std::to_string(id));
  }

  Result<Activation> Activate(uint32_t id) {
    WB_ASSIGN_OR_RETURN(Thin t, Get(id));
    const std::string name = DmName(t);
    if (!k_.dm->Info(name).ok()) {
      std::string params = pool_dev_ + " " + std::to_string(id);
      WB_RETURN_IF_ERROR(k_.dm->Create(name, {{0, t.size_bytes / kSector, "thin", params}})
                             .Annotate("activate thin " + std::to_string(id) + " (pool " + cat_.options.name + ")"));
    }
    auto a = Active(t);
    if (!a.ok()) (void)k_.dm->Remove(name);  // never leave a device the caller cannot see
    return a;
  }

  Status Resize(uint32_t id, uint64_t bytes) {
    WB_ASSIGN_OR_RETURN(Thin t, Get(id));
    const std::string what = "resize thin " + std::to_string(id) + " (" + t.name + ")";
    if (bytes % kSector != 0 || bytes < t.size_bytes || bytes > kMaxThinBytes)
      return Status::InvalidArgument(what + ": size " + std::to_string(bytes) +
                                     " must be a multiple of 512, at least the current " +
                                     std::to_string(t.size_bytes) + " and at most 1 PiB");
    if (bytes == t.size_bytes) return Status::OK();
    // The size lives in the catalogue and the table, not in the pool
    // metadata: record it first, so a crash leaves at worst a larger
    // catalogue entry than the live table, which the next Activate fixes.
    Catalog next = cat_;
    next.thins[id].size_bytes = bytes;
    WB_RETURN_IF_ERROR(WriteCatalog(dir_, next).Annotate(what));
    cat_ = next;
    const std::string name = DmName(t);
    if (!k_.dm->Info(name).ok()) return Status::OK();
    std::string params = pool_dev_ + " " + std::to_string(id);
    WB_RETURN_IF_ERROR(k_.dm->Reload(name, {{0, bytes / kSector, "thin", params}}).Annotate(what));
    return k_.dm->Resume(name).Annotate(what);
  }

  Result<Activation> Active(const Thin& t) {
    Activation a;
    a.dm_name = DmName(t);
    WB_ASSIGN_OR_RETURN(DmInfo info, k_.dm->Info(a.dm_name));
    a.major = info.major;
    a.minor = info.minor;
    WB_ASSIGN_OR_RETURN(a.path, k_.dm->NodePath(info.major, info.minor));
    return a;
  }

  Status Deactivate(uint32_t id) {
    WB_ASSIGN_OR_RETURN(Thin t, Get(id));
    const std::string name = DmName(t);
    // A device its holder has just closed can count as open for a moment
    // longer (seen in the VM right after a ublk server let go of its thin:
    // the kernel may drop a file's last reference asynchronously), so an
    // open count is looked at again for a short while before it is an error.
    auto deadline = std::chrono::steady_clock::now() + kCloseGrace;
    for (auto pause = std::chrono::milliseconds(5);; pause = std::min(2 * pause, std::chrono::milliseconds(200))) {
      auto info = k_.dm->Info(name);
      if (!info.ok()) return info.status().code() == Status::Code::kNotFound ? Status::OK() : info.status();
      if (info->open_count == 0) break;
      if (std::chrono::steady_clock::now() >= deadline)
        return Status::Error(Status::Code::kBusy, "deactivate thin " + std::to_string(id) + " (" + t.name + "): open " +
                                                      std::to_string(info->open_count) + " time(s)");
      std::this_thread::sleep_for(pause);
    }
    return k_.dm->Remove(name).Annotate("deactivate thin " + std::to_string(id));
  }

  Status Destroy() {
    for (const auto& [id, t] : cat_.thins) WB_RETURN_IF_ERROR(Deactivate(id));
    Status s = k_.dm->Remove(cat_.options.name);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("destroy pool");
    if (::unlink(CatalogPath(dir_).c_str()) < 0 && errno != ENOENT)
      return Status::FromErrno(errno, "remove " + CatalogPath(dir_));
    if (cat_.embedded) {
      ::unlink(DataFile(dir_).c_str());
      ::unlink(MetadataFile(dir_).c_str());
    }
    ::rmdir(dir_.c_str());  // only if empty; the directory may be shared
    destroyed_ = true;
    return Status::OK();
  }

  Status Shutdown() {
    for (const auto& [id, t] : cat_.thins) WB_RETURN_IF_ERROR(Deactivate(id));
    // Removing the pool device frees its loop devices (autoclear).
    Status s = k_.dm->Remove(cat_.options.name);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("shut down pool");
    destroyed_ = true;
    return Status::OK();
  }

  Result<Thin> Get(uint32_t id) const {
    auto it = cat_.thins.find(id);
    if (it == cat_.thins.end())
      return Status::NotFound("thin id " + std::to_string(id) + " does not exist (pool " + cat_.options.name + ")");
    return it->second;
  }

  Result<PoolStatus> Status_() {
    WB_ASSIGN_OR_RETURN(auto lines, k_.dm->Table(cat_.options.name, false));
    if (lines.size() != 1 || lines[0].type != "thin-pool")
      return Status::Corruption("dm device " + cat_.options.name + " is not a thin pool");
    return ParsePoolStatus(lines[0].params);
  }

  Result<ThinStatus> ThinStatus_(uint32_t id) {
    WB_ASSIGN_OR_RETURN(Thin t, Get(id));
    WB_ASSIGN_OR_RETURN(auto lines, k_.dm->Table(DmName(t), false));
    if (lines.size() != 1 || lines[0].type != "thin")
      return Status::Corruption("dm device " + DmName(t) + " is not a thin device");
    return ParseThinStatus(lines[0].params);
  }

  std::string DmName(const Thin& t) const { return cat_.options.name + "-" + t.name; }

  Status CheckAlive() const {
    if (destroyed_) return Status::NotFound("pool " + cat_.options.name + " was destroyed or shut down");
    return Status::OK();
  }

  Kernel k_;
  std::string dir_;
  Catalog cat_;
  std::string pool_dev_;  // "major:minor" of the pool dm device
  std::vector<std::string> repairs_;
  bool destroyed_ = false;
  mutable std::mutex mu_;  // guards everything above once the pool is shared
};

Pool::Pool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pool::~Pool() = default;

Result<std::unique_ptr<Pool>> Pool::Create(const PoolOptions& options, Kernel kernel) {
  const bool embedded = options.data_device.empty();
  WB_RETURN_IF_ERROR(Impl::ValidateOptions(options, embedded));
  const std::string& dir = options.state_dir;
  if (::access(CatalogPath(dir).c_str(), F_OK) == 0)
    return Status::AlreadyExists("create pool " + options.name + ": " + dir + " already holds a pool");
  if (kernel.dm->Info(options.name).ok())
    return Status::AlreadyExists("create pool " + options.name + ": a dm device of that name exists");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create state directory " + dir);

  Catalog cat;
  cat.options = options;
  cat.embedded = embedded;
  if (embedded && cat.options.metadata_bytes == 0)
    cat.options.metadata_bytes = DefaultMetadataBytes(options.data_bytes, options.block_sectors);

  // Undo whatever this call created if a later step fails.
  std::vector<std::string> created;
  auto cleanup = [&]() {
    for (const auto& f : created) ::unlink(f.c_str());
  };
  if (embedded) {
    for (auto [file, bytes] :
         {std::pair{MetadataFile(dir), cat.options.metadata_bytes}, std::pair{DataFile(dir), cat.options.data_bytes}}) {
      Status s = CreateSparseFile(file, bytes);
      if (!s.ok()) {
        cleanup();
        return s.Annotate("create pool " + options.name);
      }
      created.push_back(file);
    }
  } else {
    Status s = ZeroSuperblock(options.metadata_device);
    if (!s.ok()) return s.Annotate("create pool " + options.name);
  }
  // The catalogue goes first: after a crash from here on, Open finds the
  // files and loads the pool, instead of a live pool nobody knows about.
  Status s = WriteCatalog(dir, cat);
  if (!s.ok()) {
    cleanup();
    return s;
  }
  created.push_back(CatalogPath(dir));
  auto impl = std::make_unique<Impl>(kernel, dir, std::move(cat));
  s = impl->Load();
  if (!s.ok()) {
    cleanup();
    return s;
  }
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

Result<std::unique_ptr<Pool>> Pool::Open(const std::string& state_dir, Kernel kernel) {
  WB_ASSIGN_OR_RETURN(Catalog cat, ReadCatalog(state_dir));
  const std::string name = cat.options.name;
  auto impl = std::make_unique<Impl>(kernel, state_dir, std::move(cat));
  if (kernel.dm->Info(name).ok()) {
    WB_ASSIGN_OR_RETURN(auto table, kernel.dm->Table(name, true));
    if (table.size() != 1 || table[0].type != "thin-pool")
      return Status::AlreadyExists("open pool " + name + ": a dm device of that name exists and is not a thin pool");
    WB_RETURN_IF_ERROR(impl->RefreshPoolDevice());
    // A grow or mode change interrupted between catalogue and reload. The
    // live pool works as it is meanwhile, so failing to is no reason to
    // refuse it.
    auto reloaded = impl->ApplyTable(false, true);
    if (!reloaded.ok()) {
      impl->repairs_.push_back("could not reload the pool table to the catalogue's size and features: " +
                               reloaded.status().ToString());
    } else if (*reloaded) {
      impl->repairs_.push_back("reloaded the pool table to the catalogue's size and features");
    }
  } else {
    WB_RETURN_IF_ERROR(impl->Load().Annotate("open pool " + name));
  }
  WB_RETURN_IF_ERROR(impl->Reconcile().Annotate("open pool " + name));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

#define WB_POOL_LOCKED()                        \
  std::lock_guard<std::mutex> lock(impl_->mu_); \
  WB_RETURN_IF_ERROR(impl_->CheckAlive())

Status Pool::Destroy() {
  WB_POOL_LOCKED();
  return impl_->Destroy();
}
Status Pool::Resize(uint32_t id, uint64_t bytes) {
  WB_POOL_LOCKED();
  return impl_->Resize(id, bytes);
}
Status Pool::Shutdown() {
  WB_POOL_LOCKED();
  return impl_->Shutdown();
}
Result<Thin> Pool::CreateThin(const ThinSpec& spec) {
  WB_POOL_LOCKED();
  return impl_->Create(spec);
}
Result<Thin> Pool::Snapshot(uint32_t origin, const ThinSpec& spec) {
  WB_POOL_LOCKED();
  return impl_->Snapshot(origin, spec);
}
Status Pool::DeleteThin(uint32_t id) {
  WB_POOL_LOCKED();
  return impl_->Delete(id);
}
Result<Activation> Pool::Activate(uint32_t id) {
  WB_POOL_LOCKED();
  return impl_->Activate(id);
}
Status Pool::Deactivate(uint32_t id) {
  WB_POOL_LOCKED();
  return impl_->Deactivate(id);
}
Result<Activation> Pool::ActiveDevice(uint32_t id) {
  WB_POOL_LOCKED();
  WB_ASSIGN_OR_RETURN(Thin t, impl_->Get(id));
  return impl_->Active(t);
}
Status Pool::Grow(uint64_t data_bytes, uint64_t metadata_bytes) {
  WB_POOL_LOCKED();
  return impl_->Grow(data_bytes, metadata_bytes);
}
Status Pool::SetErrorIfNoSpace(bool on) {
  WB_POOL_LOCKED();
  return impl_->SetErrorIfNoSpace(on);
}
Result<PoolStatus> Pool::GetStatus() {
  WB_POOL_LOCKED();
  return impl_->Status_();
}
Result<ThinStatus> Pool::GetThinStatus(uint32_t id) {
  WB_POOL_LOCKED();
  return impl_->ThinStatus_(id);
}
Result<uint32_t> Pool::EventCounter() {
  WB_POOL_LOCKED();
  WB_ASSIGN_OR_RETURN(DmInfo info, impl_->k_.dm->Info(impl_->cat_.options.name));
  return info.event_nr;
}
#undef WB_POOL_LOCKED

// Waiting holds no lock: other calls go on while a thread waits for events.
Result<uint32_t> Pool::WaitEvent(uint32_t last_event, int timeout_ms) {
  return impl_->k_.dm->WaitEvent(name(), last_event, timeout_ms);
}

std::vector<Thin> Pool::List() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  std::vector<Thin> out;
  for (const auto& [id, t] : impl_->cat_.thins) out.push_back(t);
  return out;
}
Result<Thin> Pool::Get(uint32_t id) const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->Get(id);
}
Result<Thin> Pool::FindByName(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  for (const auto& [id, t] : impl_->cat_.thins)
    if (t.name == name) return t;
  return Status::NotFound("thin \"" + name + "\" does not exist (pool " + impl_->cat_.options.name + ")");
}
uint64_t Pool::transaction_id() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->cat_.transaction_id;
}
PoolOptions Pool::options() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->cat_.options;
}
const std::string& Pool::name() const { return impl_->cat_.options.name; }
uint64_t Pool::block_bytes() const { return uint64_t{impl_->cat_.options.block_sectors} * kSector; }
const std::vector<std::string>& Pool::repairs() const { return impl_->repairs_; }

}  // namespace warmblock::thinpool
