// The Server over given kernel interfaces: Server::Start passes the Linux
// ones; unit tests pass fakes (ublk/testing) to run a device's life without
// the driver.
#pragma once

#include <functional>
#include <memory>

#include "blocking_worker.h"
#include "control.h"
#include "device_files.h"
#include "reactor.h"
#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

struct ServerParts {
  std::unique_ptr<Control> control;
  std::unique_ptr<DeviceFiles> files;
  // Starts reactor `index`; `zero_copy` asks for a registered-buffer table.
  // `blocking` is the server's, for the reactor's blocking calls; it is
  // destroyed before the reactors.
  std::function<Result<std::unique_ptr<Reactor>>(unsigned index, bool zero_copy, BlockingWorker& blocking)>
      start_reactor;
};

// Probes the features through `parts.control` and starts the reactors.
// Errors as Server::Start's.
Result<std::unique_ptr<Server>> StartServer(const ServerOptions& options, ServerParts parts);

}  // namespace warmblock::ublk
