#include "warmblock/base/text.h"

#include <gtest/gtest.h>

namespace warmblock {
namespace {

TEST(Text, QuotedEscapesWhatCouldForgeALine) {
  EXPECT_EQ(Quoted("web"), "\"web\"");
  EXPECT_EQ(Quoted("evil\"\nwarmblockd: created volume \"x"), "\"evil\\\"\\nwarmblockd: created volume \\\"x\"");
  EXPECT_EQ(Quoted(std::string("a\0b", 3)), "\"a\\x00b\"");
  EXPECT_EQ(Quoted("\x1b[2J\t\r\\\x7f"), "\"\\x1b[2J\\t\\r\\\\\\x7f\"");
  EXPECT_EQ(Quoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"") << "UTF-8 stays readable";
}

TEST(Text, EscapeControlLeavesQuotesAndPrintableText) {
  EXPECT_EQ(EscapeControl("volume \"a\" made"), "volume \"a\" made");
  EXPECT_EQ(EscapeControl("two\nlines"), "two\\nlines");
}

}  // namespace
}  // namespace warmblock
