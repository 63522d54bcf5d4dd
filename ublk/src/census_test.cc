#include "census.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "fake_control.h"

namespace warmblock::ublk {
namespace {

abi::DevInfo Info(uint16_t state, int32_t pid) {
  abi::DevInfo info{};
  info.state = state;
  info.ublksrv_pid = pid;
  return info;
}

bool NobodyAlive(pid_t) { return false; }
bool EverybodyAlive(pid_t) { return true; }

// Linux reports ublksrv_pid -1 once the recorded server is gone. kill(-1, 0)
// succeeds (it signals every process the caller may signal), so a liveness
// test by kill() took every such device for a served one: never listed,
// never deleted, left after --teardown.
TEST(Abandoned, ServerReportedGoneIsAbandoned) {
  EXPECT_TRUE(IsAbandoned(Info(abi::kStateLive, -1), 100));
  EXPECT_TRUE(IsAbandoned(Info(abi::kStateLive, 0), 100));
  EXPECT_FALSE(ProcessAlive(-1));
  EXPECT_FALSE(ProcessAlive(0));
}

// A device added but never started (a crash between ADD_DEV and START_DEV)
// stays in the dead state, has no disk and can never be adopted: once its
// creator is gone it is abandoned.
TEST(Abandoned, NeverStartedWithCreatorGone) {
  EXPECT_TRUE(IsAbandoned(Info(abi::kStateDead, 4242), 100, NobodyAlive));
  EXPECT_FALSE(IsAbandoned(Info(abi::kStateDead, 4242), 100, EverybodyAlive));
}

TEST(Abandoned, QuiescedOrFailingIsAbandonedWhateverThePid) {
  EXPECT_TRUE(IsAbandoned(Info(abi::kStateQuiesced, 4242), 100, EverybodyAlive));
  EXPECT_TRUE(IsAbandoned(Info(abi::kStateFailFast, 4242), 100, EverybodyAlive));
}

TEST(Abandoned, LiveServerOrSelfIsNot) {
  EXPECT_FALSE(IsAbandoned(Info(abi::kStateLive, 4242), 100, EverybodyAlive));
  EXPECT_FALSE(IsAbandoned(Info(abi::kStateLive, 100), 100, NobodyAlive));
  EXPECT_FALSE(IsAbandoned(Info(abi::kStateDead, 100), 100, NobodyAlive));
}

// A killed server is a zombie until reaped: it serves nothing, and kill(pid,
// 0) still succeeds on it.
TEST(ProcessAlive, ZombieIsNotAliveRunningIs) {
  EXPECT_TRUE(ProcessAlive(::getpid()));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  // Wait (without reaping) until the child has exited.
  siginfo_t si{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &si, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(ProcessAlive(child));
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(ProcessAlive(child));
}

}  // namespace
}  // namespace warmblock::ublk

namespace warmblock::ublk {
namespace {

// FakeControl with device 3 in `state`, served by `pid`, whose
// START_USER_RECOVERY the kernel answers with EBUSY `busy` times first.
std::unique_ptr<FakeControl> WithDevice(uint16_t state, int32_t pid = -1, int busy = 0) {
  auto c = std::make_unique<FakeControl>(0);
  abi::DevInfo info{};
  info.dev_id = 3;
  info.state = state;
  info.ublksrv_pid = pid;
  c->Put(info, {});
  if (busy > 0) c->Fail("START_USER_RECOVERY", Status::FromErrno(EBUSY, "START_USER_RECOVERY"), busy);
  return c;
}

// START_USER_RECOVERY commands sent (refused ones too).
size_t Recoveries(const FakeControl& c) { return c.commands().size(); }

using Clock = std::chrono::steady_clock;

// A device stopped (or never started) when its daemon was killed is in the
// dead state, which the kernel never lets recover: AdoptDevice spent 10 s
// of EBUSY retries on each such row at start-up.
TEST(StartRecovery, ADeadDeviceIsRefusedAtOnce) {
  auto c = WithDevice(abi::kStateDead);
  auto t0 = Clock::now();
  Status s = StartRecovery(*c, 3, 100, std::chrono::seconds(10));
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(Recoveries(*c), 1u);
}

TEST(StartRecovery, ADeviceThisProcessServesIsRefusedAtOnce) {
  auto c = WithDevice(abi::kStateLive, 100);
  EXPECT_EQ(StartRecovery(*c, 3, 100, std::chrono::seconds(10)).code(), Status::Code::kAlreadyExists);
}

// The old server's char device is released a little after it died: wait.
TEST(StartRecovery, BusyWhileTheOldServerIsReleasedThenAdopts) {
  auto c = WithDevice(abi::kStateQuiesced, -1, 3);
  EXPECT_TRUE(StartRecovery(*c, 3, 100, std::chrono::seconds(10)).ok());
  EXPECT_EQ(Recoveries(*c), 4u);
}

TEST(StartRecovery, BusyForLongerThanTheBoundIsBusy) {
  auto c = WithDevice(abi::kStateQuiesced, -1, 1 << 30);
  auto t0 = Clock::now();
  Status s = StartRecovery(*c, 3, 100, std::chrono::milliseconds(100));
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_NE(s.ToString().find("still quiesced"), std::string::npos) << s.ToString();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace warmblock::ublk
