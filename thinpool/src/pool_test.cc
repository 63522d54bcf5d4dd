#include "warmblock/thinpool/pool.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "catalog.h"
#include "warmblock/thinpool/fake_kernel.h"

namespace warmblock::thinpool {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;

constexpr uint64_t kGiB = 1ull << 30;

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/pool_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  PoolOptions Options() {
    PoolOptions o;
    o.name = "wb";
    o.state_dir = dir_;
    o.data_bytes = 10 * kGiB;
    return o;
  }
  Kernel K() { return Kernel{&dm_, &block_}; }
  std::unique_ptr<Pool> MakePool() {
    auto p = Pool::Create(Options(), K());
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  Thin MakeThin(Pool& p, const std::string& name, uint64_t size = kGiB) {
    auto t = p.CreateThin({name, size, std::nullopt});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Thin{};
  }
  FakeDeviceMapper::PoolState& Meta() {
    EXPECT_EQ(dm_.metadata.size(), 1u);
    return dm_.metadata.begin()->second;
  }
  bool Logged(const std::string& entry) { return std::find(dm_.log.begin(), dm_.log.end(), entry) != dm_.log.end(); }

  std::string dir_;
  FakeDeviceMapper dm_;
  FakeBlockDevices block_;
};

TEST_F(PoolTest, CreateLoadsAThinPoolTableOnSparseFilesAndReleasesTheLoops) {
  auto pool = MakePool();
  ASSERT_TRUE(pool);
  auto table = dm_.Table("wb", true);
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->size(), 1u);
  EXPECT_EQ((*table)[0].type, "thin-pool");
  EXPECT_EQ((*table)[0].length, 10 * kGiB / 512);
  // metadata loop, data loop, 64 KiB blocks, low water 5% of 163840 blocks, no features
  EXPECT_EQ((*table)[0].params, "7:0 7:1 128 8192 0");
  EXPECT_EQ(block_.attached, 0) << "the pool table holds the loop devices, not us (autoclear)";
  EXPECT_EQ(fs::file_size(dir_ + "/data.img"), 10 * kGiB);
  // 48 bytes per 64 KiB block (7.5 MiB here), at least 256 MiB: snapshots
  // need metadata of their own (the file is sparse)
  EXPECT_EQ(fs::file_size(dir_ + "/metadata.img"), 256u << 20);
  EXPECT_EQ(DefaultMetadataBytes(1ull << 40, 128), 48ull << 24) << "1 TiB of 64 KiB blocks: 768 MiB";
  EXPECT_EQ(pool->transaction_id(), 0u);
}

TEST_F(PoolTest, FeatureFlagsReachTheTable) {
  PoolOptions o = Options();
  o.error_if_no_space = true;
  o.skip_block_zeroing = true;
  o.low_water_blocks = 7;
  ASSERT_TRUE(Pool::Create(o, K()).ok());
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 7 2 skip_block_zeroing error_if_no_space");
}

TEST_F(PoolTest, BadOptionsAreRefusedWithTheReasonAndLeaveNothing) {
  struct Case {
    const char* why;
    std::function<void(PoolOptions&)> edit;
    const char* needle;
  } cases[] = {
      {"empty name", [](PoolOptions& o) { o.name = ""; }, "empty"},
      {"slash in name", [](PoolOptions& o) { o.name = "a/b"; }, "may only contain"},
      {"dash first", [](PoolOptions& o) { o.name = "-x"; }, "must start"},
      {"long name", [](PoolOptions& o) { o.name = std::string(65, 'a'); }, "longer than 64"},
      {"zero data", [](PoolOptions& o) { o.data_bytes = 0; }, "data size 0"},
      {"absurd data", [](PoolOptions& o) { o.data_bytes = 1ull << 62; }, "1 PiB"},
      {"block size", [](PoolOptions& o) { o.block_sectors = 100; }, "multiple of 128"},
      {"one device", [](PoolOptions& o) { o.data_device = "/dev/sdz"; }, "together"},
      {"tiny metadata", [](PoolOptions& o) { o.metadata_bytes = 4096; }, "metadata size"},
  };
  for (const auto& c : cases) {
    PoolOptions o = Options();
    c.edit(o);
    auto p = Pool::Create(o, K());
    ASSERT_FALSE(p.ok()) << c.why;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument) << c.why;
    EXPECT_NE(p.status().message().find(c.needle), std::string::npos) << c.why << ": " << p.status().message();
  }
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_TRUE(dm_.List()->empty());
}

