#include "warmblock/provisioner/model.h"

#include <cctype>

#include "warmblock/base/text.h"

namespace warmblock::provisioner {
namespace {

constexpr const char* kStates[] = {"ready", "lost"};
constexpr const char* kSources[] = {"warm", "grown", "cold", "existing"};

template <typename E, size_t N>
std::optional<E> Parse(const char* const (&names)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace

const char* Name(VolumeState s) { return kStates[static_cast<int>(s)]; }
const char* Name(Source s) { return kSources[static_cast<int>(s)]; }
std::optional<VolumeState> ParseVolumeState(std::string_view s) { return Parse<VolumeState>(kStates, s); }
std::optional<Source> ParseSource(std::string_view s) { return Parse<Source>(kSources, s); }

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

double PoolReport::Overcommit() const {
  return data_total_bytes == 0 ? 0 : static_cast<double>(provisioned_bytes) / data_total_bytes;
}

}  // namespace warmblock::provisioner
