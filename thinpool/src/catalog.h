// The pool's catalogue: what the library knows that the kernel does not
// report without reading raw metadata (thin names, sizes, origins, the next
// id to allocate), plus the transaction id it last committed and at most one
// pending change. Stored as a small text file replaced atomically.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "warmblock/base/status.h"
#include "warmblock/thinpool/pool.h"

namespace warmblock::thinpool {

struct PendingChange {
  enum class Kind { kCreate, kSnapshot, kDelete };
  Kind kind = Kind::kCreate;
  Thin thin;  // the thin created, snapshotted (origin set) or deleted
};

struct Catalog {
  PoolOptions options;
  bool embedded = true;  // sparse files in state_dir rather than user devices
  uint64_t transaction_id = 0;
  uint32_t next_id = 1;
  std::map<uint32_t, Thin> thins;
  std::optional<PendingChange> pending;
};

std::string SerializeCatalog(const Catalog& catalog);
// kCorruption naming the bad line.
Result<Catalog> ParseCatalog(const std::string& text);

// <dir>/thinpool.catalog, written to a temporary file, fsynced and renamed.
std::string CatalogPath(const std::string& dir);
Status WriteCatalog(const std::string& dir, const Catalog& catalog);
// kNotFound if there is none.
Result<Catalog> ReadCatalog(const std::string& dir);

}  // namespace warmblock::thinpool
