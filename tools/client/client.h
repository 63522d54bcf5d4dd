// A client of warmblockd's API on its Unix socket, shared by the
// warmblock CLI and warmblock-oci-hook.
#pragma once

#include <string>

namespace warmblock::client {

struct Reply {
  long status = 0;  // HTTP status; 0 when the request did not get through
  std::string body;
  std::string error;  // transport failure, in words
  // The daemon's error message, or the body, or the transport error.
  std::string Message() const;
};

// One request; never throws. `timeout_s` bounds the whole exchange.
Reply Call(const std::string& socket, const std::string& method, const std::string& path, const std::string& body = "",
           long timeout_s = 300);

// Percent-encodes `s` for a URL path segment or query value.
std::string Escape(const std::string& s);

}  // namespace warmblock::client
