#include "orphans.h"

#include <gtest/gtest.h>

namespace warmblock::provisioner {
namespace {

using std::chrono::seconds;

TEST(OrphanWatch, ARowIsDueOnlyAfterItsOwnerWasGoneForTheGrace) {
  OrphanWatch w(seconds(10));
  auto t0 = OrphanWatch::Clock::time_point{} + seconds(100);
  EXPECT_TRUE(w.Due({1, 2}, t0).empty());
  EXPECT_TRUE(w.Due({1, 2}, t0 + seconds(9)).empty());
  EXPECT_EQ(w.Due({1, 2, 3}, t0 + seconds(10)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(w.Due({3}, t0 + seconds(20)), (std::vector<int64_t>{3}));
}

TEST(OrphanWatch, AnOwnerSeenAgainStartsTheGraceOver) {
  OrphanWatch w(seconds(10));
  auto t0 = OrphanWatch::Clock::time_point{} + seconds(100);
  EXPECT_TRUE(w.Due({1}, t0).empty());
  EXPECT_TRUE(w.Due({}, t0 + seconds(5)).empty());  // back (a slow /proc read, say)
  EXPECT_TRUE(w.Due({1}, t0 + seconds(12)).empty());
  EXPECT_EQ(w.Due({1}, t0 + seconds(22)), (std::vector<int64_t>{1}));
}

TEST(OrphanWatch, AFailedReleaseIsReportedOnceWhileItKeepsFailing) {
  OrphanWatch w(seconds(0));
  auto t0 = OrphanWatch::Clock::time_point{} + seconds(100);
  EXPECT_EQ(w.Due({7}, t0), (std::vector<int64_t>{7}));
  EXPECT_TRUE(w.FirstFailure(7));
  EXPECT_EQ(w.Due({7}, t0 + seconds(1)), (std::vector<int64_t>{7}));
  EXPECT_FALSE(w.FirstFailure(7));
  w.Due({}, t0 + seconds(2));  // released or owner back: forgotten
  w.Due({7}, t0 + seconds(3));
  EXPECT_TRUE(w.FirstFailure(7));
}

}  // namespace
}  // namespace warmblock::provisioner
