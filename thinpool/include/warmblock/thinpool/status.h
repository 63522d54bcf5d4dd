// Parsed device-mapper status of a thin pool and of a thin device, and the
// table lines the library loads. Pure functions: no kernel involved.
#pragma once

#include <cstdint>
#include <string>

#include "warmblock/base/status.h"

namespace warmblock::thinpool {

struct PoolStatus {
  enum class Mode { kReadWrite, kReadOnly, kOutOfDataSpace, kFail };
  uint64_t transaction_id = 0;
  uint64_t metadata_used = 0;  // metadata blocks (4 KiB)
  uint64_t metadata_total = 0;
  uint64_t data_used = 0;  // data blocks (the pool's block size)
  uint64_t data_total = 0;
  Mode mode = Mode::kReadWrite;
  bool discard_passdown = true;
  bool error_if_no_space = false;
  bool needs_check = false;
  uint64_t metadata_low_watermark = 0;  // 0 if the kernel does not report it
};

struct ThinStatus {
  bool failed = false;
  uint64_t mapped_sectors = 0;
  uint64_t highest_mapped_sector = 0;  // meaningless when mapped_sectors == 0
};

// Parses the params of a "thin-pool" status line, e.g.
// "3 21/4096 100/16384 - rw discard_passdown queue_if_no_space - 1024".
// kCorruption with the offending text on malformed input.
Result<PoolStatus> ParsePoolStatus(const std::string& params);
// Parses the params of a "thin" status line ("<mapped> <highest>" or "Fail").
Result<ThinStatus> ParseThinStatus(const std::string& params);

const char* ModeName(PoolStatus::Mode mode);

}  // namespace warmblock::thinpool
