#include "warmblock/provisioner/provisioner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "store.h"
#include "warmblock/provisioner/releaser.h"
#include "warmblock/provisioner/state_lock.h"
#include "warmblock/thinpool/fake_kernel.h"
#include "warmblock/ublk/fake_ublk.h"

namespace warmblock::provisioner {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;

using ublk::FakeUblk;

class FakeMkfs final : public Formatter {
 public:
  Status Format(const std::string& device, const std::string& fs) override {
    Work();
    std::lock_guard<std::mutex> lock(mu_);
    formatted.push_back(fs + " " + device);
    return Status::OK();
  }
  Status NewIdentity(const std::string& device, const std::string&) override {
    Work();
    std::lock_guard<std::mutex> lock(mu_);
    reidentified.push_back(device);
    return Status::OK();
  }
  Status Grow(const std::string& device, const std::string& fs) override {
    Work();
    std::lock_guard<std::mutex> lock(mu_);
    grown.push_back(fs + " " + device);
    return Status::OK();
  }
  std::vector<std::string> formatted, grown, reidentified;
  std::atomic<int> delay_ms{0};  // how long each tool "runs": lets requests overlap

 private:
  void Work() {
    if (int ms = delay_ms.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  std::mutex mu_;
};

class ProvisionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/provisioner_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    config_.state_dir = dir_;
    config_.pool_data_bytes = 8ull << 30;
    config_.classes = {VolumeClass{"small", "ext4", 1ull << 30, 3}};
    config_.refill_concurrency = 2;
  }
  void TearDown() override {
    p_.reset();
    fs::remove_all(dir_);
  }

  void StartOrDie() {
    Services s;
    s.kernel = thinpool::Kernel{&dm_, &block_};
    s.ublk = &ublk_;
    s.formatter = &mkfs_;
    s.process_start = [this](int64_t pid) -> std::optional<uint64_t> {
      std::lock_guard<std::mutex> lock(processes_mu_);
      auto it = processes_.find(pid);
      if (it == processes_.end()) return std::nullopt;
      return it->second;
    };
    auto p = Provisioner::Start(config_, s);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    p_ = std::move(p).value();
    ASSERT_TRUE(p_->WaitWarm(10000)) << "the warm stock never filled";
  }

  CreateRequest Req(const std::string& name) {
    CreateRequest r;
    r.name = name;
    r.class_name = "small";
    return r;
  }

