#include "warmblock/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace warmblock {
namespace {

TEST(Status, ErrnoIsMappedToACodeAndKeptWithContext) {
  Status s = Status::FromErrno(EBUSY, "create_thin 42", "pool warmblock-pool");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_EQ(s.sys_errno(), EBUSY);
  EXPECT_EQ(s.message(), "create_thin 42: Device or resource busy (pool warmblock-pool)");
}

TEST(Status, CommonErrnosGetDistinctCodes) {
  EXPECT_EQ(Status::CodeFromErrno(ENOENT), Status::Code::kNotFound);
  EXPECT_EQ(Status::CodeFromErrno(ENODATA), Status::Code::kNotFound);
  EXPECT_EQ(Status::CodeFromErrno(EEXIST), Status::Code::kAlreadyExists);
  EXPECT_EQ(Status::CodeFromErrno(ENOSPC), Status::Code::kNoSpace);
  EXPECT_EQ(Status::CodeFromErrno(EINVAL), Status::Code::kInvalidArgument);
  EXPECT_EQ(Status::CodeFromErrno(ENOTTY), Status::Code::kUnsupported);
  EXPECT_EQ(Status::CodeFromErrno(EIO), Status::Code::kIOError);
  // errno 0 reported as a failure is still a failure.
  EXPECT_FALSE(Status::FromErrno(0, "x").ok());
}

TEST(Status, AnnotateKeepsCodeAndErrno) {
  Status s = Status::FromErrno(ENOSPC, "write").Annotate("volume v1");
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_EQ(s.message(), "volume v1: write: No space left on device");
  EXPECT_TRUE(Status::OK().Annotate("x").ok());
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  WB_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(Result, PropagatesErrorsAndValues) {
  ASSERT_TRUE(Quarter(8).ok());
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().ToString(), "invalid argument: odd");
}

}  // namespace
}  // namespace warmblock
