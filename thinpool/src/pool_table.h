// The text device-mapper speaks for a pool and its thins, and the checks of
// what a caller may ask for: pure functions, no kernel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "warmblock/base/status.h"
#include "warmblock/thinpool/kernel.h"
#include "warmblock/thinpool/pool.h"

namespace warmblock::thinpool {

inline constexpr uint64_t kSector = 512;
inline constexpr uint64_t kMetadataBlock = 4096;
inline constexpr uint64_t kMaxDataBytes = 1ull << 50;  // of a pool

// "major:minor" as a table names a device, and back.
std::string DevString(uint32_t major, uint32_t minor);
std::string DevString(dev_t dev);
std::optional<dev_t> ParseDev(const std::string& s);

// The thin-pool target for `options` over `meta_dev` and `data_dev`
// ("major:minor") with `data_bytes` of data, rounded down to whole blocks;
// kInvalidArgument below one block.
Result<DmTarget> PoolTable(const PoolOptions& options, const std::string& meta_dev, const std::string& data_dev,
                           uint64_t data_bytes);

// The thin target of thin `id`, `bytes` long, in the pool device `pool_dev`.
DmTarget ThinTable(const std::string& pool_dev, uint32_t id, uint64_t bytes);

// kInvalidArgument naming the field: a pool's options (sizes checked only
// for an `embedded` pool of files), a thin's size.
Status ValidateOptions(const PoolOptions& options, bool embedded);
Status CheckSize(const char* what, uint64_t bytes);

}  // namespace warmblock::thinpool
