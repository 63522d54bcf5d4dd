#include <gtest/gtest.h>

#include "uapi.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {
namespace {

DeviceOptions Good() {
  DeviceOptions o;
  o.backing_path = "/dev/dm-3";
  return o;
}

TEST(DeviceOptions, DefaultsAreValid) { EXPECT_TRUE(ValidateDeviceOptions(Good()).ok()); }

TEST(DeviceOptions, BadValuesNameTheField) {
  struct Case {
    void (*edit)(DeviceOptions&);
    const char* field;
  } cases[] = {
      {[](DeviceOptions& o) { o.depth = 0; }, "depth = 0"},
      {[](DeviceOptions& o) { o.depth = 4097; }, "depth = 4097"},
      {[](DeviceOptions& o) { o.queues = 0; }, "queues = 0"},
      {[](DeviceOptions& o) { o.logical_block = 3000; }, "logical_block = 3000"},
      {[](DeviceOptions& o) { o.logical_block = 8192; }, "logical_block = 8192"},
      {[](DeviceOptions& o) { o.physical_block = 256; }, "physical_block = 256"},
      {[](DeviceOptions& o) { o.max_io_bytes = 1000; }, "max_io_bytes = 1000"},
      {[](DeviceOptions& o) { o.max_io_bytes = 64u << 20; }, "max_io_bytes"},
      {[](DeviceOptions& o) { o.size_bytes = 1000; }, "size_bytes = 1000"},
      {[](DeviceOptions& o) { o.backing_path.clear(); }, "backing_path"},
  };
  for (const auto& c : cases) {
    DeviceOptions o = Good();
    c.edit(o);
    Status s = ValidateDeviceOptions(o);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
}

TEST(Features, DescribeNamesKnownFlags) {
  Features f{abi::kFUserCopy | abi::kFUserRecovery | abi::kFAutoBufReg};
  EXPECT_TRUE(f.user_copy());
  EXPECT_TRUE(f.user_recovery());
  EXPECT_FALSE(f.recovery_reissue());
  EXPECT_TRUE(f.auto_buf_reg());
  EXPECT_EQ(f.Describe(), "user_recovery user_copy auto_buf_reg");
  EXPECT_EQ(Features{}.Describe(), "none");
}

}  // namespace
}  // namespace warmblock::ublk
