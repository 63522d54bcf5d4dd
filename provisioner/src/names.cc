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

Status ValidateVolumeName(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("name: " + Quoted(name) + " " + why +
                                   " (1-63 of A-Z a-z 0-9 _ . -, not starting with . _ or -)");
  };
  if (name.empty() || name.size() > 63) return bad("has the wrong length");
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool alnum = std::isalnum(c) != 0;
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return bad("has a character it may not");
  }
  return Status::OK();
}

}  // namespace warmblock::provisioner
