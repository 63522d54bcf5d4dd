#include "warmblock/base/proc.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace warmblock {
namespace {

TEST(Proc, ReadsThisProcessAndNotAMissingOne) {
  auto me = ReadProcStat(::getpid());
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->state, 'R');
  EXPECT_GT(me->start_time, 0u);
  EXPECT_EQ(ReadProcStat(::getpid())->start_time, me->start_time) << "stable for one process";
  EXPECT_FALSE(ReadProcStat(0).has_value());
  EXPECT_FALSE(ReadProcStat(-1).has_value());
}

TEST(Proc, AnUnreapedChildIsAZombie) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  std::optional<ProcStat> st;
  for (int i = 0; i < 500; ++i) {
    st = ReadProcStat(child);
    if (st && st->state == 'Z') break;
    ::usleep(2000);
  }
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, 'Z');
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(ReadProcStat(child).has_value()) << "reaped: gone";
}

}  // namespace
}  // namespace warmblock
