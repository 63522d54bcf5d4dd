#include "process.h"

#include <gtest/gtest.h>

namespace warmblock::provisioner {
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

}  // namespace
}  // namespace warmblock::provisioner
