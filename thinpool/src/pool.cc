// Pool: making and opening pools, and the public calls, each under the
// pool's lock and refused once the pool is destroyed or shut down. The work
// is Pool::Impl's (pool_impl.cc).
#include "warmblock/thinpool/pool.h"

#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "pool_files.h"
#include "pool_impl.h"
#include "pool_table.h"

namespace warmblock::thinpool {

// The lock and the Impl behind it. Members of Pool reach Impl only through
// Locked, so no call forgets the lock or the liveness check.
struct Pool::Guarded {
  explicit Guarded(std::unique_ptr<Impl> i) : impl(std::move(i)) {}
  mutable std::mutex mu;
  std::unique_ptr<Impl> impl;  // guarded by mu
};

namespace {

// Runs fn(impl) under the pool's lock once the pool is alive.
template <typename G, typename Fn>
auto Locked(G& g, Fn fn) -> decltype(fn(*g.impl)) {
  std::lock_guard<std::mutex> lock(g.mu);
  WB_RETURN_IF_ERROR(g.impl->CheckAlive());
  return fn(*g.impl);
}

// The same for the read-only calls, which also answer after a shutdown.
template <typename G, typename Fn>
auto Read(const G& g, Fn fn) -> decltype(fn(*g.impl)) {
  std::lock_guard<std::mutex> lock(g.mu);
  return fn(*g.impl);
}

}  // namespace

Pool::Pool(std::unique_ptr<Impl> impl) : g_(std::make_unique<Guarded>(std::move(impl))) {}
Pool::~Pool() = default;

Result<std::unique_ptr<Pool>> Pool::Create(const PoolOptions& options, Kernel kernel) {
  const bool embedded = options.data_device.empty();
  WB_RETURN_IF_ERROR(ValidateOptions(options, embedded));
  const std::string& dir = options.state_dir;
  const std::string what = "create pool " + options.name;
  if (::access(CatalogPath(dir).c_str(), F_OK) == 0)
    return Status::AlreadyExists(what + ": " + dir + " already holds a pool");
  if (kernel.dm->Info(options.name).ok()) return Status::AlreadyExists(what + ": a dm device of that name exists");
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
  auto fail = [&](const Status& s) {
    for (const auto& f : created) ::unlink(f.c_str());
    return s;
  };
  if (embedded) {
    for (auto [file, bytes] :
         {std::pair{MetadataFile(dir), cat.options.metadata_bytes}, std::pair{DataFile(dir), cat.options.data_bytes}}) {
      Status s = CreateSparseFile(file, bytes);
      if (!s.ok()) return fail(s.Annotate(what));
      created.push_back(file);
    }
  } else {
    WB_RETURN_IF_ERROR(ZeroSuperblock(options.metadata_device).Annotate(what));
  }
  // The catalogue goes first: after a crash from here on, Open finds the
  // files and loads the pool, instead of a live pool nobody knows about.
  Status s = WriteCatalog(dir, cat);
  if (!s.ok()) return fail(s);
  created.push_back(CatalogPath(dir));
  auto impl = std::make_unique<Impl>(kernel, dir, std::move(cat));
  s = impl->Load();
  if (!s.ok()) return fail(s);
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
      impl->repairs().push_back("could not reload the pool table to the catalogue's size and features: " +
                                reloaded.status().ToString());
    } else if (*reloaded) {
      impl->repairs().push_back("reloaded the pool table to the catalogue's size and features");
    }
  } else {
    WB_RETURN_IF_ERROR(impl->Load().Annotate("open pool " + name));
  }
  WB_RETURN_IF_ERROR(impl->Reconcile().Annotate("open pool " + name));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

Status Pool::Destroy() {
  return Locked(*g_, [](Impl& i) { return i.Destroy(); });
}
Status Pool::Resize(uint32_t id, uint64_t bytes) {
  return Locked(*g_, [&](Impl& i) { return i.Resize(id, bytes); });
}
Status Pool::Shutdown() {
  return Locked(*g_, [](Impl& i) { return i.Shutdown(); });
}
Result<Thin> Pool::CreateThin(const ThinSpec& spec) {
  return Locked(*g_, [&](Impl& i) { return i.Create(spec); });
}
Result<Thin> Pool::Snapshot(uint32_t origin, const ThinSpec& spec) {
  return Locked(*g_, [&](Impl& i) { return i.Snapshot(origin, spec); });
}
Status Pool::DeleteThin(uint32_t id) {
  return Locked(*g_, [&](Impl& i) { return i.Delete(id); });
}
Result<Activation> Pool::Activate(uint32_t id) {
  return Locked(*g_, [&](Impl& i) { return i.Activate(id); });
}
Status Pool::Deactivate(uint32_t id) {
  return Locked(*g_, [&](Impl& i) { return i.Deactivate(id); });
}
Result<Activation> Pool::ActiveDevice(uint32_t id) {
  return Locked(*g_, [&](Impl& i) { return i.Active(id); });
}
Status Pool::Grow(uint64_t data_bytes, uint64_t metadata_bytes) {
  return Locked(*g_, [&](Impl& i) { return i.Grow(data_bytes, metadata_bytes); });
}
Status Pool::SetErrorIfNoSpace(bool on) {
  return Locked(*g_, [&](Impl& i) { return i.SetErrorIfNoSpace(on); });
}
Result<PoolStatus> Pool::GetStatus() {
  return Locked(*g_, [](Impl& i) { return i.Status_(); });
}
Result<ThinStatus> Pool::GetThinStatus(uint32_t id) {
  return Locked(*g_, [&](Impl& i) { return i.ThinStatus_(id); });
}
Result<uint32_t> Pool::EventCounter() {
  return Locked(*g_, [](Impl& i) { return i.EventCounter(); });
}

// Waiting holds no lock: other calls go on while a thread waits for events.
Result<uint32_t> Pool::WaitEvent(uint32_t last_event, int timeout_ms) {
  DeviceMapper* dm = Read(*g_, [](const Impl& i) { return i.dm(); });
  return dm->WaitEvent(name(), last_event, timeout_ms);
}

std::vector<Thin> Pool::List() const {
  return Read(*g_, [](const Impl& i) {
    std::vector<Thin> out;
    for (const auto& [id, t] : i.catalog().thins) out.push_back(t);
    return out;
  });
}
Result<Thin> Pool::Get(uint32_t id) const {
  return Read(*g_, [&](const Impl& i) { return i.Get(id); });
}
Result<Thin> Pool::FindByName(const std::string& name) const {
  return Read(*g_, [&](const Impl& i) { return i.FindByName(name); });
}
uint64_t Pool::transaction_id() const {
  return Read(*g_, [](const Impl& i) { return i.catalog().transaction_id; });
}
PoolOptions Pool::options() const {
  return Read(*g_, [](const Impl& i) { return i.catalog().options; });
}
// The name and block size never change after Create: no lock needed.
const std::string& Pool::name() const { return g_->impl->catalog().options.name; }
uint64_t Pool::block_bytes() const { return uint64_t{g_->impl->catalog().options.block_sectors} * kSector; }
const std::vector<std::string>& Pool::repairs() const { return g_->impl->repairs(); }

}  // namespace warmblock::thinpool
