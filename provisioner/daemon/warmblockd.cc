// warmblockd: hands containers ready, formatted block volumes from a
// pre-warmed thin pool, over an HTTP/JSON API on a Unix socket.
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "warmblock/base/clock.h"
#include "warmblock/base/text.h"
#include "warmblock/base/units.h"
#include "warmblock/provisioner/api.h"
#include "warmblock/provisioner/config.h"
#include "warmblock/provisioner/http_server.h"
#include "warmblock/provisioner/provisioner.h"
#include "warmblock/provisioner/releaser.h"
#include "warmblock/provisioner/state_lock.h"
#include "warmblock/thinpool/kernel.h"
#include "warmblock/ublk/ublk.h"

namespace {

using namespace warmblock;
using namespace warmblock::provisioner;

constexpr const char* kVersion = "0.1.0";

// One line per event on stderr (the journal under systemd). Control
// characters are escaped, whatever a message quotes: one event is one line.
void Log(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "warmblockd: %s\n", EscapeControl(line).c_str());
}

int Fail(const Status& s) {
  Log("fatal: " + s.ToString());
  sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", s.ToString().c_str(), s.sys_errno() != 0 ? s.sys_errno() : 5);
  return 1;
}

// Every served disk holds file descriptors (its ublk char device, its dm
// device), so the common soft limit of 1024 stops a daemon started by hand
// at a few hundred disks. The hard limit is what the administrator allows
// (systemd's unit sets it): take all of it.
void RaiseFdLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
  rlim_t old = r.rlim_cur;
  r.rlim_cur = r.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &r) == 0)
    Log("open file limit raised from " + std::to_string(old) + " to " + std::to_string(r.rlim_cur));
}

// --release-held: see ReleaseHeldDisks.
int RunReleaser(const Config& config) {
  if (config.held_io_timeout_s == 0) return 0;
  ublk::ServerOptions uo;
  uo.reactors = 1;
  uo.owner = OwnerTag(config.state_dir);
  uo.log = Log;
  auto ublk_server = ublk::Server::Start(uo);
  if (!ublk_server.ok()) return Fail(ublk_server.status());
  ReleaseOptions o;
  o.state_dir = config.state_dir;
  o.timeout_s = config.held_io_timeout_s;
  o.ublk = ublk_server->get();
  o.log = Log;
  auto released = ReleaseHeldDisks(o);
  if (!released.ok()) return Fail(released.status());
  if (*released > 0)
    Log("released " + std::to_string(*released) + " disk(s) that waited " + std::to_string(o.timeout_s) +
        " s for a warmblockd; the next start serves their volumes on new disks");
  return 0;
}