  std::string dir_;
  Config config_;
  thinpool::FakeDeviceMapper dm_;
  thinpool::FakeBlockDevices block_;
  FakeUblk ublk_;
  FakeMkfs mkfs_;
  std::unique_ptr<Provisioner> p_;
  std::mutex processes_mu_;
  std::map<int64_t, uint64_t> processes_;  // pid -> start time, the live processes
};

TEST_F(ProvisionerTest, StartMakesOneGoldenImageAndFillsTheStock) {
  StartOrDie();
  EXPECT_EQ(mkfs_.formatted.size(), 1u) << "mkfs once, for the golden image";
  auto rep = p_->Report();
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  ASSERT_EQ(rep->classes.size(), 1u);
  EXPECT_EQ(rep->classes[0].warm, 3u);
  EXPECT_EQ(rep->classes[0].target, 3u);
  EXPECT_EQ(ublk_.live_.size(), 3u) << "each warm volume has its disk started";
  EXPECT_EQ(mkfs_.reidentified.size(), 3u) << "each snapshot gets a filesystem UUID of its own";
  EXPECT_EQ(rep->volumes, 0u);
}

TEST_F(ProvisionerTest, AWarmHandOutMakesNoKernelCallAndTheStockRefills) {
  StartOrDie();
  int adds = ublk_.adds;
  size_t formats = mkfs_.formatted.size();
  auto v = p_->Create(Req("db"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->source, Source::kWarm);
  EXPECT_EQ(v->state, VolumeState::kReady);
  EXPECT_EQ(v->fs, "ext4");
  EXPECT_EQ(v->size_bytes, 1ull << 30);
  EXPECT_EQ(v->device.rfind("/dev/ublkb", 0), 0u) << v->device;
  EXPECT_EQ(ublk_.adds, adds) << "the disk was already started";
  EXPECT_EQ(mkfs_.formatted.size(), formats);
  ASSERT_TRUE(p_->WaitWarm(10000));
  auto rep = p_->Report();
  EXPECT_EQ(rep->classes[0].warm, 3u);
  EXPECT_EQ(rep->classes[0].hits, 1u);
  EXPECT_EQ(rep->volumes, 1u);
}

TEST_F(ProvisionerTest, CreateIsIdempotentByName) {
  StartOrDie();
  auto a = p_->Create(Req("web"));
  ASSERT_TRUE(a.ok());
  auto b = p_->Create(Req("web"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->source, Source::kExisting);
  EXPECT_EQ(b->device, a->device);
  CreateRequest other;
  other.name = "web";
  other.size_bytes = 2ull << 30;
  EXPECT_EQ(p_->Create(other).status().code(), Code::kAlreadyExists);
}

// Twenty clients sending the same request at once, on each path: every
// one gets the same volume, one of them made it, and no stock is used up
// by the others (found in the VM: 3 of 20 got 409 and each lost a volume).
TEST_F(ProvisionerTest, IdenticalConcurrentCreatesGetTheOneVolumeOnEveryPath) {
  ublk_.kernel_features.flags = 1ull << 10;  // UBLK_F_UPDATE_SIZE: the grown path
  StartOrDie();
  mkfs_.delay_ms = 30;
  struct Case {
    const char* name;
    const char* fs;
    uint64_t size;  // 0: the class "small"
    Source made;
  } cases[] = {{"samew", "ext4", 0, Source::kWarm},
               {"sameg", "ext4", 3ull << 30, Source::kGrown},
               {"samec", "xfs", 3ull << 30, Source::kCold}};
  for (const auto& c : cases) {
    ASSERT_TRUE(p_->WaitWarm(10000));
    CreateRequest r;
    r.name = c.name;
    if (c.size == 0) {
      r.class_name = "small";
    } else {
      r.fs = c.fs;
      r.size_bytes = c.size;
    }
    auto hits = [&] { return p_->Report()->classes[0].hits; };
    uint64_t hits_before = hits();
    std::vector<std::thread> clients;
    std::vector<Result<Volume>> got(20, Status::Error(Code::kIOError, "not run"));
    for (size_t i = 0; i < got.size(); ++i) clients.emplace_back([&, i] { got[i] = p_->Create(r); });
    for (auto& t : clients) t.join();
    int made = 0;
    for (const auto& v : got) {
      ASSERT_TRUE(v.ok()) << c.name << ": " << v.status().ToString();
      EXPECT_EQ(v->device, got[0]->device) << c.name;
      if (v->source != Source::kExisting) {
        ++made;
        EXPECT_EQ(v->source, c.made);
      }
    }
    EXPECT_EQ(made, 1) << c.name;
    EXPECT_EQ(hits(), hits_before + (c.size == 0 || std::string(c.fs) == "ext4" ? 1 : 0))
        << c.name << ": one warm volume used, not one per client";
  }
  CreateRequest other;
  other.name = "sameg";
  other.fs = "xfs";
  other.size_bytes = 3ull << 30;
  EXPECT_EQ(p_->Create(other).status().code(), Code::kAlreadyExists);
}

TEST_F(ProvisionerTest, AnUnconfiguredSizeTakesTheColdPathAndSaysSo) {
  StartOrDie();
  size_t formats = mkfs_.formatted.size();
  CreateRequest r;
  r.name = "big";
  r.fs = "xfs";
  r.size_bytes = 2ull << 30;
  auto v = p_->Create(r);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->source, Source::kCold);
  EXPECT_EQ(v->class_name, "");
  EXPECT_EQ(mkfs_.formatted.size(), formats + 1);
  EXPECT_EQ(mkfs_.formatted.back().rfind("xfs ", 0), 0u);
  // A size that matches a class is served from its stock.
  r.name = "small2";
  r.fs = "ext4";
  r.size_bytes = 1ull << 30;
  EXPECT_EQ(p_->Create(r)->source, Source::kWarm);
}

TEST_F(ProvisionerTest, WithUpdateSizeASmallerWarmVolumeIsGrownInsteadOfMadeCold) {
  ublk_.kernel_features.flags = 1ull << 10;  // UBLK_F_UPDATE_SIZE
  StartOrDie();
  size_t formats = mkfs_.formatted.size();
  CreateRequest r;
  r.name = "bigger";
  r.size_bytes = 3ull << 30;
  auto v = p_->Create(r);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->source, Source::kGrown);
  EXPECT_EQ(v->size_bytes, 3ull << 30);
  EXPECT_EQ(v->class_name, "") << "no longer a member of the class it came from";
  EXPECT_EQ(mkfs_.formatted.size(), formats) << "no mkfs";
  ASSERT_EQ(mkfs_.grown.size(), 1u);
  EXPECT_EQ(mkfs_.grown[0], "ext4 " + v->device);
  // A smaller size or another filesystem cannot be grown into: cold.
  r.name = "xfs";
  r.fs = "xfs";
  EXPECT_EQ(p_->Create(r)->source, Source::kCold);
  ASSERT_TRUE(p_->WaitWarm(10000)) << "the donor class refills";
  auto again = p_->Get("bigger");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size_bytes, 3ull << 30);
}

