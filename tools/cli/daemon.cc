// warmblock daemon status.
#include "output.h"

namespace warmblock::cli {
namespace {

using provisioner::DaemonReport;

void PrintDaemon(const DaemonReport& d) {
  std::printf("warmblockd %s, up %llds\nublk features: %s\n", d.version.c_str(), static_cast<long long>(d.uptime_s),
              d.ublk_features.c_str());
  for (size_t i = 0; i < d.reactors.size(); ++i) {
    const auto& r = d.reactors[i];
    std::printf("reactor %zu: %u queues (%u zero-copy), %llu requests\n", i, r.queues, r.zero_copy_queues,
                static_cast<unsigned long long>(r.requests));
  }
  std::printf("start-up repairs: %zu\n", d.repairs.size());
  for (const auto& line : d.repairs) std::printf("  %s\n", line.c_str());
}

}  // namespace

std::vector<Command> AddDaemonCommands(CLI::App& app, const Globals& g) {
  auto* daemon = app.add_subcommand("daemon", "warmblockd itself");
  daemon->require_subcommand(1);
  auto* status = daemon->add_subcommand("status", "version, uptime, start-up repairs, ublk reactors");
  return {{status, [&g] { return Print<DaemonReport>(g, g.Client().Daemon(), PrintDaemon); }}};
}

}  // namespace warmblock::cli
