#include "placement.h"

#include <gtest/gtest.h>

#include "uapi.h"

namespace warmblock::ublk {
namespace {

using Code = Status::Code;

Features With(uint64_t flags) { return Features{flags}; }

const Features kNew = With(abi::kFAutoBufReg | abi::kFUserCopy | abi::kFNeedGetData);
const Features kLts = With(abi::kFUserCopy | abi::kFNeedGetData);
const Features kOld = With(abi::kFNeedGetData);

TEST(ChooseCopyMode, AutoTakesTheBestTheKernelAndBackEndAllow) {
  EXPECT_EQ(*ChooseCopyMode(kNew, CopyMode::kAuto, BackendKind::kIoUring), CopyMode::kZeroCopy);
  EXPECT_EQ(*ChooseCopyMode(kNew, CopyMode::kAuto, BackendKind::kLibaio), CopyMode::kUserCopy);
  EXPECT_EQ(*ChooseCopyMode(kNew, CopyMode::kAuto, BackendKind::kIoUring, /*zero_copy_fits=*/false),
            CopyMode::kUserCopy);
  EXPECT_EQ(*ChooseCopyMode(kLts, CopyMode::kAuto, BackendKind::kIoUring), CopyMode::kUserCopy);
  EXPECT_EQ(*ChooseCopyMode(kOld, CopyMode::kAuto, BackendKind::kIoUring), CopyMode::kBuffered);
  EXPECT_EQ(ChooseCopyMode(With(0), CopyMode::kAuto, BackendKind::kIoUring).status().code(), Code::kUnsupported);
}

TEST(ChooseCopyMode, AnExplicitModeIsHonouredOrRefusedWithTheReason) {
  EXPECT_EQ(*ChooseCopyMode(kNew, CopyMode::kBuffered, BackendKind::kIoUring), CopyMode::kBuffered);
  EXPECT_EQ(*ChooseCopyMode(kNew, CopyMode::kUserCopy, BackendKind::kIoUring), CopyMode::kUserCopy);
  auto lts = ChooseCopyMode(kLts, CopyMode::kZeroCopy, BackendKind::kIoUring);
  EXPECT_EQ(lts.status().code(), Code::kUnsupported);
  EXPECT_NE(lts.status().ToString().find("AUTO_BUF_REG"), std::string::npos) << lts.status().ToString();
  auto aio = ChooseCopyMode(kNew, CopyMode::kZeroCopy, BackendKind::kLibaio);
  EXPECT_NE(aio.status().ToString().find("io_uring back end"), std::string::npos) << aio.status().ToString();
  EXPECT_EQ(ChooseCopyMode(kOld, CopyMode::kUserCopy, BackendKind::kIoUring).status().code(), Code::kUnsupported);
}

TEST(Placement, QueuesSpreadOverTheLeastLoadedReactors) {
  Placement p(3, 100);
  EXPECT_EQ(*p.Place(4, 8, false), (std::vector<unsigned>{0, 1, 2, 0}));
  EXPECT_EQ(*p.Place(2, 8, false), (std::vector<unsigned>{1, 2}));
  p.Release(0, 8, false);
  p.Release(0, 8, false);
  EXPECT_EQ(*p.Place(1, 8, false), (std::vector<unsigned>{0}));
  EXPECT_EQ(p.queues(0), 1u);
  EXPECT_EQ(p.queues(1), 2u);
  EXPECT_EQ(p.queues(2), 2u);
}

TEST(Placement, ZeroCopyQueuesGoWhereBufferSlotsAreFree) {
  Placement p(2, 64);
  EXPECT_EQ(*p.Place(1, 48, true), (std::vector<unsigned>{0}));
  // Reactor 1 is less loaded but reactor 0 has only 16 slots left.
  EXPECT_EQ(*p.Place(1, 32, true), (std::vector<unsigned>{1}));
  EXPECT_EQ(*p.Place(1, 16, true), (std::vector<unsigned>{0}));
  // 32 + 32 on reactor 1: fits; then nothing has 8 slots.
  EXPECT_EQ(*p.Place(1, 32, true), (std::vector<unsigned>{1}));
  EXPECT_FALSE(p.Place(1, 8, true).has_value());
  EXPECT_EQ(p.queues(0) + p.queues(1), 4u) << "a refused placement takes nothing";
  // Copying queues need no slots.
  EXPECT_TRUE(p.Place(2, 8, false).has_value());
  p.Release(1, 32, true);
  EXPECT_EQ(*p.Place(1, 8, true), (std::vector<unsigned>{1}));
  EXPECT_EQ(p.zero_copy_queues(0), 2u);
  EXPECT_EQ(p.zero_copy_queues(1), 2u);
}

TEST(Placement, AllQueuesOfADeviceFitOrNoneIsTaken) {
  Placement p(2, 64);
  EXPECT_FALSE(p.Place(3, 48, true).has_value()) << "each reactor holds one queue of 48, not three";
  EXPECT_EQ(p.queues(0) + p.queues(1), 0u);
  EXPECT_TRUE(p.Place(4, 16, true).has_value());
}

}  // namespace
}  // namespace warmblock::ublk
