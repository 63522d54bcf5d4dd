// ublk_serve BACKING [buffered]: serves one recoverable ublk device over
// BACKING (best copy mode, or the buffered one), prints its id on stdout and
// serves until killed. The recovery tests kill it with SIGKILL and adopt the
// device from another process.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "warmblock/ublk/ublk.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s BACKING [buffered]\n", argv[0]);
    return 2;
  }
  warmblock::ublk::ServerOptions server_options;
  server_options.reactors = 1;
  server_options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  auto server = warmblock::ublk::Server::Start(server_options);
  if (!server.ok()) {
    std::fprintf(stderr, "ublk_serve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  warmblock::ublk::DeviceOptions o;
  o.backing_path = argv[1];
  o.recovery = true;
  if (argc == 3) o.copy = warmblock::ublk::CopyMode::kBuffered;
  auto dev = (*server)->AddDevice(o);
  if (!dev.ok()) {
    std::fprintf(stderr, "ublk_serve: %s\n", dev.status().ToString().c_str());
    return 1;
  }
  std::printf("%u\n", (*dev)->id());
  std::fflush(stdout);
  for (;;) ::pause();
}
