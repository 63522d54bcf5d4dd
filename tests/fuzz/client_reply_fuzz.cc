// Reply::Message on arbitrary answer bodies: the API client's reading of
// what warmblockd (or whatever holds its socket) sent back, which the CLI
// and the OCI hook print. The status line and header parsing in client.cc is
// private to Call() and needs a socket, so it is not fuzzed here.
//
// Invariants: a transport error wins over the body; otherwise the message is
// the "error" string of a JSON object body, else the body itself, never
// anything else.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "client.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using warmblock::client::Reply;
  const std::string body(reinterpret_cast<const char*>(data), size);

  Reply answered{.status = 400, .body = body};
  const std::string message = answered.Message();
  if (message != body) {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    WB_FUZZ_CHECK(j.is_object() && j.contains("error") && j["error"].is_string() && j["error"] == message,
                  "a message that is neither the body nor its error: " + message);
  }

  Reply failed{.status = 0, .body = body, .error = "cannot connect"};
  WB_FUZZ_CHECK(failed.Message() == "cannot connect", "the transport error was lost");
  return 0;
}
