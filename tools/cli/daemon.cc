// warmblock daemon status.
#include <cstdio>

#include "output.h"

namespace warmblock::cli {
namespace {

using json = nlohmann::json;

void PrintDaemon(const json& d) {
  std::printf("warmblockd %s, up %llds\nublk features: %s\n", d.at("version").get<std::string>().c_str(),
              static_cast<long long>(d.at("uptime_s").get<int64_t>()),
              d.at("ublk_features").get<std::string>().c_str());
  int i = 0;
  for (const auto& re : d.at("reactors"))
    std::printf("reactor %d: %d queues (%d zero-copy), %llu requests\n", i++, re.at("queues").get<int>(),
                re.at("zero_copy_queues").get<int>(),
                static_cast<unsigned long long>(re.at("requests").get<uint64_t>()));
  std::printf("start-up repairs: %zu\n", d.at("repairs").size());
  for (const auto& line : d.at("repairs")) std::printf("  %s\n", line.get<std::string>().c_str());
}

}  // namespace

std::vector<Command> AddDaemonCommands(CLI::App& app, const Globals& g) {
  auto* daemon = app.add_subcommand("daemon", "warmblockd itself");
  daemon->require_subcommand(1);
  auto* status = daemon->add_subcommand("status", "version, uptime, start-up repairs, ublk reactors");
  return {{status, [&g] { return Show(g, "/v1/daemon", PrintDaemon); }}};
}

}  // namespace warmblock::cli
