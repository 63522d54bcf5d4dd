// A device's life over FakeControl and FakeDataPlane: which control
// commands it sends, in what order, and what it leaves behind when a step
// fails.
#include "device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "fake_server.h"

namespace warmblock::ublk {
namespace {

using Code = Status::Code;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DeviceLife : public ::testing::Test {
 protected:
  void Start(uint64_t features = kFakeKernel, unsigned reactors = 2) {
    ServerOptions o;
    o.reactors = reactors;
    o.owner = 7;
    ASSERT_TRUE(f_.Start(features, o).ok());
  }
  DeviceOptions Opts(uint16_t queues = 2) {
    DeviceOptions o;
    o.backing_path = "/backing";
    o.queues = queues;
    o.depth = 8;
    return o;
  }
  unsigned PlacedQueues() {
    unsigned n = 0;
    for (const auto& r : f_.server->Reactors()) n += r.queues;
    return n;
  }
  // A device another server of owner 7 left behind.
  void PutAbandoned(uint32_t id, uint16_t state, uint64_t flags = abi::kFUserCopy | abi::kFUserRecovery,
                    int32_t pid = -1) {
    abi::DevInfo info{};
    info.dev_id = id;
    info.nr_hw_queues = 2;
    info.queue_depth = 16;
    info.max_io_buf_bytes = 512 * 1024;
    info.state = state;
    info.ublksrv_pid = pid;
    info.flags = flags;
    info.ublksrv_flags = abi::WarmblockMark(7);
    abi::Params p{};
    p.basic.dev_sectors = (64ull << 20) / 512;
    f_.control->Put(info, p);
  }

  FakeServer f_;
};

TEST_F(DeviceLife, AddSetsUpStartsAndRemoveStopsThenDeletes) {
  Start();
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->disk_path(), "/dev/ublkb0");
  EXPECT_EQ((*dev)->size_bytes(), 1ull << 30);  // the backing's
  EXPECT_EQ((*dev)->copy_mode(), CopyMode::kUserCopy);
  EXPECT_THAT(f_.control->commands(), ElementsAre("ADD_DEV any", "SET_PARAMS 0", "START_DEV 0"));
  auto kernel = f_.control->device(0);
  ASSERT_TRUE(kernel);
  EXPECT_EQ(kernel->info.state, abi::kStateLive);
  EXPECT_EQ(kernel->info.ublksrv_pid, ::getpid());
  EXPECT_EQ(kernel->info.ublksrv_flags, abi::WarmblockMark(7));
  EXPECT_TRUE(kernel->info.flags & abi::kFUserRecovery);
  EXPECT_EQ(kernel->params.basic.dev_sectors, (1ull << 30) / 512);
  EXPECT_EQ(f_.plane.queues_on(0) + f_.plane.queues_on(1), 2u);

