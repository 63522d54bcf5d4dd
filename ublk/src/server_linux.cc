// The Server over the Linux driver.
#include "server.h"

namespace warmblock::ublk {

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  ServerParts parts;
  WB_ASSIGN_OR_RETURN(parts.control, LinuxControl());
  parts.files = LinuxDeviceFiles();
  parts.start_reactor = [options](unsigned index, bool zero_copy, BlockingWorker& blocking) {
    return Reactor::Start(index, options, zero_copy, blocking);
  };
  return StartServer(options, std::move(parts));
}

}  // namespace warmblock::ublk
