#include "request.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace warmblock::ublk {
namespace {

// Records each step as text; completions are fed by the test.
class FakeSteps final : public IoSteps {
 public:
  char* GetBuffer() override {
    if (out_of_memory) return nullptr;
    ++buffers_out;
    return buffer;
  }
  void PutBuffer(char* buf) override {
    EXPECT_EQ(buf, buffer);
    --buffers_out;
  }
  void ReadBacking(char* buf, uint32_t len, uint64_t off) override {
    Log(buf == kRequestPages ? "read_backing_zc" : "read_backing", len, off);
  }
  void WriteBacking(char* buf, uint32_t len, uint64_t off, bool fua) override {
    std::string what = buf == kRequestPages ? "write_backing_zc" : "write_backing";
    Log((what + (fua ? "_fua" : "")).c_str(), len, off);
  }
  void FlushBacking() override { steps.push_back("flush"); }
  void DiscardBacking(uint64_t off, uint32_t len) override { Log("discard", len, off); }
  void ZeroBacking(uint64_t off, uint32_t len) override { Log("zero", len, off); }
  void CopyFromRequest(char*, uint32_t len) override { Log("copy_in", len, 0); }
  void CopyToRequest(char*, uint32_t len) override { Log("copy_out", len, 0); }
  void Commit(int32_t result, char* lent) override {
    steps.push_back("commit " + std::to_string(result) + (lent != nullptr ? " lent" : ""));
    if (lent != nullptr) PutBuffer(lent);  // as the reactor does after submitting
  }

  void Log(const char* what, uint64_t len, uint64_t off) {
    steps.push_back(std::string(what) + " " + std::to_string(len) + "@" + std::to_string(off));
  }

  char buffer[8] = {};
  int buffers_out = 0;
  bool out_of_memory = false;
  std::vector<std::string> steps;
};

abi::IoDesc Desc(uint8_t op, uint32_t sectors, uint64_t start, uint32_t flags = 0) {
  abi::IoDesc d{};
  d.op_flags = op | flags;
  d.nr_sectors = sectors;
  d.start_sector = start;
  return d;
}

using Steps = std::vector<std::string>;

TEST(Request, ReadGoesBackingThenCopyOutThenCommitsTheBytes) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(abi::kOpRead, 8, 16), 1 << 20, io);
  CompleteStep(r, 4096, io);
  CompleteStep(r, 4096, io);
  EXPECT_EQ(io.steps, (Steps{"read_backing 4096@8192", "copy_out 4096@0", "commit 4096"}));
  EXPECT_EQ(io.buffers_out, 0);
  EXPECT_EQ(r.stage, Request::Stage::kIdle);
}

TEST(Request, WriteCopiesInThenWritesWithFuaWhenAsked) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(abi::kOpWrite, 16, 0, abi::kIoFFua), 1 << 20, io);
  CompleteStep(r, 8192, io);
  CompleteStep(r, 8192, io);
  EXPECT_EQ(io.steps, (Steps{"copy_in 8192@0", "write_backing_fua 8192@0", "commit 8192"}));
  EXPECT_EQ(io.buffers_out, 0);
}

TEST(Request, BackingErrorsAreCommittedAndTheBufferReturned) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(abi::kOpRead, 8, 0), 1 << 20, io);
  CompleteStep(r, -EIO, io);
  EXPECT_EQ(io.steps.back(), "commit " + std::to_string(-EIO));
  EXPECT_EQ(io.buffers_out, 0);
  StartRequest(r, Desc(abi::kOpWrite, 8, 0), 1 << 20, io);
  CompleteStep(r, 4096, io);
  CompleteStep(r, -ENOSPC, io);
  EXPECT_EQ(io.steps.back(), "commit " + std::to_string(-ENOSPC));
  EXPECT_EQ(io.buffers_out, 0);
}

TEST(Request, AShortBackingReadIsPassedOnAsIs) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(abi::kOpRead, 8, 0), 1 << 20, io);
  CompleteStep(r, 512, io);
  CompleteStep(r, 512, io);
  EXPECT_EQ(io.steps, (Steps{"read_backing 4096@0", "copy_out 512@0", "commit 512"}));
}

