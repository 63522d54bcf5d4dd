#include "warmblock/base/text.h"

#include <cstdio>

namespace warmblock {
namespace {

void Append(std::string* out, char c, bool quote) {
  unsigned char u = static_cast<unsigned char>(c);
  switch (c) {
    case '\n':
      *out += "\\n";
      return;
    case '\t':
      *out += "\\t";
      return;
    case '\r':
      *out += "\\r";
      return;
    case '\\':
      *out += "\\\\";
      return;
    case '"':
      *out += quote ? "\\\"" : "\"";
      return;
    default:
      break;
  }
  if (u < 0x20 || u == 0x7f) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    *out += buf;
    return;
  }
  *out += c;
}

}  // namespace

std::string EscapeControl(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) Append(&out, c, /*quote=*/false);
  return out;
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (char c : s) Append(&out, c, /*quote=*/true);
  out += '"';
  return out;
}

}  // namespace warmblock
