#include "warmblock/base/process.h"

#include <gtest/gtest.h>

namespace warmblock {
namespace {

TEST(RunProgram, ReportsTheExitCodeAndTheLastLineOfOutput) {
  EXPECT_TRUE(RunProgram({"true"}).ok());
  Status s = RunProgram({"sh", "-c", "echo banner; echo 'disk too small' >&2; exit 3"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("exit 3: disk too small"), std::string::npos) << s.ToString();
  Status killed = RunProgram({"sh", "-c", "kill -9 $$"});
  EXPECT_NE(killed.message().find("signal 9"), std::string::npos) << killed.ToString();
  Status missing = RunProgram({"warmblock-no-such-program"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.ToString().find("warmblock-no-such-program"), std::string::npos) << missing.ToString();
}

TEST(Spawn, RedirectsAndReportsExitCodes) {
  std::string out;
  EXPECT_EQ(RunCapture({"sh", "-c", "echo out; echo err >&2; exit 4"}, &out), 4);
  EXPECT_EQ(out, "out\n") << "stderr is not captured unless asked";
  EXPECT_EQ(RunCapture({"sh", "-c", "echo out; echo err >&2"}, &out, /*with_stderr=*/true), 0);
  EXPECT_EQ(out, "out\nerr\n");
  EXPECT_EQ(warmblock::Run({"sh", "-c", "kill -9 $$"}), 128 + 9);
  EXPECT_EQ(warmblock::Run({"warmblock-no-such-program"}), 127);
  EXPECT_FALSE(Spawn({}).ok());

  std::string log = ::testing::TempDir() + "/spawn-log";
  Stdio to_log;
  to_log.out_path = to_log.err_path = log;
  EXPECT_EQ(warmblock::Run({"sh", "-c", "echo one; echo two >&2"}, to_log), 0);
  EXPECT_EQ(RunCapture({"cat", log}, &out), 0);
  EXPECT_EQ(out, "one\ntwo\n") << "one file for both streams, in order";
  Stdio from_log;
  from_log.in = log;
  EXPECT_EQ(warmblock::Run({"grep", "-q", "two"}, from_log), 0);
}

}  // namespace
}  // namespace warmblock