TEST_F(PoolTest, CreateRefusesAnExistingPoolAndCleansUpAfterAKernelFailure) {
  ASSERT_TRUE(MakePool());
  EXPECT_EQ(Pool::Create(Options(), K()).status().code(), Code::kAlreadyExists);

  FakeDeviceMapper dm2;
  ASSERT_TRUE(dm2.Create("wb", {{0, 8, "linear", "7:0 0"}}).ok());
  PoolOptions o = Options();
  o.state_dir = dir_ + "/other";
  auto p = Pool::Create(o, Kernel{&dm2, &block_});
  EXPECT_EQ(p.status().code(), Code::kAlreadyExists) << "the dm name is taken";
  EXPECT_FALSE(fs::exists(o.state_dir + "/data.img"));
}

TEST_F(PoolTest, DeviceModeProbesTheDevicesAndWipesTheOldSuperblock) {
  fs::create_directories(dir_);
  std::string meta = dir_ + "/meta-dev";
  std::ofstream(meta) << std::string(8192, 'x');
  block_.devices[meta] = BlockInfo{makedev(8, 16), 64 << 20};
  block_.devices["/dev/data"] = BlockInfo{makedev(8, 32), 5 * kGiB + 1000};
  PoolOptions o = Options();
  o.data_bytes = 0;
  o.metadata_device = meta;
  o.data_device = "/dev/data";
  auto p = Pool::Create(o, K());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto table = *dm_.Table("wb", true);
  EXPECT_EQ(table[0].params.substr(0, 16), "8:16 8:32 128 40");
  EXPECT_EQ(table[0].length, 5 * kGiB / 512) << "rounded down to whole blocks";
  std::ifstream in(meta);
  std::string head(4096, '?');
  in.read(head.data(), 4096);
  EXPECT_EQ(head, std::string(4096, '\0'));
  std::string rest;
  in >> rest;
  EXPECT_EQ(rest, std::string(4096, 'x')) << "only the superblock is wiped";
}

TEST_F(PoolTest, ThinsGetFreshIdsAndEachChangeBumpsTheTransactionId) {
  auto pool = MakePool();
  Thin a = MakeThin(*pool, "a");
  Thin b = MakeThin(*pool, "b");
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(pool->transaction_id(), 2u);
  EXPECT_EQ(Meta().transaction_id, 2u);
  EXPECT_TRUE(Logged("message wb create_thin 1"));
  EXPECT_TRUE(Logged("message wb set_transaction_id 1 2"));
  ASSERT_TRUE(pool->DeleteThin(b.id).ok());
  Thin c = MakeThin(*pool, "c");
  EXPECT_EQ(c.id, 3u) << "ids are not reused right away";
  EXPECT_EQ(pool->List().size(), 2u);
  EXPECT_EQ(pool->FindByName("c")->id, 3u);
}

TEST_F(PoolTest, BadThinInputGetsClearErrorsAndChangesNothing) {
  auto pool = MakePool();
  Thin a = MakeThin(*pool, "a");
  struct Case {
    ThinSpec spec;
    Code code;
    const char* needle;
  } cases[] = {
      {{"a", kGiB, std::nullopt}, Code::kAlreadyExists, "thin \"a\" exists"},
      {{"b", kGiB, a.id}, Code::kAlreadyExists, "thin id 1 exists"},
      {{"b", kGiB, kMaxThinId + 1}, Code::kInvalidArgument, "24-bit"},
      {{"b", 0, std::nullopt}, Code::kInvalidArgument, "greater than 0"},
      {{"b", 1000, std::nullopt}, Code::kInvalidArgument, "multiple of 512"},
      {{"b", 1ull << 60, std::nullopt}, Code::kInvalidArgument, "1 PiB"},
      {{"../x", kGiB, std::nullopt}, Code::kInvalidArgument, "must start"},
      {{"x y", kGiB, std::nullopt}, Code::kInvalidArgument, "may only contain"},
      {{std::string("x\0y", 3), kGiB, std::nullopt}, Code::kInvalidArgument, "may only contain"},
  };
  for (const auto& c : cases) {
    auto t = pool->CreateThin(c.spec);
    ASSERT_FALSE(t.ok()) << c.needle;
    EXPECT_EQ(t.status().code(), c.code) << t.status().ToString();
    EXPECT_NE(t.status().message().find(c.needle), std::string::npos) << t.status().message();
  }
  EXPECT_EQ(pool->transaction_id(), 1u);
  EXPECT_EQ(Meta().thins.size(), 1u);
  EXPECT_EQ(pool->DeleteThin(99).code(), Code::kNotFound);
  EXPECT_EQ(pool->Activate(99).status().code(), Code::kNotFound);
  EXPECT_EQ(pool->Snapshot(99, {"s", 0, std::nullopt}).status().code(), Code::kNotFound);
}

