#include "pool_table.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace warmblock::thinpool {
namespace {

constexpr uint64_t kMinMetadataBytes = 2ull << 20;
constexpr uint64_t kDefaultMinMetadataBytes = 256ull << 20;

}  // namespace

std::string DevString(uint32_t major, uint32_t minor) { return std::to_string(major) + ":" + std::to_string(minor); }
std::string DevString(dev_t dev) { return DevString(::major(dev), ::minor(dev)); }

std::optional<dev_t> ParseDev(const std::string& s) {
  unsigned maj = 0, min = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u:%u%c", &maj, &min, &extra) != 2) return std::nullopt;
  return ::makedev(maj, min);
}

Result<DmTarget> PoolTable(const PoolOptions& o, const std::string& meta_dev, const std::string& data_dev,
                           uint64_t data_bytes) {
  uint64_t data_sectors = data_bytes / kSector / o.block_sectors * o.block_sectors;
  if (data_sectors == 0) return Status::InvalidArgument("pool " + o.name + ": data device is smaller than one block");
  uint64_t blocks = data_sectors / o.block_sectors;
  std::vector<std::string> features;
  if (o.skip_block_zeroing) features.push_back("skip_block_zeroing");
  if (o.error_if_no_space) features.push_back("error_if_no_space");
  std::string params = meta_dev + " " + data_dev + " " + std::to_string(o.block_sectors) + " " +
                       std::to_string(LowWaterBlocks(o, blocks)) + " " + std::to_string(features.size());
  for (const auto& f : features) params += " " + f;
  return DmTarget{0, data_sectors, "thin-pool", params};
}

DmTarget ThinTable(const std::string& pool_dev, uint32_t id, uint64_t bytes) {
  return DmTarget{0, bytes / kSector, "thin", pool_dev + " " + std::to_string(id)};
}

Status CheckSize(const char* what, uint64_t bytes) {
  if (bytes == 0) return Status::InvalidArgument(std::string(what) + " must be greater than 0");
  if (bytes % kSector != 0)
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(bytes) + " is not a multiple of 512");
  if (bytes > kMaxThinBytes)
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(bytes) + " exceeds the 1 PiB limit");
  return Status::OK();
}

Status ValidateOptions(const PoolOptions& o, bool embedded) {
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

}  // namespace warmblock::thinpool
