// ublk_serve BACKING: serves one recoverable ublk device over BACKING, prints
// its id on stdout and serves until killed. The recovery test kills it with
// SIGKILL and adopts the device from another process.
#include <unistd.h>

#include <cstdio>

#include "warmblock/ublk/ublk.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s BACKING\n", argv[0]);
    return 2;
  }
  auto server = warmblock::ublk::Server::Start({1});
  if (!server.ok()) {
    std::fprintf(stderr, "ublk_serve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  warmblock::ublk::DeviceOptions o;
  o.backing_path = argv[1];
  o.recovery = true;
  auto dev = (*server)->AddDevice(o);
  if (!dev.ok()) {
    std::fprintf(stderr, "ublk_serve: %s\n", dev.status().ToString().c_str());
    return 1;
  }
  std::printf("%u\n", (*dev)->id());
  std::fflush(stdout);
  for (;;) ::pause();
}
