#include "output.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace warmblock::cli {
namespace {

int PrintJson(const client::Reply& r, const std::function<void(const nlohmann::json&)>& print) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  try {
    if (j.is_discarded()) throw std::runtime_error("not JSON");
    print(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warmblock: unexpected answer from warmblockd (HTTP %ld): %s\n", r.status, e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int Failed(const client::Reply& r) {
  if (!r.error.empty()) {
    std::fprintf(stderr, "warmblock: %s\n", r.error.c_str());
    return 1;
  }
  std::fprintf(stderr, "warmblock: %s (HTTP %ld)\n", r.Message().c_str(), r.status);
  switch (r.status) {
    case 400:
      return 2;
    case 404:
      return 3;
    case 409:
      return 4;
    case 507:
      return 5;
    default:
      return 1;
  }
}

int Show(const Globals& g, const std::string& path, const std::function<void(const nlohmann::json&)>& print) {
  client::Reply r = client::Call(g.socket, "GET", path);
  if (r.status != 200) return Failed(r);
  if (g.json) {
    std::printf("%s", r.body.c_str());
    return 0;
  }
  return PrintJson(r, print);
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace warmblock::cli