TEST_F(PoolTest, ExplicitIdIsHonoured) {
  auto pool = MakePool();
  auto t = pool->CreateThin({"x", kGiB, 4242u});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->id, 4242u);
  EXPECT_TRUE(Meta().thins.count(4242));
}

TEST_F(PoolTest, KernelErrorsCarryContextAndLeaveNoPendingChange) {
  auto pool = MakePool();
  dm_.fail_message = [](const std::string& m) { return m.rfind("create_thin", 0) == 0 ? ENOSPC : 0; };
  auto t = pool->CreateThin({"a", kGiB, std::nullopt});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kNoSpace);
  EXPECT_EQ(t.status().message(), "create_thin 1: No space left on device (pool wb)");
  dm_.fail_message = nullptr;
  EXPECT_TRUE(pool->CreateThin({"a", kGiB, std::nullopt}).ok()) << "a failed message leaves the pool usable";
  EXPECT_FALSE(ReadCatalog(dir_)->pending.has_value());
}

TEST_F(PoolTest, AnIdThePoolKnowsButTheCatalogueDoesNotIsSkipped) {
  auto pool = MakePool();
  Meta().thins.insert(1);
  Thin t = MakeThin(*pool, "a");
  EXPECT_EQ(t.id, 2u);
  ASSERT_EQ(pool->repairs().size(), 1u);
  EXPECT_NE(pool->repairs()[0].find("thin id 1"), std::string::npos);
}

TEST_F(PoolTest, SnapshotOfAnInactiveOriginSuspendsNothing) {
  auto pool = MakePool();
  Thin golden = MakeThin(*pool, "golden");
  auto snap = pool->Snapshot(golden.id, {"vol", 0, std::nullopt});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->origin, golden.id);
  EXPECT_EQ(snap->size_bytes, golden.size_bytes);
  EXPECT_TRUE(Logged("message wb create_snap 2 1"));
  EXPECT_FALSE(Logged("suspend wb-golden"));
}

TEST_F(PoolTest, SnapshotOfAnActiveOriginSuspendsAndResumesIt) {
  auto pool = MakePool();
  Thin origin = MakeThin(*pool, "o");
  ASSERT_TRUE(pool->Activate(origin.id).ok());
  auto snap = pool->Snapshot(origin.id, {"s", 2 * kGiB, std::nullopt});
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->size_bytes, 2 * kGiB);
  auto s = std::find(dm_.log.begin(), dm_.log.end(), "suspend wb-o");
  auto m = std::find(dm_.log.begin(), dm_.log.end(), "message wb create_snap 2 1");
  auto r = std::find(dm_.log.begin(), dm_.log.end(), "resume wb-o");
  ASSERT_TRUE(s < m && m < r) << "suspend, snapshot, resume in that order";
  EXPECT_FALSE(dm_.Info("wb-o")->suspended);
}

