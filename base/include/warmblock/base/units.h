// Byte sizes as people write them ("512M", "1G", "65536") and as they read
// them back. Binary multiples: K = 1024.
#pragma once

#include <cstdint>
#include <string>

#include "warmblock/base/status.h"

namespace warmblock {

// Accepts digits with an optional suffix K, M, G, T or P (upper or lower
// case, an optional "i" and "B": "4k", "1GiB", "2G"). kInvalidArgument naming
// `what` for anything else, or for a value that overflows 64 bits.
Result<uint64_t> ParseSize(const std::string& text, const std::string& what);

// The shortest exact form: 1073741824 -> "1G", 1536 -> "1536" (not "1.5K").
std::string FormatSize(uint64_t bytes);

}  // namespace warmblock
