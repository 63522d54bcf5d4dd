// ublk density: memory and threads of one process serving N idle devices
// (default 1000) with a fixed number of reactors. Writes a JSON summary.
//   rss_per_idle_device_kib: (RSS with N devices - RSS with none) / N, target <= 64
//   threads: the process' threads with N devices (reactors + the main thread)
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "warmblock/ublk/ublk.h"

namespace {

// A field of /proc/self/status, e.g. VmRSS (kB) or Threads.
long StatusField(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ":", 0) == 0) return std::atol(line.c_str() + name.size() + 1);
  return -1;
}

// Threads of this process that are ours, not the kernel's io_uring workers
// (iou-wrk-*, which io_uring starts for blocking commands and retires when
// idle).
long OwnThreads() {
  long n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "comm");
    std::string comm;
    std::getline(in, comm);
    if (comm.rfind("iou-", 0) != 0) ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 1000;
  unsigned reactors = 2;
  std::string json_path, dir = "/tmp/warmblock-bench-ublk";
  CLI::App app{
      "ublk_density_bench: memory and threads of many idle ublk devices (root, ublk; tools/bench "
      "ublk-density runs it in the VM)"};
  app.add_option("--devices", devices, "devices to add")->check(CLI::Range(1, 4096));
  app.add_option("--reactors", reactors, "reactor threads")->check(CLI::Range(1u, 256u));
  app.add_option("--json", json_path, "also write the results to FILE");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  warmblock::ublk::ServerOptions server_options;
  server_options.reactors = reactors;
  auto server = warmblock::ublk::Server::Start(server_options);
  if (!server.ok()) {
    std::fprintf(stderr, "bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  long rss0 = StatusField("VmRSS");
  long threads0 = OwnThreads();
  std::vector<std::unique_ptr<warmblock::ublk::Device>> devs;
  std::vector<double> add_ms;
  for (int i = 0; i < devices; ++i) {
    std::string path = dir + "/b" + std::to_string(i);
    std::ofstream(path).close();
    std::filesystem::resize_file(path, 64ull << 20);
    warmblock::ublk::DeviceOptions o;
    o.backing_path = path;
    o.depth = 64;
    auto t0 = std::chrono::steady_clock::now();
    auto d = (*server)->AddDevice(o);
    add_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!d.ok()) {
      std::fprintf(stderr, "bench: device %d: %s\n", i, d.status().ToString().c_str());
      return 1;
    }
    devs.push_back(std::move(d).value());
    if ((i + 1) % 100 == 0) std::fprintf(stderr, "  %d devices\n", i + 1);
  }
  long rss1 = StatusField("VmRSS");
  long threads1 = OwnThreads();
  long all_threads1 = StatusField("Threads");
  std::sort(add_ms.begin(), add_ms.end());
  auto removal_start = std::chrono::steady_clock::now();
  devs.clear();
  double removal_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - removal_start).count();
  std::filesystem::remove_all(dir);
  double per_dev = double(rss1 - rss0) / devices;
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\n  \"devices\": %d,\n  \"reactors\": %u,\n  \"queue_depth\": 64,\n"
                "  \"threads_before\": %ld,\n  \"threads_with_devices\": %ld,\n  \"io_uring_workers\": %ld,\n"
                "  \"rss_kib_before\": %ld,\n  \"rss_kib_with_devices\": %ld,\n"
                "  \"rss_per_idle_device_kib\": %.1f,\n  \"rss_per_idle_device_target_kib\": 64,\n"
                "  \"rss_target_met\": %s,\n  \"add_ms_p50\": %.2f,\n  \"add_ms_p99\": %.2f,\n"
                "  \"remove_all_s\": %.2f\n}\n",
                devices, reactors, threads0, threads1, all_threads1 - threads1, rss0, rss1, per_dev,
                per_dev <= 64 ? "true" : "false", add_ms[add_ms.size() / 2], add_ms[add_ms.size() * 99 / 100],
                removal_s);
  std::fputs(buf, stdout);
  if (!json_path.empty()) std::ofstream(json_path) << buf;
  return 0;
}
