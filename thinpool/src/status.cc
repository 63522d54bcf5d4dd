#include "warmblock/thinpool/status.h"

#include <charconv>
#include <vector>

#include "words.h"

namespace warmblock::thinpool {
namespace {

bool ParseU64(const std::string& s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool ParseFraction(const std::string& s, uint64_t* used, uint64_t* total) {
  auto slash = s.find('/');
  return slash != std::string::npos && ParseU64(s.substr(0, slash), used) && ParseU64(s.substr(slash + 1), total) &&
         *used <= *total;
}

Status Malformed(const char* what, const std::string& params) {
  return Status::Corruption(std::string("malformed ") + what + " status \"" + params + "\"");
}

}  // namespace

Result<PoolStatus> ParsePoolStatus(const std::string& params) {
  auto w = Words(params);
  PoolStatus st;
  if (w.size() == 1 && (w[0] == "Fail" || w[0] == "Error")) {
    st.mode = PoolStatus::Mode::kFail;
    return st;
  }
  // Fields 0..7 exist since Linux 4.2; metadata_low_watermark since 4.19.
  if (w.size() < 8) return Malformed("thin-pool", params);
  if (!ParseU64(w[0], &st.transaction_id) || !ParseFraction(w[1], &st.metadata_used, &st.metadata_total) ||
      !ParseFraction(w[2], &st.data_used, &st.data_total))
    return Malformed("thin-pool", params);
  uint64_t held_root = 0;
  if (w[3] != "-" && !ParseU64(w[3], &held_root)) return Malformed("thin-pool", params);
  if (w[4] == "rw") {
    st.mode = PoolStatus::Mode::kReadWrite;
  } else if (w[4] == "ro") {
    st.mode = PoolStatus::Mode::kReadOnly;
  } else if (w[4] == "out_of_data_space") {
    st.mode = PoolStatus::Mode::kOutOfDataSpace;
  } else {
    return Malformed("thin-pool", params);
  }
  if (w[5] == "discard_passdown") {
    st.discard_passdown = true;
  } else if (w[5] == "no_discard_passdown" || w[5] == "ignore_discard") {
    st.discard_passdown = false;
  } else {
    return Malformed("thin-pool", params);
  }
  if (w[6] == "error_if_no_space") {
    st.error_if_no_space = true;
  } else if (w[6] != "queue_if_no_space") {
    return Malformed("thin-pool", params);
  }
  if (w[7] == "needs_check") {
    st.needs_check = true;
  } else if (w[7] != "-") {
    return Malformed("thin-pool", params);
  }
  if (w.size() > 8 && !ParseU64(w[8], &st.metadata_low_watermark)) return Malformed("thin-pool", params);
  return st;
}

Result<ThinStatus> ParseThinStatus(const std::string& params) {
  auto w = Words(params);
  ThinStatus st;
  if (w.size() == 1 && w[0] == "Fail") {
    st.failed = true;
    return st;
  }
  if (w.size() != 2 || !ParseU64(w[0], &st.mapped_sectors)) return Malformed("thin", params);
  // The kernel prints "-" as the highest mapped sector of an empty thin.
  if (w[1] != "-" && !ParseU64(w[1], &st.highest_mapped_sector)) return Malformed("thin", params);
  return st;
}

const char* ModeName(PoolStatus::Mode mode) {
  switch (mode) {
    case PoolStatus::Mode::kReadWrite:
      return "rw";
    case PoolStatus::Mode::kReadOnly:
      return "ro";
    case PoolStatus::Mode::kOutOfDataSpace:
      return "out_of_data_space";
    case PoolStatus::Mode::kFail:
      return "fail";
  }
  return "unknown";
}

}  // namespace warmblock::thinpool
