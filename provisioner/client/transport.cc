#include "warmblock/provisioner/transport.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "warmblock/base/fd.h"

// HTTP/1.1 over the Unix socket by hand, one request per connection: the
// hook runs on every container start, and libcurl's load and global init
// (some thirty shared libraries, TLS set-up) cost more than the whole
// exchange. The server is always warmblockd, which answers with a
// Content-Length and closes the connection as asked.
namespace warmblock::client {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `fd` is ready for `events` or the deadline passes (false).
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the read or write report it
  }
}

// Splits a raw response into status and body. False if it is not one.
bool Parse(const std::string& raw, Reply* r) {
  size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) return false;
  size_t sp = raw.find(' ');
  if (sp == std::string::npos || sp > head_end) return false;
  r->status = std::strtol(raw.c_str() + sp + 1, nullptr, 10);
  r->body = raw.substr(head_end + 4);
  std::string head = raw.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("\r\ntransfer-encoding:") != std::string::npos) return false;  // warmblockd never chunks
  size_t cl = head.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    if (r->body.size() < len) return false;
    r->body.resize(len);
  }
  return r->status >= 100 && r->status <= 599;
}

}  // namespace

Reply Call(const std::string& socket, const std::string& method, const std::string& path, const std::string& body,
           long timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  auto failed = [](std::string why) { return Reply{0, "", std::move(why)}; };
  const std::string unreachable =
      "cannot connect to warmblockd at " + socket + " (is it running? are you root or in group warmblock?)";
  const std::string silent = "warmblockd at " + socket + " did not answer within " + std::to_string(timeout_s) + " s";

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path) return failed("socket path too long: " + socket);
  std::memcpy(addr.sun_path, socket.c_str(), socket.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return failed(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EAGAIN && errno != EINPROGRESS) return failed(unreachable + ": " + std::strerror(errno));
    // A full listen backlog: the daemon is busy, not gone.
    if (!WaitFor(fd.get(), POLLOUT, deadline)) return failed(silent);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return failed(unreachable + ": " + std::strerror(err));
  }

  std::string request = method + " " + path + " HTTP/1.1\r\nHost: warmblockd\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      if (!WaitFor(fd.get(), POLLOUT, deadline)) return failed(silent);
    } else if (n < 0 && errno != EINTR) {
      return failed("send to warmblockd: " + std::string(std::strerror(errno)));
    }
  }

  std::string raw;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      if (raw.size() > (64u << 20)) return failed("warmblockd's answer is over 64 MiB");
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN) {
      if (!WaitFor(fd.get(), POLLIN, deadline)) return failed(silent);
    } else if (errno != EINTR) {
      return failed("read from warmblockd: " + std::string(std::strerror(errno)));
    }
  }
  Reply r;
  if (!Parse(raw, &r)) return failed("warmblockd sent no valid HTTP answer (" + std::to_string(raw.size()) + " bytes)");
  return r;
}

std::string Escape(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace warmblock::client