TEST_F(ProvisionerTest, DeleteReturnsTheThinAndRefusesAMountedDisk) {
  StartOrDie();
  auto v = p_->Create(Req("tmp"));
  ASSERT_TRUE(v.ok());
  uint32_t id = static_cast<uint32_t>(std::stoul(v->device.substr(10)));
  ublk_.busy_.insert(id);
  EXPECT_EQ(p_->Delete("tmp").code(), Code::kBusy);
  EXPECT_TRUE(p_->Get("tmp").ok()) << "a refused delete changes nothing";
  ublk_.busy_.clear();
  ASSERT_TRUE(p_->Delete("tmp").ok());
  EXPECT_EQ(p_->Get("tmp").status().code(), Code::kNotFound);
  EXPECT_EQ(ublk_.live_.count(id), 0u);
  EXPECT_EQ(p_->Delete("tmp").code(), Code::kNotFound);
  ASSERT_TRUE(p_->WaitWarm(10000));
  EXPECT_EQ(p_->Report()->volumes, 0u);
}

TEST_F(ProvisionerTest, ADeleteWhoseThinWouldNotGoIsFinishedLater) {
  StartOrDie();
  auto v = p_->Create(Req("tmp"));
  ASSERT_TRUE(v.ok());
  uint32_t id = static_cast<uint32_t>(std::stoul(v->device.substr(10)));
  std::string thin;  // the dm device behind the disk, by its /dev/dm-N
  auto devices = dm_.List();
  ASSERT_TRUE(devices.ok());
  for (const auto& name : *devices)
    if ("/dev/dm-" + std::to_string(dm_.Info(name)->minor) == ublk_.live_.at(id)) thin = name;
  ASSERT_FALSE(thin.empty());
  dm_.SetOpenCount(thin, 1);  // held by someone else past the grace
  Status s = p_->Delete("tmp");
  EXPECT_EQ(s.code(), Code::kBusy) << s.ToString();
  EXPECT_NE(s.message().find("open 1 time"), std::string::npos) << s.ToString();
  EXPECT_EQ(p_->Delete("tmp").code(), Code::kBusy) << "retried, still held";
  dm_.SetOpenCount(thin, 0);
  for (int i = 0; i < 100 && dm_.Info(thin).ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(dm_.Info(thin).ok()) << "the daemon finished the deletion by itself";
  EXPECT_EQ(p_->Delete("tmp").code(), Code::kNotFound);
}

TEST_F(ProvisionerTest, AnEphemeralVolumeIsReleasedOnceItsOwnerIsGone) {
  config_.orphan_grace_s = 1;
  StartOrDie();
  {
    std::lock_guard<std::mutex> lock(processes_mu_);
    processes_ = {{100, 5}, {200, 7}, {300, 9}};
  }
  auto owned = [&](const std::string& name, int64_t pid) {
    CreateRequest r = Req(name);
    r.ephemeral = true;
    r.owner_pid = pid;
    return p_->Create(r);
  };
  ASSERT_TRUE(owned("dies", 100).ok());
  ASSERT_TRUE(owned("reused", 200).ok());
  ASSERT_TRUE(owned("mounted", 300).ok());
  auto lives = owned("lives", 300);
  ASSERT_TRUE(lives.ok());
  EXPECT_EQ(lives->owner_pid, 300);
  ASSERT_TRUE(p_->Create(Req("named")).ok());
  uint32_t mounted = static_cast<uint32_t>(std::stoul(p_->Get("mounted")->device.substr(10)));
  ublk_.busy_.insert(mounted);
  auto killed = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(processes_mu_);
    processes_.erase(100);
    processes_[200] = 8;  // the pid now names another process
  }
  std::set<std::string> left;
  for (int i = 0; i < 100; ++i) {
    left.clear();
    auto all = p_->List({});
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    for (const auto& v : *all) left.insert(v.name);
    if (left.count("dies") == 0 && left.count("reused") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(left, (std::set<std::string>{"lives", "mounted", "named"}));
  EXPECT_GE(std::chrono::steady_clock::now() - killed, std::chrono::seconds(1))
      << "released before the grace left to poststop";
  {
    std::lock_guard<std::mutex> lock(processes_mu_);
    processes_.erase(300);
  }
  for (int i = 0; i < 100 && p_->Get("lives").ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(p_->Get("lives").ok()) << "its owner is gone";
  EXPECT_TRUE(p_->Get("mounted").ok()) << "still mounted: kept until it is not";
  ublk_.busy_.clear();
  for (int i = 0; i < 100 && p_->Get("mounted").ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(p_->Get("mounted").ok()) << "released once unmounted";
  EXPECT_TRUE(p_->Get("named").ok()) << "a volume without an owner stays";
}

TEST_F(ProvisionerTest, ListFiltersByLabel) {
  StartOrDie();
  CreateRequest a = Req("a"), b = Req("b");
  a.labels = {{"app", "pg"}, {"tier", "db"}};
  b.labels = {{"app", "web"}};
  ASSERT_TRUE(p_->Create(a).ok());
  ASSERT_TRUE(p_->Create(b).ok());
  EXPECT_EQ(p_->List({})->size(), 2u);
  auto pg = p_->List({{"app", "pg"}});
  ASSERT_EQ(pg->size(), 1u);
  EXPECT_EQ((*pg)[0].name, "a");
  EXPECT_TRUE(p_->List({{"app", "none"}})->empty());
}

TEST_F(ProvisionerTest, ARestartAdoptsTheDisksAndKeepsTheVolumes) {
  StartOrDie();
  auto v = p_->Create(Req("keep"));
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(p_->WaitWarm(10000));
  p_.reset();  // the daemon goes away; its disks stay
  EXPECT_EQ(ublk_.live_.size(), 4u);
  // A disk added just before a crash, before its row recorded it.
  auto stray = ublk_.AddDevice(ublk::DeviceOptions{});
  ASSERT_TRUE(stray.ok());
  uint32_t stray_id = (*stray)->id();
  (void)stray->release();
  ublk_.ProcessDied();
  StartOrDie();
  EXPECT_EQ(ublk_.live_.count(stray_id), 0u) << "the stray disk was deleted";
  auto again = p_->Get("keep");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->device, v->device) << "the same disk, adopted";
  EXPECT_EQ(ublk_.adoptions, 4);
  EXPECT_EQ(mkfs_.formatted.size(), 1u) << "the golden image is reused";
  bool adopted = false, deleted = false;
  for (const auto& line : p_->Repairs()) {
    adopted |= line.find("adopted " + v->device) != std::string::npos;
    deleted |= line == "deleted abandoned ublk device " + std::to_string(stray_id);
  }
  EXPECT_TRUE(adopted);
  EXPECT_TRUE(deleted);
}

// After a stop the disks wait for the next daemon; the releaser removes
// them only if none comes within the timeout, and the volumes stay.
TEST_F(ProvisionerTest, HeldDisksAreReleasedOnlyWhenNoDaemonReturnsInTime) {
  StartOrDie();
  auto v = p_->Create(Req("kept"));
  ASSERT_TRUE(v.ok());
  p_.reset();
  ublk_.ProcessDied();
  const size_t disks = ublk_.live_.size();
  ASSERT_GT(disks, 1u);
  ReleaseOptions o;
  o.state_dir = dir_;
  o.timeout_s = 1;
  o.poll_ms = 20;
  o.ublk = &ublk_;
  {
    // A daemon holds the state directory: nothing is touched.
    auto daemon = StateLock::Acquire(dir_, StateLock::Role::kDaemon);
    ASSERT_TRUE(daemon.ok()) << daemon.status().ToString();
    auto released = ReleaseHeldDisks(o);
    ASSERT_TRUE(released.ok()) << released.status().ToString();
    EXPECT_EQ(*released, 0u);
    EXPECT_EQ(ublk_.live_.size(), disks);
  }
  auto start = std::chrono::steady_clock::now();
  auto released = ReleaseHeldDisks(o);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900)) << "waited the timeout first";
  EXPECT_EQ(*released, disks);
  EXPECT_TRUE(ublk_.live_.empty());
  // The next start serves the volume again, on a new disk.
  StartOrDie();
  auto again = p_->Get("kept");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->state, VolumeState::kReady);
  EXPECT_FALSE(again->device.empty());
}

