// Volume hand-out latency of the provisioner, in-process against the real
// kernel (tools/bench handout, in the VM): a create served from the warm
// stock, against the paths a request takes without one — a cold snapshot of
// the golden image (stock empty), a smaller warm volume grown in place
// (kernels with ublk UPDATE_SIZE), and a volume made from nothing with mkfs
// (a size no class can give). Each is timed around Provisioner::Create, the
// call the API makes; the HTTP layer is not included. Writes a JSON summary.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "warmblock/provisioner/provisioner.h"
#include "warmblock/thinpool/kernel.h"
#include "warmblock/ublk/ublk.h"

namespace {

using namespace warmblock;
using namespace warmblock::provisioner;

struct Stats {
  std::vector<double> ms;
  std::map<std::string, int> sources;
  double Pct(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
  }
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 32;
  std::string json_path, dir = "/tmp/warmblock-bench-handout";
  CLI::App app{
      "handout_bench: a volume from the warm stock against a cold snapshot and mkfs (root, ublk, dm-thin; "
      "tools/bench handout runs it in the VM)"};
  app.add_option("--reps", reps, "hand-outs per mode")->check(CLI::Range(1, 4096));
  app.add_option("--json", json_path, "also write the results to FILE");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  Config config;
  config.state_dir = dir;
  config.pool_data_bytes = 8ull << 30;
  config.refill_concurrency = 2;
  config.classes = {VolumeClass{"small", "ext4", 64ull << 20, static_cast<unsigned>(reps)},
                    VolumeClass{"nostock", "ext4", 96ull << 20, 0}};
  ublk::ServerOptions so;
  so.reactors = 2;
  so.owner = OwnerTag(dir);
  auto server = ublk::Server::Start(so);
  if (!server.ok()) {
    std::fprintf(stderr, "bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto dm = thinpool::LinuxDeviceMapper();
  auto block = thinpool::LinuxBlockDevices();
  auto mkfs = MkfsFormatter();
  Services services;
  services.kernel = thinpool::Kernel{dm.get(), block.get()};
  services.ublk = server->get();
  services.formatter = mkfs.get();
  auto start = std::chrono::steady_clock::now();
  auto prov = Provisioner::Start(config, services);
  if (!prov.ok()) {
    std::fprintf(stderr, "bench: %s\n", prov.status().ToString().c_str());
    return 1;
  }
  if (!(*prov)->WaitWarm(600000)) {
    std::fprintf(stderr, "bench: the warm stock did not fill in 10 minutes\n");
    return 1;
  }
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "start-up with golden images and %d warm volumes: %.1f s\n", reps, fill_s);

  // mode -> request template; each is asked `n` times under fresh names.
  struct Mode {
    const char* name;
    CreateRequest req;
    int n;
  };
  CreateRequest warm, cold, grow, mkfs_req;
  warm.class_name = "small";
  cold.class_name = "nostock";
  grow.size_bytes = 80ull << 20;      // between the classes: grown from "small" where UPDATE_SIZE exists
  mkfs_req.size_bytes = 48ull << 20;  // below every class: made from nothing
  int few = std::max(4, reps / 4);
  std::vector<Mode> modes = {
      {"warm", warm, reps}, {"cold_snapshot", cold, few}, {"grown_or_mkfs", grow, few}, {"mkfs", mkfs_req, few}};
  std::map<std::string, Stats> stats;
  int seq = 0;
  for (auto& m : modes) {
    // Warm first, before any refill competes; the others after the stock
    // refilled, so that they do not find a donor gone.
    if (std::string(m.name) != "warm") (*prov)->WaitWarm(600000);
    for (int i = 0; i < m.n; ++i) {
      CreateRequest r = m.req;
      r.name = std::string(m.name) + "-" + std::to_string(seq++);
      auto t0 = std::chrono::steady_clock::now();
      auto v = (*prov)->Create(r);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!v.ok()) {
        std::fprintf(stderr, "bench: %s: %s\n", m.name, v.status().ToString().c_str());
        return 1;
      }
      stats[m.name].ms.push_back(ms);
      ++stats[m.name].sources[provisioner::Name(v->source)];
    }
  }
  std::string out = "{\n  \"reps_warm\": " + std::to_string(reps) +
                    ",\n  \"startup_fill_s\": " + std::to_string(fill_s) +
                    ",\n  \"update_size\": " + ((*server)->features().update_size() ? "true" : "false");
  char line[256];
  for (auto& m : modes) {
    const Stats& s = stats[m.name];
    std::string sources;
    for (const auto& [src, n] : s.sources)
      sources += (sources.empty() ? "" : ", ") + ("\"" + src + "\": ") + std::to_string(n);
    std::snprintf(line, sizeof line, ",\n  \"%s\": {\"n\": %zu, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"sources\": {%s}}",
                  m.name, s.ms.size(), s.Pct(0.5), s.Pct(0.99), sources.c_str());
    out += line;
  }
  double warm_p50 = stats["warm"].Pct(0.5);
  std::snprintf(line, sizeof line, ",\n  \"cold_snapshot_over_warm_p50\": %.1f,\n  \"mkfs_over_warm_p50\": %.1f\n}\n",
                stats["cold_snapshot"].Pct(0.5) / warm_p50, stats["mkfs"].Pct(0.5) / warm_p50);
  out += line;
  std::fputs(out.c_str(), stdout);
  if (!json_path.empty()) std::ofstream(json_path) << out;
  Status s = (*prov)->Shutdown();
  if (!s.ok()) std::fprintf(stderr, "bench: shutdown: %s\n", s.ToString().c_str());
  prov->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
