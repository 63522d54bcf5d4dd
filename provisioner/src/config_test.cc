#include "warmblock/provisioner/config.h"

#include <gtest/gtest.h>

namespace warmblock::provisioner {
namespace {

using Code = Status::Code;

TEST(Config, NoFileGivesWorkingDefaults) {
  auto c = LoadConfig("/nonexistent/warmblockd.toml", /*missing_ok=*/true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_dir, "/var/lib/warmblock");
  EXPECT_EQ(c->socket, "/run/warmblock/warmblockd.sock");
  ASSERT_EQ(c->classes.size(), 1u);
  EXPECT_EQ(c->MaxPoolDataBytes(), c->pool_data_bytes) << "the pool does not grow unless asked to";
  EXPECT_TRUE(ValidateConfig(*c).ok());
  EXPECT_EQ(LoadConfig("/nonexistent/warmblockd.toml", false).status().code(), Code::kNotFound);
}

TEST(Config, ReadsEveryKey) {
  auto c = ParseConfig(R"(
state_dir = "/srv/wb"
socket = "/run/wb.sock"
socket_group = "storage"
reactors = 4
orphan_grace_s = 30
held_io_timeout_s = 5
[pool]
data_size = "10G"
metadata_size = 67108864
block_size = "128K"
max_data_size = "40G"
grow_step = "5G"
[warm]
refill_concurrency = 3
[[class]]
name = "small"
size = "512M"
warm = 16
[[class]]
name = "big-xfs"
fs = "xfs"
size = "4G"
warm = 2
)",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_dir, "/srv/wb");
  EXPECT_EQ(c->socket_group, "storage");
  EXPECT_EQ(c->reactors, 4u);
  EXPECT_EQ(c->pool_data_bytes, 10ull << 30);
  EXPECT_EQ(c->pool_metadata_bytes, 64ull << 20);
  EXPECT_EQ(c->pool_block_bytes, 128u << 10);
  EXPECT_EQ(c->pool_max_data_bytes, 40ull << 30);
  EXPECT_EQ(c->pool_grow_step_bytes, 5ull << 30);
  EXPECT_EQ(c->MaxPoolDataBytes(), 40ull << 30);
  EXPECT_EQ(c->refill_concurrency, 3u);
  EXPECT_EQ(c->orphan_grace_s, 30u);
  EXPECT_EQ(c->held_io_timeout_s, 5u);
  ASSERT_EQ(c->classes.size(), 2u);
  EXPECT_EQ(c->classes[0].fs, "ext4") << "fs defaults to ext4";
  EXPECT_EQ(c->classes[0].size_bytes, 512ull << 20);
  EXPECT_EQ(c->classes[1].warm, 2u);
  EXPECT_EQ(c->FindClass("xfs", 4ull << 30), &c->classes[1]);
  EXPECT_EQ(c->FindClass("ext4", 4ull << 30), nullptr);
  EXPECT_EQ(c->FindClass("small"), &c->classes[0]);
}

// Each bad file fails with a message naming the key (and line).
TEST(Config, BadInputNamesTheKey) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"sate_dir = \"/x\"", "sate_dir"},
      {"[pool]\ndata_size = \"lots\"", "pool.data_size"},
      {"[pool]\nblock_size = \"4K\"", "pool.block_size"},
      {"[pool]\ndata_device = \"/dev/vg/d\"", "metadata_device"},
      {"[pool]\ndata_size = \"1G\"\nmax_data_size = \"512M\"", "pool.max_data_size: must be at least data_size"},
      {"[pool]\ndata_device = \"/dev/vg/d\"\nmetadata_device = \"/dev/vg/m\"\nmax_data_size = \"2T\"",
       "only an embedded pool grows"},
      {"[pool]\ngrow_step = \"1M\"", "pool.grow_step"},
      {"[pool]\nmax_data_size = \"lots\"", "pool.max_data_size"},
      {"reactors = -1", "reactors"},
      {"state_dir = \"relative\"", "state_dir"},
      {"[[class]]\nname = \"a\"\nfs = \"btrfs\"", "btrfs"},
      {"[[class]]\nname = \"Bad Name\"", "Bad Name"},
      {"[[class]]\nname = \"a\"\n[[class]]\nname = \"a\"", "defined twice"},
      {"[[class]]\nname = \"a\"\nsize = \"1M\"", "at least"},
      {"[[class]]\nname = \"a\"\ncolour = \"red\"", "class.colour"},
      {"[warm]\nrefill_concurrency = 0", "refill_concurrency"},
      {"this is not toml", "test.toml:1"},
  };
  for (const auto& c : cases) {
    auto r = ParseConfig(c.text, "test.toml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.text;
    EXPECT_NE(r.status().ToString().find(c.expect), std::string::npos) << c.text << " -> " << r.status().ToString();
  }
}

}  // namespace
}  // namespace warmblock::provisioner
