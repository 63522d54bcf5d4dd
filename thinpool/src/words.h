// Splitting device-mapper's table and status lines, shared by the pool and
// the status parsers of this library (not part of its interface).
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace warmblock::thinpool {

// The whitespace-separated words of `s`.
inline std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace warmblock::thinpool
