#include "warmblock/provisioner/state_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace warmblock::provisioner {
namespace {

using Role = StateLock::Role;

std::string Dir() {
  std::string d = ::testing::TempDir() + "/state_lock_test_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::remove_all(d);
  return d;
}

TEST(StateLock, ASecondHolderIsRefusedWithTheFirstOnesPid) {
  std::string dir = Dir();
  EXPECT_FALSE(*StateLock::Held(dir)) << "no directory yet";
  auto first = StateLock::Acquire(dir, Role::kDaemon);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*StateLock::Held(dir));
  auto second = StateLock::Acquire(dir, Role::kDaemon, /*wait_ms=*/200);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().ToString();
  EXPECT_NE(second.status().message().find(dir), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(StateLock, TheLockGoesWithItsHolder) {
  std::string dir = Dir();
  {
    auto held = StateLock::Acquire(dir, Role::kDaemon);
    ASSERT_TRUE(held.ok());
  }
  EXPECT_FALSE(*StateLock::Held(dir));
  // A holder that dies without cleaning up (kill -9) leaves no stale lock.
  pid_t child = ::fork();
  if (child == 0) {
    auto held = StateLock::Acquire(dir, Role::kDaemon);
    ::_exit(held.ok() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(StateLock::Acquire(dir, Role::kDaemon).ok());
  std::filesystem::remove_all(dir);
}

TEST(StateLock, ADaemonWaitsOutAReleaserButNotAnotherDaemon) {
  std::string dir = Dir();
  auto releaser = std::make_unique<StateLock>(StateLock::Acquire(dir, Role::kReleaser).value());
  std::thread done([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    releaser.reset();
  });
  auto start = std::chrono::steady_clock::now();
  auto daemon = StateLock::Acquire(dir, Role::kDaemon, /*wait_ms=*/10000);
  done.join();
  ASSERT_TRUE(daemon.ok()) << daemon.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  auto releaser2 = StateLock::Acquire(dir, Role::kReleaser, /*wait_ms=*/10000);
  ASSERT_FALSE(releaser2.ok()) << "a daemon's lock is never waited for";
  EXPECT_NE(releaser2.status().message().find("warmblockd daemon pid"), std::string::npos)
      << releaser2.status().ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warmblock::provisioner
