// warmblockd end to end against the real kernel (label `kernel`, in the VM):
// the daemon binary with an embedded pool in a scratch directory, driven
// through the `warmblock` CLI and curl on its socket.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernel_env.h"

namespace warmblock {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::RunCapture;

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    Prepare();
    if (!HasFatalFailure() && !IsSkipped()) StartDaemon();
  }

  // A scratch directory and a configuration file for this test.
  void Prepare() {
    WB_REQUIRE_KERNEL_FEATURE(testing::DmThinOrUblkMissing());
    dir_ = testing::ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    socket_ = dir_ + "/api.sock";
    config_ = dir_ + "/warmblockd.toml";
    std::ofstream(config_) << extra_top_ << "state_dir = \"" << dir_ << "/state\"\n"
                           << "socket = \"" << socket_ << "\"\n"
                           << "reactors = 2\n"
                           << "[pool]\ndata_size = \"2G\"\n"
                           << "[warm]\nrefill_concurrency = 2\n"
                           << "[[class]]\nname = \"small\"\nsize = \"64M\"\nwarm = 3\n"
                           << extra_classes_;
  }

  void TearDown() override {
    for (const auto& m : mounts_)
      if (::umount(m.c_str()) != 0) ::umount2(m.c_str(), MNT_DETACH);
    StopDaemon(SIGTERM);
    // Volumes' disks outlive the daemon by design; --teardown removes them
    // and the pool's devices so the next test starts clean.
    if (!dir_.empty()) {
      std::string out;
      EXPECT_EQ(RunCapture({WARMBLOCKD, "--config", config_, "--teardown"}, &out), 0) << Log();
      fs::remove_all(dir_);
    }
  }

  void StartDaemon() {
    log_ = dir_ + "/warmblockd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 2);
      ::execl(WARMBLOCKD, WARMBLOCKD, "--config", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready once /healthz answers 200 (it answers 503 while starting).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out;
      if (RunCapture(
              {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket_, "http://x/healthz"},
              &out) == 0 &&
          out == "200") {
        WaitWarm(deadline);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "warmblockd exited during start-up:\n" << Log();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "warmblockd not healthy after 120 s:\n" << Log();
  }

  // Until every class's warm stock is at its target, so that tests see
  // warm hand-outs deterministically.
  void WaitWarm(std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out;
      if (RunCapture({"curl", "-sf", "--unix-socket", socket_, "http://x/v1/pool"}, &out) == 0) {
        json pool = json::parse(out, nullptr, false);
        bool full = pool.is_object();
        if (full)
          for (const auto& c : pool["classes"]) full &= c["warm"] == c["target"];
        if (full) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the warm stock did not fill:\n" << Log();
  }

  void StopDaemon(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string Log() {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Runs the CLI with this test's socket; returns the exit code.
  int Cli(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {WARMBLOCK_CLI, "--socket", socket_});
    return RunCapture(args, out);
  }

  json CliJson(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    std::string out;
    int rc = Cli(args, &out);
    EXPECT_EQ(rc, 0) << out;
    return json::parse(out, nullptr, false);
  }

  std::string Mount(const std::string& device, const char* fs = "ext4") {
    std::string mnt = dir_ + "/mnt" + std::to_string(mounts_.size());
    fs::create_directories(mnt);
    EXPECT_EQ(::mount(device.c_str(), mnt.c_str(), fs, 0, nullptr), 0) << device << ": " << std::strerror(errno);
    mounts_.push_back(mnt);
    return mnt;
  }

  std::string dir_, socket_, config_, log_;
  std::string extra_classes_;  // appended to the configuration by Prepare
  std::string extra_top_;      // top-level keys, prepended by Prepare
  pid_t pid_ = -1;
  std::vector<std::string> mounts_;
};

TEST_F(Daemon, HandsOutAFormattedVolumeFromTheWarmPool) {
  auto start = std::chrono::steady_clock::now();
  json v = CliJson({"volume", "create", "data", "--class", "small", "--label", "app=pg"});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v["source"], "warm");
  std::string dev = v["device"];
  struct stat st {};
  ASSERT_EQ(::stat(dev.c_str(), &st), 0) << dev;
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  std::string mnt = Mount(dev);
  std::ofstream(mnt + "/hello") << "warm";
  std::printf("create through the CLI (fork+exec+HTTP+hand-out): %.1f ms\n", ms);

  // Same name and spec again: the same volume, 200 not 201.
  json again = CliJson({"volume", "create", "data", "--class", "small"});
  EXPECT_EQ(again["source"], "existing");
  EXPECT_EQ(again["device"], dev);

  json list = CliJson({"volume", "ls", "--label", "app=pg"});
  ASSERT_EQ(list["volumes"].size(), 1u);
  EXPECT_EQ(list["volumes"][0]["name"], "data");
  json pool = CliJson({"pool", "status"});
  EXPECT_EQ(pool["volumes"], 1);
  EXPECT_EQ(pool["classes"][0]["hits"], 1);
  EXPECT_GT(pool["data_total_bytes"].get<uint64_t>(), 0u);

  std::string metrics;
  ASSERT_EQ(RunCapture({"curl", "-sf", "--unix-socket", socket_, "http://x/metrics"}, &metrics), 0);
  EXPECT_NE(metrics.find("warmblock_handout_seconds_count{source=\"warm\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("warmblock_reactor_queues{reactor=\"1\"}"), std::string::npos);
}

TEST_F(Daemon, AMountedVolumeIsNotRemovedAndAnUnmountedOneReturnsItsSpace) {
  json v = CliJson({"volume", "create", "scratch", "--size", "128M"});
  // 128M is no configured class: a 64M warm volume is grown where ublk can
  // resize a live disk, else one is made cold.
  bool update_size =
      CliJson({"daemon", "status"})["ublk_features"].get<std::string>().find("update_size") != std::string::npos;
  EXPECT_EQ(v["source"], update_size ? "grown" : "cold");
  EXPECT_EQ(v["size_bytes"], 128ull << 20);
  std::string mnt = Mount(v["device"]);
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(mnt.c_str(), &sv), 0);
  EXPECT_GT(uint64_t{sv.f_blocks} * sv.f_frsize, 100ull << 20) << "the filesystem fills the 128M volume";
  std::string out;
  EXPECT_EQ(Cli({"volume", "rm", "scratch"}, &out), 4) << "busy: exit code 4";
  ASSERT_EQ(::umount(mnt.c_str()), 0);
  mounts_.clear();
  EXPECT_EQ(Cli({"volume", "rm", "scratch"}, &out), 0);
  EXPECT_EQ(Cli({"volume", "inspect", "scratch"}, &out), 3) << "not found: exit code 3";
  EXPECT_NE(::access(v["device"].get<std::string>().c_str(), F_OK), 0) << "the disk is gone";
}

TEST_F(Daemon, BadInputGetsClearErrorsAndExitCodes) {
  std::string out;
  EXPECT_EQ(Cli({"volume", "create", "../etc", "--class", "small"}, &out), 2);
  EXPECT_EQ(Cli({"volume", "create", "x", "--class", "nope"}, &out), 2);
  EXPECT_EQ(Cli({"volume", "create", "x", "--size", "1G", "--fs", "btrfs"}, &out), 2);
  EXPECT_EQ(Cli({"volume", "rm", "nothing"}, &out), 3);
  std::string code;
  std::string big = dir_ + "/big-body";
  std::ofstream(big) << std::string((512 << 10) + 1, 'x');  // one byte over the body cap
  RunCapture({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket_, "-X", "POST",
              "--data-binary", "@" + big, "http://x/v1/volumes"},
             &code);
  EXPECT_EQ(code, "413");
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  struct group* g = ::getgrgid(st.st_gid);
  ASSERT_NE(g, nullptr);
  EXPECT_STREQ(g->gr_name, "warmblock");
}

TEST_F(Daemon, KillNineAndRestartKeepsVolumesAndTheirDisks) {
  json v = CliJson({"volume", "create", "keep", "--class", "small"});
  std::string dev = v["device"];
  std::string mnt = Mount(dev);
  std::ofstream(mnt + "/before") << "written before the kill";
  ::sync();
  StopDaemon(SIGKILL);
  // The disk stays while no daemon serves it.
  EXPECT_EQ(::access(dev.c_str(), F_OK), 0);
  StartDaemon();
  json again = CliJson({"volume", "inspect", "keep"});
  EXPECT_EQ(again["device"], dev) << "the same disk, adopted";
  std::ifstream in(mnt + "/before");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "written before the kill");
  std::ofstream(mnt + "/after") << "and after";
  ::sync();
  json status = CliJson({"daemon", "status"});
  bool adopted = false;
  for (const auto& line : status["repairs"]) adopted |= line.get<std::string>().find("adopted " + dev) == 0;
  EXPECT_TRUE(adopted) << status.dump(2);
}

// Two daemons on one state directory would adopt or replace each other's
// disks: the second is refused before it reads anything, naming the first.
TEST_F(Daemon, ASecondDaemonOnTheSameStateIsRefusedAndChangesNothing) {
  json v = CliJson({"volume", "create", "keep", "--class", "small"});
  std::string dev = v["device"];
  auto disks = [] {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator("/sys/class/ublk-char")) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  };
  // The stock refills after the hand-out: count the disks once it is full.
  WaitWarm(std::chrono::steady_clock::now() + std::chrono::seconds(120));
  auto before = disks();
  std::string out;
  // (its message is on stderr; a daemon that wrongly starts is stopped)
  int rc = RunCapture({"timeout", "60", "sh", "-c", "exec \"$0\" \"$@\" 2>&1", WARMBLOCKD, "--config", config_,
                       "--socket", dir_ + "/second.sock"},
                      &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("in use by warmblockd daemon pid " + std::to_string(pid_)), std::string::npos) << out;
  EXPECT_NE(::access((dir_ + "/second.sock").c_str(), F_OK), 0) << "the second daemon made no socket";
  EXPECT_EQ(disks(), before) << "no ublk device added or removed";
  EXPECT_EQ(CliJson({"volume", "inspect", "keep"})["device"], dev);
  // Maintenance is refused as well while the daemon runs.
  EXPECT_NE(RunCapture({WARMBLOCKD, "--config", config_, "--teardown"}, &out), 0) << out;
  EXPECT_EQ(disks(), before);
}