TEST_F(PoolTest, ActivateIsIdempotentAndDeactivateRefusesAnOpenDevice) {
  auto pool = MakePool();
  Thin t = MakeThin(*pool, "a");
  auto a = pool->Activate(t.id);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->dm_name, "wb-a");
  EXPECT_EQ(a->path, "/dev/dm-" + std::to_string(a->minor));
  auto table = *dm_.Table("wb-a", true);
  auto pool_info = *dm_.Info("wb");
  EXPECT_EQ(table[0].params, std::to_string(pool_info.major) + ":" + std::to_string(pool_info.minor) + " 1");
  EXPECT_EQ(table[0].length, kGiB / 512);
  EXPECT_EQ(pool->Activate(t.id)->minor, a->minor);
  EXPECT_EQ(pool->DeleteThin(t.id).code(), Code::kBusy);
  dm_.SetOpenCount("wb-a", 1);
  Status busy = pool->Deactivate(t.id);
  EXPECT_EQ(busy.code(), Code::kBusy);
  EXPECT_NE(busy.message().find("open 1 time"), std::string::npos);
  dm_.SetOpenCount("wb-a", 0);
  EXPECT_TRUE(pool->Deactivate(t.id).ok());
  EXPECT_TRUE(pool->Deactivate(t.id).ok()) << "deactivating an inactive thin is a no-op";
  // A holder's last close that reaches the device a moment late.
  ASSERT_TRUE(pool->Activate(t.id).ok());
  dm_.SetOpenBriefly("wb-a", 1, 3);
  EXPECT_TRUE(pool->Deactivate(t.id).ok());
  EXPECT_EQ(pool->ActiveDevice(t.id).status().code(), Code::kNotFound);
  EXPECT_TRUE(pool->DeleteThin(t.id).ok());
}

TEST_F(PoolTest, ReopenAfterRebootFindsEveryThinAndKeepsAllocating) {
  {
    auto pool = MakePool();
    MakeThin(*pool, "a");
    MakeThin(*pool, "b");
    ASSERT_TRUE(pool->Activate(1).ok());
  }
  dm_.Reboot();
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ((*pool)->List().size(), 2u);
  EXPECT_EQ((*pool)->transaction_id(), 2u);
  EXPECT_TRUE((*pool)->repairs().empty());
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 8192 0") << "same files, same loop devices";
  EXPECT_EQ(MakeThin(**pool, "c").id, 3u);
}

TEST_F(PoolTest, ReopenUsesALivePool) {
  { MakePool(); }
  size_t creates = std::count_if(dm_.log.begin(), dm_.log.end(), [](auto& e) { return e == "create wb"; });
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(std::count_if(dm_.log.begin(), dm_.log.end(), [](auto& e) { return e == "create wb"; }), creates);
  EXPECT_EQ(Pool::Open(dir_ + "/nowhere", K()).status().code(), Code::kNotFound);
}

TEST_F(PoolTest, CrashBeforeTheTransactionIdBumpIsRolledBack) {
  {
    auto pool = MakePool();
    MakeThin(*pool, "a");
    // create_thin lands, then the "crash": set_transaction_id never happens.
    dm_.fail_message = [](const std::string& m) { return m.rfind("set_transaction_id", 0) == 0 ? EIO : 0; };
    auto t = pool->CreateThin({"b", kGiB, std::nullopt});
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("reopen the pool"), std::string::npos);
    EXPECT_EQ(pool->CreateThin({"c", kGiB, std::nullopt}).status().code(), Code::kCorruption)
        << "no further change on top of an unfinished one";
    dm_.fail_message = nullptr;
  }
  EXPECT_TRUE(Meta().thins.count(2)) << "the pool has the thin the catalogue does not commit";
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_FALSE(Meta().thins.count(2));
  EXPECT_EQ((*pool)->List().size(), 1u);
  EXPECT_EQ((*pool)->transaction_id(), 1u);
  ASSERT_EQ((*pool)->repairs().size(), 1u);
  EXPECT_NE((*pool)->repairs()[0].find("rolled back"), std::string::npos);
}

TEST_F(PoolTest, CrashAfterTheTransactionIdBumpIsRolledForward) {
  {
    auto pool = MakePool();
    dm_.apply_then_fail = true;
    dm_.fail_message = [](const std::string& m) { return m.rfind("set_transaction_id", 0) == 0 ? EIO : 0; };
    EXPECT_FALSE(pool->CreateThin({"a", kGiB, std::nullopt}).ok());
    dm_.fail_message = nullptr;
    dm_.apply_then_fail = false;
  }
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ((*pool)->transaction_id(), 1u);
  ASSERT_TRUE((*pool)->FindByName("a").ok());
  EXPECT_NE((*pool)->repairs()[0].find("rolled forward"), std::string::npos);
  EXPECT_EQ(MakeThin(**pool, "b").id, 2u) << "the rolled-forward id stays taken";
}

