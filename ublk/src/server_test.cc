// The Server over FakeControl and FakeDataPlane: start-up, where device
// queues go, and the census of devices no server serves.
#include "server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "fake_server.h"

namespace warmblock::ublk {
namespace {

using Code = Status::Code;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ServerOptions Options(unsigned reactors) {
  ServerOptions o;
  o.reactors = reactors;
  o.owner = 7;
  return o;
}

DeviceOptions Opts(uint16_t queues, uint16_t depth = 8, CopyMode copy = CopyMode::kAuto) {
  DeviceOptions o;
  o.backing_path = "/backing";
  o.queues = queues;
  o.depth = depth;
  o.copy = copy;
  return o;
}

std::vector<unsigned> QueuesPerReactor(Server& s) {
  std::vector<unsigned> out;
  for (const auto& r : s.Reactors()) out.push_back(r.queues);
  return out;
}

TEST(ServerStart, WithoutGetFeaturesTheServerDoesNotStart) {
  FakeServer f;
  auto control = std::make_unique<FakeControl>(kFakeKernel);
  control->Fail("GET_FEATURES", Status::Unsupported("EINVAL"));
  ServerParts parts;
  parts.control = std::move(control);
  parts.files = f.plane.Files();
  parts.start_reactor = f.plane.ReactorStarter();
  auto s = StartServer(Options(2), std::move(parts));
  EXPECT_EQ(s.status().code(), Code::kUnsupported);
  EXPECT_THAT(s.status().ToString(), HasSubstr("Linux >= 6.5"));
  EXPECT_TRUE(f.plane.reactors_zero_copy().empty()) << "no reactor before the probe";
}

TEST(ServerStart, AReactorThatCannotStartFailsTheServer) {
  FakeServer f;
  f.plane.FailReactor(Status::FromErrno(ENOMEM, "io_uring setup"));
  EXPECT_FALSE(f.Start(kFakeKernel, Options(2)).ok());
}

TEST(ServerStart, ReactorsGetABufferTableOnlyWhereZeroCopyExists) {
  FakeServer plain;
  ASSERT_TRUE(plain.Start(kFakeKernel, Options(3)).ok());
  EXPECT_THAT(plain.plane.reactors_zero_copy(), ElementsAre(false, false, false));
  EXPECT_EQ(plain.server->Reactors().size(), 3u);
  FakeServer zc;
  ASSERT_TRUE(zc.Start(kFakeKernel | abi::kFAutoBufReg, Options(2)).ok());
  EXPECT_THAT(zc.plane.reactors_zero_copy(), ElementsAre(true, true));
}

TEST(ServerPlacement, QueuesSpreadOverReactorsAndComeBackOnRemove) {
  FakeServer f;
  ASSERT_TRUE(f.Start(kFakeKernel, Options(2)).ok());
  auto a = f.server->AddDevice(Opts(3));
  auto b = f.server->AddDevice(Opts(1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_THAT(QueuesPerReactor(*f.server), ElementsAre(2u, 2u));
  EXPECT_EQ(f.plane.queues_on(0), 2u);
  EXPECT_EQ(f.plane.queues_on(1), 2u);
  ASSERT_TRUE((*a)->Remove().ok());
  EXPECT_EQ(f.plane.queues_on(0) + f.plane.queues_on(1), 1u);
  unsigned placed = 0;
  for (unsigned q : QueuesPerReactor(*f.server)) placed += q;
  EXPECT_EQ(placed, 1u);
}

TEST(ServerPlacement, ZeroCopyFallsBackWhenEveryBufferTableIsFull) {
  FakeServer f;
  ASSERT_TRUE(f.Start(kFakeKernel | abi::kFAutoBufReg, Options(1)).ok());
  // kMaxRingBuffers slots: four queues of 4096 tags fill the one reactor.
  auto full = f.server->AddDevice(Opts(4, 4096));
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ((*full)->copy_mode(), CopyMode::kZeroCopy);
  EXPECT_EQ(f.server->Reactors()[0].zero_copy_queues, 4u);
  EXPECT_EQ(f.control->device(0)->info.flags & abi::kFAutoBufReg, abi::kFAutoBufReg);

  auto fallback = f.server->AddDevice(Opts(1));
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ((*fallback)->copy_mode(), CopyMode::kUserCopy);
  EXPECT_EQ(f.server->AddDevice(Opts(1, 8, CopyMode::kZeroCopy)).status().code(), Code::kNoSpace);

  full->reset();
  auto again = f.server->AddDevice(Opts(1, 8, CopyMode::kZeroCopy));
  ASSERT_TRUE(again.ok()) << "slots come back with the device";
}

class Census : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.Start(kFakeKernel, Options(1)).ok()); }
  void Put(uint32_t id, uint16_t state, int32_t pid, uint32_t owner = 7) {
    abi::DevInfo info{};
    info.dev_id = id;
    info.nr_hw_queues = 1;
    info.queue_depth = 8;
    info.state = state;
    info.ublksrv_pid = pid;
    info.flags = abi::kFUserRecovery;
    info.ublksrv_flags = abi::WarmblockMark(owner);
    f_.control->Put(info, {});
  }
  FakeServer f_;
};

TEST_F(Census, AbandonedAreTheOwnersDevicesWhoseServerIsGone) {
  Put(1, abi::kStateQuiesced, -1);
  Put(2, abi::kStateLive, -1);          // its server died, not yet quiesced
  Put(3, abi::kStateDead, -1);          // added, never started
  Put(4, abi::kStateLive, 1);           // served by a running process
  Put(5, abi::kStateQuiesced, -1, 8);   // another owner's
  Put(6, abi::kStateLive, ::getpid());  // this process's
  Put(7, abi::kStateFailFast, 1);
  EXPECT_THAT(f_.server->ListAbandoned(), ElementsAre(1u, 2u, 3u, 7u));
}

TEST_F(Census, DeleteAbandonedStopsAndDeletesOnlyAnAbandonedDeviceOfItsOwner) {
  Put(1, abi::kStateQuiesced, -1);
  Put(4, abi::kStateLive, 1);
  Put(5, abi::kStateQuiesced, -1, 8);
  EXPECT_EQ(f_.server->DeleteAbandoned(4).code(), Code::kBusy);
  EXPECT_EQ(f_.server->DeleteAbandoned(5).code(), Code::kInvalidArgument);
  EXPECT_EQ(f_.server->DeleteAbandoned(9).code(), Code::kNotFound);
  EXPECT_TRUE(f_.control->commands().empty());
  EXPECT_TRUE(f_.server->DeleteAbandoned(1).ok());
  EXPECT_THAT(f_.control->commands(), ElementsAre("STOP_DEV 1", "DEL_DEV_ASYNC 1"));
  EXPECT_THAT(f_.control->DeviceIds(), ElementsAre(4u, 5u));
}

}  // namespace
}  // namespace warmblock::ublk
