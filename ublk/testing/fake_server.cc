#include "fake_server.h"

namespace warmblock::ublk {

Status FakeServer::Start(uint64_t features, ServerOptions options) {
  auto fake = std::make_unique<FakeControl>(features);
  control = fake.get();
  control->set_on_stop([this](uint32_t id) { plane.ReturnTags(id); });
  ServerParts parts;
  parts.control = std::move(fake);
  parts.files = plane.Files();
  parts.start_reactor = plane.ReactorStarter();
  auto started = StartServer(options, std::move(parts));
  if (!started.ok()) {
    control = nullptr;  // went with the parts
    return started.status();
  }
  server = std::move(started).value();
  return Status::OK();
}

}  // namespace warmblock::ublk
