// A Server over fakes, for the ublk module's own unit tests: no driver, no
// ring, no thread.
#pragma once

#include <memory>

#include "fake_control.h"
#include "fake_data_plane.h"
#include "server.h"

namespace warmblock::ublk {

// The features of a kernel between 6.5 and 6.16 with user copy and user
// recovery, and nothing optional: tests add what they need.
inline constexpr uint64_t kFakeKernel = abi::kFCmdIoctlEncode | abi::kFUserCopy | abi::kFUserRecovery;

struct FakeServer {
  // Starts `server` over a FakeControl reporting `features` and over
  // `plane`; STOP_DEV hands the device's tags back through `plane`.
  Status Start(uint64_t features, ServerOptions options = {});

  FakeDataPlane plane;             // outlives the server
  FakeControl* control = nullptr;  // the server's, while it lives
  std::unique_ptr<Server> server;
};

}  // namespace warmblock::ublk
