// What warmblockd and its clients say to each other: volumes, create
// requests and the pool's and the daemon's reports, with the rules a client
// can check before asking (the volume-name rule, the label limits). The
// daemon's provisioner, its HTTP encoding, the typed client, the CLI, the
// OCI hook and the benchmarks all read this one header; it needs no kernel
// library.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::provisioner {

// A handed-out volume as its owner sees it.
enum class VolumeState {
  kReady,  // its disk is served
  kLost,   // its thin is gone (found so at start-up); kept so its owner sees it
};

// How a create was served.
enum class Source {
  kWarm,      // from the warm stock
  kGrown,     // a smaller warm volume of the same filesystem grown to size (ublk UPDATE_SIZE)
  kCold,      // made for this request
  kExisting,  // the name already existed with the same spec
};

const char* Name(VolumeState s);
const char* Name(Source s);
std::optional<VolumeState> ParseVolumeState(std::string_view s);
std::optional<Source> ParseSource(std::string_view s);

struct Volume {
  std::string name;
  std::string class_name;  // empty for a volume of an unconfigured size
  std::string fs;
  uint64_t size_bytes = 0;
  std::string device;  // "/dev/ublkbN"
  std::map<std::string, std::string> labels;
  bool ephemeral = false;
  int64_t owner_pid = 0;
  int64_t created_ms = 0;
  VolumeState state = VolumeState::kReady;
  Source source = Source::kExisting;
};

struct CreateRequest {
  std::string name;  // see ValidateVolumeName
  // Either a class name, or fs + size_bytes (a class matching them is used
  // when there is one).
  std::string class_name;
  std::string fs = "ext4";
  uint64_t size_bytes = 0;
  std::map<std::string, std::string> labels;
  bool ephemeral = false;
  // Ephemeral volumes only: the process (a container's init) whose exit
  // releases the volume even when nobody deletes it, e.g. a runtime that
  // killed the container after a hook timeout or crashed before poststop.
  int64_t owner_pid = 0;
};

// A create may carry at most kMaxLabels labels, keys of 1 to
// kMaxLabelKeyBytes bytes and values of at most kMaxLabelValueBytes.
inline constexpr size_t kMaxLabels = 64, kMaxLabelKeyBytes = 128, kMaxLabelValueBytes = 1024;

// 1-63 of A-Z a-z 0-9 _ . -, starting with a letter or digit: a volume name
// appears in paths, labels and log lines.
Status ValidateVolumeName(const std::string& name);

struct ClassReport {
  std::string name, fs;
  uint64_t size_bytes = 0;
  unsigned warm = 0, target = 0;
  uint64_t hits = 0, misses = 0;
};

struct PoolReport {
  uint64_t data_total_bytes = 0, data_used_bytes = 0;
  uint64_t metadata_total_bytes = 0, metadata_used_bytes = 0;
  uint64_t provisioned_bytes = 0;  // sum of volume sizes: above data_total is overcommit
  uint64_t transaction_id = 0;
  unsigned volumes = 0;
  std::vector<ClassReport> classes;
  // What the data may grow to (pool.max_data_size, never below the current
  // size); data_total_bytes where the pool does not grow.
  uint64_t data_limit_bytes = 0;
  uint64_t grow_events = 0;  // growths since start-up
  // Out of space: creates get kNoSpace with full_reason, which says what to do.
  bool full = false;
  std::string full_reason;

  double Overcommit() const;  // provisioned over data total; 0 for an empty pool
};

struct ReactorReport {
  unsigned queues = 0, zero_copy_queues = 0;
  uint64_t requests = 0, buffer_bytes = 0;
};

struct DaemonReport {
  std::string version;
  int64_t started_ms = 0, uptime_s = 0;
  std::string ublk_features;
  std::vector<ReactorReport> reactors;
  std::vector<std::string> repairs;  // what start-up repair did, one line each
};

}  // namespace warmblock::provisioner
