#include "control.h"

#include <gtest/gtest.h>

namespace warmblock::ublk {
namespace {

// The ioctl-style encodings are kernel ABI; a wrong size or direction makes
// the driver reject every command.
TEST(Abi, CommandEncodingsMatchTheKernel) {
  EXPECT_EQ(abi::kCmdAddDev, 0xc0207504u);
  EXPECT_EQ(abi::kCmdStartDev, 0xc0207506u);
  EXPECT_EQ(abi::kCmdGetFeatures, 0x80207513u);
  EXPECT_EQ(abi::kCmdDelDevAsync, 0x80207514u);
  EXPECT_EQ(abi::kIoFetchReq, 0xc0107520u);
  EXPECT_EQ(abi::kIoCommitAndFetchReq, 0xc0107521u);
}

TEST(Abi, UserCopyOffsetsEncodeQueueAndTag) {
  EXPECT_EQ(abi::UserCopyOffset(0, 0), 0x80000000ull);
  EXPECT_EQ(abi::UserCopyOffset(0, 1), 0x80000000ull + (1ull << 25));
  EXPECT_EQ(abi::UserCopyOffset(2, 3), 0x80000000ull + (2ull << 41) + (3ull << 25));
  EXPECT_EQ(abi::DescOffset(1), 4096u * 24u);
}

TEST(Control, CtrlCmdCarriesDeviceBufferAndNoQueue) {
  uint64_t buf = 0;
  abi::CtrlCmd c = MakeCtrlCmd(7, &buf, sizeof buf);
  EXPECT_EQ(c.dev_id, 7u);
  EXPECT_EQ(c.queue_id, 0xffff);
  EXPECT_EQ(c.addr, reinterpret_cast<uint64_t>(&buf));
  EXPECT_EQ(c.len, 8);
  EXPECT_EQ(c.data[0], 0u);
}

}  // namespace
}  // namespace warmblock::ublk
