// Container start latency at density (tools/bench startup): N containers
// started by crun, B at a time, each writing once to its volume, for
//   none        no volume (the floor)
//   warm        a warmblock volume from the warm stock (warmblock-oci-hook)
//   cold        warmblock with no warm stock: each volume made on request
//   naive_dm    a hook script: dmsetup create_thin + create, mkfs.ext4, mount
//   naive_loop  a hook script: a loop file, mkfs.ext4, mount
// Latency is from `crun run` (create + start, the createRuntime hook
// included) until the container's process has written to its volume and
// said so on its stdout. Writes a JSON summary and, with --cdf, the latency
// CDFs for bench/startup_cdf.gp.
//
// startup_bench [--containers N] [--baseline-containers M] [--batch B] [--json FILE] [--cdf FILE]
// (M, default N: containers in the cold and naive modes)
// Needs root, crun, busybox, device-mapper thin and ublk.
#include <fcntl.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "warmblock/base/process.h"
#include "warmblock/provisioner/client.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using warmblock::provisioner::ClassReport;
using warmblock::provisioner::PoolReport;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "startup_bench: %s\n", why.c_str());
  std::exit(1);
}

// Starts argv with stdin from `in`, stdout on `out` (-1: on `log`) and
// stderr on `log`.
pid_t Spawn(const std::vector<std::string>& argv, int out, int log, const char* in = "/dev/null") {
  warmblock::Stdio stdio;
  stdio.in = in;
  stdio.out_fd = out >= 0 ? out : log;
  stdio.err_fd = log;
  auto pid = warmblock::Spawn(argv, stdio);
  if (!pid.ok()) Die(pid.status().ToString());
  return *pid;
}

// The contents of `path`, empty if it cannot be read.
std::string Slurp(const fs::path& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// "64M", "1G": the sizes --volume-size takes (MiB or GiB); 0 if malformed.
uint64_t Bytes(const std::string& size) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(size.c_str(), &end, 10);
  if (end == size.c_str() || n == 0) return 0;
  if (std::string(end) == "M") return n << 20;
  if (std::string(end) == "G") return n << 30;
  return 0;
}

int Wait(pid_t pid) { return warmblock::WaitExit(pid); }