TEST_F(PoolTest, AnInterruptedDeleteIsCompleted) {
  {
    auto pool = MakePool();
    MakeThin(*pool, "a");
    dm_.fail_message = [](const std::string& m) { return m.rfind("set_transaction_id", 0) == 0 ? EIO : 0; };
    EXPECT_FALSE(pool->DeleteThin(1).ok());
    dm_.fail_message = nullptr;
  }
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_TRUE((*pool)->List().empty());
  EXPECT_EQ((*pool)->transaction_id(), 2u);
  EXPECT_EQ(Meta().transaction_id, 2u);
}

TEST_F(PoolTest, TransactionIdsThatCannotBeReconciledAreCorruption) {
  { MakePool(); }
  Meta().transaction_id = 5;
  auto pool = Pool::Open(dir_, K());
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), Code::kCorruption);
  EXPECT_NE(pool.status().message().find("transaction id 5"), std::string::npos);
}

TEST_F(PoolTest, EventsAreReportedAndWaitingTimesOut) {
  auto pool = MakePool();
  auto start = pool->EventCounter();
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(pool->WaitEvent(*start, 10).status().code(), Code::kTimeout);
  dm_.BumpEvent("wb");
  EXPECT_EQ(*pool->WaitEvent(*start, 10), *start + 1);
}

TEST_F(PoolTest, StatusReportsUsageAndMode) {
  auto pool = MakePool();
  MakeThin(*pool, "a");
  Meta().data_used = 42;
  auto st = pool->GetStatus();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->transaction_id, 1u);
  EXPECT_EQ(st->data_used, 42u);
  EXPECT_EQ(st->data_total, 163840u);
  EXPECT_EQ(st->mode, PoolStatus::Mode::kReadWrite);
  ASSERT_TRUE(pool->Activate(1).ok());
  EXPECT_EQ(pool->GetThinStatus(1)->mapped_sectors, 0u);
}

TEST_F(PoolTest, DestroyRemovesDevicesAndStateButNotWhileAThinIsOpen) {
  auto pool = MakePool();
  MakeThin(*pool, "a");
  ASSERT_TRUE(pool->Activate(1).ok());
  dm_.SetOpenCount("wb-a", 2);
  EXPECT_EQ(pool->Destroy().code(), Code::kBusy);
  dm_.SetOpenCount("wb-a", 0);
  ASSERT_TRUE(pool->Destroy().ok());
  EXPECT_TRUE(dm_.List()->empty());
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_EQ(pool->CreateThin({"b", kGiB, std::nullopt}).status().code(), Code::kNotFound);
}

TEST_F(PoolTest, ResizeGrowsTheCatalogueAndTheActiveTable) {
  auto pool = MakePool();
  MakeThin(*pool, "a");
  ASSERT_TRUE(pool->Activate(1).ok());
  ASSERT_TRUE(pool->Resize(1, 3 * kGiB).ok());
  EXPECT_EQ(pool->Get(1)->size_bytes, 3 * kGiB);
  auto table = dm_.Table("wb-a", true);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ((*table)[0].length, 3 * kGiB / 512) << "the live device grew";
  EXPECT_EQ(pool->Resize(1, kGiB).code(), Code::kInvalidArgument) << "no shrinking";
  EXPECT_EQ(pool->Resize(1, 3 * kGiB + 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(pool->Resize(9, 4 * kGiB).code(), Code::kNotFound);
  pool.reset();
  auto again = Pool::Open(dir_, K());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Get(1)->size_bytes, 3 * kGiB) << "the new size is durable";
}

TEST_F(PoolTest, ShutdownRemovesTheDevicesAndOpenBringsThemBack) {
  auto pool = MakePool();
  MakeThin(*pool, "a");
  ASSERT_TRUE(pool->Activate(1).ok());
  dm_.SetOpenCount("wb-a", 1);
  EXPECT_EQ(pool->Shutdown().code(), Code::kBusy);
  dm_.SetOpenCount("wb-a", 0);
  ASSERT_TRUE(pool->Shutdown().ok());
  EXPECT_TRUE(dm_.List()->empty()) << "no dm device left";
  EXPECT_EQ(pool->CreateThin({"b", kGiB, std::nullopt}).status().code(), Code::kNotFound);
  pool.reset();
  auto again = Pool::Open(dir_, K());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->FindByName("a").ok()) << "the thin and its data are kept";
}

