// Thin-pool provisioning: warmblock's in-process path against the naive ones,
// measured in one run on one pool (run in the VM by `tools/bench thinpool`).
//   (a) create_thin + activate: thinpool library vs `dmsetup message` +
//       `dmsetup create` (two process starts, as scripts and older drivers do)
//   (b) a ready formatted volume: snapshot of an ext4 golden image + activate
//       vs create + activate + `mkfs.ext4` of a fresh 1 GiB thin
// Each repetition times one operation; the JSON summary holds the medians
// and the ratios against the project's targets (bench/RESULTS.md).
#include <benchmark/benchmark.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "warmblock/thinpool/pool.h"

namespace {

using warmblock::Status;
namespace tp = warmblock::thinpool;
constexpr uint64_t kGiB = 1ull << 30;

int Exec(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (std::FILE* null = std::freopen("/dev/null", "w", stdout)) (void)null;
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Check(benchmark::State& state, const Status& s) {
  if (s.ok()) return true;
  state.SkipWithError(s.ToString().c_str());
  return false;
}

struct Env {
  tp::DeviceMapper* dm;
  tp::Pool* pool;
  uint32_t golden = 0;
  int seq = 0;
  std::string Name(const char* prefix) { return prefix + std::to_string(seq++); }
};

void InprocCreateActivate(benchmark::State& state, Env* env) {
  std::string name = env->Name("in");
  uint32_t id = 0;
  for (auto _ : state) {
    auto t = env->pool->CreateThin({name, kGiB, std::nullopt});
    if (!Check(state, t.status())) return;
    id = t->id;
    if (!Check(state, env->pool->Activate(id).status())) return;
  }
  (void)env->pool->Deactivate(id);
  (void)env->pool->DeleteThin(id);
}

void CliCreateActivate(benchmark::State& state, Env* env) {
  // Ids far above what the pool's allocator hands out in this run.
  uint32_t id = 1'000'000 + static_cast<uint32_t>(env->seq);
  std::string name = env->Name("cli");
  auto pool_info = env->dm->Info(env->pool->name());
  if (!Check(state, pool_info.status())) return;
  std::string table = "0 " + std::to_string(kGiB / 512) + " thin " + std::to_string(pool_info->major) + ":" +
                      std::to_string(pool_info->minor) + " " + std::to_string(id);
  for (auto _ : state) {
    if (Exec({"dmsetup", "message", env->pool->name(), "0", "create_thin " + std::to_string(id)}) != 0 ||
        Exec({"dmsetup", "create", name, "--table", table}) != 0) {
      state.SkipWithError("dmsetup failed");
      break;
    }
  }
  (void)env->dm->Remove(name);
  (void)env->dm->Message(env->pool->name(), "delete " + std::to_string(id));
}

void SnapshotActivate(benchmark::State& state, Env* env) {
  std::string name = env->Name("snap");
  uint32_t id = 0;
  for (auto _ : state) {
    auto t = env->pool->Snapshot(env->golden, {name, 0, std::nullopt});
    if (!Check(state, t.status())) return;
    id = t->id;
    if (!Check(state, env->pool->Activate(id).status())) return;
  }
  (void)env->pool->Deactivate(id);
  (void)env->pool->DeleteThin(id);
}

void CreateMkfs(benchmark::State& state, Env* env) {
  std::string name = env->Name("mkfs");
  uint32_t id = 0;
  for (auto _ : state) {
    auto t = env->pool->CreateThin({name, kGiB, std::nullopt});
    if (!Check(state, t.status())) return;
    id = t->id;
    auto a = env->pool->Activate(id);
    if (!Check(state, a.status())) return;
    if (Exec({"mkfs.ext4", "-q", "-F", a->path}) != 0) state.SkipWithError("mkfs.ext4 failed");
  }
  (void)env->pool->Deactivate(id);
  (void)env->pool->DeleteThin(id);
}

// Collects the median of each benchmark (ms) while printing as usual.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  MedianReporter() : ConsoleReporter(OO_Tabular) {}  // no colour: output goes to logs
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median" && !r.error_occurred)
        medians[r.run_name.function_name] = r.GetAdjustedRealTime();
      if (r.error_occurred) errors.push_back(r.run_name.function_name + ": " + r.error_message);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> medians;
  std::vector<std::string> errors;
};

std::string KernelRelease() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string json_path, dir = "/tmp/warmblock-bench-thinpool";
  int reps = 25;
  CLI::App app{
      "thinpool_bench: in-process create+activate against the dmsetup CLI, a golden snapshot against "
      "mkfs (root, dm-thin; tools/bench thinpool runs it in the VM). Google Benchmark flags come first."};
  app.add_option("--json", json_path, "also write the results to FILE");
  app.add_option("--dir", dir, "scratch directory for the pools");
  app.add_option("--reps", reps, "volumes per measurement")->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);

  auto dm = tp::LinuxDeviceMapper();
  auto block = tp::LinuxBlockDevices();
  std::filesystem::remove_all(dir);
  tp::PoolOptions options;
  options.name = "wb-bench";
  options.state_dir = dir;
  options.data_bytes = 8 * kGiB;
  auto pool = tp::Pool::Create(options, {dm.get(), block.get()});
  if (!pool.ok()) {
    std::fprintf(stderr, "bench: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  Env env{dm.get(), pool->get()};
  // The golden image: formatted once, then never active again.
  auto golden = env.pool->CreateThin({"golden-ext4-1g", kGiB, std::nullopt});
  auto ga = golden.ok() ? env.pool->Activate(golden->id) : warmblock::Result<tp::Activation>(golden.status());
  if (!ga.ok() || Exec({"mkfs.ext4", "-q", "-F", ga->path}) != 0 || !env.pool->Deactivate(golden->id).ok()) {
    std::fprintf(stderr, "bench: cannot prepare the golden image: %s\n", ga.status().ToString().c_str());
    return 1;
  }
  env.golden = golden->id;

  for (auto [name, fn] :
       {std::pair{"inproc_create_activate", &InprocCreateActivate},
        std::pair{"cli_create_activate", &CliCreateActivate}, std::pair{"snapshot_activate", &SnapshotActivate},
        std::pair{"create_activate_mkfs_ext4", &CreateMkfs}}) {
    benchmark::RegisterBenchmark(name, fn, &env)
        ->Iterations(1)
        ->Repetitions(reps)
        ->ReportAggregatesOnly(true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Status destroyed = env.pool->Destroy();
  if (!destroyed.ok()) std::fprintf(stderr, "bench: %s\n", destroyed.ToString().c_str());

  for (const auto& e : reporter.errors) std::fprintf(stderr, "bench: error: %s\n", e.c_str());
  auto& m = reporter.medians;
  const char* needed[] = {"inproc_create_activate", "cli_create_activate", "snapshot_activate",
                          "create_activate_mkfs_ext4"};
  for (const char* n : needed) {
    if (!m.count(n)) {
      std::fprintf(stderr, "bench: no result for %s\n", n);
      return 1;
    }
  }
  double inproc = m["inproc_create_activate"], cli = m["cli_create_activate"];
  double snap = m["snapshot_activate"], mkfs = m["create_activate_mkfs_ext4"];
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\n"
                "  \"kernel\": \"%s\",\n"
                "  \"repetitions\": %d,\n"
                "  \"inproc_create_ms_p50\": %.3f,\n"
                "  \"cli_create_ms_p50\": %.3f,\n"
                "  \"cli_over_inproc\": %.2f,\n"
                "  \"cli_over_inproc_target\": 10,\n"
                "  \"cli_over_inproc_met\": %s,\n"
                "  \"snapshot_activate_ms_p50\": %.3f,\n"
                "  \"mkfs_ms_p50\": %.3f,\n"
                "  \"mkfs_over_snapshot\": %.2f,\n"
                "  \"mkfs_over_snapshot_target\": 50,\n"
                "  \"mkfs_over_snapshot_met\": %s\n"
                "}\n",
                KernelRelease().c_str(), reps, inproc, cli, cli / inproc, cli / inproc >= 10 ? "true" : "false", snap,
                mkfs, mkfs / snap, mkfs / snap >= 50 ? "true" : "false");
  std::fputs(buf, stdout);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << buf;
    if (!out) {
      std::fprintf(stderr, "bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}
