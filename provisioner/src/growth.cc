#include "growth.h"

#include <algorithm>

#include "warmblock/base/units.h"

namespace warmblock::provisioner {

uint64_t DataLimit(const Config& cfg, const thinpool::PoolOptions& pool) {
  return std::max(cfg.MaxPoolDataBytes(), pool.data_bytes);
}

uint64_t MetadataFor(const Config& cfg, uint64_t block_bytes, uint64_t data_bytes) {
  if (cfg.pool_metadata_bytes == 0)
    return thinpool::DefaultMetadataBytes(data_bytes, static_cast<uint32_t>(block_bytes / 512));
  double scaled = static_cast<double>(cfg.pool_metadata_bytes) * static_cast<double>(data_bytes) /
                  static_cast<double>(cfg.pool_data_bytes);
  uint64_t bytes = (static_cast<uint64_t>(scaled) + 4095) / 4096 * 4096;
  return std::min(bytes, thinpool::kMaxMetadataBytes);
}

std::optional<GrowthPlan> PlanGrowth(const Config& cfg, const thinpool::PoolOptions& pool,
                                     const thinpool::PoolStatus& st, uint64_t block_bytes) {
  if (!pool.data_device.empty()) return std::nullopt;
  const uint64_t limit = DataLimit(cfg, pool);
  bool data_low = st.mode == thinpool::PoolStatus::Mode::kOutOfDataSpace ||
                  st.data_total - st.data_used <= thinpool::LowWaterBlocks(pool, st.data_total);
  uint64_t meta_mark = st.metadata_low_watermark != 0 ? st.metadata_low_watermark : st.metadata_total / 4;
  bool meta_low = st.metadata_total - st.metadata_used <= meta_mark;
  GrowthPlan plan{pool.data_bytes, pool.metadata_bytes};
  if (data_low && plan.data_bytes < limit) {
    uint64_t step = cfg.pool_grow_step_bytes != 0 ? cfg.pool_grow_step_bytes : cfg.pool_data_bytes;
    plan.data_bytes = std::min(limit, plan.data_bytes + step);
    plan.metadata_bytes = std::max(plan.metadata_bytes, MetadataFor(cfg, block_bytes, plan.data_bytes));
  }
  if (meta_low) plan.metadata_bytes = std::max(plan.metadata_bytes, MetadataFor(cfg, block_bytes, limit));
  if (plan.data_bytes == pool.data_bytes && plan.metadata_bytes == pool.metadata_bytes) return std::nullopt;
  return plan;
}

std::string FullReason(const Config& cfg, const thinpool::PoolOptions& pool, const thinpool::PoolStatus& st,
                       uint64_t block_bytes, const std::string& grow_error) {
  bool out = st.mode != thinpool::PoolStatus::Mode::kReadWrite || st.data_used >= st.data_total;
  if (!out) return "";
  std::string full = std::string("the pool is full (") + thinpool::ModeName(st.mode) + ", " +
                     FormatSize(st.data_used * block_bytes) + " of " + FormatSize(st.data_total * block_bytes) +
                     " used)";
  if (!pool.data_device.empty()) return full + "; delete volumes or extend its devices";
  if (!grow_error.empty())
    return full + "; growing it failed (" + grow_error + "); delete volumes or free space on the host";
  if (pool.data_bytes < DataLimit(cfg, pool)) return full + "; delete volumes";
  if (cfg.MaxPoolDataBytes() > cfg.pool_data_bytes)
    return full + " at its limit, pool.max_data_size = " + FormatSize(DataLimit(cfg, pool)) +
           "; delete volumes, or raise pool.max_data_size and restart warmblockd";
  return full + "; delete volumes, or set pool.max_data_size so that it grows and restart warmblockd";
}

}  // namespace warmblock::provisioner
