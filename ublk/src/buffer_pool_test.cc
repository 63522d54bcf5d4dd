#include "buffer_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace warmblock::ublk {
namespace {

TEST(BufferPool, BuffersArePageAlignedAndReused) {
  BufferPool pool(1 << 20);
  char* a = pool.Get(65536);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 4096, 0u);
  EXPECT_EQ(pool.in_use_bytes(), 65536u);
  pool.Put(a, 65536);
  EXPECT_EQ(pool.in_use_bytes(), 0u);
  EXPECT_EQ(pool.Get(65536), a) << "the idle buffer of that size comes back";
  char* other = pool.Get(4096);
  EXPECT_NE(other, a) << "sizes are kept apart";
  pool.Put(a, 65536);
  pool.Put(other, 4096);
}

TEST(BufferPool, ABurstsSurplusIsFreedNotKept) {
  BufferPool pool(1ull << 30, /*idle_kept=*/4);
  std::vector<char*> burst;
  for (int i = 0; i < 10; ++i) burst.push_back(pool.Get(8192));
  EXPECT_EQ(pool.in_use_bytes(), 10u * 8192);
  for (char* b : burst) pool.Put(b, 8192);
  EXPECT_EQ(pool.idle_count(), 4u);
  EXPECT_EQ(pool.in_use_bytes(), 0u);
}

TEST(BufferPool, TheCapHoldsRequestsBackButNeverTheFirst) {
  BufferPool pool(/*cap_bytes=*/100000);
  EXPECT_FALSE(pool.OverCap(1 << 20)) << "nothing in use: one request proceeds above the cap";
  char* a = pool.Get(65536);
  EXPECT_TRUE(pool.OverCap(65536));
  EXPECT_FALSE(pool.OverCap(4096));
  pool.Put(a, 65536);
  EXPECT_FALSE(pool.OverCap(65536));
}

}  // namespace
}  // namespace warmblock::ublk