// A kill between a delete stopping its disk and recording the deletion
// leaves the row naming a freed ublk number, which a new disk may have
// taken for another row: adopting it for either could give one volume the
// other's disk. Both get new disks; the old one goes.
TEST_F(ProvisionerTest, TwoRowsNamingOneDiskBothGetNewDisks) {
  StartOrDie();
  ASSERT_TRUE(p_->Create(Req("a")).ok());
  ASSERT_TRUE(p_->Create(Req("b")).ok());
  p_.reset();
  uint32_t shared = 0;
  {
    auto store = Store::Open(dir_ + "/warmblock.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto a = (*store)->FindByName("a");
    auto b = (*store)->FindByName("b");
    ASSERT_TRUE(a.ok() && b.ok());
    shared = static_cast<uint32_t>(a->ublk_id);
    ublk_.live_.erase(static_cast<uint32_t>(b->ublk_id));  // b's disk was deleted...
    b->ublk_id = a->ublk_id;                               // ...and its row names a's
    ASSERT_TRUE((*store)->Update(*b).ok());
  }
  ublk_.ProcessDied();
  StartOrDie();
  auto a = p_->Get("a");
  auto b = p_->Get("b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->device, b->device) << "one disk for two volumes";
  EXPECT_NE(a->device, "/dev/ublkb" + std::to_string(shared));
  EXPECT_NE(b->device, "/dev/ublkb" + std::to_string(shared));
  EXPECT_EQ(ublk_.live_.count(shared), 0u) << "the disk both named is deleted";
  bool noted = false;
  for (const auto& line : p_->Repairs()) noted |= line.find("is named by 2 volumes") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(ProvisionerTest, ShutdownStopsEveryDiskButNotAMountedOneAndStartBringsThemBack) {
  StartOrDie();
  auto v = p_->Create(Req("kept"));
  ASSERT_TRUE(v.ok());
  uint32_t id = static_cast<uint32_t>(std::stoul(v->device.substr(10)));
  ublk_.busy_.insert(id);
  EXPECT_EQ(p_->Shutdown().code(), Code::kBusy);
  ublk_.busy_.clear();
  ASSERT_TRUE(p_->Shutdown().ok());
  EXPECT_TRUE(ublk_.live_.empty()) << "no disk left";
  EXPECT_TRUE(dm_.List()->empty()) << "no dm device left";
  p_.reset();
  StartOrDie();
  auto again = p_->Get("kept");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->device.empty()) << "served by a new disk";
}

TEST_F(ProvisionerTest, AFullPoolRefusesCreatesWithNoSpaceUntilSpaceReturns) {
  StartOrDie();
  auto& meta = dm_.metadata.begin()->second;
  meta.data_used = p_->Report()->data_total_bytes / config_.pool_block_bytes;  // every block
  dm_.BumpEvent("warmblock-pool");
  Result<Volume> v = Status::InvalidArgument("not tried");
  for (int i = 0; i < 200; ++i) {
    v = p_->Create(Req("late"));
    if (!v.ok()) break;
    ASSERT_TRUE(p_->Delete("late").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kNoSpace);
  EXPECT_NE(v.status().message().find("pool is full"), std::string::npos) << v.status().ToString();
  meta.data_used = 0;
  dm_.BumpEvent("warmblock-pool");
  for (int i = 0; i < 200 && !v.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    v = p_->Create(Req("late"));
  }
  EXPECT_TRUE(v.ok()) << v.status().ToString();
}

// Polls `done` for up to five seconds.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST_F(ProvisionerTest, AGrowablePoolGrowsAtTheLowWaterMarkUpToItsLimitThenFailsFastAndRecovers) {
  config_.pool_max_data_bytes = 16ull << 30;
  config_.pool_grow_step_bytes = 4ull << 30;
  StartOrDie();
  auto table = [&] { return (*dm_.Table("warmblock-pool", true))[0]; };
  auto error_if_no_space = [&] { return table().params.find("error_if_no_space") != std::string::npos; };
  EXPECT_FALSE(error_if_no_space()) << "while it can grow, writes wait for it to";
  auto rep = p_->Report();
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->data_total_bytes, 8ull << 30);
  EXPECT_EQ(rep->data_limit_bytes, 16ull << 30);
  EXPECT_EQ(rep->grow_events, 0u);
  EXPECT_FALSE(rep->full);

  auto& meta = dm_.metadata.begin()->second;
  const uint64_t block = config_.pool_block_bytes;
  meta.data_used = (8ull << 30) / block - 6553;  // free space at the low-water mark (5%)
  dm_.BumpEvent("warmblock-pool");
  ASSERT_TRUE(Eventually([&] { return p_->Report()->grow_events == 1; }));
  EXPECT_EQ(p_->Report()->data_total_bytes, 12ull << 30) << "one grow_step";
  EXPECT_EQ(fs::file_size(dir_ + "/pool/data.img"), 12ull << 30);
  EXPECT_FALSE(error_if_no_space());

  meta.data_used = (12ull << 30) / block;  // ran out before the event was seen
  meta.out_of_data_space = true;
  dm_.BumpEvent("warmblock-pool");
  ASSERT_TRUE(Eventually([&] { return p_->Report()->grow_events == 2; }));
  rep = p_->Report();
  EXPECT_EQ(rep->data_total_bytes, 16ull << 30) << "up to the limit, not a step beyond";
  EXPECT_FALSE(rep->full) << "growing gave it space again";
  EXPECT_TRUE(Eventually(error_if_no_space)) << "at the limit, writers get ENOSPC at once";

  meta.data_used = (16ull << 30) / block;
  meta.out_of_data_space = true;
  dm_.BumpEvent("warmblock-pool");
  ASSERT_TRUE(Eventually([&] { return p_->Report()->full; }));
  auto v = p_->Create(Req("late"));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kNoSpace);
  EXPECT_NE(v.status().message().find("at its limit"), std::string::npos) << v.status().ToString();
  EXPECT_NE(v.status().message().find("pool.max_data_size"), std::string::npos) << v.status().ToString();
  EXPECT_EQ(p_->Report()->grow_events, 2u) << "no growth beyond the limit";
  EXPECT_EQ(p_->Report()->data_total_bytes, 16ull << 30);

  // Volumes deleted: the kernel leaves out_of_data_space by itself.
  meta.data_used = 0;
  meta.out_of_data_space = false;
  ASSERT_TRUE(Eventually([&] { return !p_->Report()->full; }));
  EXPECT_TRUE(p_->Create(Req("late")).ok());
  EXPECT_TRUE(error_if_no_space()) << "still at its limit";

  // A restart keeps the grown pool.
  p_.reset();
  StartOrDie();
  rep = p_->Report();
  EXPECT_EQ(rep->data_total_bytes, 16ull << 30);
  EXPECT_EQ(rep->grow_events, 0u);
}

