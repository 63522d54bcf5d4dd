#include "client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace warmblock::client {
namespace {

// A one-connection server on a Unix socket: records the request and sends
// `answer` (nothing, when empty: a daemon that hangs).
class OneShotServer {
 public:
  explicit OneShotServer(std::string answer) : answer_(std::move(answer)) {
    path_ = ::testing::TempDir() + "/client_test_" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string request;

 private:
  void Serve() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    char buf[4096];
    for (;;) {
      size_t head = request.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t cl = request.find("Content-Length: ");
        size_t want = cl == std::string::npos ? 0 : std::stoul(request.substr(cl + 16));
        if (request.size() >= head + 4 + want) break;
      }
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    if (answer_.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    } else {
      (void)!::write(c, answer_.data(), answer_.size());
    }
    ::close(c);
  }

  std::string answer_, path_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(Client, SendsTheRequestAndReadsTheAnswer) {
  OneShotServer s(
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"db\"}");
  Reply r = Call(s.path(), "POST", "/v1/volumes", R"({"name":"db"})", 5);
  EXPECT_EQ(r.status, 201) << r.error;
  EXPECT_EQ(r.body, R"({"name":"db"})");
  EXPECT_EQ(s.request.rfind("POST /v1/volumes HTTP/1.1\r\n", 0), 0u) << s.request;
  EXPECT_NE(s.request.find("Content-Length: 13\r\n"), std::string::npos) << s.request;
  EXPECT_NE(s.request.find("Connection: close\r\n"), std::string::npos) << s.request;
  EXPECT_EQ(s.request.substr(s.request.size() - 13), R"({"name":"db"})");
}

TEST(Client, AnErrorAnswerGivesTheDaemonsMessage) {
  std::string body = R"({"error":"busy: mounted","code":"busy"})";
  OneShotServer s("HTTP/1.1 409 Conflict\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  Reply r = Call(s.path(), "DELETE", "/v1/volumes/db", "", 5);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Message(), "busy: mounted");
}

TEST(Client, NoDaemonAndASilentDaemonAreClearErrors) {
  Reply none = Call(::testing::TempDir() + "/no-such.sock", "GET", "/healthz", "", 5);
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(none.Message().rfind("cannot connect to warmblockd at", 0), 0u) << none.Message();

  OneShotServer hangs("");
  auto start = std::chrono::steady_clock::now();
  Reply slow = Call(hangs.path(), "GET", "/healthz", "", 1);
  EXPECT_EQ(slow.status, 0);
  EXPECT_NE(slow.Message().find("did not answer within 1 s"), std::string::npos) << slow.Message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  OneShotServer garbage("SSH-2.0-nope\r\n");
  Reply bad = Call(garbage.path(), "GET", "/healthz", "", 5);
  EXPECT_EQ(bad.status, 0);
  EXPECT_NE(bad.Message().find("no valid HTTP answer"), std::string::npos) << bad.Message();
}

TEST(Client, EscapeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(Escape("db-1.x_~"), "db-1.x_~");
  EXPECT_EQ(Escape("a b/c=d&\xc3\xbc"), "a%20b%2Fc%3Dd%26%C3%BC");
}

}  // namespace
}  // namespace warmblock::client
