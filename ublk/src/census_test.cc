#include "census.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

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
// never deleted, left after --teardown (issue 14).
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