// Where this program is, for starting the releaser.
std::string SelfPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "warmblockd: per-container block volumes in about a millisecond, from a pre-warmed device-mapper thin pool\n"
      "served as ublk disks. Runs in the foreground (systemd Type=notify); logs to stderr.",
      "warmblockd"};
  std::string config_path = "/etc/warmblock/warmblockd.toml";
  std::string state_dir, socket, pool_size;
  bool check = false, version = false, teardown = false, release_held = false, no_releaser = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML); a missing default file means defaults");
  app.add_option("--state-dir", state_dir, "overrides state_dir: database, pool catalogue and pool files");
  app.add_option("--socket", socket, "overrides socket: the API's Unix socket");
  app.add_option("--pool-size", pool_size, "overrides pool.data_size of the embedded pool, e.g. 20G");
  app.add_flag("--check-config", check, "validate the configuration, print it, and exit");
  app.add_flag("--teardown", teardown,
               "stop every volume's disk and remove the pool's devices, keeping all state and data, then exit "
               "(for maintenance or uninstall; refused while a volume is mounted; the next start brings all back)");
  app.add_flag("--release-held", release_held,
               "wait held_io_timeout_s for a warmblockd to take the state directory; if none does, remove the "
               "disks the stopped one left (their held I/O fails; volumes and data stay), then exit. A stopping "
               "warmblockd starts this itself; the systemd unit runs it from ExecStopPost instead");
  app.add_flag("--no-releaser", no_releaser,
               "on stopping, do not start the releaser (--release-held): the systemd unit starts it outside the "
               "service, where stopping the service does not kill it");
  app.add_flag("--version", version, "print the version and exit");
  app.footer(
      "Examples:\n"
      "  warmblockd                                  # defaults: /var/lib/warmblock, /run/warmblock/warmblockd.sock\n"
      "  warmblockd --state-dir /tmp/wb --socket /tmp/wb.sock --pool-size 4G\n"
      "  warmblockd --check-config -c /etc/warmblock/warmblockd.toml\n"
      "Then: warmblock volume create NAME --class small   (or curl --unix-socket SOCKET http://x/v1/volumes)");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::printf("warmblockd %s\n", kVersion);
    return 0;
  }

  auto loaded = LoadConfig(config_path, /*missing_ok=*/app.count("--config") == 0);
  if (!loaded.ok()) return Fail(loaded.status());
  Config config = *loaded;
  if (!state_dir.empty()) config.state_dir = state_dir;
  if (!socket.empty()) config.socket = socket;
  if (!pool_size.empty()) {
    auto size = ParseSize(pool_size, "--pool-size");
    if (!size.ok()) return Fail(size.status());
    config.pool_data_bytes = *size;
  }
  if (Status s = ValidateConfig(config); !s.ok()) return Fail(s);
  if (check) {
    std::printf("state_dir = %s\nsocket = %s\npool: %s\n", config.state_dir.c_str(), config.socket.c_str(),
                config.pool_data_device.empty() ? ("embedded, " + FormatSize(config.pool_data_bytes)).c_str()
                                                : config.pool_data_device.c_str());
    for (const auto& c : config.classes)
      std::printf("class %s: %s %s, %u warm\n", c.name.c_str(), c.fs.c_str(), FormatSize(c.size_bytes).c_str(), c.warm);
    return 0;
  }

  // Nothing under the state directory is read before it is ours: a second
  // daemon on the same state would adopt or replace the first one's disks.
  // A releaser holds it only for the moment it works, so it is waited for.
  if (release_held) return RunReleaser(config);
  auto state_lock = StateLock::Acquire(config.state_dir, StateLock::Role::kDaemon, /*wait_ms=*/30000);
  if (!state_lock.ok()) return Fail(state_lock.status());

  // Signals are taken synchronously by the main loop below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RaiseFdLimit();
  sd_notify(0, "STATUS=starting: ublk and the API socket");
  ublk::ServerOptions uo;
  uo.reactors = config.reactors;
  uo.owner = OwnerTag(config.state_dir);
  uo.log = Log;
  auto ublk_server = ublk::Server::Start(uo);
  if (!ublk_server.ok()) return Fail(ublk_server.status());

  // Socket activation: systemd passes the listening socket; else make it.
  // (--teardown serves no API.)
  int listen_fd = -1;
  int passed = teardown ? 0 : sd_listen_fds(1);
  if (passed > 1) return Fail(Status::InvalidArgument("systemd passed more than one socket"));
  if (passed == 1) {
    listen_fd = SD_LISTEN_FDS_START;
    Log("serving the socket systemd passed");
  } else if (!teardown) {
    auto fd = ListenUnix(config.socket, config.socket_group);
    if (!fd.ok()) return Fail(fd.status());
    listen_fd = *fd;
  }
  Api api(DaemonInfo{kVersion, (*ublk_server)->features().Describe(), UnixMs()}, Log);
  std::unique_ptr<HttpServer> http;
  if (listen_fd >= 0) {
    auto started = HttpServer::Start(
        listen_fd, [&api](const HttpRequest& r) { return api.Handle(r); }, Api::kMaxBodyBytes);
    if (!started.ok()) return Fail(started.status());
    http = std::move(started).value();
    Log("API on " + (passed == 1 ? std::string("the socket from systemd") : config.socket) +
        " (503 until the pool is ready)");
  }

  sd_notify(0, "STATUS=starting: opening the pool, repairing state, making golden images");
  auto dm = thinpool::LinuxDeviceMapper();
  auto block = thinpool::LinuxBlockDevices();
  auto mkfs = MkfsFormatter();
  Services services;
  services.kernel = thinpool::Kernel{dm.get(), block.get()};
  services.ublk = ublk_server->get();
  services.formatter = mkfs.get();
  services.log = Log;
  auto start = std::chrono::steady_clock::now();
  auto prov = Provisioner::Start(config, services);
  if (!prov.ok()) return Fail(prov.status());
  if (teardown) {
    Status s = (*prov)->Shutdown();
    return s.ok() ? 0 : Fail(s);
  }
  api.Attach(prov->get(), ublk_server->get());
  sd_notify(0, "STATUS=filling the warm pool");
  bool warm = (*prov)->WaitWarm(120000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  Log(std::string(warm ? "ready" : "ready (warm pool still filling)") + " after " + std::to_string(ms) + " ms");
  sd_notifyf(0, "READY=1\nSTATUS=serving; %zu repairs at start-up", (*prov)->Repairs().size());

  // The event loop: wait for a signal, pinging the watchdog only while the
  // provisioner answers (a deadlocked daemon gets restarted).
  uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  timespec tick{};
  uint64_t period = watchdog ? watchdog_usec / 2 : 5'000'000;
  tick.tv_sec = static_cast<time_t>(period / 1'000'000);
  tick.tv_nsec = static_cast<long>(period % 1'000'000) * 1000;
  for (;;) {
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      Log(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
          "; volumes' disks stay up for the next start to adopt");
      break;
    }
    if (watchdog && (*prov)->Report().ok()) sd_notify(0, "WATCHDOG=1");
  }
  sd_notify(0, "STOPPING=1");
  http.reset();
  prov->reset();
  // Let go of the state first: from now on, a lock the releaser sees is the
  // next daemon's.
  { StateLock done = std::move(state_lock).value(); }
  if (config.held_io_timeout_s > 0 && !no_releaser) {
    // The disks wait for the next start with their I/O held; the releaser
    // bounds that wait (it does nothing once a daemon holds the state).
    std::vector<std::string> argv = {SelfPath(), "--release-held", "--state-dir", config.state_dir};
    if (app.count("--config") != 0) argv.insert(argv.end(), {"--config", config_path});
    Status s = StartReleaser(argv);
    Log(s.ok() ? "disks stay up for the next start; without one in " + std::to_string(config.held_io_timeout_s) +
                     " s (held_io_timeout_s) they are removed and held I/O fails"
               : "could not start the releaser (" + s.ToString() + "): disks wait for the next start however long");
  }
  return 0;
}
