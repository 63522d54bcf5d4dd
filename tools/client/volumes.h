// The typed half of warmblockd's API client: volumes as structs, not JSON
// text, so the CLI, the hook and the benchmarks share one reading of the
// daemon's answers. Nothing here throws; a reply that does not parse is a
// failed Answer whose error says so.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client.h"

namespace warmblock::client {

struct Volume {
  std::string name, class_name, fs, size, device, state, source;
  uint64_t size_bytes = 0;
  std::map<std::string, std::string> labels;
  // Every field the daemon sent, as text in its order: for `inspect`, which
  // shows fields this struct does not know yet.
  std::vector<std::pair<std::string, std::string>> fields;
};

struct CreateVolumeRequest {
  std::string name;
  std::string class_name;  // either a class
  std::string size, fs;    // or a size ("10G" or bytes) with an optional fs
  std::map<std::string, std::string> labels;
  bool ephemeral = false;
  int64_t owner_pid = 0;  // with ephemeral: released once this pid is gone
};

// The daemon's reply, and the parsed value when `ok`. `reply.body` is kept
// for callers that print the daemon's JSON as it came (--json).
template <typename T>
struct Answer {
  Reply reply;
  T value{};
  bool ok = false;
};

// 200 when the volume existed with this spec, 201 when it was made.
Answer<Volume> CreateVolume(const std::string& socket, const CreateVolumeRequest& req, long timeout_s = 300);
Answer<Volume> GetVolume(const std::string& socket, const std::string& name, long timeout_s = 300);
// `labels` are KEY=VALUE filters, all of which must match.
Answer<std::vector<Volume>> ListVolumes(const std::string& socket, const std::vector<std::string>& labels,
                                        long timeout_s = 300);
// ok on 204; a 404 is not ok and callers that treat it as done check it.
Answer<bool> DeleteVolume(const std::string& socket, const std::string& name, long timeout_s = 300);

}  // namespace warmblock::client
