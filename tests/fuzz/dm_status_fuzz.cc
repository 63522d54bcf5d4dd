// ParsePoolStatus and ParseThinStatus on arbitrary text, both on every input.
// Invariants: an accepted line re-validates (used <= total), prints back to
// a line that parses to the same values, and an unsupported one is
// kCorruption quoting the text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "warmblock/thinpool/status.h"

namespace warmblock::thinpool {
namespace {

// A status line carrying exactly the fields PoolStatus keeps.
std::string Format(const PoolStatus& s) {
  if (s.mode == PoolStatus::Mode::kFail) return "Fail";
  return std::to_string(s.transaction_id) + " " + std::to_string(s.metadata_used) + "/" +
         std::to_string(s.metadata_total) + " " + std::to_string(s.data_used) + "/" + std::to_string(s.data_total) +
         " - " + ModeName(s.mode) + (s.discard_passdown ? " discard_passdown" : " no_discard_passdown") +
         (s.error_if_no_space ? " error_if_no_space" : " queue_if_no_space") + (s.needs_check ? " needs_check" : " -") +
         " " + std::to_string(s.metadata_low_watermark);
}

std::string Format(const ThinStatus& s) {
  if (s.failed) return "Fail";
  return std::to_string(s.mapped_sectors) + " " + std::to_string(s.highest_mapped_sector);
}

bool Same(const PoolStatus& a, const PoolStatus& b) {
  return a.transaction_id == b.transaction_id && a.metadata_used == b.metadata_used &&
         a.metadata_total == b.metadata_total && a.data_used == b.data_used && a.data_total == b.data_total &&
         a.mode == b.mode && a.discard_passdown == b.discard_passdown && a.error_if_no_space == b.error_if_no_space &&
         a.needs_check == b.needs_check && a.metadata_low_watermark == b.metadata_low_watermark;
}

void CheckRejection(const Status& s, const std::string& text) {
  WB_FUZZ_CHECK(s.code() == Status::Code::kCorruption, s.ToString());
  WB_FUZZ_CHECK(s.message().find(text) != std::string::npos, "the error does not quote the text: " + s.message());
}

void FuzzPool(const std::string& text) {
  auto st = ParsePoolStatus(text);
  if (!st.ok()) return CheckRejection(st.status(), text);
  WB_FUZZ_CHECK(st->metadata_used <= st->metadata_total, text);
  WB_FUZZ_CHECK(st->data_used <= st->data_total, text);
  if (st->mode == PoolStatus::Mode::kFail)
    WB_FUZZ_CHECK(Same(*st, PoolStatus{.mode = PoolStatus::Mode::kFail}), "a failed pool reports no figures: " + text);
  std::string again = Format(*st);
  auto back = ParsePoolStatus(again);
  WB_FUZZ_CHECK(back.ok(), "\"" + text + "\" parsed, its reprint \"" + again + "\" does not");
  WB_FUZZ_CHECK(Same(*st, *back), "\"" + text + "\" and its reprint \"" + again + "\" differ");
}

void FuzzThin(const std::string& text) {
  auto st = ParseThinStatus(text);
  if (!st.ok()) return CheckRejection(st.status(), text);
  if (st->failed) WB_FUZZ_CHECK(st->mapped_sectors == 0 && st->highest_mapped_sector == 0, text);
  std::string again = Format(*st);
  auto back = ParseThinStatus(again);
  WB_FUZZ_CHECK(back.ok(), "\"" + text + "\" parsed, its reprint \"" + again + "\" does not");
  WB_FUZZ_CHECK(back->failed == st->failed && back->mapped_sectors == st->mapped_sectors &&
                    back->highest_mapped_sector == st->highest_mapped_sector,
                "\"" + text + "\" and its reprint \"" + again + "\" differ");
}

}  // namespace
}  // namespace warmblock::thinpool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  warmblock::thinpool::FuzzPool(text);
  warmblock::thinpool::FuzzThin(text);
  return 0;
}
