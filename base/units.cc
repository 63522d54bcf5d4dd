#include "warmblock/base/units.h"

#include <cctype>

namespace warmblock {

Result<uint64_t> ParseSize(const std::string& text, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(what + " \"" + text + "\": " + why + " (write e.g. 512M, 1G, 4096)");
  };
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return bad("too large");
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return bad("not a size");
  std::string suffix = text.substr(i);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.size() > 1 && suffix.back() == 'B') suffix.pop_back();
  if (suffix.size() == 2 && suffix[1] == 'I') suffix.pop_back();
  static const std::string kUnits = "KMGTP";
  unsigned shift = 0;
  if (suffix.size() == 1 && kUnits.find(suffix[0]) != std::string::npos) {
    shift = 10 * (static_cast<unsigned>(kUnits.find(suffix[0])) + 1);
  } else if (!suffix.empty() && suffix != "B") {
    return bad("unknown unit");
  }
  if (shift != 0 && value > (UINT64_MAX >> shift)) return bad("too large");
  return value << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char kUnits[] = "KMGTP";
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 4 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + (unit >= 0 ? std::string(1, kUnits[unit]) : "");
}

}  // namespace warmblock
