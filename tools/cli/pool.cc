// warmblock pool status.
#include <cstdio>
#include <memory>

#include "output.h"
#include "warmblock/base/units.h"

namespace warmblock::cli {
namespace {

using json = nlohmann::json;

double Percent(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : 100.0 * static_cast<double>(a) / b; }

void PrintPool(const json& p) {
  std::printf("data       %s used of %s (%.1f%%)\n", FormatSize(p.at("data_used_bytes")).c_str(),
              FormatSize(p.at("data_total_bytes")).c_str(), Percent(p.at("data_used_bytes"), p.at("data_total_bytes")));
  // Older daemons do not report growth.
  if (p.contains("data_limit_bytes")) {
    uint64_t limit = p.at("data_limit_bytes"), total = p.at("data_total_bytes");
    std::printf("growth     %s (%llu since start-up)\n",
                limit > total ? ("up to " + FormatSize(limit)).c_str() : "none, at its limit",
                static_cast<unsigned long long>(p.at("grow_events").get<uint64_t>()));
    std::printf("state      %s\n",
                p.at("full").get<bool>() ? ("FULL: " + p.at("full_reason").get<std::string>()).c_str() : "has space");
  }
  std::printf("metadata   %s used of %s (%.1f%%)\n", FormatSize(p.at("metadata_used_bytes")).c_str(),
              FormatSize(p.at("metadata_total_bytes")).c_str(),
              Percent(p.at("metadata_used_bytes"), p.at("metadata_total_bytes")));
  std::printf("volumes    %d, %s provisioned (overcommit %.2fx)\n", p.at("volumes").get<int>(),
              FormatSize(p.at("provisioned_bytes")).c_str(), p.at("overcommit").get<double>());
  std::printf("txid       %llu\n\n", static_cast<unsigned long long>(p.at("transaction_id").get<uint64_t>()));
  std::vector<std::vector<std::string>> rows = {{"CLASS", "FS", "SIZE", "WARM", "TARGET", "HITS", "MISSES"}};
  for (const auto& c : p.at("classes"))
    rows.push_back({c.at("name"), c.at("fs"), FormatSize(c.at("size_bytes")), std::to_string(c.at("warm").get<int>()),
                    std::to_string(c.at("target").get<int>()), std::to_string(c.at("hits").get<uint64_t>()),
                    std::to_string(c.at("misses").get<uint64_t>())});
  PrintTable(rows);
}

}  // namespace

std::vector<Command> AddPoolCommands(CLI::App& app, const Globals& g) {
  auto* pool = app.add_subcommand("pool", "the thin pool");
  pool->require_subcommand(1);
  auto* status = pool->add_subcommand("status", "capacity, usage, overcommit and warm stock per class");
  return {{status, [&g] { return Show(g, "/v1/pool", PrintPool); }}};
}

}  // namespace warmblock::cli
