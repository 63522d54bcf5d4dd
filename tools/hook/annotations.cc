#include "annotations.h"

#include <set>

#include "warmblock/base/text.h"
#include "warmblock/base/units.h"
#include "warmblock/provisioner/model.h"

namespace warmblock::hook {
namespace {

bool ValidLabel(const std::string& l) {
  if (l.empty() || l.size() > 32) return false;
  for (size_t i = 0; i < l.size(); ++i) {
    char c = l[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-'))) return false;
  }
  return true;
}

// A container path the hook may mount over: absolute, normalised, and not
// one the runtime or the kernel owns. `dir` gets the directory it names
// ("//a/./b/" is "/a/b"), which tells two spellings of one place apart.
bool SafePath(const std::string& p, std::string* dir, std::string* why) {
  if (p.empty() || p[0] != '/') {
    *why = "must be an absolute path";
    return false;
  }
  if (p.size() > 4096 || p.find('\0') != std::string::npos) {
    *why = "is too long or holds a NUL byte";
    return false;
  }
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(start, end - start);
    if (part == "..") {
      *why = "may not contain \"..\"";
      return false;
    }
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  static const std::set<std::string> kSensitive = {"proc", "sys", "dev"};
  if (parts.empty() || kSensitive.count(parts[0]) != 0) {
    *why = "may not be /, /proc, /sys, /dev or below them";
    return false;
  }
  dir->clear();
  for (const auto& part : parts) *dir += "/" + part;
  return true;
}

// The keys podman 4.3 leaves behind when it splits
// `--annotation io.warmblock.volume/x=path=/x,class=small` at its commas
// (it makes "class" an annotation of its own): seen next to one of ours,
// they explain why that one lacks an option.
bool LooksSplitOff(const std::map<std::string, std::string>& annotations) {
  static const std::set<std::string> kOptionKeys = {"path", "class", "size", "fs", "name", "keep"};
  for (const auto& annotation : annotations)
    if (kOptionKeys.count(annotation.first) != 0) return true;
  return false;
}

}  // namespace

std::string VolumeMount::VolumeName(const std::string& container_id) const {
  if (!name.empty()) return name;
  // Volume names are at most 63 characters: 12 of the id are enough to be
  // unique on a host, as `docker ps` shows.
  return "c-" + container_id.substr(0, 12) + "-" + label;
}

Result<std::vector<VolumeMount>> ParseAnnotations(const std::map<std::string, std::string>& annotations) {
  std::vector<VolumeMount> out;
  const std::string prefix = kAnnotationPrefix;
  std::set<std::string> dirs;  // normalised: "/d" and "//d/" are one directory
  const std::string hint =
      LooksSplitOff(annotations) ? " (podman splits --annotation values at commas: separate the options with ';')" : "";
  // Named references, not a structured binding: clang 14 (the fuzz build,
  // tests/fuzz) cannot capture a binding in the lambda below.
  for (const auto& annotation : annotations) {
    const std::string& key = annotation.first;
    const std::string& value = annotation.second;
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    VolumeMount m;
    m.label = key.substr(prefix.size());
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument("annotation " + EscapeControl(key) + ": " + why + hint);
    };
    if (!ValidLabel(m.label)) return bad("the part after the / must be 1-32 of a-z, 0-9 and '-'");
    bool has_fs = false;
    std::string dir;
    size_t start = 0;
    while (start <= value.size()) {
      // ',' (OCI bundles) or ';' (podman's --annotation, which splits at ',').
      size_t end = value.find_first_of(",;", start);
      if (end == std::string::npos) end = value.size();
      std::string opt = value.substr(start, end - start);
      start = end + 1;
      if (opt.empty()) continue;
      size_t eq = opt.find('=');
      std::string k = opt.substr(0, eq), v = eq == std::string::npos ? "" : opt.substr(eq + 1);
      if (eq == std::string::npos) {
        if (k == "ro")
          m.read_only = true;
        else if (k == "nodev")
          m.nodev = true;
        else if (k == "nosuid")
          m.nosuid = true;
        else if (k == "noexec")
          m.noexec = true;
        else
          return bad("unknown option " + Quoted(k) + " (ro, nodev, nosuid, noexec, or KEY=VALUE)");
        continue;
      }
      if (k == "path") {
        std::string why;
        if (!SafePath(v, &dir, &why)) return bad("path " + Quoted(v) + " " + why);
        m.path = v;
      } else if (k == "class") {
        m.class_name = v;
      } else if (k == "size") {
        auto size = ParseSize(v, "size");
        if (!size.ok()) return bad(size.status().message());
        m.size_bytes = *size;
      } else if (k == "fs") {
        if (v != "ext4" && v != "xfs") return bad("fs must be ext4 or xfs, not " + Quoted(v));
        m.fs = v;
        has_fs = true;
      } else if (k == "name") {
        // Refused here, before any volume of the container is made.
        if (Status valid = provisioner::ValidateVolumeName(v); !valid.ok()) return bad(valid.message());
        m.name = v;
      } else if (k == "keep") {
        if (v != "true" && v != "false") return bad("keep must be true or false");
        m.keep = v == "true";
      } else {
        return bad("unknown option " + Quoted(k) + " (path, class, size, fs, name, keep)");
      }
    }
    if (m.path.empty()) return bad("path=... is required");
    if (m.class_name.empty() == (m.size_bytes == 0)) return bad("give either class=NAME or size=SIZE");
    if (has_fs && !m.class_name.empty()) return bad("fs comes with the class; give it only with size");
    if (!dirs.insert(dir).second) return bad("path " + m.path + " is used by another volume of this container");
    out.push_back(m);
  }
  return out;
}

}  // namespace warmblock::hook
