// HTTP/1.1 on a Unix socket for the Api (libmicrohttpd, a few threads).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "warmblock/base/status.h"
#include "warmblock/provisioner/api.h"

namespace warmblock::provisioner {

// A listening Unix socket at `path`, mode 0660, group `group` (created as a
// system group if missing, as systemd-sysusers would). A stale socket file
// is replaced; a live one (another daemon answering) is kAlreadyExists.
Result<int> ListenUnix(const std::string& path, const std::string& group);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  ~HttpServer();
  // Serves `listen_fd` (taken over) until destroyed. Bodies above
  // `max_body` get 413 without reaching the handler.
  static Result<std::unique_ptr<HttpServer>> Start(int listen_fd, Handler handler, size_t max_body);

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace warmblock::provisioner