TEST_F(PoolTest, GrowExtendsTheFilesTheLoopsAndTheTableAndSurvivesAReboot) {
  auto pool = MakePool();
  ASSERT_TRUE(pool);
  Meta().data_used = 163840;
  Meta().out_of_data_space = true;
  ASSERT_TRUE(pool->Grow(20 * kGiB, 384 << 20).ok());
  EXPECT_EQ(fs::file_size(dir_ + "/data.img"), 20 * kGiB);
  EXPECT_EQ(fs::file_size(dir_ + "/metadata.img"), 384u << 20);
  EXPECT_EQ(block_.loop_bytes["/dev/loop1"], 20 * kGiB) << "the data loop sees the new size";
  EXPECT_EQ(block_.loop_bytes["/dev/loop0"], 384u << 20) << "the metadata loop sees the new size";
  auto table = *dm_.Table("wb", true);
  EXPECT_EQ(table[0].length, 20 * kGiB / 512);
  EXPECT_EQ(table[0].params, "7:0 7:1 128 16384 0") << "low water follows the size (5%)";
  auto st = pool->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->data_total, 327680u);
  EXPECT_EQ(st->mode, PoolStatus::Mode::kReadWrite) << "a pool out of space has space again";
  EXPECT_EQ(pool->options().data_bytes, 20 * kGiB);
  EXPECT_EQ(pool->options().metadata_bytes, 384u << 20);
  EXPECT_TRUE(Logged("reload wb"));

  // Metadata alone; 0 keeps it.
  ASSERT_TRUE(pool->Grow(20 * kGiB, 512 << 20).ok());
  EXPECT_EQ(block_.loop_bytes["/dev/loop0"], 512u << 20);
  ASSERT_TRUE(pool->Grow(24 * kGiB, 0).ok());
  EXPECT_EQ(pool->options().metadata_bytes, 512u << 20);

  pool.reset();
  dm_.Reboot();
  auto again = Pool::Open(dir_, K());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 24 * kGiB / 512) << "Open loads the grown size";
  EXPECT_EQ((*again)->options().data_bytes, 24 * kGiB);
  EXPECT_TRUE((*again)->repairs().empty());
}

TEST_F(PoolTest, GrowRefusesShrinkingBadSizesAndDeviceMode) {
  auto pool = MakePool();
  struct Case {
    uint64_t data, meta;
    const char* needle;
  } cases[] = {
      {5 * kGiB, 0, "cannot shrink"},
      {10 * kGiB, 1 << 20, "cannot shrink"},
      {10 * kGiB + 100, 0, "multiple of 512"},
      {1ull << 51, 0, "1 PiB"},
      {10 * kGiB, (512ull << 20) + 1, "multiple of 4096"},
      {10 * kGiB, 1ull << 40, "15.9 GiB"},
  };
  for (const auto& c : cases) {
    Status s = pool->Grow(c.data, c.meta);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.needle;
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << s.message();
  }
  EXPECT_EQ(fs::file_size(dir_ + "/data.img"), 10 * kGiB) << "nothing changed";
  EXPECT_FALSE(Logged("reload wb"));

  std::string meta = dir_ + "-dev/meta";
  fs::create_directories(dir_ + "-dev");
  std::ofstream(meta) << std::string(8192, 'x');
  block_.devices[meta] = BlockInfo{makedev(8, 16), 64 << 20};
  block_.devices["/dev/data"] = BlockInfo{makedev(8, 32), 5 * kGiB};
  FakeDeviceMapper dm2;
  PoolOptions o = Options();
  o.state_dir = dir_ + "-dev/state";
  o.metadata_device = meta;
  o.data_device = "/dev/data";
  auto dev = Pool::Create(o, Kernel{&dm2, &block_});
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  Status s = (*dev)->Grow(20 * kGiB, 0);
  EXPECT_EQ(s.code(), Code::kUnsupported);
  EXPECT_NE(s.message().find("block devices"), std::string::npos) << s.message();
  EXPECT_TRUE((*dev)->SetErrorIfNoSpace(true).ok()) << "the mode switch works on devices too";
  EXPECT_EQ((*dm2.Table("wb", true))[0].length, 5 * kGiB / 512) << "at the device's size";
  fs::remove_all(dir_ + "-dev");
}