// A stopped daemon's disks hold their I/O for the next start, which adopts
// them with nothing lost; if none comes within held_io_timeout_s they are
// removed: held I/O fails instead of hanging, the filesystem can be
// unmounted, and the volume is still there for the next start.
class DaemonWithShortHold : public Daemon {
 protected:
  void SetUp() override {
    extra_top_ = "held_io_timeout_s = 4\n";
    Daemon::SetUp();
  }
};

TEST_F(DaemonWithShortHold, AStopHoldsIoForARestartAndFailsItOnceNoDaemonCame) {
  json v = CliJson({"volume", "create", "held", "--class", "small"});
  std::string dev = v["device"];
  std::string mnt = Mount(dev);
  std::ofstream(mnt + "/before") << "written before the stop";
  ::sync();
  // A restart within the timeout: the same disk, adopted; nothing removed.
  StopDaemon(SIGTERM);
  StartDaemon();
  std::this_thread::sleep_for(std::chrono::seconds(6));
  EXPECT_EQ(CliJson({"volume", "inspect", "held"})["device"], dev);
  EXPECT_EQ(::access(dev.c_str(), F_OK), 0) << "the releaser left the adopted disk alone";
  std::ofstream(mnt + "/after-restart") << "x";
  int dirfd = ::open(mnt.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(::syncfs(dirfd), 0) << "written through the adopted disk: " << std::strerror(errno);
  ::close(dirfd);

  // A stop with no restart: a writer waits, then fails within the bound.
  StopDaemon(SIGTERM);
  auto start = std::chrono::steady_clock::now();
  pid_t writer = ::fork();
  if (writer == 0) {
    int fd = ::open((mnt + "/during").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && ::write(fd, "held", 4) == 4 && ::fsync(fd) == 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  bool ended = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(60) && !ended) {
    ended = ::waitpid(writer, &status, WNOHANG) == writer;
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(ended) << "held I/O still hangs 60 s after the stop:\n" << Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "the held write fails";
  EXPECT_GE(waited, 3.0) << "held for the next daemon first";
  std::printf("held write failed %.1f s after the stop (held_io_timeout_s = 4)\n", waited);
  for (int i = 0; i < 100 && ::access(dev.c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(::access(dev.c_str(), F_OK), 0) << "the disk was removed";
  EXPECT_EQ(::umount(mnt.c_str()), 0) << std::strerror(errno);
  mounts_.clear();
  EXPECT_NE(Log().find("no warmblockd took it over"), std::string::npos) << Log();

  // The volume and what was written before the stop are still there.
  StartDaemon();
  json again = CliJson({"volume", "inspect", "held"});
  EXPECT_EQ(again["state"], "ready");
  std::string mnt2 = Mount(again["device"]);
  std::ifstream in(mnt2 + "/before");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "written before the stop");
  EXPECT_EQ(::access((mnt2 + "/after-restart").c_str(), F_OK), 0);
}

class DaemonWithXfs : public Daemon {
 protected:
  void SetUp() override {
    extra_classes_ = "[[class]]\nname = \"xfs\"\nfs = \"xfs\"\nsize = \"300M\"\nwarm = 1\n";
    Daemon::SetUp();
  }
};

TEST_F(DaemonWithXfs, XfsVolumesAreHandedOutWarmAndGrownOrMadeCold) {
  json warm = CliJson({"volume", "create", "x1", "--class", "xfs"});
  EXPECT_EQ(warm["source"], "warm");
  struct statvfs small {};
  ASSERT_EQ(::statvfs(Mount(warm["device"], "xfs").c_str(), &small), 0);
  // Let the xfs class refill, so that a donor exists.
  WaitWarm(std::chrono::steady_clock::now() + std::chrono::seconds(120));
  // A size between classes: grown from the xfs class where ublk can resize
  // a live disk (xfs_growfs on a temporary mount), else made with mkfs.xfs.
  json other = CliJson({"volume", "create", "x2", "--size", "400M", "--fs", "xfs"});
  bool update_size =
      CliJson({"daemon", "status"})["ublk_features"].get<std::string>().find("update_size") != std::string::npos;
  EXPECT_EQ(other["source"], update_size ? "grown" : "cold") << Log();
  EXPECT_EQ(other["size_bytes"], 400ull << 20);
  struct statvfs big {};
  ASSERT_EQ(::statvfs(Mount(other["device"], "xfs").c_str(), &big), 0);
  EXPECT_GE(uint64_t{big.f_blocks} * big.f_frsize, uint64_t{small.f_blocks} * small.f_frsize + (90ull << 20))
      << "the filesystem of the 400M volume is 100M larger than the 300M one's";
}

// The systemd protocols against real sockets: the daemon serves the
// listening socket it is passed (LISTEN_FDS), reports READY=1 on
// NOTIFY_SOCKET once it serves, pings WATCHDOG=1 while it is healthy, and
// says STOPPING=1 on SIGTERM.
class DaemonUnderSystemd : public Daemon {
 protected:
  void SetUp() override { Prepare(); }
};

TEST_F(DaemonUnderSystemd, NotifyWatchdogAndSocketActivation) {
  std::string notify_path = dir_ + "/notify.sock", activated = dir_ + "/activated.sock";
  int notify = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un na{};
  na.sun_family = AF_UNIX;
  std::strncpy(na.sun_path, notify_path.c_str(), sizeof na.sun_path - 1);
  ASSERT_EQ(::bind(notify, reinterpret_cast<sockaddr*>(&na), sizeof na), 0) << std::strerror(errno);
  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un la{};
  la.sun_family = AF_UNIX;
  std::strncpy(la.sun_path, activated.c_str(), sizeof la.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&la), sizeof la), 0);
  ASSERT_EQ(::listen(listener, 16), 0);

  log_ = dir_ + "/warmblockd.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 2);
    ::dup2(listener, 3);  // SD_LISTEN_FDS_START
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "2000000", 1);
    ::execl(WARMBLOCKD, WARMBLOCKD, "--config", config_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(listener);

  // Collects notify messages until one contains `want` or `seconds` pass.
  std::string seen;
  auto wait_for = [&](const std::string& want, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{notify, POLLIN, 0};
      if (::poll(&p, 1, 200) != 1) continue;
      char buf[4096];
      ssize_t n = ::recv(notify, buf, sizeof buf - 1, 0);
      if (n <= 0) continue;
      std::string msg(buf, static_cast<size_t>(n));
      seen += msg + "\n";
      if (msg.find(want) != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_for("READY=1", 120)) << "notify messages:\n" << seen << "\nlog:\n" << Log();
  EXPECT_NE(seen.find("STATUS="), std::string::npos) << seen;
  std::string out;
  ASSERT_EQ(RunCapture({"curl", "-sf", "--unix-socket", activated, "http://x/healthz"}, &out), 0) << Log();
  EXPECT_NE(out.find("ok"), std::string::npos);
  EXPECT_NE(::access(socket_.c_str(), F_OK), 0) << "the configured socket is not made under socket activation";
  EXPECT_TRUE(wait_for("WATCHDOG=1", 5)) << "no watchdog ping within 5 s (WatchdogSec 2 s):\n" << seen;
  ::kill(pid_, SIGTERM);
  EXPECT_TRUE(wait_for("STOPPING=1", 30)) << seen;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Log();
  ::close(notify);
}

}  // namespace
}  // namespace warmblock
