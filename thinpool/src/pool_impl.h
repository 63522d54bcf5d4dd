// What a Pool does, below its lock: the pool's and thins' device-mapper
// devices and the embedded pool's files, with the journal for every change
// to the pool's metadata. Pool (pool.cc) serialises calls and checks that
// the pool is still alive; nothing here locks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "journal.h"
#include "warmblock/thinpool/pool.h"

namespace warmblock::thinpool {

class Pool::Impl {
 public:
  Impl(Kernel kernel, std::string dir, Catalog catalog)
      : k_(kernel), journal_(kernel.dm, std::move(dir), std::move(catalog)) {}

  // Binds the pool's storage (loop devices over the files, or the user's
  // block devices) and loads the pool table. Fresh metadata is formatted
  // by the kernel; existing metadata is opened as it is.
  Status Load();
  // Brings the live pool table in line with the catalogue (see pool.cc);
  // returns whether it reloaded.
  Result<bool> ApplyTable(bool force, bool resize);
  // Reads the pool device's number, which thin tables name.
  Status RefreshPoolDevice();
  // The journal's Reconcile against the live pool.
  Status Reconcile();

  Status Grow(uint64_t data_bytes, uint64_t metadata_bytes);
  Status SetErrorIfNoSpace(bool on);
  Result<Thin> Create(const ThinSpec& spec);
  Result<Thin> Snapshot(uint32_t origin, const ThinSpec& spec);
  Status Delete(uint32_t id);
  Result<Activation> Activate(uint32_t id);
  Status Resize(uint32_t id, uint64_t bytes);
  Result<Activation> Active(uint32_t id);
  Status Deactivate(uint32_t id);
  Status Destroy();
  Status Shutdown();
  Result<Thin> Get(uint32_t id) const;
  Result<Thin> FindByName(const std::string& name) const;
  Result<PoolStatus> Status_();
  Result<ThinStatus> ThinStatus_(uint32_t id);
  Result<uint32_t> EventCounter();
  // kNotFound once Destroy or Shutdown succeeded.
  Status CheckAlive() const;

  const Catalog& catalog() const { return journal_.catalog(); }
  const std::vector<std::string>& repairs() const { return repairs_; }
  std::vector<std::string>& repairs() { return repairs_; }
  DeviceMapper* dm() const { return k_.dm; }

 private:
  Status CheckNewThin(const ThinSpec& spec) const;
  Result<Thin> NewThin(const ThinSpec& spec, std::optional<uint32_t> origin, uint64_t size);
  std::string DmName(const Thin& t) const { return catalog().options.name + "-" + t.name; }
  const std::string& dir() const { return journal_.dir(); }

  Kernel k_;
  Journal journal_;
  std::string pool_dev_;  // "major:minor" of the pool dm device
  std::vector<std::string> repairs_;
  bool destroyed_ = false;
};

}  // namespace warmblock::thinpool