TEST_F(ProvisionerTest, AFailedGrowthMakesWritersFailInsteadOfWaiting) {
  config_.pool_max_data_bytes = 16ull << 30;
  StartOrDie();
  auto error_if_no_space = [&] {
    return (*dm_.Table("warmblock-pool", true))[0].params.find("error_if_no_space") != std::string::npos;
  };
  EXPECT_FALSE(error_if_no_space());
  block_.refresh_errno = EIO;
  auto& meta = dm_.metadata.begin()->second;
  meta.data_used = (8ull << 30) / config_.pool_block_bytes;
  meta.out_of_data_space = true;
  dm_.BumpEvent("warmblock-pool");
  ASSERT_TRUE(Eventually(error_if_no_space));
  auto rep = p_->Report();
  EXPECT_EQ(rep->grow_events, 0u);
  EXPECT_TRUE(rep->full);
  EXPECT_NE(rep->full_reason.find("growing it failed"), std::string::npos) << rep->full_reason;
  block_.refresh_errno = 0;
}

TEST_F(ProvisionerTest, APoolWithoutALimitNeverGrowsAndFailsWritersAtOnce) {
  StartOrDie();
  EXPECT_NE((*dm_.Table("warmblock-pool", true))[0].params.find("error_if_no_space"), std::string::npos);
  auto& meta = dm_.metadata.begin()->second;
  meta.data_used = (8ull << 30) / config_.pool_block_bytes;
  meta.out_of_data_space = true;
  dm_.BumpEvent("warmblock-pool");
  ASSERT_TRUE(Eventually([&] { return p_->Report()->full; }));
  auto rep = p_->Report();
  EXPECT_EQ(rep->data_total_bytes, 8ull << 30);
  EXPECT_EQ(rep->data_limit_bytes, 8ull << 30);
  EXPECT_EQ(rep->grow_events, 0u);
  EXPECT_NE(rep->full_reason.find("set pool.max_data_size"), std::string::npos) << rep->full_reason;
}

