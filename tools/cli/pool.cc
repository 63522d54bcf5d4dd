// warmblock pool status.
#include "output.h"
#include "warmblock/base/units.h"

namespace warmblock::cli {
namespace {

using provisioner::PoolReport;

double Percent(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : 100.0 * static_cast<double>(a) / b; }

void PrintPool(const PoolReport& p) {
  std::printf("data       %s used of %s (%.1f%%)\n", FormatSize(p.data_used_bytes).c_str(),
              FormatSize(p.data_total_bytes).c_str(), Percent(p.data_used_bytes, p.data_total_bytes));
  std::printf("growth     %s (%llu since start-up)\n",
              p.data_limit_bytes > p.data_total_bytes ? ("up to " + FormatSize(p.data_limit_bytes)).c_str()
                                                      : "none, at its limit",
              static_cast<unsigned long long>(p.grow_events));
  std::printf("state      %s\n", p.full ? ("FULL: " + p.full_reason).c_str() : "has space");
  std::printf("metadata   %s used of %s (%.1f%%)\n", FormatSize(p.metadata_used_bytes).c_str(),
              FormatSize(p.metadata_total_bytes).c_str(), Percent(p.metadata_used_bytes, p.metadata_total_bytes));
  std::printf("volumes    %u, %s provisioned (overcommit %.2fx)\n", p.volumes, FormatSize(p.provisioned_bytes).c_str(),
              p.Overcommit());
  std::printf("txid       %llu\n\n", static_cast<unsigned long long>(p.transaction_id));
  std::vector<std::vector<std::string>> rows = {{"CLASS", "FS", "SIZE", "WARM", "TARGET", "HITS", "MISSES"}};
  for (const auto& c : p.classes)
    rows.push_back({c.name, c.fs, FormatSize(c.size_bytes), std::to_string(c.warm), std::to_string(c.target),
                    std::to_string(c.hits), std::to_string(c.misses)});
  PrintTable(rows);
}

}  // namespace

std::vector<Command> AddPoolCommands(CLI::App& app, const Globals& g) {
  auto* pool = app.add_subcommand("pool", "the thin pool");
  pool->require_subcommand(1);
  auto* status = pool->add_subcommand("status", "capacity, usage, overcommit and warm stock per class");
  return {{status, [&g] { return Print<PoolReport>(g, g.Client().Pool(), PrintPool); }}};
}

}  // namespace warmblock::cli
