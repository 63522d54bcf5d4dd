// When and how far warmblockd grows an embedded pool, and what it tells a
// user whose create found the pool full: pure policy over the pool's
// options and status, with no kernel access, so that unit tests cover every
// branch without a pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "warmblock/provisioner/config.h"
#include "warmblock/thinpool/pool.h"
#include "warmblock/thinpool/status.h"

namespace warmblock::provisioner {

// The sizes an embedded pool should grow to.
struct GrowthPlan {
  uint64_t data_bytes = 0;
  uint64_t metadata_bytes = 0;
};

// The most an embedded pool's data may reach: the configured limit, but
// never less than it has (a lowered limit does not shrink it).
uint64_t DataLimit(const Config& cfg, const thinpool::PoolOptions& pool);

// Metadata for `data_bytes` of data by the rule the pool was sized with:
// the configured metadata_size in proportion, or the pool's default.
uint64_t MetadataFor(const Config& cfg, uint64_t block_bytes, uint64_t data_bytes);

// For an embedded pool whose free data fell to the low-water mark or ran
// out and that is below its limit: data by grow_step (capped at the limit),
// metadata in proportion; metadata alone (to what the limit needs) when it
// fell to the kernel's metadata threshold. nullopt when nothing should
// change or the pool sits on the user's devices.
std::optional<GrowthPlan> PlanGrowth(const Config& cfg, const thinpool::PoolOptions& pool,
                                     const thinpool::PoolStatus& status, uint64_t block_bytes);

// Why creates fail while the pool is out of space, and what the user can do
// about it; empty while it is writable with space. `grow_error` is the last
// failed growth's error (empty if none).
std::string FullReason(const Config& cfg, const thinpool::PoolOptions& pool, const thinpool::PoolStatus& status,
                       uint64_t block_bytes, const std::string& grow_error);

}  // namespace warmblock::provisioner
