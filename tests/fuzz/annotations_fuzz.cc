// ParseAnnotations on an arbitrary annotation map. The input is one
// annotation per line, KEY=VALUE split at the first '='.
//
// Invariants of an accepted map: one mount per io.warmblock.volume/ key,
// sorted by label; every mount keeps the rules the hook relies on when it
// mounts (a valid label, an absolute path outside /, /proc, /sys and /dev,
// no two mounts on the same directory, either a class or a size, ext4 or
// xfs, an ephemeral name warmblockd accepts); and writing the mounts back as
// annotations parses to the same mounts, with ',' or with ';' between the
// options (podman's spelling). A refused map is kInvalidArgument
// naming an annotation.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "annotations.h"
#include "fuzz_check.h"
#include "warmblock/provisioner/model.h"

namespace warmblock::hook {
namespace {

// What the OCI runtime passes as the container id (runc: 64 hex digits).
constexpr char kContainerId[] = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

std::map<std::string, std::string> ReadAnnotations(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      out[line] = "";
    else
      out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

bool IsLabel(const std::string& l) {
  if (l.empty() || l.size() > 32) return false;
  for (size_t i = 0; i < l.size(); ++i) {
    char c = l[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
    if (!ok) return false;
  }
  return true;
}

// The directory `path` names, as the kernel resolves it ("//a/./b/" is
// "/a/b"), component by component.
std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

// A mount as an annotation value: every option the parser reads, once,
// separated by `sep` (',' as in OCI bundles, ';' as podman users write).
std::string Reprint(const VolumeMount& m, char sep = ',') {
  const std::string s(1, sep);
  std::string v = "path=" + m.path;
  if (!m.class_name.empty()) v += s + "class=" + m.class_name;
  if (m.size_bytes != 0) v += s + "size=" + std::to_string(m.size_bytes) + s + "fs=" + m.fs;
  if (!m.name.empty()) v += s + "name=" + m.name;
  if (m.keep) v += s + "keep=true";
  if (m.read_only) v += s + "ro";
  if (m.nodev) v += s + "nodev";
  if (m.nosuid) v += s + "nosuid";
  if (m.noexec) v += s + "noexec";
  return v;
}

bool Same(const VolumeMount& a, const VolumeMount& b) {
  return a.label == b.label && a.path == b.path && a.class_name == b.class_name && a.size_bytes == b.size_bytes &&
         a.fs == b.fs && a.name == b.name && a.keep == b.keep && a.read_only == b.read_only && a.nodev == b.nodev &&
         a.nosuid == b.nosuid && a.noexec == b.noexec;
}

void CheckMount(const VolumeMount& m, const std::map<std::string, std::string>& annotations) {
  const std::string key = kAnnotationPrefix + m.label;
  WB_FUZZ_CHECK(annotations.count(key) == 1, "a mount for an annotation that is not there: " + key);
  WB_FUZZ_CHECK(IsLabel(m.label), "bad label accepted: " + key);

  WB_FUZZ_CHECK(!m.path.empty() && m.path[0] == '/', key + ": path not absolute: " + m.path);
  WB_FUZZ_CHECK(m.path.find('\0') == std::string::npos && m.path.size() <= 4096, key + ": path too long or NUL");
  auto parts = Components(m.path);
  WB_FUZZ_CHECK(!parts.empty(), key + ": mounts over /: " + m.path);
  static const std::set<std::string> kSensitive = {"proc", "sys", "dev"};
  WB_FUZZ_CHECK(kSensitive.count(parts[0]) == 0, key + ": mounts over /" + parts[0] + ": " + m.path);
  for (const auto& p : parts) WB_FUZZ_CHECK(p != "..", key + ": path with ..: " + m.path);

  WB_FUZZ_CHECK(m.class_name.empty() != (m.size_bytes == 0), key + ": needs exactly one of class and size");
  WB_FUZZ_CHECK(m.fs == "ext4" || m.fs == "xfs", key + ": fs " + m.fs);
  WB_FUZZ_CHECK(m.class_name.empty() || m.fs == "ext4", key + ": fs given with a class");
  WB_FUZZ_CHECK(m.ephemeral() == (m.name.empty() && !m.keep), key);

  std::string volume = m.VolumeName(kContainerId);
  if (!m.name.empty()) {
    WB_FUZZ_CHECK(volume == m.name, key + ": named volume renamed to " + volume);
  } else {
    Status valid = provisioner::ValidateVolumeName(volume);
    WB_FUZZ_CHECK(valid.ok(), key + ": warmblockd would refuse the derived name: " + valid.ToString());
  }
}

void Fuzz(const std::string& text) {
  const auto annotations = ReadAnnotations(text);
  auto mounts = ParseAnnotations(annotations);
  if (!mounts.ok()) {
    const Status& s = mounts.status();
    WB_FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument, s.ToString());
    WB_FUZZ_CHECK(s.message().rfind("annotation ", 0) == 0, "the error names no annotation: " + s.message());
    return;
  }

  size_t ours = 0;
  for (const auto& [k, v] : annotations) ours += k.rfind(kAnnotationPrefix, 0) == 0 ? 1 : 0;
  WB_FUZZ_CHECK(mounts->size() == ours,
                std::to_string(ours) + " annotations, " + std::to_string(mounts->size()) + " mounts");

  std::set<std::vector<std::string>> directories;
  std::map<std::string, std::string> reprinted, reprinted_semicolons;
  for (size_t i = 0; i < mounts->size(); ++i) {
    const VolumeMount& m = (*mounts)[i];
    CheckMount(m, annotations);
    if (i > 0) WB_FUZZ_CHECK((*mounts)[i - 1].label < m.label, "not sorted by label at " + m.label);
    WB_FUZZ_CHECK(directories.insert(Components(m.path)).second,
                  "two volumes mounted on one directory; the second is " + m.label + " at " + m.path);
    reprinted[kAnnotationPrefix + m.label] = Reprint(m);
    reprinted_semicolons[kAnnotationPrefix + m.label] = Reprint(m, ';');
  }

  for (const auto* back : {&reprinted, &reprinted_semicolons}) {
    auto again = ParseAnnotations(*back);
    WB_FUZZ_CHECK(again.ok(), "accepted mounts written back are refused: " + again.status().ToString());
    WB_FUZZ_CHECK(again->size() == mounts->size(), "written back, a different number of mounts");
    for (size_t i = 0; i < mounts->size(); ++i)
      WB_FUZZ_CHECK(Same((*mounts)[i], (*again)[i]),
                    "written back differs: " + Reprint((*mounts)[i]) + " vs " + Reprint((*again)[i]));
  }
}

}  // namespace
}  // namespace warmblock::hook

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warmblock::hook::Fuzz(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
