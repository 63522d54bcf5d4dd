// Helpers shared by the kernel tests (CTest label `kernel`). They run against
// the real kernel: in the VM from tools/test, or natively on a host that has
// device-mapper thin and ublk. Where the kernel lacks them a test skips itself,
// unless WARMBLOCK_REQUIRE_KERNEL=1 (set by the VM harness), where the missing
// feature is a failure: a skipped kernel test is not a pass.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "warmblock/base/process.h"

namespace warmblock::testing {

inline bool KernelRequired() {
  const char* v = std::getenv("WARMBLOCK_REQUIRE_KERNEL");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// Empty if usable, else why not.
inline std::string DmThinMissing() {
  if (::geteuid() != 0) return "not root";
  if (::access("/dev/mapper/control", R_OK | W_OK) != 0) return "no /dev/mapper/control";
  if (::access("/dev/loop-control", R_OK | W_OK) != 0) return "no /dev/loop-control";
  return "";
}

// Empty if both device-mapper thin and ublk are usable, else why not.
inline std::string DmThinOrUblkMissing() {
  std::string dm = DmThinMissing();
  if (!dm.empty()) return dm;
  if (::access("/dev/ublk-control", R_OK | W_OK) != 0) return "no /dev/ublk-control";
  return "";
}

// Skips (or fails when required) the current test if `missing` is non-empty.
#define WB_REQUIRE_KERNEL_FEATURE(missing)                                                   \
  do {                                                                                       \
    std::string wb_missing_ = (missing);                                                     \
    if (!wb_missing_.empty()) {                                                              \
      if (::warmblock::testing::KernelRequired()) FAIL() << "kernel lacks: " << wb_missing_; \
      GTEST_SKIP() << "kernel lacks: " << wb_missing_;                                       \
    }                                                                                        \
  } while (0)

// A directory for pool files on the scratch file system (tmpfs in the VM).
inline std::string ScratchDir(const std::string& tag) {
  const char* base = std::getenv("WARMBLOCK_SCRATCH");
  std::string dir = std::string(base ? base : "/tmp") + "/wbk-" + std::to_string(::getpid()) + "-" + tag;
  return dir;
}

// Runs argv[0] (looked up in PATH) with stdout discarded; its exit code
// as warmblock::Run gives it.
inline int RunCommand(const std::vector<std::string>& argv) {
  Stdio quiet;
  quiet.out_path = "/dev/null";
  return Run(argv, quiet);
}

// Its stdout in *out; stderr goes to the test's log.
using warmblock::RunCapture;

}  // namespace warmblock::testing
