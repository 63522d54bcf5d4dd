// Names warmblockd gives the things it owns.
#pragma once

#include <string>

namespace warmblock::provisioner {

// A thin name no other thin has: `prefix` and 64 random bits in hex.
// Thread-safe.
std::string RandomThinName(const char* prefix);

}  // namespace warmblock::provisioner
