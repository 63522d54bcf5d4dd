// thinpool against the real device-mapper (label `kernel`, run in the VM).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "kernel_env.h"
#include "warmblock/thinpool/pool.h"

namespace warmblock::thinpool {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;
constexpr uint64_t kMiB = 1ull << 20;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<char, FreeDeleter>;

AlignedBuf Aligned(size_t bytes, char fill) {
  void* p = nullptr;
  if (::posix_memalign(&p, 4096, bytes) != 0 || p == nullptr) std::abort();
  std::memset(p, fill, bytes);
  return AlignedBuf(static_cast<char*>(p));
}

// Writes `bytes` of `fill` at `offset` with O_DIRECT; returns 0 or errno.
int WriteDirect(const std::string& dev, uint64_t offset, size_t bytes, char fill, bool sync = false) {
  int fd = ::open(dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC | (sync ? O_SYNC : 0));
  if (fd < 0) return errno;
  auto buf = Aligned(bytes, fill);
  ssize_t n = ::pwrite(fd, buf.get(), bytes, static_cast<off_t>(offset));
  int err = n == static_cast<ssize_t>(bytes) ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  return err;
}

// Reads one byte-pattern block back; returns the first byte or -1.
int ReadByte(const std::string& dev, uint64_t offset) {
  int fd = ::open(dev.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return -1;
  auto buf = Aligned(4096, 0);
  ssize_t n = ::pread(fd, buf.get(), 4096, static_cast<off_t>(offset));
  ::close(fd);
  return n == 4096 ? static_cast<unsigned char>(buf.get()[0]) : -1;
}

// Loop devices bound to files under `dir` (from sysfs).
int LoopsBoundUnder(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/sys/block")) {
    std::ifstream in(e.path() / "loop" / "backing_file");
    std::string file;
    if (in && std::getline(in, file) && file.rfind(dir, 0) == 0) ++n;
  }
  return n;
}

class ThinpoolKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_KERNEL_FEATURE(warmblock::testing::DmThinMissing());
    dm_ = LinuxDeviceMapper();
    block_ = LinuxBlockDevices();
    dir_ = warmblock::testing::ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    name_ = "wbk" + std::to_string(::getpid() % 100000) + "-" + std::to_string(counter_++);
  }
  void TearDown() override {
    if (pool_) {
      for (const Thin& t : pool_->List()) (void)pool_->Deactivate(t.id);
      Status s = pool_->Destroy();
      EXPECT_TRUE(s.ok()) << s.ToString();
      pool_.reset();
    }
    if (!dir_.empty()) {
      EXPECT_EQ(LoopsBoundUnder(dir_), 0) << "destroying the pool must release its loop devices";
      fs::remove_all(dir_);
    }
  }

  PoolOptions Options(uint64_t data_bytes = 512 * kMiB) {
    PoolOptions o;
    o.name = name_;
    o.state_dir = dir_;
    o.data_bytes = data_bytes;
    return o;
  }
  Kernel K() { return Kernel{dm_.get(), block_.get()}; }
  void MakePool(const PoolOptions& o) {
    auto p = Pool::Create(o, K());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pool_ = std::move(p).value();
  }
  PoolStatus StatusNow() {
    auto st = pool_->GetStatus();
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? *st : PoolStatus{};
  }

  static inline int counter_ = 0;
  std::unique_ptr<DeviceMapper> dm_;
  std::unique_ptr<BlockDevices> block_;
  std::string dir_;
  std::string name_;
  std::unique_ptr<Pool> pool_;
};

TEST_F(ThinpoolKernel, PoolOnLoopFilesReportsStatus) {
  MakePool(Options());
  PoolStatus st = StatusNow();
  EXPECT_EQ(st.transaction_id, 0u);
  EXPECT_EQ(st.data_total, 512 * kMiB / (64 * 1024));
  EXPECT_EQ(st.data_used, 0u);
  EXPECT_GT(st.metadata_total, 0u);
  EXPECT_EQ(st.mode, PoolStatus::Mode::kReadWrite);
  EXPECT_FALSE(st.needs_check);
  EXPECT_EQ(LoopsBoundUnder(dir_), 2);
}