  f_.control->clear_commands();
  EXPECT_TRUE((*dev)->Remove().ok());
  EXPECT_THAT(f_.control->commands(), ElementsAre("STOP_DEV 0", "DEL_DEV_ASYNC 0"));
  EXPECT_FALSE(f_.control->device(0));
  EXPECT_EQ(PlacedQueues(), 0u);
  EXPECT_TRUE((*dev)->Remove().ok()) << "idempotent";
  dev->reset();
  EXPECT_EQ(f_.control->commands().size(), 2u) << "the destructor after Remove sends nothing";
}

TEST_F(DeviceLife, DestroyingTheHandleRemovesTheDevice) {
  Start();
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  f_.control->clear_commands();
  dev->reset();
  EXPECT_THAT(f_.control->commands(), ElementsAre("STOP_DEV 0", "DEL_DEV_ASYNC 0"));
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, SetParamsRefusedDeletesTheAddedDevice) {
  Start();
  f_.control->Fail("SET_PARAMS", Status::InvalidArgument("bad params"));
  auto dev = f_.server->AddDevice(Opts());
  EXPECT_EQ(dev.status().code(), Code::kInvalidArgument);
  // Nothing was attached, so nothing to stop.
  EXPECT_THAT(f_.control->commands(), ElementsAre("ADD_DEV any", "SET_PARAMS 0", "DEL_DEV_ASYNC 0"));
  EXPECT_TRUE(f_.control->DeviceIds().empty());
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, StartDevRefusedStopsTheAttachedQueuesThenDeletes) {
  Start();
  f_.control->Fail("START_DEV", Status::Error(Code::kBusy, "busy"));
  auto dev = f_.server->AddDevice(Opts());
  EXPECT_EQ(dev.status().code(), Code::kBusy);
  EXPECT_THAT(f_.control->commands(),
              ElementsAre("ADD_DEV any", "SET_PARAMS 0", "START_DEV 0", "STOP_DEV 0", "DEL_DEV_ASYNC 0"));
  EXPECT_EQ(f_.plane.queues_on(0) + f_.plane.queues_on(1), 0u) << "every queue drained";
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, AFetchThatFailsNeverStartsTheDevice) {
  Start();
  f_.plane.FailFetch(Status::Unsupported("no libaio"));
  auto dev = f_.server->AddDevice(Opts());
  EXPECT_EQ(dev.status().code(), Code::kUnsupported);
  EXPECT_THAT(f_.control->commands(), ElementsAre("ADD_DEV any", "SET_PARAMS 0", "STOP_DEV 0", "DEL_DEV_ASYNC 0"));
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, AMappingThatFailsDeletesTheDevice) {
  Start();
  f_.plane.FailMap(Status::FromErrno(ENOMEM, "mmap"));
  auto dev = f_.server->AddDevice(Opts());
  EXPECT_FALSE(dev.ok());
  EXPECT_THAT(dev.status().ToString(), HasSubstr("ublk device 0"));
  EXPECT_THAT(f_.control->commands(), ElementsAre("ADD_DEV any", "SET_PARAMS 0", "DEL_DEV_ASYNC 0"));
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, FailuresBeforeAddDevLeaveNoKernelDevice) {
  Start();
  f_.plane.set_missing_backing("/gone");
  DeviceOptions o = Opts();
  o.backing_path = "/gone";
  EXPECT_EQ(f_.server->AddDevice(o).status().code(), Code::kNotFound);
  f_.plane.set_backing(4096 + 512, false);
  o = Opts();
  o.logical_block = 4096;
  o.physical_block = 4096;
  EXPECT_EQ(f_.server->AddDevice(o).status().code(), Code::kInvalidArgument) << "size not a multiple";
  f_.control->Fail("ADD_DEV", Status::Error(Code::kNoSpace, "no ids"));
  EXPECT_EQ(f_.server->AddDevice(Opts()).status().code(), Code::kNoSpace);
  EXPECT_THAT(f_.control->commands(), ElementsAre("ADD_DEV any"));
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, WithoutAsyncDeleteTheSynchronousOneIsUsed) {
  Start();
  f_.control->set_async_delete(false);
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  f_.control->clear_commands();
  EXPECT_TRUE((*dev)->Remove().ok());
  EXPECT_THAT(f_.control->commands(), ElementsAre("STOP_DEV 0", "DEL_DEV_ASYNC 0", "DEL_DEV 0"));
  EXPECT_FALSE(f_.control->device(0));
}

TEST_F(DeviceLife, SafeStopRefusesAnOpenDiskUntilForced) {
  Start(kFakeKernel | abi::kFSafeStopDev);
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  f_.control->SetDiskOpen(0, true);
  f_.control->clear_commands();
  Status s = (*dev)->Remove();
  EXPECT_EQ(s.code(), Code::kBusy);
  EXPECT_THAT(s.ToString(), HasSubstr("open by another process"));
  f_.plane.SetHeld("/dev/ublkb0", true);
  EXPECT_THAT((*dev)->Remove().ToString(), HasSubstr("mounted"));
  EXPECT_THAT(f_.control->commands(), ElementsAre("TRY_STOP_DEV 0", "TRY_STOP_DEV 0"));
  EXPECT_EQ(f_.control->device(0)->info.state, abi::kStateLive) << "a refused remove leaves the disk";

  f_.control->clear_commands();
  EXPECT_TRUE((*dev)->Remove(/*force=*/true).ok());
  EXPECT_THAT(f_.control->commands(), ElementsAre("STOP_DEV 0", "DEL_DEV_ASYNC 0"));
}

TEST_F(DeviceLife, SafeStopOfAClosedDiskStopsThenTearsDown) {
  Start(kFakeKernel | abi::kFSafeStopDev);
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  f_.control->clear_commands();
  EXPECT_TRUE((*dev)->Remove().ok());
  EXPECT_THAT(f_.control->commands(), ElementsAre("TRY_STOP_DEV 0", "STOP_DEV 0", "DEL_DEV_ASYNC 0"));
}

TEST_F(DeviceLife, WithoutSafeStopAnExclusiveHolderKeepsTheDisk) {
  Start();
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  f_.plane.SetHeld("/dev/ublkb0", true);
  f_.control->clear_commands();
  EXPECT_EQ((*dev)->Remove().code(), Code::kBusy);
  EXPECT_TRUE(f_.control->commands().empty());
}

TEST_F(DeviceLife, ResizeNeedsUpdateSizeAndOnlyGrows) {
  Start();
  auto dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)->Resize(2ull << 30).code(), Code::kUnsupported);
  dev->reset();

  Start(kFakeKernel | abi::kFUpdateSize);
  dev = f_.server->AddDevice(Opts());
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)->Resize(1ull << 29).code(), Code::kInvalidArgument);
  EXPECT_EQ((*dev)->Resize((1ull << 30) + 512).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*dev)->Resize(2ull << 30).ok());
  EXPECT_EQ((*dev)->size_bytes(), 2ull << 30);
  EXPECT_EQ(f_.control->device(0)->params.basic.dev_sectors, (2ull << 30) / 512);
}