TEST(Request, FlushDiscardAndZeroesCommitZero) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(abi::kOpFlush, 0, 0), 1 << 20, io);
  CompleteStep(r, 0, io);
  StartRequest(r, Desc(abi::kOpDiscard, 2048, 2048), 1 << 20, io);
  CompleteStep(r, 0, io);
  StartRequest(r, Desc(abi::kOpWriteZeroes, 8, 0), 1 << 20, io);
  CompleteStep(r, -EOPNOTSUPP, io);
  EXPECT_EQ(io.steps, (Steps{"flush", "commit 0", "discard 1048576@1048576", "commit 0", "zero 4096@0",
                             "commit " + std::to_string(-EOPNOTSUPP)}));
  EXPECT_EQ(io.buffers_out, 0) << "no buffer for requests without data";
}

TEST(Request, UnknownOpsOversizedRequestsAndNoMemoryFailAtOnce) {
  FakeSteps io;
  Request r;
  StartRequest(r, Desc(42, 8, 0), 1 << 20, io);
  StartRequest(r, Desc(abi::kOpWrite, 4096, 0), 1 << 20, io);  // 2 MiB > 1 MiB
  io.out_of_memory = true;
  StartRequest(r, Desc(abi::kOpRead, 8, 0), 1 << 20, io);
  EXPECT_EQ(io.steps, (Steps{"commit " + std::to_string(-EOPNOTSUPP), "commit " + std::to_string(-EINVAL),
                             "commit " + std::to_string(-ENOMEM)}));
}

TEST(Request, ZeroCopyGoesStraightToTheBackingWithNoBuffer) {
  FakeSteps io;
  io.out_of_memory = true;  // would fail any request that asked for a buffer
  Request r;
  r.mode = CopyMode::kZeroCopy;
  StartRequest(r, Desc(abi::kOpRead, 8, 16), 1 << 20, io);
  CompleteStep(r, 4096, io);
  StartRequest(r, Desc(abi::kOpWrite, 16, 0, abi::kIoFFua), 1 << 20, io);
  CompleteStep(r, 8192, io);
  EXPECT_EQ(io.steps,
            (Steps{"read_backing_zc 4096@8192", "commit 4096", "write_backing_zc_fua 8192@0", "commit 8192"}));
  EXPECT_FALSE(NeedsBuffer(CopyMode::kZeroCopy, Desc(abi::kOpWrite, 8, 0)));
}

TEST(Request, BufferedReadLendsItsBufferToTheCommit) {
  FakeSteps io;
  Request r;
  r.mode = CopyMode::kBuffered;
  StartRequest(r, Desc(abi::kOpRead, 8, 0), 1 << 20, io);
  EXPECT_EQ(io.buffers_out, 1);
  CompleteStep(r, 4096, io);
  EXPECT_EQ(io.steps, (Steps{"read_backing 4096@0", "commit 4096 lent"}));
  EXPECT_EQ(io.buffers_out, 0);
}

TEST(Request, BufferedWriteKeepsItsLengthWhenTheDriverCopyReturnsZero) {
  FakeSteps io;
  Request r;
  r.mode = CopyMode::kBuffered;
  StartRequest(r, Desc(abi::kOpWrite, 8, 8), 1 << 20, io);
  CompleteStep(r, 0, io);  // NEED_GET_DATA completes with 0, not a byte count
  CompleteStep(r, 4096, io);
  EXPECT_EQ(io.steps, (Steps{"copy_in 4096@0", "write_backing 4096@4096", "commit 4096"}));
  EXPECT_EQ(io.buffers_out, 0);
  EXPECT_TRUE(NeedsBuffer(CopyMode::kBuffered, Desc(abi::kOpWrite, 8, 0)));
  EXPECT_FALSE(NeedsBuffer(CopyMode::kBuffered, Desc(abi::kOpFlush, 0, 0)));
}

TEST(Request, AStrayCompletionIsIgnored) {
  FakeSteps io;
  Request r;
  CompleteStep(r, 4096, io);
  EXPECT_TRUE(io.steps.empty());
}

}  // namespace
}  // namespace warmblock::ublk
