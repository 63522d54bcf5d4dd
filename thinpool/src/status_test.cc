#include "warmblock/thinpool/status.h"

#include <gtest/gtest.h>

namespace warmblock::thinpool {
namespace {

TEST(PoolStatusParse, FullLineOfACurrentKernel) {
  auto st = ParsePoolStatus("7 21/4096 100/16384 - rw discard_passdown queue_if_no_space - 1024");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->transaction_id, 7u);
  EXPECT_EQ(st->metadata_used, 21u);
  EXPECT_EQ(st->metadata_total, 4096u);
  EXPECT_EQ(st->data_used, 100u);
  EXPECT_EQ(st->data_total, 16384u);
  EXPECT_EQ(st->mode, PoolStatus::Mode::kReadWrite);
  EXPECT_TRUE(st->discard_passdown);
  EXPECT_FALSE(st->error_if_no_space);
  EXPECT_FALSE(st->needs_check);
  EXPECT_EQ(st->metadata_low_watermark, 1024u);
}

TEST(PoolStatusParse, ModesAndFlags) {
  auto st = ParsePoolStatus("0 1/2 3/3 55 out_of_data_space no_discard_passdown error_if_no_space needs_check 9");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mode, PoolStatus::Mode::kOutOfDataSpace);
  EXPECT_FALSE(st->discard_passdown);
  EXPECT_TRUE(st->error_if_no_space);
  EXPECT_TRUE(st->needs_check);
  auto ro = ParsePoolStatus("0 1/2 3/3 - ro discard_passdown queue_if_no_space -");
  ASSERT_TRUE(ro.ok()) << "kernels before 4.19 omit the low watermark";
  EXPECT_EQ(ro->mode, PoolStatus::Mode::kReadOnly);
  EXPECT_EQ(ro->metadata_low_watermark, 0u);
  auto fail = ParsePoolStatus("Fail");
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(fail->mode, PoolStatus::Mode::kFail);
}

TEST(PoolStatusParse, RejectsMalformedInputWithTheText) {
  for (const char* bad :
       {"", "1 2 3", "x 1/2 3/4 - rw discard_passdown queue_if_no_space -",
        "1 5/2 3/4 - rw discard_passdown queue_if_no_space -",  // used > total
        "1 1/2 3/4 - rx discard_passdown queue_if_no_space -", "1 1/2 3/4 - rw discard_passdown maybe_if_no_space -",
        "1 1/2 3/4 - rw discard_passdown queue_if_no_space ? 4",
        "1 1/2 3/4 - rw discard_passdown queue_if_no_space - x",
        "1 1/ 3/4 - rw discard_passdown queue_if_no_space -"}) {
    auto st = ParsePoolStatus(bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.status().code(), Status::Code::kCorruption);
    EXPECT_NE(st.status().message().find(bad), std::string::npos);
  }
}

TEST(ThinStatusParse, MappedAndEmptyAndFailed) {
  auto st = ParseThinStatus("2048 4095");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mapped_sectors, 2048u);
  EXPECT_EQ(st->highest_mapped_sector, 4095u);
  EXPECT_TRUE(ParseThinStatus("0 -").ok());
  EXPECT_TRUE(ParseThinStatus("Fail")->failed);
  EXPECT_FALSE(ParseThinStatus("1").ok());
  EXPECT_FALSE(ParseThinStatus("a b").ok());
}

}  // namespace
}  // namespace warmblock::thinpool
