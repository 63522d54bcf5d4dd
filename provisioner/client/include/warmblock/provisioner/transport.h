// HTTP requests to warmblockd's API on its Unix socket, untyped: the typed
// Client (client.h) is built on it; tests use it to send what no client
// would.
#pragma once

#include <string>

namespace warmblock::client {

struct Reply {
  long status = 0;  // HTTP status; 0 when the request did not get through
  std::string body;
  std::string error;  // transport failure, in words
};

// One request; never throws. `timeout_s` bounds the whole exchange.
Reply Call(const std::string& socket, const std::string& method, const std::string& path, const std::string& body = "",
           long timeout_s = 300);

// Percent-encodes `s` for a URL path segment or query value.
std::string Escape(const std::string& s);

}  // namespace warmblock::client