TEST_F(ProvisionerTest, BadRequestsNameTheField) {
  StartOrDie();
  struct Case {
    CreateRequest req;
    const char* field;
  };
  std::vector<Case> cases;
  for (const std::string& name : {std::string(), std::string("../etc"), std::string("-x"), std::string("a b"),
                                  std::string("x/y"), std::string(64, 'a')}) {
    CreateRequest r = Req(name);
    cases.push_back({r, "name"});
  }
  CreateRequest cls = Req("ok");
  cls.class_name = "nope";
  cases.push_back({cls, "class"});
  CreateRequest fs;
  fs.name = "ok";
  fs.fs = "btrfs";
  fs.size_bytes = 1ull << 30;
  cases.push_back({fs, "fs"});
  CreateRequest size;
  size.name = "ok";
  size.size_bytes = 1000;
  cases.push_back({size, "size"});
  CreateRequest kept = Req("ok");
  kept.owner_pid = 1;
  cases.push_back({kept, "owner_pid"});
  CreateRequest no_owner = Req("ok");
  no_owner.ephemeral = true;
  no_owner.owner_pid = 4242;  // no such process (the fake has none)
  cases.push_back({no_owner, "owner_pid"});
  for (const auto& c : cases) {
    auto v = p_->Create(c.req);
    ASSERT_FALSE(v.ok()) << c.req.name;
    EXPECT_EQ(v.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(v.status().message().rfind(c.field, 0), 0u) << v.status().ToString();
  }
}

}  // namespace
}  // namespace warmblock::provisioner