class Bench {
 public:
  Bench(int containers, int baseline, int batch, std::string size)
      : n_(containers), baseline_(baseline), batch_(batch), size_(std::move(size)), bytes_(Bytes(size_)) {
    fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
    warmblockd_ = (self / "../provisioner/warmblockd").lexically_normal();
    hook_ = (self / "../tools/warmblock-oci-hook").lexically_normal();
    naive_ = self / "naive_hook.sh";
    const char* scratch = std::getenv("WARMBLOCK_SCRATCH");
    dir_ = fs::path(scratch != nullptr ? scratch : "/tmp") / ("wb-startup-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "logs");
    // Run the hooks from the scratch directory, as a host runs them from its
    // own disk: in the VM the build tree is a 9p share, and loading a binary
    // from it took longer than the hook's whole work.
    fs::create_directories(dir_ / "bin");
    for (fs::path* p : {&hook_, &naive_}) {
      fs::path local = dir_ / "bin" / p->filename();
      fs::copy_file(*p, local);
      *p = local;
    }
    log_ = ::open((dir_ / "bench.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    MakeRootfs();
  }

  ~Bench() {
    StopDaemon();
    if (!naive_pool_.empty()) TearDownNaivePool();
    ::close(log_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs every mode; returns the summary.
  json Run(const std::string& cdf_path) {
    json modes = json::object();
    std::vector<std::pair<std::string, std::vector<double>>> all;
    auto mode = [&](const std::string& name, auto&& setup) {
      setup();
      auto start = Clock::now();
      // "none" is as cheap as it gets, so it always runs at full count: the
      // warm/none ratio then compares like with like.
      std::vector<double> ms = RunMode(name, name == "warm" || name == "none" ? n_ : baseline_);
      double total_s = std::chrono::duration<double>(Clock::now() - start).count();
      modes[name] = Summary(ms, total_s);
      all.emplace_back(name, ms);
    };
    json hook = HookStart(20);
    mode("none", [] {});
    PoolReport before, warm_pool, cold_pool;
    mode("warm", [&] {
      StartDaemon("warm", static_cast<unsigned>(n_) + 1);  // and one for the warm-up container
      before = Pool();
    });
    warm_pool = Pool();
    StopDaemon();
    mode("cold", [&] { StartDaemon("cold", 0); });
    cold_pool = Pool();
    StopDaemon();
    mode("naive_dm", [&] { SetUpNaivePool(); });
    TearDownNaivePool();
    mode("naive_loop", [] {});

    json out;
    struct utsname u {};
    ::uname(&u);
    out["kernel"] = u.release;
    out["containers"] = n_;
    out["baseline_containers"] = baseline_;
    out["batch"] = batch_;
    out["volume_size"] = size_ + " ext4";
    out["modes"] = modes;
    out["hook_start"] = hook;
    ClassReport warm = Class(warm_pool), cold = Class(cold_pool);
    out["warm_stock"] = {{"hits", warm.hits}, {"misses", warm.misses}};
    out["cold_stock"] = {{"hits", cold.hits}, {"misses", cold.misses}};
    // The warm run's pool: every ephemeral volume released, its space back.
    auto mib = [](uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); };
    out["warm_pool"] = {{"data_total_mib", mib(warm_pool.data_total_bytes)},
                        {"data_used_mib_before", mib(before.data_used_bytes)},
                        {"data_used_mib_after", mib(warm_pool.data_used_bytes)},
                        {"volumes_after", warm_pool.volumes}};
    auto p50 = [&](const char* m) { return modes[m]["p50_ms"].get<double>(); };
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    out["warm_overhead_p50"] = ratio(p50("warm"), p50("none"));
    out["naive_over_warm_p50"] = ratio(p50("naive_dm"), p50("warm"));
    out["loop_over_warm_p50"] = ratio(p50("naive_loop"), p50("warm"));
    out["cold_over_warm_p50"] = ratio(p50("cold"), p50("warm"));
    out["targets"] = {{"warm_overhead_p50", "<= 1.10"}, {"naive_over_warm_p50", ">= 20"}};
    out["met"] = {{"warm_overhead_p50", out["warm_overhead_p50"].get<double>() <= 1.10},
                  {"naive_over_warm_p50", out["naive_over_warm_p50"].get<double>() >= 20}};
    if (!cdf_path.empty()) WriteCdf(cdf_path, all);
    return out;
  }

 private:
  // The end of what the tools the bench ran said (the scratch directory
  // dies with the VM).
  std::string LogTail() const {
    std::string log = Slurp(dir_ / "bench.log");
    return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
  }

  void MakeRootfs() {
    fs::path root = dir_ / "rootfs";
    for (const char* d : {"bin", "proc", "dev", "sys", "data"}) fs::create_directories(root / d);
    std::string busybox;
    for (const char* p : {"/bin/busybox", "/usr/bin/busybox"})
      if (fs::exists(p)) busybox = p;
    if (busybox.empty()) Die("busybox not found (apt-get install busybox-static)");
    fs::copy_file(busybox, root / "bin/busybox");
    for (const char* c : {"sh", "echo"}) fs::create_symlink("busybox", root / "bin" / c);
    fs::create_directories(dir_ / "template");
    if (Wait(Spawn({"sh", "-c", "cd '" + (dir_ / "template").string() + "' && crun spec"}, -1, log_)) != 0)
      Die("crun spec failed: " + LogTail());
    std::ifstream f(dir_ / "template/config.json");
    spec_ = json::parse(f);
    spec_["process"]["terminal"] = false;
    spec_["root"] = {{"path", root.string()}, {"readonly", false}};
  }

  // The config of container `id` (the i-th of its mode).
  json Config(const std::string& mode, const std::string& id, int i) const {
    json c = spec_;
    std::string target = mode == "none" ? "/dev/shm/f" : "/data/f";
    c["process"]["args"] = {"sh", "-c", "echo x > " + target + " && echo ready"};
    c["hostname"] = id;
    std::string rootfs_data = (dir_ / "rootfs/data").string();
    std::string naive = naive_.string();
    // crun shows a hook's stderr only where this annotation points.
    c["annotations"] = {{"run.oci.hooks.stderr", (dir_ / "logs" / (id + ".hook")).string()}};
    if (mode == "warm" || mode == "cold") {
      c["annotations"]["io.warmblock.volume/data"] = "path=/data,class=bench";
      json args = {"warmblock-oci-hook", "--socket", socket_, "--timeout", "120"};
      json create = args, poststop = args;
      create.push_back("create");
      poststop.push_back("poststop");
      c["hooks"] = {{"createRuntime", {{{"path", hook_.string()}, {"args", create}}}},
                    {"poststop", {{{"path", hook_.string()}, {"args", poststop}}}}};
    } else if (mode == "naive_dm") {
      std::string thin = std::to_string(i + 1);
      c["hooks"] = {
          {"createRuntime",
           {{{"path", naive},
             {"args", {"naive_hook.sh", "dm-create", naive_pool_, thin, std::to_string(bytes_ / 512), rootfs_data}}}}},
          {"poststop", {{{"path", naive}, {"args", {"naive_hook.sh", "dm-poststop", naive_pool_, thin}}}}}};
    } else if (mode == "naive_loop") {
      std::string image = (dir_ / ("loop-" + std::to_string(i) + ".img")).string();
      c["hooks"] = {
          {"createRuntime",
           {{{"path", naive}, {"args", {"naive_hook.sh", "loop-create", image, std::to_string(bytes_), rootfs_data}}}}},
          {"poststop", {{{"path", naive}, {"args", {"naive_hook.sh", "loop-poststop", image}}}}}};
    }
    return c;
  }

  // Starts container `id` with `crun run` from `bundle`; returns the
  // milliseconds until its "ready", or a negative number on failure.
  double StartOne(const std::string& id, const fs::path& bundle) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) Die("pipe");
    int err = ::open((dir_ / "logs" / (id + ".err")).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    auto t0 = Clock::now();
    pid_t pid = Spawn({"crun", "run", "--bundle", bundle.string(), id}, p[1], err);
    ::close(p[1]);
    double ms = -1;
    std::string seen;
    char buf[256];
    ssize_t got;
    while ((got = ::read(p[0], buf, sizeof buf)) > 0) {
      seen.append(buf, static_cast<size_t>(got));
      if (ms < 0 && seen.find("ready\n") != std::string::npos)
        ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    }
    ::close(p[0]);
    int rc = Wait(pid);  // the container exited; crun ran poststop and deleted it
    ::close(err);
    return rc == 0 ? ms : -1;
  }

  // The hook's own cost: runs of it that find no volume to give, so that
  // all they do is start, parse their arguments and the state, and exit.
  json HookStart(int runs) {
    fs::path state = dir_ / "noop-state.json";
    std::ofstream(state) << json{{"ociVersion", "1.0.2"},   {"id", "noop"},
                                 {"status", "created"},     {"pid", 1},
                                 {"bundle", dir_.string()}, {"annotations", json::object()}}
                                .dump();
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      auto t0 = Clock::now();
      if (Wait(Spawn({hook_.string(), "create"}, -1, log_, state.c_str())) != 0)
        Die("the hook failed with nothing to do: " + LogTail());
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    json s = Summary(ms, 0);
    return {{"runs", runs}, {"p50_ms", s["p50_ms"]}, {"p99_ms", s["p99_ms"]}};
  }

  std::vector<double> RunMode(const std::string& mode, int n) {
    // One container first, not counted: the first start in the VM loads
    // modules (ext4, loop) and fills caches that every later one finds.
    std::string warmup = "wbb-" + mode + "-warmup";
    fs::create_directories(dir_ / "bundles" / warmup);
    std::ofstream(dir_ / "bundles" / warmup / "config.json") << Config(mode, warmup, n).dump();
    if (StartOne(warmup, dir_ / "bundles" / warmup) < 0)
      Die(mode + ": the first container failed: " + Slurp(dir_ / "logs" / (warmup + ".err")) +
          Slurp(dir_ / "logs" / (warmup + ".hook")));
    std::vector<double> ms(static_cast<size_t>(n), -1);
    auto said = Clock::now();
    for (int first = 0; first < n; first += batch_) {
      int last = std::min(n, first + batch_);
      std::vector<std::pair<std::string, fs::path>> batch;
      for (int i = first; i < last; ++i) {
        std::string id = "wbb-" + mode + "-" + std::to_string(i);
        fs::path bundle = dir_ / "bundles" / id;
        fs::create_directories(bundle);
        std::ofstream(bundle / "config.json") << Config(mode, id, i).dump();
        batch.emplace_back(id, bundle);
      }
      std::vector<std::thread> threads;
      for (int i = first; i < last; ++i)
        threads.emplace_back([&, i] { ms[i] = StartOne(batch[i - first].first, batch[i - first].second); });
      for (auto& t : threads) t.join();
      if (last == n || Clock::now() - said > std::chrono::seconds(10)) {
        std::fprintf(stderr, "  %-10s %d/%d containers started\n", mode.c_str(), last, n);
        said = Clock::now();
      }
    }
    auto bad = std::find_if(ms.begin(), ms.end(), [](double v) { return v < 0; });
    if (bad != ms.end()) {
      // The scratch directory dies with the VM: say here what went wrong.
      std::string id = "wbb-" + mode + "-" + std::to_string(bad - ms.begin());
      Die(mode + ": " + std::to_string(std::count_if(bad, ms.end(), [](double v) { return v < 0; })) + " of " +
          std::to_string(n) + " containers failed; the first, " + id + ": " + Slurp(dir_ / "logs" / (id + ".err")) +
          Slurp(dir_ / "logs" / (id + ".hook")));
    }
    return ms;
  }

  static json Summary(std::vector<double> ms, double total_s) {
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
    double sum = 0;
    for (double v : ms) sum += v;
    return {{"p50_ms", pct(0.50)}, {"p99_ms", pct(0.99)},
            {"max_ms", ms.back()}, {"mean_ms", sum / static_cast<double>(ms.size())},
            {"total_s", total_s},  {"containers", ms.size()}};
  }

  void StartDaemon(const std::string& name, unsigned warm) {
    fs::path d = dir_ / ("wb-" + name);
    fs::create_directories(d);
    socket_ = (d / "api.sock").string();
    config_ = (d / "wb.toml").string();
    std::ofstream(config_) << "state_dir = \"" << (d / "state").string() << "\"\n"
                           << "socket = \"" << socket_ << "\"\nreactors = 2\n[pool]\ndata_size = \"8G\"\n"
                           << "[[class]]\nname = \"bench\"\nsize = \"" << size_ << "\"\nwarm = " << warm << "\n";
    daemon_ = Spawn({warmblockd_.string(), "--config", config_}, -1, log_);
    for (int i = 0; i < 6000; ++i) {
      ClassReport cls = Class(Pool());
      if (cls.warm >= warm) {
        std::fprintf(stderr, "  warmblockd (%s): %u volumes warm\n", name.c_str(), warm);
        return;
      }
      if (i % 100 == 99) std::fprintf(stderr, "  warmblockd (%s): %u/%u volumes warm\n", name.c_str(), cls.warm, warm);
      if (::waitpid(daemon_, nullptr, WNOHANG) == daemon_) Die("warmblockd exited: " + LogTail());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Die("the warm stock did not fill in 10 minutes");
  }

  // The running daemon's pool report, an empty one while it does not answer.
  PoolReport Pool() const {
    auto r = warmblock::client::Client(socket_, 10).Pool();
    return r.ok() ? *r : PoolReport{};
  }

  // The "bench" class in a pool report, an empty one if none.
  static ClassReport Class(const PoolReport& pool) {
    for (const auto& c : pool.classes)
      if (c.name == "bench") return c;
    return ClassReport{};
  }

  void StopDaemon() {
    if (daemon_ <= 0) return;
    ::kill(daemon_, SIGTERM);
    Wait(daemon_);
    daemon_ = 0;
    Wait(Spawn({warmblockd_.string(), "--config", config_, "--teardown"}, -1, log_));
    // The pool's files are in the VM's memory: give it back to later modes.
    std::error_code ec;
    fs::remove_all(fs::path(config_).parent_path(), ec);
  }

  void Sh(const std::string& script) {
    if (Wait(Spawn({"sh", "-ec", script}, -1, log_)) != 0) Die("failed: " + script + ": " + LogTail());
  }

  // A thin pool made the way the naive hook's users make one: two sparse
  // files on loop devices, with the same block size and features as
  // warmblock's. Its data device is kept small (2 GiB): the pool hands out
  // freed blocks again only once it has gone round all of them, and the
  // files are in the VM's memory (each mkfs writes a 32 MiB journal).
  void SetUpNaivePool() {
    naive_pool_ = "wbb-naive-pool-" + std::to_string(::getpid());
    std::string d = dir_.string();
    Sh("truncate -s 256M '" + d + "/naive-meta' && truncate -s 2G '" + d + "/naive-data' && " +
       "m=$(losetup -f --show '" + d + "/naive-meta') && dd=$(losetup -f --show '" + d + "/naive-data') && " +
       "dd if=/dev/zero of=$m bs=4096 count=1 2>/dev/null && " + "dmsetup create --noudevsync " + naive_pool_ +
       " --table \"0 $((2 << 21)) thin-pool $m $dd 128 6554 1 " + "error_if_no_space\"");
  }

  void TearDownNaivePool() {
    std::string d = dir_.string();
    Sh("dmsetup remove --noudevsync " + naive_pool_ + " 2>/dev/null || true; for f in naive-meta naive-data; do " +
       "for l in $(losetup -j '" + d + "'/$f | cut -d: -f1); do losetup -d $l; done; done");
    naive_pool_.clear();
  }

  static void WriteCdf(const std::string& path, const std::vector<std::pair<std::string, std::vector<double>>>& all) {
    std::ofstream f(path);
    for (const auto& [mode, v] : all) {
      std::vector<double> ms = v;
      std::sort(ms.begin(), ms.end());
      f << "# " << mode << "\n" << ms.front() << " 0\n";  // the step up from zero
      for (size_t i = 0; i < ms.size(); ++i) f << ms[i] << " " << static_cast<double>(i + 1) / ms.size() << "\n";
      f << "\n\n";
    }
  }

  int n_, baseline_, batch_;  // containers with no or warm volumes, in the other modes, started at once
  std::string size_;          // of each volume, as the config says it ("1G")
  uint64_t bytes_;
  fs::path warmblockd_, hook_, naive_, dir_;
  int log_ = -1;
  json spec_;  // crun's default config, with our root filesystem
  std::string socket_, config_, naive_pool_;
  pid_t daemon_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int containers = 100, baseline = 0, batch = 10;
  std::string json_path, cdf_path, size = "1G";
  CLI::App app{
      "startup_bench: container start latency with crun: no volume, warm, cold and naive hook scripts "
      "(root, ublk, dm-thin, crun; tools/bench startup runs it in the VM)"};
  app.add_option("--containers", containers, "containers with warm volumes (1-2000)");
  app.add_option("--baseline-containers", baseline, "containers per other mode (default: --containers)");
  app.add_option("--batch", batch, "containers started at a time (1-500)");
  app.add_option("--volume-size", size, "volume size, 16M-64G");
  app.add_option("--json", json_path, "also write the results to FILE");
  app.add_option("--cdf", cdf_path, "write the latency CDFs (data for gnuplot) to FILE");
  CLI11_PARSE(app, argc, argv);
  if (baseline == 0) baseline = containers;
  if (containers < 1 || containers > 2000 || batch < 1 || batch > 500) Die("--containers is 1-2000 and --batch 1-500");
  if (Bytes(size) < (16ull << 20) || Bytes(size) > (64ull << 30)) Die("--volume-size is 16M-64G, e.g. 1G or 64M");
  if (::geteuid() != 0) Die("needs root");
  json out;
  {
    Bench bench(containers, baseline, batch, size);
    out = bench.Run(cdf_path);
  }
  std::printf("%s\n", out.dump(2).c_str());
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