TEST_F(DeviceLife, AdoptTakesOverAQuiescedDeviceOfItsOwner) {
  Start();
  PutAbandoned(5, abi::kStateQuiesced);
  auto dev = f_.server->AdoptDevice(5, "/backing");
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->disk_path(), "/dev/ublkb5");
  EXPECT_EQ((*dev)->size_bytes(), 64ull << 20) << "the kernel's size, not the backing's";
  EXPECT_EQ((*dev)->copy_mode(), CopyMode::kUserCopy);
  EXPECT_THAT(f_.control->commands(), ElementsAre("START_USER_RECOVERY 5", "END_USER_RECOVERY 5"));
  EXPECT_EQ(f_.control->device(5)->info.state, abi::kStateLive);
  EXPECT_EQ(f_.control->device(5)->info.ublksrv_pid, ::getpid());
  EXPECT_EQ(PlacedQueues(), 2u);
}

TEST_F(DeviceLife, AdoptRefusesWhatIsNotItsToTakeAndLeavesIt) {
  Start();
  EXPECT_EQ(f_.server->AdoptDevice(9, "/backing").status().code(), Code::kNotFound) << "unknown id";
  PutAbandoned(1, abi::kStateQuiesced);
  abi::DevInfo other = f_.control->device(1)->info;
  other.dev_id = 2;
  other.ublksrv_flags = abi::WarmblockMark(8);
  f_.control->Put(other, {});
  EXPECT_EQ(f_.server->AdoptDevice(2, "/backing").status().code(), Code::kInvalidArgument) << "another owner";
  PutAbandoned(3, abi::kStateQuiesced, abi::kFUserCopy);
  EXPECT_EQ(f_.server->AdoptDevice(3, "/backing").status().code(), Code::kUnsupported) << "no recovery";
  PutAbandoned(4, abi::kStateQuiesced, abi::kFAutoBufReg | abi::kFUserRecovery);
  EXPECT_EQ(f_.server->AdoptDevice(4, "/backing", BackendKind::kLibaio).status().code(), Code::kUnsupported)
      << "zero copy over libaio";
  PutAbandoned(6, abi::kStateDead);
  EXPECT_EQ(f_.server->AdoptDevice(6, "/backing").status().code(), Code::kNotFound) << "never started";
  PutAbandoned(7, abi::kStateLive, abi::kFUserCopy | abi::kFUserRecovery, ::getpid());
  EXPECT_EQ(f_.server->AdoptDevice(7, "/backing").status().code(), Code::kAlreadyExists) << "served by us";
  f_.plane.set_missing_backing("/gone");
  EXPECT_EQ(f_.server->AdoptDevice(1, "/gone").status().code(), Code::kNotFound) << "backing missing";

  // None of these touched a device: each stays for a later attempt.
  for (const std::string& c : f_.control->commands()) EXPECT_THAT(c, HasSubstr("START_USER_RECOVERY")) << c;
  EXPECT_EQ(f_.control->DeviceIds().size(), 6u);
  EXPECT_EQ(f_.control->device(1)->info.state, abi::kStateQuiesced);
  EXPECT_EQ(PlacedQueues(), 0u);
}

TEST_F(DeviceLife, AdoptThatFailsAfterTheQueuesAttachRemovesTheDevice) {
  Start();
  PutAbandoned(5, abi::kStateQuiesced);
  f_.control->Fail("END_USER_RECOVERY", Status::Error(Code::kBusy, "refused"));
  auto dev = f_.server->AdoptDevice(5, "/backing");
  EXPECT_EQ(dev.status().code(), Code::kBusy);
  EXPECT_THAT(f_.control->commands(),
              ElementsAre("START_USER_RECOVERY 5", "END_USER_RECOVERY 5", "STOP_DEV 5", "DEL_DEV_ASYNC 5"));
  EXPECT_FALSE(f_.control->device(5));
  EXPECT_EQ(PlacedQueues(), 0u);
}

}  // namespace
}  // namespace warmblock::ublk
