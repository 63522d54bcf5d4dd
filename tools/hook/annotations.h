// The container annotations that ask warmblock-oci-hook for volumes:
//
//   io.warmblock.volume/LABEL = "path=/data,class=small"
//   io.warmblock.volume/LABEL = "path=/data,size=10G,fs=xfs,name=pgdata,ro,nosuid"
//   io.warmblock.volume/LABEL = "path=/data;class=small"
//
// One annotation per volume; LABEL ([a-z0-9][a-z0-9-]{0,31}) tells the
// volumes of one container apart. Options are separated by ',' or ';' (so
// no option value holds either): podman 4.3 splits a `--annotation` value
// at its commas, so podman users write ';'. Options:
//   path=ABS     where the filesystem is mounted in the container (required;
//                not /, /proc, /sys, /dev or below them, no "..")
//   class=NAME   a volume class of warmblockd, or
//   size=SIZE    a size ("10G") with fs=ext4 (default) or fs=xfs
//   name=NAME    a named volume: created on first use, reused by later
//                containers and kept after they stop. Without it the volume
//                is ephemeral: made for this container, deleted at poststop.
//   keep=true    keep an unnamed volume after the container stops
//   ro, nodev, nosuid, noexec   mount flags
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::hook {

inline constexpr char kAnnotationPrefix[] = "io.warmblock.volume/";

struct VolumeMount {
  std::string label;
  std::string path;
  std::string class_name;
  uint64_t size_bytes = 0;
  std::string fs = "ext4";
  std::string name;  // empty: ephemeral
  bool keep = false;
  bool read_only = false, nodev = false, nosuid = false, noexec = false;

  // The volume's name at warmblockd: `name`, or one derived from the
  // container id and the label for an ephemeral volume.
  std::string VolumeName(const std::string& container_id) const;
  bool ephemeral() const { return name.empty() && !keep; }
};

// Every volume the annotations ask for, sorted by label; kInvalidArgument
// naming the annotation and the bad option (with a hint at ';' when the map
// holds keys such as "class" that podman split off a comma-separated value).
// Other annotations are ignored.
Result<std::vector<VolumeMount>> ParseAnnotations(const std::map<std::string, std::string>& annotations);

}  // namespace warmblock::hook