TEST_F(ThinpoolKernel, TwoHundredThinsCreatedWrittenAndDeletedReturnTheirSpace) {
  MakePool(Options(1024 * kMiB));
  constexpr int kThins = 200;
  std::vector<uint32_t> ids;
  for (int i = 0; i < kThins; ++i) {
    auto t = pool_->CreateThin({"v" + std::to_string(i), 64 * kMiB, std::nullopt});
    ASSERT_TRUE(t.ok()) << i << ": " << t.status().ToString();
    ids.push_back(t->id);
    auto a = pool_->Activate(t->id);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    // one 64 KiB pool block per thin, at a different offset each
    ASSERT_EQ(WriteDirect(a->path, (i % 32) * kMiB, 64 * 1024, static_cast<char>('A' + i % 26)), 0);
    EXPECT_EQ(ReadByte(a->path, (i % 32) * kMiB), 'A' + i % 26);
  }
  PoolStatus full = StatusNow();
  EXPECT_GE(full.data_used, static_cast<uint64_t>(kThins));
  EXPECT_EQ(full.transaction_id, static_cast<uint64_t>(kThins));
  for (uint32_t id : ids) {
    ASSERT_TRUE(pool_->Deactivate(id).ok());
    Status s = pool_->DeleteThin(id);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  PoolStatus empty = StatusNow();
  EXPECT_EQ(empty.data_used, 0u) << "deleting thins returns their blocks";
  EXPECT_EQ(empty.transaction_id, 2u * kThins);
  EXPECT_TRUE(pool_->List().empty());
}

TEST_F(ThinpoolKernel, SnapshotOfAFormattedImageSeesTheOriginAndDiverges) {
  MakePool(Options());
  auto golden = pool_->CreateThin({"golden", 64 * kMiB, std::nullopt});
  ASSERT_TRUE(golden.ok());
  auto g = pool_->Activate(golden->id);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(warmblock::testing::RunCommand({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", g->path}), 0);
  std::string mnt = dir_ + "/mnt";
  fs::create_directories(mnt);
  ASSERT_EQ(::mount(g->path.c_str(), mnt.c_str(), "ext4", 0, nullptr), 0) << std::strerror(errno);
  std::ofstream(mnt + "/hello") << "from golden";
  ASSERT_EQ(::umount(mnt.c_str()), 0);
  ASSERT_TRUE(pool_->Deactivate(golden->id).ok());

  auto snap = pool_->Snapshot(golden->id, {"vol", 0, std::nullopt});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto s = pool_->Activate(snap->id);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(::mount(s->path.c_str(), mnt.c_str(), "ext4", 0, nullptr), 0) << std::strerror(errno);
  std::string text;
  std::getline(std::ifstream(mnt + "/hello"), text);
  EXPECT_EQ(text, "from golden");
  std::ofstream(mnt + "/hello") << "from snapshot";
  ASSERT_EQ(::umount(mnt.c_str()), 0);
  ASSERT_TRUE(pool_->Deactivate(snap->id).ok());

  g = pool_->Activate(golden->id);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(::mount(g->path.c_str(), mnt.c_str(), "ext4", MS_RDONLY, nullptr), 0);
  std::getline(std::ifstream(mnt + "/hello"), text);
  EXPECT_EQ(text, "from golden") << "writes to the snapshot must not reach the origin";
  ASSERT_EQ(::umount(mnt.c_str()), 0);
}

TEST_F(ThinpoolKernel, SnapshotOfAnActiveOriginIsConsistent) {
  MakePool(Options());
  auto origin = pool_->CreateThin({"o", 16 * kMiB, std::nullopt});
  ASSERT_TRUE(origin.ok());
  auto a = pool_->Activate(origin->id);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(WriteDirect(a->path, 0, 4096, 'o'), 0);
  auto snap = pool_->Snapshot(origin->id, {"s", 0, std::nullopt});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto info = dm_->Info(a->dm_name);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->suspended) << "the origin is resumed after the snapshot";
  ASSERT_EQ(WriteDirect(a->path, 0, 4096, 'n'), 0);
  auto s = pool_->Activate(snap->id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(ReadByte(s->path, 0), 'o');
  EXPECT_EQ(ReadByte(a->path, 0), 'n');
}

TEST_F(ThinpoolKernel, ReopenAfterAllHandlesClosedFindsEveryVolume) {
  MakePool(Options());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool_->CreateThin({"v" + std::to_string(i), 8 * kMiB, std::nullopt}).ok());
  ASSERT_TRUE(pool_->DeleteThin(3).ok());
  auto a = pool_->Activate(1);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(WriteDirect(a->path, 0, 4096, 'k', true), 0);
  uint64_t txid = pool_->transaction_id();
  pool_.reset();  // the daemon exits; the pool and the active thin stay

  auto p = Pool::Open(dir_, K());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  pool_ = std::move(p).value();
  EXPECT_EQ(pool_->transaction_id(), txid);
  EXPECT_EQ(StatusNow().transaction_id, txid);
  EXPECT_EQ(pool_->List().size(), 4u);
  EXPECT_TRUE(pool_->ActiveDevice(1).ok());
  auto t = pool_->CreateThin({"after", 8 * kMiB, std::nullopt});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->id, 6u) << "ids continue after the last one handed out, none reused";
}

TEST_F(ThinpoolKernel, ReopenAfterThePoolDeviceIsGoneReloadsItFromItsFiles) {
  MakePool(Options());
  auto t = pool_->CreateThin({"keep", 8 * kMiB, std::nullopt});
  ASSERT_TRUE(t.ok());
  auto a = pool_->Activate(t->id);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(WriteDirect(a->path, 4096, 4096, 'r', true), 0);
  ASSERT_TRUE(pool_->Deactivate(t->id).ok());
  pool_.reset();
  // As after a reboot: no dm devices, no loop devices.
  ASSERT_TRUE(dm_->Remove(name_).ok());
  for (int i = 0; i < 50 && LoopsBoundUnder(dir_) > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(LoopsBoundUnder(dir_), 0) << "autoclear detaches the loops with the pool";

  auto p = Pool::Open(dir_, K());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  pool_ = std::move(p).value();
  EXPECT_EQ(StatusNow().transaction_id, 1u);
  a = pool_->Activate(t->id);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ReadByte(a->path, 4096), 'r');
}

TEST_F(ThinpoolKernel, AFullPoolWithErrorIfNoSpaceFailsWritesWithEnospc) {
  PoolOptions o = Options(32 * kMiB);
  o.error_if_no_space = true;
  MakePool(o);
  auto t = pool_->CreateThin({"big", 256 * kMiB, std::nullopt});
  ASSERT_TRUE(t.ok());
  auto a = pool_->Activate(t->id);
  ASSERT_TRUE(a.ok());
  auto start = std::chrono::steady_clock::now();
  int err = 0;
  for (uint64_t off = 0; off < 256 * kMiB && err == 0; off += kMiB) err = WriteDirect(a->path, off, kMiB, 'f');
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(err, ENOSPC) << std::strerror(err);
  EXPECT_LT(secs, 60.0) << "writers must fail, not hang";
  PoolStatus st = StatusNow();
  EXPECT_EQ(st.data_used, st.data_total);
  EXPECT_EQ(st.mode, PoolStatus::Mode::kOutOfDataSpace);
}

TEST_F(ThinpoolKernel, DiscardReturnsBlocksToThePool) {
  MakePool(Options());
  auto t = pool_->CreateThin({"d", 64 * kMiB, std::nullopt});
  ASSERT_TRUE(t.ok());
  auto a = pool_->Activate(t->id);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(WriteDirect(a->path, 0, 8 * kMiB, 'd', true), 0);
  uint64_t used = StatusNow().data_used;
  EXPECT_EQ(used, 8 * kMiB / (64 * 1024));
  int fd = ::open(a->path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  uint64_t range[2] = {0, 8 * kMiB};
  ASSERT_EQ(::ioctl(fd, BLKDISCARD, range), 0) << std::strerror(errno);
  ::close(fd);
  EXPECT_EQ(StatusNow().data_used, 0u);
}

TEST_F(ThinpoolKernel, LowWaterMarkDeliversAnEvent) {
  PoolOptions o = Options(64 * kMiB);  // 1024 blocks
  o.low_water_blocks = 1000;           // crossed after 24 blocks are used
  MakePool(o);
  auto before = pool_->EventCounter();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(pool_->WaitEvent(*before, 100).status().code(), Code::kTimeout);
  auto t = pool_->CreateThin({"w", 64 * kMiB, std::nullopt});
  ASSERT_TRUE(t.ok());
  auto a = pool_->Activate(t->id);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(WriteDirect(a->path, 0, 4 * kMiB, 'w', true), 0);  // 64 blocks
  auto after = pool_->WaitEvent(*before, 10000);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_NE(*after, *before);
}

TEST_F(ThinpoolKernel, BadInputGetsClearErrorsAndLeaksNothing) {
  MakePool(Options());
  auto t = pool_->CreateThin({"a", 8 * kMiB, 77u});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(pool_->CreateThin({"b", 8 * kMiB, 77u}).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(pool_->CreateThin({"a", 8 * kMiB, std::nullopt}).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(pool_->CreateThin({"z", 0, std::nullopt}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pool_->CreateThin({"z", 1ull << 62, std::nullopt}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pool_->CreateThin({"../etc", 8 * kMiB, std::nullopt}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pool_->Activate(4242).status().code(), Code::kNotFound);
  EXPECT_EQ(pool_->DeleteThin(4242).code(), Code::kNotFound);
  EXPECT_EQ(pool_->Snapshot(4242, {"s", 0, std::nullopt}).status().code(), Code::kNotFound);
  auto a = pool_->Activate(77);
  ASSERT_TRUE(a.ok());
  Status busy = pool_->DeleteThin(77);
  EXPECT_EQ(busy.code(), Code::kBusy) << busy.ToString();
  int fd = ::open(a->path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(pool_->Deactivate(77).code(), Code::kBusy) << "open devices are not torn away";
  ::close(fd);
  EXPECT_TRUE(pool_->Deactivate(77).ok());
  // The pool is exactly as before: one thin, one change per success.
  EXPECT_EQ(StatusNow().transaction_id, 1u);
  auto names = dm_->List();
  ASSERT_TRUE(names.ok());
  int ours = 0;
  for (const auto& n : *names) ours += n.rfind(name_, 0) == 0;
  EXPECT_EQ(ours, 1) << "only the pool device itself";
  // A second pool of the same name is refused and leaves no files.
  PoolOptions dup = Options();
  dup.state_dir = dir_ + "-dup";
  EXPECT_EQ(Pool::Create(dup, K()).status().code(), Code::kAlreadyExists);
  EXPECT_FALSE(fs::exists(dup.state_dir + "/data.img"));
  fs::remove_all(dup.state_dir);
}

TEST_F(ThinpoolKernel, KernelErrorsCarryContext) {
  MakePool(Options());
  Status s = dm_->Message(name_, "create_snap 5 999");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("create_snap 5 999"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("pool " + name_), std::string::npos) << s.message();
  EXPECT_EQ(dm_->Info("wb-no-such-device").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace warmblock::thinpool
