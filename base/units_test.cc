#include "warmblock/base/units.h"

#include <gtest/gtest.h>

namespace warmblock {
namespace {

TEST(Units, ParsesWhatPeopleWrite) {
  EXPECT_EQ(*ParseSize("4096", "size"), 4096u);
  EXPECT_EQ(*ParseSize("4k", "size"), 4096u);
  EXPECT_EQ(*ParseSize("512M", "size"), 512ull << 20);
  EXPECT_EQ(*ParseSize("1GiB", "size"), 1ull << 30);
  EXPECT_EQ(*ParseSize("2gb", "size"), 2ull << 30);
  EXPECT_EQ(*ParseSize("3T", "size"), 3ull << 40);
  EXPECT_EQ(*ParseSize("100B", "size"), 100u);
}

TEST(Units, RejectsTheRestNamingTheField) {
  for (const char* bad : {"", "G", "-1", "1.5G", "1X", "1 G", "1GG", "99999999999999999999", "20000000P"}) {
    auto r = ParseSize(bad, "pool.data_size");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().ToString().find("pool.data_size"), std::string::npos) << r.status().ToString();
  }
}

TEST(Units, FormatsTheShortestExactForm) {
  EXPECT_EQ(FormatSize(0), "0");
  EXPECT_EQ(FormatSize(1536), "1536");
  EXPECT_EQ(FormatSize(4096), "4K");
  EXPECT_EQ(FormatSize(1ull << 30), "1G");
  EXPECT_EQ(FormatSize(3ull << 40), "3T");
  EXPECT_EQ(*ParseSize(FormatSize(123ull << 20), "x"), 123ull << 20);
}

}  // namespace
}  // namespace warmblock
