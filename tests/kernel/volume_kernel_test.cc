// A volume as warmblock builds it: a thin snapshot of a formatted golden
// image, activated, served as /dev/ublkbN (label `kernel`, run in the VM).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "kernel_env.h"
#include "warmblock/thinpool/pool.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock {
namespace {

namespace fs = std::filesystem;
namespace tp = thinpool;
constexpr uint64_t kMiB = 1ull << 20;

class VolumeKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_KERNEL_FEATURE(testing::DmThinOrUblkMissing());
    dir_ = testing::ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    dm_ = tp::LinuxDeviceMapper();
    block_ = tp::LinuxBlockDevices();
    tp::PoolOptions o;
    o.name = "wbv" + std::to_string(::getpid() % 100000);
    o.state_dir = dir_ + "/pool";
    o.data_bytes = 512 * kMiB;
    auto p = tp::Pool::Create(o, {dm_.get(), block_.get()});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pool_ = std::move(p).value();
    ublk::ServerOptions server_options;
    server_options.reactors = 1;
    auto s = ublk::Server::Start(server_options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    server_.reset();  // devices are gone by now; the reactors stop
    if (pool_) {
      for (const auto& t : pool_->List()) (void)pool_->Deactivate(t.id);
      EXPECT_TRUE(pool_->Destroy().ok());
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  uint64_t DataUsed() {
    auto st = pool_->GetStatus();
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->data_used : 0;
  }

  std::string dir_;
  std::unique_ptr<tp::DeviceMapper> dm_;
  std::unique_ptr<tp::BlockDevices> block_;
  std::unique_ptr<tp::Pool> pool_;
  std::unique_ptr<ublk::Server> server_;
};

TEST_F(VolumeKernel, DiscardThroughUblkReturnsThinBlocksToThePool) {
  auto thin = pool_->CreateThin({"vol", 64 * kMiB, std::nullopt});
  ASSERT_TRUE(thin.ok());
  auto act = pool_->Activate(thin->id);
  ASSERT_TRUE(act.ok()) << act.status().ToString();
  ublk::DeviceOptions o;
  o.backing_path = act->path;
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->size_bytes(), 64 * kMiB);

  int fd = ::open((*dev)->disk_path().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* buf = nullptr;
  ASSERT_EQ(::posix_memalign(&buf, 4096, kMiB), 0);
  std::memset(buf, 'v', kMiB);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(::pwrite(fd, buf, kMiB, i * kMiB), static_cast<ssize_t>(kMiB));
  std::free(buf);
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_EQ(DataUsed(), 8 * kMiB / pool_->block_bytes());
  uint64_t range[2] = {0, 64 * kMiB};
  ASSERT_EQ(::ioctl(fd, BLKDISCARD, range), 0) << std::strerror(errno);
  ::close(fd);
  EXPECT_EQ(DataUsed(), 0u) << "discard on /dev/ublkbN must reach dm-thin";
  ASSERT_TRUE((*dev)->Remove().ok());
}

TEST_F(VolumeKernel, ASnapshotOfTheGoldenImageMountsThroughUblk) {
  auto golden = pool_->CreateThin({"golden", 64 * kMiB, std::nullopt});
  ASSERT_TRUE(golden.ok());
  auto g = pool_->Activate(golden->id);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(testing::RunCommand({"mkfs.ext4", "-q", "-F", g->path}), 0);
  ASSERT_TRUE(pool_->Deactivate(golden->id).ok());

  auto snap = pool_->Snapshot(golden->id, {"c1", 0, std::nullopt});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto act = pool_->Activate(snap->id);
  ASSERT_TRUE(act.ok());
  ublk::DeviceOptions o;
  o.backing_path = act->path;
  auto dev = server_->AddDevice(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  std::string mnt = dir_ + "/mnt";
  fs::create_directories(mnt);
  ASSERT_EQ(::mount((*dev)->disk_path().c_str(), mnt.c_str(), "ext4", 0, nullptr), 0) << std::strerror(errno);
  std::ofstream(mnt + "/data") << "container data";
  ASSERT_EQ(::umount(mnt.c_str()), 0);
  ASSERT_EQ(::mount((*dev)->disk_path().c_str(), mnt.c_str(), "ext4", MS_RDONLY, nullptr), 0);
  std::string text;
  std::getline(std::ifstream(mnt + "/data"), text);
  EXPECT_EQ(text, "container data");
  Status busy = (*dev)->Remove();
  EXPECT_EQ(busy.code(), Status::Code::kBusy) << "a mounted volume is never torn away: " << busy.ToString();
  ASSERT_EQ(::umount(mnt.c_str()), 0);
  ASSERT_TRUE((*dev)->Remove().ok());
}

}  // namespace
}  // namespace warmblock
