#include "pool_impl.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "pool_files.h"
#include "pool_table.h"
#include "words.h"

namespace warmblock::thinpool {
namespace {

// How long a thin that looks open is given to close before Deactivate says
// it is busy.
constexpr auto kCloseGrace = std::chrono::seconds(1);

}  // namespace

Status Pool::Impl::Load() {
  const PoolOptions& o = catalog().options;
  std::vector<std::unique_ptr<LoopDevice>> loops;  // released once the table holds them
  std::string meta_dev, data_dev;
  uint64_t data_bytes = o.data_bytes;
  if (catalog().embedded) {
    // A grow whose file extension a crash lost is finished here: the
    // catalogue's sizes are the ones the pool's metadata may know.
    WB_RETURN_IF_ERROR(ExtendFile(MetadataFile(dir()), o.metadata_bytes).Annotate("load pool " + o.name));
    WB_RETURN_IF_ERROR(ExtendFile(DataFile(dir()), o.data_bytes).Annotate("load pool " + o.name));
    for (const std::string& file : {MetadataFile(dir()), DataFile(dir())}) {
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
  WB_ASSIGN_OR_RETURN(DmTarget table, PoolTable(o, meta_dev, data_dev, data_bytes));
  WB_RETURN_IF_ERROR(k_.dm->Create(o.name, {table}).Annotate("load pool " + o.name));
  return RefreshPoolDevice();
}

// Reloads the pool's table when the features or (embedded mode, with
// `resize`) the length differ from the catalogue's, or always with `force`
// (a grown metadata device shows in no table; dm-thin looks at its size on
// resume). Loop devices take their files' sizes first: a table longer than
// its data device is refused. Without `resize` the live length is kept, so
// that a mode switch does not depend on a grow that failed.
Result<bool> Pool::Impl::ApplyTable(bool force, bool resize) {
  const std::string& name = catalog().options.name;
  WB_ASSIGN_OR_RETURN(auto live, k_.dm->Table(name, true));
  if (live.size() != 1 || live[0].type != "thin-pool")
    return Status::Corruption("dm device " + name + " is not a thin pool");
  auto words = Words(live[0].params);
  if (words.size() < 2) return Status::Corruption("pool " + name + " has a malformed table: " + live[0].params);
  uint64_t data_bytes = catalog().embedded && resize ? catalog().options.data_bytes : live[0].length * kSector;
  WB_ASSIGN_OR_RETURN(DmTarget want, PoolTable(catalog().options, words[0], words[1], data_bytes));
  if (!force && want.length == live[0].length && Words(want.params) == words) return false;
  if (catalog().embedded && (force || want.length != live[0].length)) {
    for (const std::string& dev : {words[0], words[1]}) {
      auto devno = ParseDev(dev);
      if (!devno) return Status::Corruption("pool " + name + " table names device \"" + dev + "\"");
      WB_RETURN_IF_ERROR(k_.block->RefreshLoop(*devno));
    }
  }
  WB_RETURN_IF_ERROR(k_.dm->Reload(name, {want}));
  return true;
}

Status Pool::Impl::Grow(uint64_t data_bytes, uint64_t metadata_bytes) {
  const PoolOptions& o = catalog().options;
  const std::string what = "grow pool " + o.name;
  if (!catalog().embedded)
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
  WB_RETURN_IF_ERROR(ExtendFile(MetadataFile(dir()), metadata_bytes).Annotate(what));
  WB_RETURN_IF_ERROR(ExtendFile(DataFile(dir()), data_bytes).Annotate(what));
  bool changed = data_bytes != o.data_bytes || metadata_bytes != o.metadata_bytes;
  if (changed) {
    Catalog next = catalog();
    next.options.data_bytes = data_bytes;
    next.options.metadata_bytes = metadata_bytes;
    WB_RETURN_IF_ERROR(journal_.Replace(std::move(next)).Annotate(what));
  }
  // Equal sizes still reload when the kernel has less than the catalogue
  // (an earlier Grow failed after its catalogue write).
  WB_ASSIGN_OR_RETURN(PoolStatus st, Status_());
  const uint64_t block = uint64_t{catalog().options.block_sectors} * kSector;
  bool behind = st.data_total < data_bytes / block || st.metadata_total < metadata_bytes / kMetadataBlock;
  return ApplyTable(changed || behind, true).status().Annotate(what);
}

Status Pool::Impl::SetErrorIfNoSpace(bool on) {
  const std::string what = std::string(on ? "set" : "clear") + " error_if_no_space on pool " + catalog().options.name;
  if (catalog().options.error_if_no_space != on) {
    Catalog next = catalog();
    next.options.error_if_no_space = on;
    WB_RETURN_IF_ERROR(journal_.Replace(std::move(next)).Annotate(what));
  }
  return ApplyTable(false, false).status().Annotate(what);
}

Status Pool::Impl::RefreshPoolDevice() {
  WB_ASSIGN_OR_RETURN(DmInfo info, k_.dm->Info(catalog().options.name));
  pool_dev_ = DevString(info.major, info.minor);
  return Status::OK();
}

Status Pool::Impl::Reconcile() {
  WB_ASSIGN_OR_RETURN(PoolStatus st, Status_());
  if (st.mode == PoolStatus::Mode::kFail)
    return Status::Corruption("pool " + catalog().options.name + " has failed; run thin_check");
  return journal_.Reconcile(st.transaction_id, &repairs_);
}

Status Pool::Impl::CheckNewThin(const ThinSpec& spec) const {
  WB_RETURN_IF_ERROR(journal_.CheckNoPending());
  WB_RETURN_IF_ERROR(ValidateName("thin", spec.name));
  const std::string& pool = catalog().options.name;
  if (pool.size() + 1 + spec.name.size() > 127)
    return Status::InvalidArgument("thin name \"" + spec.name + "\" is too long for this pool's dm names");
  for (const auto& [id, t] : catalog().thins)
    if (t.name == spec.name)
      return Status::AlreadyExists("thin \"" + spec.name + "\" exists (id " + std::to_string(id) + ", pool " + pool +
                                   ")");
  if (spec.id) {
    if (*spec.id > kMaxThinId)
      return Status::InvalidArgument("thin id " + std::to_string(*spec.id) + " exceeds the 24-bit limit");
    if (catalog().thins.count(*spec.id))
      return Status::AlreadyExists("thin id " + std::to_string(*spec.id) + " exists (pool " + pool + ")");
  }
  return Status::OK();
}

// Creates a thin (or a snapshot when `origin` is set) under a fresh or the
// requested id. An allocated id the pool already knows (a device created
// behind the catalogue's back) is skipped, not reused.
Result<Thin> Pool::Impl::NewThin(const ThinSpec& spec, std::optional<uint32_t> origin, uint64_t size) {
  Thin thin{0, spec.name, size, origin};
  for (int attempt = 0;; ++attempt) {
    if (spec.id) {
      thin.id = *spec.id;
    } else {
      WB_ASSIGN_OR_RETURN(thin.id, journal_.AllocateId());
    }
    std::string msg = origin ? "create_snap " + std::to_string(thin.id) + " " + std::to_string(*origin)
                             : "create_thin " + std::to_string(thin.id);
    auto kind = origin ? PendingChange::Kind::kSnapshot : PendingChange::Kind::kCreate;
    Status s = journal_.Commit({kind, thin}, msg);
    if (s.ok()) return thin;
    if (s.code() != Status::Code::kAlreadyExists || spec.id || attempt >= 16) return s;
    repairs_.push_back("thin id " + std::to_string(thin.id) + " is in the pool but not in the catalogue; skipped");
  }
}

Result<Thin> Pool::Impl::Create(const ThinSpec& spec) {
  WB_RETURN_IF_ERROR(CheckNewThin(spec));
  WB_RETURN_IF_ERROR(CheckSize("thin size", spec.size_bytes));
  return NewThin(spec, std::nullopt, spec.size_bytes);
}

Result<Thin> Pool::Impl::Snapshot(uint32_t origin, const ThinSpec& spec) {
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

Status Pool::Impl::Delete(uint32_t id) {
  WB_RETURN_IF_ERROR(journal_.CheckNoPending());
  WB_ASSIGN_OR_RETURN(Thin t, Get(id));
  if (k_.dm->Info(DmName(t)).ok())
    return Status::Error(Status::Code::kBusy, "delete thin " + std::to_string(id) + " (" + t.name +
                                                  "): it is active; deactivate it first (pool " +
                                                  catalog().options.name + ")");
  return journal_.Commit({PendingChange::Kind::kDelete, t}, "delete " + std::to_string(id));
}

Result<Activation> Pool::Impl::Activate(uint32_t id) {
  WB_ASSIGN_OR_RETURN(Thin t, Get(id));
  const std::string name = DmName(t);
  if (!k_.dm->Info(name).ok()) {
    WB_RETURN_IF_ERROR(k_.dm->Create(name, {ThinTable(pool_dev_, id, t.size_bytes)})
                           .Annotate("activate thin " + std::to_string(id) + " (pool " + catalog().options.name + ")"));
  }
  auto a = Active(id);
  if (!a.ok()) (void)k_.dm->Remove(name);  // never leave a device the caller cannot see
  return a;
}

Status Pool::Impl::Resize(uint32_t id, uint64_t bytes) {
  WB_ASSIGN_OR_RETURN(Thin t, Get(id));
  const std::string what = "resize thin " + std::to_string(id) + " (" + t.name + ")";
  if (bytes % kSector != 0 || bytes < t.size_bytes || bytes > kMaxThinBytes)
    return Status::InvalidArgument(what + ": size " + std::to_string(bytes) +
                                   " must be a multiple of 512, at least the current " + std::to_string(t.size_bytes) +
                                   " and at most 1 PiB");
  if (bytes == t.size_bytes) return Status::OK();
  // The size lives in the catalogue and the table, not in the pool
  // metadata: record it first, so a crash leaves at worst a larger
  // catalogue entry than the live table, which the next Activate fixes.
  Catalog next = catalog();
  next.thins[id].size_bytes = bytes;
  WB_RETURN_IF_ERROR(journal_.Replace(std::move(next)).Annotate(what));
  const std::string name = DmName(t);
  if (!k_.dm->Info(name).ok()) return Status::OK();
  WB_RETURN_IF_ERROR(k_.dm->Reload(name, {ThinTable(pool_dev_, id, bytes)}).Annotate(what));
  return k_.dm->Resume(name).Annotate(what);
}

Result<Activation> Pool::Impl::Active(uint32_t id) {
  WB_ASSIGN_OR_RETURN(Thin t, Get(id));
  Activation a;
  a.dm_name = DmName(t);
  WB_ASSIGN_OR_RETURN(DmInfo info, k_.dm->Info(a.dm_name));
  a.major = info.major;
  a.minor = info.minor;
  WB_ASSIGN_OR_RETURN(a.path, k_.dm->NodePath(info.major, info.minor));
  return a;
}

Status Pool::Impl::Deactivate(uint32_t id) {
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

Status Pool::Impl::Destroy() {
  WB_RETURN_IF_ERROR(Shutdown());
  WB_RETURN_IF_ERROR(journal_.Remove());
  if (catalog().embedded) {
    ::unlink(DataFile(dir()).c_str());
    ::unlink(MetadataFile(dir()).c_str());
  }
  ::rmdir(dir().c_str());  // only if empty; the directory may be shared
  return Status::OK();
}

Status Pool::Impl::Shutdown() {
  for (const auto& [id, t] : catalog().thins) WB_RETURN_IF_ERROR(Deactivate(id));
  // Removing the pool device frees its loop devices (autoclear).
  Status s = k_.dm->Remove(catalog().options.name);
  if (!s.ok() && s.code() != Status::Code::kNotFound) return s.Annotate("remove pool device");
  destroyed_ = true;
  return Status::OK();
}

Result<Thin> Pool::Impl::Get(uint32_t id) const {
  auto it = catalog().thins.find(id);
  if (it == catalog().thins.end())
    return Status::NotFound("thin id " + std::to_string(id) + " does not exist (pool " + catalog().options.name + ")");
  return it->second;
}

Result<Thin> Pool::Impl::FindByName(const std::string& name) const {
  for (const auto& [id, t] : catalog().thins)
    if (t.name == name) return t;
  return Status::NotFound("thin \"" + name + "\" does not exist (pool " + catalog().options.name + ")");
}

Result<PoolStatus> Pool::Impl::Status_() {
  WB_ASSIGN_OR_RETURN(auto lines, k_.dm->Table(catalog().options.name, false));
  if (lines.size() != 1 || lines[0].type != "thin-pool")
    return Status::Corruption("dm device " + catalog().options.name + " is not a thin pool");
  return ParsePoolStatus(lines[0].params);
}

Result<ThinStatus> Pool::Impl::ThinStatus_(uint32_t id) {
  WB_ASSIGN_OR_RETURN(Thin t, Get(id));
  WB_ASSIGN_OR_RETURN(auto lines, k_.dm->Table(DmName(t), false));
  if (lines.size() != 1 || lines[0].type != "thin")
    return Status::Corruption("dm device " + DmName(t) + " is not a thin device");
  return ParseThinStatus(lines[0].params);
}

Result<uint32_t> Pool::Impl::EventCounter() {
  WB_ASSIGN_OR_RETURN(DmInfo info, k_.dm->Info(catalog().options.name));
  return info.event_nr;
}

Status Pool::Impl::CheckAlive() const {
  if (destroyed_) return Status::NotFound("pool " + catalog().options.name + " was destroyed or shut down");
  return Status::OK();
}

}  // namespace warmblock::thinpool
