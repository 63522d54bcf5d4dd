#include "growth.h"

#include <gtest/gtest.h>

namespace warmblock::provisioner {
namespace {

constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30, kBlock = 64 << 10;

// An embedded pool of 1 GiB that may grow to 4 GiB in 1 GiB steps, with
// 64 MiB of metadata, and a status with plenty of space.
struct Growth : ::testing::Test {
  Growth() {
    cfg.pool_data_bytes = kGiB;
    cfg.pool_metadata_bytes = 64 * kMiB;
    cfg.pool_max_data_bytes = 4 * kGiB;
    cfg.pool_grow_step_bytes = kGiB;
    pool.data_bytes = kGiB;
    pool.metadata_bytes = 64 * kMiB;
    st.data_total = kGiB / kBlock;
    st.data_used = st.data_total / 2;
    st.metadata_total = 64 * kMiB / 4096;
    st.metadata_used = st.metadata_total / 10;
  }
  Config cfg;
  thinpool::PoolOptions pool;
  thinpool::PoolStatus st;
};

TEST_F(Growth, APoolWithSpaceDoesNotGrow) { EXPECT_FALSE(PlanGrowth(cfg, pool, st, kBlock)); }

TEST_F(Growth, AtTheLowWaterMarkDataGrowsByAStepAndMetadataInProportion) {
  st.data_used = st.data_total - st.data_total / 20;  // the 5% mark
  auto plan = PlanGrowth(cfg, pool, st, kBlock);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->data_bytes, 2 * kGiB);
  EXPECT_EQ(plan->metadata_bytes, 128 * kMiB);
}

TEST_F(Growth, AStepStopsAtTheLimitAndAPoolAtItsLimitDoesNotGrow) {
  st.mode = thinpool::PoolStatus::Mode::kOutOfDataSpace;
  pool.data_bytes = 3 * kGiB + 512 * kMiB;
  pool.metadata_bytes = 256 * kMiB;
  auto plan = PlanGrowth(cfg, pool, st, kBlock);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->data_bytes, 4 * kGiB);
  pool.data_bytes = 4 * kGiB;
  EXPECT_FALSE(PlanGrowth(cfg, pool, st, kBlock));
}

TEST_F(Growth, LowMetadataAloneGrowsMetadataToWhatTheLimitNeeds) {
  st.metadata_used = st.metadata_total - st.metadata_total / 5;  // below a quarter free
  auto plan = PlanGrowth(cfg, pool, st, kBlock);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->data_bytes, kGiB);
  EXPECT_EQ(plan->metadata_bytes, 256 * kMiB);
  st.metadata_low_watermark = 1;  // the kernel's own threshold, far lower
  EXPECT_FALSE(PlanGrowth(cfg, pool, st, kBlock));
}

TEST_F(Growth, APoolOnTheUsersDevicesNeverGrows) {
  pool.data_device = "/dev/vg/data";
  st.mode = thinpool::PoolStatus::Mode::kOutOfDataSpace;
  EXPECT_FALSE(PlanGrowth(cfg, pool, st, kBlock));
}

TEST_F(Growth, WithoutAConfiguredMetadataSizeThePoolsDefaultRuleApplies) {
  cfg.pool_metadata_bytes = 0;
  EXPECT_EQ(MetadataFor(cfg, kBlock, 2 * kGiB), thinpool::DefaultMetadataBytes(2 * kGiB, kBlock / 512));
}

TEST_F(Growth, ALoweredLimitDoesNotShrinkThePool) {
  cfg.pool_max_data_bytes = kGiB / 2;
  EXPECT_EQ(DataLimit(cfg, pool), kGiB);
}

TEST_F(Growth, AFullPoolSaysWhatTheUserCanDo) {
  EXPECT_EQ(FullReason(cfg, pool, st, kBlock, ""), "");
  st.data_used = st.data_total;
  EXPECT_EQ(FullReason(cfg, pool, st, kBlock, ""), "the pool is full (rw, 1G of 1G used); delete volumes");
  EXPECT_NE(FullReason(cfg, pool, st, kBlock, "no space on /var").find("growing it failed (no space on /var)"),
            std::string::npos);
  pool.data_bytes = 4 * kGiB;
  EXPECT_NE(FullReason(cfg, pool, st, kBlock, "").find("raise pool.max_data_size"), std::string::npos);
  cfg.pool_max_data_bytes = 0;
  pool.data_bytes = kGiB;
  EXPECT_NE(FullReason(cfg, pool, st, kBlock, "").find("set pool.max_data_size so that it grows"), std::string::npos);
  pool.data_device = "/dev/vg/data";
  EXPECT_NE(FullReason(cfg, pool, st, kBlock, "").find("extend its devices"), std::string::npos);
  st.data_used = 0;
  st.mode = thinpool::PoolStatus::Mode::kReadOnly;
  EXPECT_NE(FullReason(cfg, pool, st, kBlock, "").find("the pool is full (ro,"), std::string::npos);
}

}  // namespace
}  // namespace warmblock::provisioner
