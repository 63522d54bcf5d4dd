// ublk against the real driver (label `kernel`, run in the VM).
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "kernel_env.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;
constexpr uint64_t kMiB = 1ull << 20;

std::string UblkMissing() {
  if (::geteuid() != 0) return "not root";
  if (::access("/dev/ublk-control", R_OK | W_OK) != 0) return "no /dev/ublk-control";
  return "";
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

std::unique_ptr<char, FreeDeleter> Aligned(size_t n) {
  void* p = nullptr;
  if (::posix_memalign(&p, 4096, n) != 0 || p == nullptr) std::abort();
  return std::unique_ptr<char, FreeDeleter>(static_cast<char*>(p));
}

// Fills `buf` with a pattern derived from (seed, offset) so that any block
// read back can be checked on its own.
void Pattern(char* buf, size_t n, uint64_t seed, uint64_t offset) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = (seed * 0x9e3779b97f4a7c15ull) ^ (offset + i);
    std::memcpy(buf + i, &v, 8);
  }
}

// Writes `bytes` at random 4 KiB-aligned offsets of `dev` (O_DIRECT), then
// reads each back. Returns an empty string or what went wrong.
std::string WriteVerify(const std::string& dev, uint64_t dev_bytes, uint64_t seed, int ios, size_t io_bytes) {
  int fd = ::open(dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return "open " + dev + ": " + std::strerror(errno);
  auto w = Aligned(io_bytes), r = Aligned(io_bytes);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> offsets;
  std::string err;
  for (int i = 0; i < ios && err.empty(); ++i) {
    uint64_t off = (rng() % (dev_bytes / io_bytes)) * io_bytes;
    Pattern(w.get(), io_bytes, seed, off);
    if (::pwrite(fd, w.get(), io_bytes, static_cast<off_t>(off)) != static_cast<ssize_t>(io_bytes))
      err = "write at " + std::to_string(off) + ": " + std::strerror(errno);
    offsets.push_back(off);
  }
  if (err.empty() && ::fsync(fd) != 0) err = std::string("fsync: ") + std::strerror(errno);
  for (uint64_t off : offsets) {
    if (!err.empty()) break;
    Pattern(w.get(), io_bytes, seed, off);
    if (::pread(fd, r.get(), io_bytes, static_cast<off_t>(off)) != static_cast<ssize_t>(io_bytes)) {
      err = "read at " + std::to_string(off) + ": " + std::strerror(errno);
    } else if (std::memcmp(w.get(), r.get(), io_bytes) != 0) {
      // A later write may have hit the same offset; the last one wins.
      bool overwritten = std::count(offsets.begin(), offsets.end(), off) > 1;
      if (!overwritten) err = "data mismatch at " + std::to_string(off);
    }
  }
  ::close(fd);
  return err;
}

// Runs fio with one job per device: random writes, then a crc32c verify of
// everything written. Returns fio's exit code (0: every block verified).
int FioVerify(const std::vector<std::string>& devices, const std::string& size) {
  std::vector<std::string> args = {"fio",
                                   "--ioengine=libaio",
                                   "--direct=1",
                                   "--rw=randwrite",
                                   "--bs=4k",
                                   "--iodepth=16",
                                   "--size=" + size,
                                   "--verify=crc32c",
                                   "--verify_fatal=1",
                                   "--do_verify=1",
                                   "--output-format=terse"};
  for (size_t i = 0; i < devices.size(); ++i) {
    args.push_back("--name=job" + std::to_string(i));
    args.push_back("--filename=" + devices[i]);
  }
  return warmblock::testing::RunCommand(args);
}

std::vector<unsigned> Queues(const Server& server) {
  std::vector<unsigned> out;
  for (const ReactorStats& r : server.Reactors()) out.push_back(r.queues);
  return out;
}

class UblkKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_KERNEL_FEATURE(UblkMissing());
    dir_ = warmblock::testing::ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    ServerOptions server_options;
    server_options.reactors = 2;
    server_options.log = [](const std::string& line) { std::fprintf(stdout, "%s\n", line.c_str()); };
    auto s = Server::Start(server_options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string Backing(const std::string& name, uint64_t bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path).close();
    fs::resize_file(path, bytes);
    return path;
  }

  // A device with default options and `backend` over a fresh backing file;
  // fails the test and returns nullptr on error.
  std::unique_ptr<Device> AddOn(const std::string& name, uint64_t bytes, BackendKind backend) {
    DeviceOptions o;
    o.backing_path = Backing(name + (backend == BackendKind::kLibaio ? "-aio" : "-uring"), bytes);
    o.backend = backend;
    auto dev = server_->AddDevice(o);
    EXPECT_TRUE(dev.ok()) << dev.status().ToString();
    return dev.ok() ? std::move(dev).value() : nullptr;
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(UblkKernel, FeaturesAreProbed) {
  const Features& f = server_->features();
  EXPECT_TRUE(f.user_copy());
  EXPECT_TRUE(f.user_recovery());
  std::printf("ublk features: %s\n", f.Describe().c_str());
}

TEST_F(UblkKernel, DataWrittenThroughTheDiskReachesTheBackingFile) {
  DeviceOptions o;
  o.backing_path = Backing("b0", 64 * kMiB);
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->size_bytes(), 64 * kMiB);
  struct stat st {};
  ASSERT_EQ(::stat((*dev)->disk_path().c_str(), &st), 0) << (*dev)->disk_path();
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(WriteVerify((*dev)->disk_path(), 64 * kMiB, 1, 200, 64 * 1024), "");

  // The same bytes are in the backing file, at the same offset.
  int dfd = ::open((*dev)->disk_path().c_str(), O_RDWR | O_DIRECT);
  ASSERT_GE(dfd, 0);
  auto w = Aligned(4096);
  Pattern(w.get(), 4096, 77, 8192);
  ASSERT_EQ(::pwrite(dfd, w.get(), 4096, 8192), 4096);
  ASSERT_EQ(::fsync(dfd), 0);
  ::close(dfd);
  std::ifstream in(o.backing_path, std::ios::binary);
  in.seekg(8192);
  std::string got(4096, '\0');
  in.read(got.data(), 4096);
  EXPECT_EQ(std::memcmp(got.data(), w.get(), 4096), 0);
  ASSERT_TRUE((*dev)->Remove().ok());
  EXPECT_NE(::access((*dev)->disk_path().c_str(), F_OK), 0) << "the disk is gone after Remove";
}

TEST_F(UblkKernel, FioVerifiesOneDevicePerBackEnd) {
  for (BackendKind backend : {BackendKind::kIoUring, BackendKind::kLibaio}) {
    auto dev = AddOn("fio", 64 * kMiB, backend);
    ASSERT_TRUE(dev);
    EXPECT_EQ(FioVerify({dev->disk_path()}, "32M"), 0) << "fio verify failed on " << dev->disk_path();
  }
}

TEST_F(UblkKernel, FioVerifiesThirtyTwoDevicesAtOnce) {
  std::vector<std::unique_ptr<Device>> devs;
  std::vector<std::string> paths;
  for (int i = 0; i < 32; ++i) {
    DeviceOptions o;
    o.backing_path = Backing("fio" + std::to_string(i), 8 * kMiB);
    o.depth = 16;
    auto d = server_->AddDevice(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    paths.push_back((*d)->disk_path());
    devs.push_back(std::move(d).value());
  }
  EXPECT_EQ(FioVerify(paths, "4M"), 0);
}

TEST_F(UblkKernel, LibaioBackendKeepsData) {
  DeviceOptions o;
  o.backing_path = Backing("aio", 64 * kMiB);
  o.backend = BackendKind::kLibaio;
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(WriteVerify((*dev)->disk_path(), 64 * kMiB, 11, 200, 65536), "");
}

TEST_F(UblkKernel, ThirtyTwoDevicesOnTwoReactorsKeepTheirData) {
  std::vector<std::unique_ptr<Device>> devs;
  for (int i = 0; i < 32; ++i) {
    DeviceOptions o;
    o.backing_path = Backing("d" + std::to_string(i), 16 * kMiB);
    o.depth = 16;
    o.backend = i % 2 ? BackendKind::kLibaio : BackendKind::kIoUring;  // both back ends side by side
    auto d = server_->AddDevice(o);
    ASSERT_TRUE(d.ok()) << i << ": " << d.status().ToString();
    devs.push_back(std::move(d).value());
  }
  auto load = Queues(*server_);
  ASSERT_EQ(load.size(), 2u);
  EXPECT_EQ(load[0], 16u);
  EXPECT_EQ(load[1], 16u);
  std::vector<std::string> errors(devs.size());
  std::vector<std::thread> writers;
  for (size_t i = 0; i < devs.size(); ++i)
    writers.emplace_back([&, i] { errors[i] = WriteVerify(devs[i]->disk_path(), 16 * kMiB, 100 + i, 50, 16384); });
  for (auto& t : writers) t.join();
  for (size_t i = 0; i < devs.size(); ++i) EXPECT_EQ(errors[i], "") << devs[i]->disk_path();
  devs.clear();
  load = Queues(*server_);
  EXPECT_EQ(load[0] + load[1], 0u);
}

TEST_F(UblkKernel, TwoHundredFiftySixDevicesCreatedUsedAndDeleted) {
  std::vector<std::unique_ptr<Device>> devs;
  for (int i = 0; i < 256; ++i) {
    DeviceOptions o;
    o.backing_path = Backing("m" + std::to_string(i), 4 * kMiB);
    o.depth = 8;
    auto d = server_->AddDevice(o);
    ASSERT_TRUE(d.ok()) << i << ": " << d.status().ToString();
    devs.push_back(std::move(d).value());
  }
  auto load = Queues(*server_);
  EXPECT_EQ(load, (std::vector<unsigned>{128, 128})) << "no new threads: the same 2 reactors serve all";
  for (size_t i = 0; i < devs.size(); i += 1)
    ASSERT_EQ(WriteVerify(devs[i]->disk_path(), 4 * kMiB, 1000 + i, 2, 4096), "") << devs[i]->disk_path();
  for (auto& d : devs) {
    std::string path = d->disk_path();
    Status s = d->Remove();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << path;
  }
}

TEST_F(UblkKernel, RemovalWhileIoIsInFlightEndsWithErrorsNotAHang) {
  DeviceOptions o;
  o.backing_path = Backing("busy", 64 * kMiB);
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  std::atomic<int> writes{0};
  std::atomic<int> error{0};
  std::string path = (*dev)->disk_path();
  std::thread writer([&] {
    int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
      error = errno;
      return;
    }
    auto w = Aligned(65536);
    Pattern(w.get(), 65536, 3, 0);
    for (uint64_t off = 0;; off = (off + 65536) % (64 * kMiB)) {
      if (::pwrite(fd, w.get(), 65536, static_cast<off_t>(off)) != 65536) {
        error = errno;
        break;
      }
      ++writes;
    }
    ::close(fd);
  });
  while (writes < 20 && error == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ((*dev)->Remove().code(), server_->features().safe_stop() ? Code::kBusy : Code::kOk)
      << "without force, an open disk stays where the kernel can tell";
  Status s = (*dev)->Remove(/*force=*/true);
  writer.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(error.load(), 0) << "the writer must see an error once the disk is gone";
  EXPECT_LT(secs, 30.0);
  std::printf("removed after %d writes in %.2f s; writer got: %s\n", writes.load(), secs, std::strerror(error));
}

// Starts tests/kernel/ublk_serve on `backing` (with `mode` if not empty);
// returns its pid and device id.
std::pair<pid_t, int> SpawnServer(const std::string& backing, const std::string& mode = "") {
  int fds[2];
  if (::pipe(fds) != 0) return {-1, -1};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execl(WARMBLOCK_UBLK_SERVE, WARMBLOCK_UBLK_SERVE, backing.c_str(), mode.empty() ? nullptr : mode.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  char line[32] = {};
  int id = -1;
  if (::poll(&p, 1, 30000) == 1 && ::read(fds[0], line, sizeof line - 1) > 0) id = std::atoi(line);
  ::close(fds[0]);
  return {pid, id};
}

TEST_F(UblkKernel, AKilledServerIsAdoptedAndNoIoIsLost) {
  ASSERT_TRUE(server_->features().recovery_reissue());
  std::string backing = Backing("adopt", 64 * kMiB);
  auto [pid, id] = SpawnServer(backing);
  ASSERT_GT(pid, 0);
  ASSERT_GE(id, 0) << "ublk_serve did not report a device";
  std::string disk = "/dev/ublkb" + std::to_string(id);
  constexpr int kWrites = 300;
  constexpr size_t kIo = 65536;
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    int fd = ::open(disk.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
      errors = 1000;
      return;
    }
    auto w = Aligned(kIo);
    for (int i = 0; i < kWrites; ++i) {
      Pattern(w.get(), kIo, 42, uint64_t(i) * kIo);
      if (::pwrite(fd, w.get(), kIo, static_cast<off_t>(i * kIo)) != static_cast<ssize_t>(kIo)) ++errors;
      ++done;
    }
    if (::fsync(fd) != 0) ++errors;
    ::close(fd);
  });
  while (done < 50 && errors == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  int at_kill = done;
  EXPECT_EQ(::access(disk.c_str(), F_OK), 0) << "the disk survives its server";

  auto adopted = server_->AdoptDevice(static_cast<uint32_t>(id), backing);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  writer.join();
  EXPECT_EQ(errors.load(), 0) << "writes in flight at the kill must be reissued, not failed";
  EXPECT_LT(at_kill, kWrites) << "the kill must land while writes are still going";

  int fd = ::open(disk.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto w = Aligned(kIo), r = Aligned(kIo);
  int bad = 0;
  for (int i = 0; i < kWrites; ++i) {
    Pattern(w.get(), kIo, 42, uint64_t(i) * kIo);
    if (::pread(fd, r.get(), kIo, static_cast<off_t>(i * kIo)) != static_cast<ssize_t>(kIo) ||
        std::memcmp(w.get(), r.get(), kIo) != 0)
      ++bad;
  }
  ::close(fd);
  EXPECT_EQ(bad, 0) << "blocks that do not read back after adoption";
  std::printf("killed the server after %d of %d writes; adopted; 0 errors expected, got %d\n", at_kill, kWrites,
              errors.load());
  EXPECT_TRUE((*adopted)->Remove().ok());
}

// Starts `argv` with stdout and stderr to `log`; returns its pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The acceptance test: fio writes with crc32c verification through
// a device whose server is killed with SIGKILL mid-run; another process
// adopts the device, and fio completes with every block verified and no
// I/O error. Once with the best copy mode, once with the buffered one.
TEST_F(UblkKernel, FioSurvivesKillNineOfItsServer) {
  ASSERT_TRUE(server_->features().recovery_reissue());
  for (std::string mode : {"", "buffered"}) {
    SCOPED_TRACE("mode " + (mode.empty() ? std::string("auto") : mode));
    std::string backing = Backing("kill9" + mode, 64 * kMiB);
    auto [pid, id] = SpawnServer(backing, mode);
    ASSERT_GT(pid, 0);
    ASSERT_GE(id, 0) << "ublk_serve did not report a device";
    std::string disk = "/dev/ublkb" + std::to_string(id);
    std::string log = dir_ + "/fio" + mode + ".log";
    pid_t fio =
        Spawn({"fio", "--name=kill9", "--filename=" + disk, "--ioengine=libaio", "--direct=1", "--rw=randwrite",
               "--bs=16k", "--iodepth=16", "--size=48M", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1"},
              log);
    ASSERT_GT(fio, 0);
    // Kill once fio's writes are under way: 8 of its 48 MiB reached the
    // backing file.
    auto written = [&] {
      struct stat st {};
      return ::stat(backing.c_str(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
    };
    for (int i = 0; i < 600 && written() < 8 * kMiB; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int status = 0;
    ASSERT_EQ(::waitpid(fio, &status, WNOHANG), 0) << "fio ended before the kill:\n" << Slurp(log);
    ASSERT_GE(written(), 8 * kMiB) << "fio wrote too little in 30 s";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ::waitpid(pid, &status, 0);
    auto adopted = server_->AdoptDevice(static_cast<uint32_t>(id), backing);
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    ASSERT_EQ(::waitpid(fio, &status, 0), fio);
    std::string out = Slurp(log);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_NE(out.find("err= 0"), std::string::npos) << out;
    EXPECT_EQ(out.find("verify:"), std::string::npos) << "fio reported a verify failure:\n" << out;
    DeviceStats st = (*adopted)->stats();
    EXPECT_GT(st.reads, 0u) << "the verify pass ran through the adopted device";
    EXPECT_LT(st.writes, 48u * 1024 / 16) << "some of fio's 3072 writes were served before the kill";
    EXPECT_GT(st.writes, 0u) << "and some after the adoption";
    EXPECT_EQ(st.errors, 0u);
    std::printf("%s: adopted /dev/ublkb%d (%s) under fio; after adoption %lu reads, %lu writes, %lu errors\n",
                mode.empty() ? "auto" : mode.c_str(), id, CopyModeName((*adopted)->copy_mode()),
                static_cast<unsigned long>(st.reads), static_cast<unsigned long>(st.writes),
                static_cast<unsigned long>(st.errors));
    EXPECT_TRUE((*adopted)->Remove().ok());
  }
}

TEST_F(UblkKernel, EveryCopyModeKeepsDataUnderFio) {
  const bool zc = server_->features().auto_buf_reg();
  for (CopyMode mode : {CopyMode::kZeroCopy, CopyMode::kUserCopy, CopyMode::kBuffered}) {
    SCOPED_TRACE(CopyModeName(mode));
    DeviceOptions o;
    o.backing_path = Backing(std::string("mode-") + CopyModeName(mode), 64 * kMiB);
    o.copy = mode;
    auto dev = server_->AddDevice(o);
    if (mode == CopyMode::kZeroCopy && !zc) {
      // The LTS kernel: refused with the reason; the fallbacks below run.
      EXPECT_EQ(dev.status().code(), Code::kUnsupported) << dev.status().ToString();
      continue;
    }
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    EXPECT_EQ((*dev)->copy_mode(), mode);
    EXPECT_EQ(FioVerify({(*dev)->disk_path()}, "32M"), 0) << "fio verify failed";
    DeviceStats st = (*dev)->stats();
    EXPECT_GT(st.writes, 0u);
    EXPECT_GT(st.reads, 0u);
    EXPECT_GE(st.write_bytes, 32 * kMiB);
    EXPECT_EQ(st.errors, 0u);
  }
}

TEST_F(UblkKernel, AutoModeIsTheBestTheKernelAndBackEndAllow) {
  const bool zc = server_->features().auto_buf_reg();
  auto uring = AddOn("auto", 16 * kMiB, BackendKind::kIoUring);
  auto aio = AddOn("auto", 16 * kMiB, BackendKind::kLibaio);
  ASSERT_TRUE(uring && aio);
  EXPECT_EQ(uring->copy_mode(), zc ? CopyMode::kZeroCopy : CopyMode::kUserCopy);
  EXPECT_EQ(aio->copy_mode(), CopyMode::kUserCopy) << "libaio cannot use ring-registered pages";
  unsigned zc_queues = 0;
  for (const ReactorStats& r : server_->Reactors()) zc_queues += r.zero_copy_queues;
  EXPECT_EQ(zc_queues, zc ? 1u : 0u);
}

TEST_F(UblkKernel, ZeroCopyFallsBackWhenTheBufferTableIsFull) {
  if (!server_->features().auto_buf_reg()) {
    // No table to fill on this kernel; asking for zero copy says why.
    DeviceOptions o;
    o.backing_path = Backing("no-zc", 4 * kMiB);
    o.copy = CopyMode::kZeroCopy;
    auto dev = server_->AddDevice(o);
    EXPECT_EQ(dev.status().code(), Code::kUnsupported);
    EXPECT_NE(dev.status().ToString().find("AUTO_BUF_REG"), std::string::npos) << dev.status().ToString();
    return;
  }
  ServerOptions so;
  so.reactors = 1;
  auto one = Server::Start(so);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  // 16384 table entries: four devices of depth 4096 fill them.
  std::vector<std::unique_ptr<Device>> devs;
  for (int i = 0; i < 4; ++i) {
    DeviceOptions o;
    o.backing_path = Backing("full" + std::to_string(i), 4 * kMiB);
    o.depth = 4096;
    auto d = (*one)->AddDevice(o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ((*d)->copy_mode(), CopyMode::kZeroCopy);
    devs.push_back(std::move(d).value());
  }
  DeviceOptions o;
  o.backing_path = Backing("full-next", 4 * kMiB);
  auto next = (*one)->AddDevice(o);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ((*next)->copy_mode(), CopyMode::kUserCopy);
  o.copy = CopyMode::kZeroCopy;
  EXPECT_EQ((*one)->AddDevice(o).status().code(), Code::kNoSpace);
  EXPECT_EQ(WriteVerify((*next)->disk_path(), 4 * kMiB, 5, 20, 4096), "");
  EXPECT_EQ(WriteVerify(devs[3]->disk_path(), 4 * kMiB, 6, 20, 4096), "");
  // Removing one gives its entries back.
  devs.pop_back();
  auto again = (*one)->AddDevice(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->copy_mode(), CopyMode::kZeroCopy);
}

TEST_F(UblkKernel, RequestsWaitForBuffersAtTheCapInsteadOfFailing) {
  ServerOptions so;
  so.reactors = 1;
  so.max_buffer_bytes = 1;  // one request's buffer at a time
  auto tight = Server::Start(so);
  ASSERT_TRUE(tight.ok()) << tight.status().ToString();
  for (CopyMode mode : {CopyMode::kUserCopy, CopyMode::kBuffered}) {
    SCOPED_TRACE(CopyModeName(mode));
    DeviceOptions o;
    o.backing_path = Backing(std::string("cap-") + CopyModeName(mode), 32 * kMiB);
    o.copy = mode;
    auto dev = (*tight)->AddDevice(o);
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    EXPECT_EQ(FioVerify({(*dev)->disk_path()}, "8M"), 0);
    EXPECT_EQ((*dev)->stats().errors, 0u);
  }
  ReactorStats r = (*tight)->Reactors()[0];
  EXPECT_GT(r.waits_for_buffer, 0u) << "fio at iodepth 16 must have hit a cap of one buffer";
  EXPECT_EQ(r.buffer_bytes, 0u) << "every lent buffer came back";
}

TEST_F(UblkKernel, AnAbandonedDeviceIsListedForItsOwnerOnlyAndDeleted) {
  std::string backing = Backing("abandoned", 16 * kMiB);
  auto [pid, id] = SpawnServer(backing);
  ASSERT_GT(pid, 0);
  ASSERT_GE(id, 0);
  auto listed = [](Server& s, int id) {
    auto ids = s.ListAbandoned();
    return std::find(ids.begin(), ids.end(), static_cast<uint32_t>(id)) != ids.end();
  };
  EXPECT_FALSE(listed(*server_, id)) << "its server is alive";
  EXPECT_EQ(server_->DeleteAbandoned(static_cast<uint32_t>(id)).code(), Code::kBusy);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ServerOptions other;
  other.reactors = 1;
  other.owner = 42;
  auto stranger = Server::Start(other);
  ASSERT_TRUE(stranger.ok());
  // The kernel notices the dead server asynchronously.
  for (int i = 0; i < 100 && !listed(*server_, id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(listed(*server_, id));
  EXPECT_FALSE(listed(**stranger, id)) << "another owner's device is never listed";
  EXPECT_EQ((*stranger)->DeleteAbandoned(static_cast<uint32_t>(id)).code(), Code::kInvalidArgument);
  EXPECT_EQ((*stranger)->AdoptDevice(static_cast<uint32_t>(id), backing).status().code(), Code::kInvalidArgument)
      << "another owner's device is never adopted";
  Status s = server_->DeleteAbandoned(static_cast<uint32_t>(id));
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::string disk = "/dev/ublkb" + std::to_string(id);
  for (int i = 0; i < 100 && ::access(disk.c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(::access(disk.c_str(), F_OK), 0) << "the disk is gone";
  EXPECT_FALSE(listed(*server_, id));
}

TEST_F(UblkKernel, AdoptingALiveOrUnknownDeviceFailsClearly) {
  DeviceOptions o;
  o.backing_path = Backing("live", 16 * kMiB);
  o.recovery = false;
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(server_->AdoptDevice((*dev)->id(), o.backing_path).status().code(), Code::kUnsupported);
  EXPECT_EQ(server_->AdoptDevice(4000, o.backing_path).status().code(), Code::kNotFound);
}

TEST_F(UblkKernel, RemoveRefusesAnOpenDiskWhereTheKernelCanTell) {
  DeviceOptions o;
  o.backing_path = Backing("open", 16 * kMiB);
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  int fd = ::open((*dev)->disk_path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Status s = (*dev)->Remove();
  if (server_->features().safe_stop()) {
    EXPECT_EQ(s.code(), Code::kBusy) << s.ToString();
    ::close(fd);
    EXPECT_TRUE((*dev)->Remove().ok());
  } else {
    // Without TRY_STOP_DEV a plain opener cannot be seen: the stop goes on.
    EXPECT_TRUE(s.ok()) << s.ToString();
    ::close(fd);
  }
  EXPECT_NE(::access((*dev)->disk_path().c_str(), F_OK), 0);
}

// The daemon spawns mkfs and tune2fs while other threads delete volumes:
// until it execs, a child holds copies of every fd the server had open at
// the fork, and none of them may make an idle disk look open (a refused
// delete leaves the volume behind; CI's churn test saw it once in 2,000).
// The children here linger before exiting, as a slow exec would.
TEST_F(UblkKernel, RemoveOfAnIdleDiskIsNotRefusedWhileTheServerForks) {
  std::atomic<bool> stop{false};
  std::atomic<int> spawned{0};
  auto spawner = [&] {
    while (!stop.load()) {
      pid_t pid = ::fork();
      if (pid == 0) {
        struct timespec linger = {0, 5 * 1000 * 1000};
        ::nanosleep(&linger, nullptr);
        ::_exit(0);
      }
      if (pid < 0) continue;
      int status = 0;
      ::waitpid(pid, &status, 0);
      spawned.fetch_add(1);
    }
  };
  std::thread a(spawner), b(spawner);
  int refused = 0;
  std::string first;
  constexpr int kCycles = 150;
  for (int i = 0; i < kCycles; ++i) {
    auto dev = AddOn("spawn", 4 * kMiB, BackendKind::kIoUring);
    if (dev == nullptr) break;
    Status s = dev->Remove();
    if (!s.ok()) {
      if (first.empty()) first = s.ToString();
      ++refused;
      (void)dev->Remove(/*force=*/true);
    }
  }
  stop = true;
  a.join();
  b.join();
  std::printf("%d removes, %d refused, %d children forked meanwhile\n", kCycles, refused, spawned.load());
  EXPECT_GT(spawned.load(), kCycles);
  EXPECT_EQ(refused, 0) << first;
}

TEST_F(UblkKernel, FlushAndFuaWritesSucceedOnBothBackEnds) {
  for (BackendKind backend : {BackendKind::kIoUring, BackendKind::kLibaio}) {
    auto dev = AddOn("flush", 16 * kMiB, backend);
    ASSERT_TRUE(dev);
    int fd = ::open(dev->disk_path().c_str(), O_RDWR | O_DIRECT | O_DSYNC);  // O_DSYNC: FUA writes
    ASSERT_GE(fd, 0);
    auto w = Aligned(4096);
    Pattern(w.get(), 4096, 5, 0);
    EXPECT_EQ(::pwrite(fd, w.get(), 4096, 0), 4096) << std::strerror(errno);
    EXPECT_EQ(::fsync(fd), 0) << std::strerror(errno);
    ::close(fd);
  }
}

TEST_F(UblkKernel, DiscardPunchesHolesInTheBackingFile) {
  DeviceOptions o;
  o.backing_path = Backing("disc", 16 * kMiB);
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  ASSERT_EQ(WriteVerify((*dev)->disk_path(), 4 * kMiB, 9, 64, 65536), "");
  struct stat before {};
  ASSERT_EQ(::stat(o.backing_path.c_str(), &before), 0);
  EXPECT_GT(before.st_blocks, 0);
  int fd = ::open((*dev)->disk_path().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  uint64_t range[2] = {0, 16 * kMiB};
  EXPECT_EQ(::ioctl(fd, BLKDISCARD, range), 0) << std::strerror(errno);
  ::close(fd);
  struct stat after {};
  ASSERT_EQ(::stat(o.backing_path.c_str(), &after), 0);
  EXPECT_LT(after.st_blocks, before.st_blocks);
}

// A block-device backing takes BLKDISCARD, which the reactors hand to a
// worker thread: the discard must still reach the backing and complete,
// and the same reactors must serve another disk meanwhile.
TEST_F(UblkKernel, DiscardReachesABlockDeviceBacking) {
  WB_REQUIRE_KERNEL_FEATURE(warmblock::testing::DmThinMissing());  // loop devices
  std::string file = Backing("loopdisc", 16 * kMiB);
  std::string loop;
  ASSERT_EQ(warmblock::testing::RunCapture({"losetup", "--find", "--show", file}, &loop), 0);
  loop.erase(loop.find_last_not_of('\n') + 1);
  struct Detach {
    std::string dev;
    ~Detach() { (void)warmblock::testing::RunCommand({"losetup", "-d", dev}); }
  } detach{loop};
  DeviceOptions o;
  o.backing_path = loop;
  o.queues = 2;  // one on each reactor
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  o.backing_path = Backing("beside", 16 * kMiB);
  auto beside = server_->AddDevice(o);
  ASSERT_TRUE(beside.ok()) << beside.status().ToString();
  ASSERT_EQ(WriteVerify((*dev)->disk_path(), 16 * kMiB, 11, 64, 65536), "");
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  ASSERT_GT(before.st_blocks, 0);
  int fd = ::open((*dev)->disk_path().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::thread discards([&] {
    for (uint64_t off = 0; off < 16 * kMiB; off += kMiB) {
      uint64_t range[2] = {off, kMiB};
      EXPECT_EQ(::ioctl(fd, BLKDISCARD, range), 0) << std::strerror(errno);
    }
  });
  EXPECT_EQ(WriteVerify((*beside)->disk_path(), 16 * kMiB, 12, 64, 4096), "") << "I/O beside the discards";
  discards.join();
  ::close(fd);
  EXPECT_GE((*dev)->stats().discards, 16u);
  ASSERT_TRUE((*dev)->Remove().ok());
  struct stat after {};
  ASSERT_EQ(::stat(file.c_str(), &after), 0);
  EXPECT_LT(after.st_blocks, before.st_blocks);
}

TEST_F(UblkKernel, ALiveDiskGrowsWhereTheKernelHasUpdateSize) {
  DeviceOptions o;
  o.backing_path = Backing("grow", 16 * kMiB);
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  fs::resize_file(o.backing_path, 32 * kMiB);
  Status s = (*dev)->Resize(32 * kMiB);
  if (!server_->features().update_size()) {
    EXPECT_EQ(s.code(), Code::kUnsupported) << s.ToString();
    return;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ((*dev)->size_bytes(), 32 * kMiB);
  int fd = ::open((*dev)->disk_path().c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  uint64_t bytes = 0;
  ASSERT_EQ(::ioctl(fd, BLKGETSIZE64, &bytes), 0);
  ::close(fd);
  EXPECT_EQ(bytes, 32 * kMiB) << "the kernel sees the new size";
  EXPECT_EQ(WriteVerify((*dev)->disk_path(), 32 * kMiB, 21, 50, 65536), "") << "the grown part holds data";
  EXPECT_EQ((*dev)->Resize(8 * kMiB).code(), Code::kInvalidArgument) << "no shrinking";
}

TEST_F(UblkKernel, BadParametersGetClearErrors) {
  DeviceOptions o;
  o.backing_path = Backing("bad", 16 * kMiB);
  for (auto edit : {+[](DeviceOptions& d) { d.depth = 0; }, +[](DeviceOptions& d) { d.depth = 5000; },
                    +[](DeviceOptions& d) { d.logical_block = 3000; }}) {
    DeviceOptions b = o;
    edit(b);
    auto dev = server_->AddDevice(b);
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.status().code(), Code::kInvalidArgument) << dev.status().ToString();
  }
  DeviceOptions missing = o;
  missing.backing_path = dir_ + "/no-such-file";
  EXPECT_EQ(server_->AddDevice(missing).status().code(), Code::kNotFound);
  DeviceOptions odd = o;
  odd.size_bytes = 0;
  odd.backing_path = Backing("odd", 4096 + 100);
  EXPECT_EQ(server_->AddDevice(odd).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace warmblock::ublk