TEST_F(PoolTest, AGrowInterruptedBeforeTheReloadIsFinishedByOpenOrTheNextGrow) {
  auto pool = MakePool();
  block_.refresh_errno = EIO;
  Status s = pool->Grow(20 * kGiB, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("grow pool wb"), std::string::npos) << s.message();
  EXPECT_EQ(ReadCatalog(dir_)->options.data_bytes, 20 * kGiB) << "the catalogue went first";
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 10 * kGiB / 512) << "the live pool did not grow";
  ASSERT_TRUE(pool->SetErrorIfNoSpace(true).ok()) << "a mode switch does not depend on the failed grow";
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 8192 1 error_if_no_space") << "at the live size";
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 10 * kGiB / 512);
  block_.refresh_errno = 0;
  ASSERT_TRUE(pool->Grow(20 * kGiB, 0).ok()) << "the same size again catches the live pool up";
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 20 * kGiB / 512);

  // The same stop, then a daemon restart on the live pool.
  block_.refresh_errno = EIO;
  ASSERT_FALSE(pool->Grow(30 * kGiB, 0).ok());
  block_.refresh_errno = 0;
  pool.reset();
  auto again = Pool::Open(dir_, K());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 30 * kGiB / 512);
  EXPECT_EQ(block_.loop_bytes["/dev/loop1"], 30 * kGiB);
  ASSERT_EQ((*again)->repairs().size(), 1u);
  EXPECT_NE((*again)->repairs()[0].find("reloaded"), std::string::npos);
}

TEST_F(PoolTest, ADataFileLargerThanTheCatalogueIsHarmlessAndASmallerOneIsExtended) {
  { MakePool(); }
  dm_.Reboot();
  fs::resize_file(dir_ + "/data.img", 30 * kGiB);  // a crash after the file grew, before the catalogue
  auto pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ((*dm_.Table("wb", true))[0].length, 10 * kGiB / 512) << "the catalogue's size counts";
  pool->reset();
  dm_.Reboot();
  fs::resize_file(dir_ + "/data.img", kGiB);  // a file extension a crash lost
  pool = Pool::Open(dir_, K());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ(fs::file_size(dir_ + "/data.img"), 10 * kGiB);
}

TEST_F(PoolTest, ErrorIfNoSpaceIsSwitchedByATableReloadAndKept) {
  auto pool = MakePool();
  MakeThin(*pool, "a");
  ASSERT_TRUE(pool->SetErrorIfNoSpace(true).ok());
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 8192 1 error_if_no_space");
  EXPECT_TRUE(pool->GetStatus()->error_if_no_space);
  EXPECT_TRUE(pool->options().error_if_no_space);
  auto reloads = [&] { return std::count(dm_.log.begin(), dm_.log.end(), "reload wb"); };
  EXPECT_EQ(reloads(), 1);
  ASSERT_TRUE(pool->SetErrorIfNoSpace(true).ok());
  EXPECT_EQ(reloads(), 1) << "no reload when already in force";
  EXPECT_EQ(pool->transaction_id(), 1u) << "not a pool metadata change";
  pool.reset();
  dm_.Reboot();
  auto again = Pool::Open(dir_, K());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 8192 1 error_if_no_space") << "kept across Open";
  ASSERT_TRUE((*again)->SetErrorIfNoSpace(false).ok());
  EXPECT_EQ((*dm_.Table("wb", true))[0].params, "7:0 7:1 128 8192 0");
  EXPECT_FALSE((*again)->GetStatus()->error_if_no_space);
}

}  // namespace
}  // namespace warmblock::thinpool
