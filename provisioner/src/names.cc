#include "names.h"

#include <cctype>
#include <cstdio>
#include <random>

#include "warmblock/base/text.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {

std::string RandomThinName(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[24];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix, static_cast<unsigned long long>(rng()));
  return buf;
}

uint32_t OwnerTag(const std::string& state_dir) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : state_dir) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace warmblock::provisioner
