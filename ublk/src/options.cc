// Pure parts of the public API: option checks and feature names.
#include <string>

#include "uapi.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {
namespace {

bool PowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

Status Bad(const std::string& field, uint64_t value, const std::string& rule) {
  return Status::InvalidArgument("ublk device option " + field + " = " + std::to_string(value) + ": " + rule);
}

}  // namespace

bool Features::user_copy() const { return flags & abi::kFUserCopy; }
bool Features::need_get_data() const { return flags & abi::kFNeedGetData; }
bool Features::user_recovery() const { return flags & abi::kFUserRecovery; }
bool Features::recovery_reissue() const { return flags & abi::kFUserRecoveryReissue; }
bool Features::update_size() const { return flags & abi::kFUpdateSize; }
bool Features::auto_buf_reg() const { return flags & abi::kFAutoBufReg; }
bool Features::safe_stop() const { return flags & abi::kFSafeStopDev; }

std::string Features::Describe() const {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {abi::kFZeroCopy, "zero_copy"},
      {abi::kFNeedGetData, "need_get_data"},
      {abi::kFUserRecovery, "user_recovery"},
      {abi::kFUserRecoveryReissue, "user_recovery_reissue"},
      {abi::kFCmdIoctlEncode, "cmd_ioctl_encode"},
      {abi::kFUserCopy, "user_copy"},
      {abi::kFUserRecoveryFailIo, "user_recovery_fail_io"},
      {abi::kFUpdateSize, "update_size"},
      {abi::kFAutoBufReg, "auto_buf_reg"},
      {abi::kFQuiesce, "quiesce"},
      {abi::kFPerIoDaemon, "per_io_daemon"},
      {1ull << 14, "buf_reg_off_daemon"},
      {1ull << 15, "batch_io"},
      {1ull << 16, "integrity"},
      {abi::kFSafeStopDev, "safe_stop_dev"},
      {abi::kFNoAutoPartScan, "no_auto_part_scan"},
      {1ull << 19, "shmem_zc"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(flags & bit)) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out.empty() ? "none" : out;
}

const char* CopyModeName(CopyMode mode) {
  switch (mode) {
    case CopyMode::kAuto:
      return "auto";
    case CopyMode::kZeroCopy:
      return "zero-copy";
    case CopyMode::kUserCopy:
      return "user-copy";
    case CopyMode::kBuffered:
      return "buffered";
  }
  return "?";
}

Status ValidateDeviceOptions(const DeviceOptions& o) {
  if (o.backing_path.empty()) return Status::InvalidArgument("ublk device option backing_path is empty");
  if (o.queues < 1 || o.queues > 64) return Bad("queues", o.queues, "must be between 1 and 64");
  if (o.depth < 1 || o.depth > abi::kMaxQueueDepth) return Bad("depth", o.depth, "must be between 1 and 4096");
  if (o.max_io_bytes < 4096 || o.max_io_bytes > abi::kMaxIoBufBytes || o.max_io_bytes % 4096 != 0)
    return Bad("max_io_bytes", o.max_io_bytes, "must be a multiple of 4096 between 4 KiB and 32 MiB");
  if (!PowerOfTwo(o.logical_block) || o.logical_block < 512 || o.logical_block > 4096)
    return Bad("logical_block", o.logical_block, "must be 512, 1024, 2048 or 4096");
  if (!PowerOfTwo(o.physical_block) || o.physical_block < o.logical_block || o.physical_block > 65536)
    return Bad("physical_block", o.physical_block, "must be a power of two between logical_block and 65536");
  if (o.size_bytes % o.logical_block != 0)
    return Bad("size_bytes", o.size_bytes, "must be a multiple of logical_block");
  return Status::OK();
}

}  // namespace warmblock::ublk
