// The client's reading of what warmblockd (or whatever holds its socket)
// sent back: wire.h's decoders of replies and of error bodies, which the
// CLI and the OCI hook act on.
//
// Invariants: nothing throws; an error body's message is its "error" string
// when it has one, else the body itself, and its kind maps to the code it
// names or to kIOError; whatever decodes as a volume, a pool report or a
// daemon report encodes and decodes again to the same thing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "warmblock/provisioner/wire.h"

namespace {

namespace wire = warmblock::provisioner::wire;
using warmblock::Status;

// Decodes `j` with `decode`; if that works, the value's encoding decodes to
// an encoding equal to it.
template <typename F>
void RoundTrip(const wire::json& j, F decode, const char* what) {
  auto v = decode(j);
  if (!v.ok()) {
    WB_FUZZ_CHECK(v.status().code() == Status::Code::kInvalidArgument, v.status().ToString());
    return;
  }
  wire::json again = wire::Encode(*v);
  auto w = decode(again);
  WB_FUZZ_CHECK(w.ok(), std::string(what) + " does not decode its own encoding: " + w.status().ToString());
  WB_FUZZ_CHECK(wire::Encode(*w) == again, std::string(what) + " changed in a round trip: " + again.dump());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);

  Status s = wire::DecodeError(409, body);
  WB_FUZZ_CHECK(!s.ok(), "an error body decoded as success");
  auto j = wire::json::parse(body, nullptr, /*allow_exceptions=*/false);
  bool has_error = j.is_object() && j.contains("error") && j["error"].is_string();
  const std::string expect = has_error ? j["error"].get<std::string>() : body;
  WB_FUZZ_CHECK(s.message().rfind(expect, 0) == 0, "a message that is neither the body nor its error: " + s.message());
  if (s.code() != Status::Code::kIOError)
    WB_FUZZ_CHECK(j["code"] == wire::ErrorKind(s.code()), "code " + s.ToString() + " for another kind");

  if (j.is_discarded()) return 0;
  RoundTrip(j, wire::DecodeVolume, "a volume");
  RoundTrip(j, wire::DecodeVolumeList, "a volume list");
  RoundTrip(j, wire::DecodePoolReport, "a pool report");
  RoundTrip(j, wire::DecodeDaemonReport, "a daemon report");
  return 0;
}
