// ublk_census STATE_DIR: prints, as one JSON array, the ublk devices that
// carry the owner mark of the warmblockd using STATE_DIR (exactly as its
// configuration spells it), served or not: what invariants.py counts as
// the daemon's devices. Exit 1 if the kernel cannot be asked.
#include <cstdio>
#include <string>

#include "warmblock/provisioner/provisioner.h"
#include "warmblock/ublk/ublk.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s STATE_DIR\n", argv[0]);
    return 2;
  }
  namespace ublk = warmblock::ublk;
  auto devices = ublk::ListOwnedDevices(warmblock::provisioner::OwnerTag(argv[1]));
  if (!devices.ok()) {
    std::fprintf(stderr, "ublk_census: %s\n", devices.status().ToString().c_str());
    return 1;
  }
  std::string out = "[";
  for (const auto& d : *devices) {
    if (out.size() > 1) out += ", ";
    out += "{\"id\": " + std::to_string(d.id) + ", \"state\": \"" + ublk::DeviceStateName(d.state) +
           "\", \"server_pid\": " + std::to_string(d.server_pid) + "}";
  }
  std::printf("%s]\n", out.c_str());
  return 0;
}
