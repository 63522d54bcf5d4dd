#include "blocking_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace warmblock::ublk {
namespace {

TEST(BlockingWorker, RunsJobsInOrderOffTheCallersThread) {
  BlockingWorker w;
  std::vector<int> order;
  std::promise<std::thread::id> ran_on;
  for (int i = 0; i < 3; ++i) w.Run([&order, i] { order.push_back(i); });
  w.Run([&ran_on] { ran_on.set_value(std::this_thread::get_id()); });
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

// A reactor posts back from its jobs: none may be dropped at shutdown.
TEST(BlockingWorker, TheDestructorRunsWhatIsQueued) {
  std::atomic<int> done{0};
  {
    BlockingWorker w;
    w.Run([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
    for (int i = 0; i < 10; ++i) w.Run([&done] { ++done; });
  }
  EXPECT_EQ(done.load(), 10);
}

TEST(BlockingWorker, AnUnusedWorkerStartsNoThread) { BlockingWorker w; }

}  // namespace
}  // namespace warmblock::ublk
