#include "catalog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace warmblock::thinpool {
namespace {

Catalog Sample() {
  Catalog c;
  c.options.name = "p1";
  c.options.data_bytes = 1 << 30;
  c.options.metadata_bytes = 4 << 20;
  c.options.block_sectors = 256;
  c.options.error_if_no_space = true;
  c.transaction_id = 12;
  c.next_id = 40;
  c.thins[3] = Thin{3, "golden-ext4", 1 << 30, std::nullopt};
  c.thins[39] = Thin{39, "vol-a", 1 << 30, 3u};
  c.pending = PendingChange{PendingChange::Kind::kDelete, c.thins[39]};
  return c;
}

TEST(Catalog, RoundTripsEveryField) {
  Catalog c = Sample();
  auto back = ParseCatalog(SerializeCatalog(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(SerializeCatalog(*back), SerializeCatalog(c));
  EXPECT_EQ(back->thins.at(39).origin, 3u);
  EXPECT_FALSE(back->thins.at(3).origin.has_value());
  ASSERT_TRUE(back->pending.has_value());
  EXPECT_EQ(back->pending->kind, PendingChange::Kind::kDelete);
  EXPECT_TRUE(back->options.error_if_no_space);
}

TEST(Catalog, DevicePathsWithSpacesSurvive) {
  Catalog c = Sample();
  c.embedded = false;
  c.options.data_device = "/dev/disk/by-id/my disk";
  c.options.metadata_device = "/dev/vg/meta";
  auto back = ParseCatalog(SerializeCatalog(c));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->embedded);
  EXPECT_EQ(back->options.data_device, "/dev/disk/by-id/my disk");
}

TEST(Catalog, TruncatedOrGarbledTextIsCorruption) {
  std::string text = SerializeCatalog(Sample());
  auto cut = ParseCatalog(text.substr(0, text.size() - 4));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), Status::Code::kCorruption);
  auto dup = ParseCatalog("warmblock-thinpool-catalog 1\nthin 1 512 - a\nthin 1 512 - b\nend\n");
  EXPECT_EQ(dup.status().code(), Status::Code::kCorruption) << "duplicate ids must not load";
  EXPECT_FALSE(ParseCatalog("something else\nend\n").ok());
  EXPECT_FALSE(ParseCatalog("warmblock-thinpool-catalog 1\nbogus 1\nend\n").ok());
}

TEST(Catalog, WriteIsAtomicAndReadable) {
  std::string dir = ::testing::TempDir() + "/catalog_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteCatalog(dir, Sample()).ok());
  EXPECT_FALSE(std::filesystem::exists(CatalogPath(dir) + ".tmp"));
  auto back = ReadCatalog(dir);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->next_id, 40u);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ReadCatalog(dir).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace warmblock::thinpool
