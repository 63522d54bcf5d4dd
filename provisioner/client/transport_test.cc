#include "warmblock/provisioner/transport.h"

#include <gtest/gtest.h>

#include <chrono>

#include "one_shot_server.h"

namespace warmblock::client {
namespace {

using testing::OneShotServer;

TEST(Transport, SendsTheRequestAndReadsTheAnswer) {
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

TEST(Transport, AnErrorAnswerKeepsItsStatusAndBody) {
  std::string body = R"({"error":"busy: mounted","code":"busy"})";
  OneShotServer s("HTTP/1.1 409 Conflict\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  Reply r = Call(s.path(), "DELETE", "/v1/volumes/db", "", 5);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.error, "");
}

TEST(Transport, NoDaemonAndASilentDaemonAreClearErrors) {
  Reply none = Call(::testing::TempDir() + "/no-such.sock", "GET", "/healthz", "", 5);
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(none.error.rfind("cannot connect to warmblockd at", 0), 0u) << none.error;

  OneShotServer hangs("");
  auto start = std::chrono::steady_clock::now();
  Reply slow = Call(hangs.path(), "GET", "/healthz", "", 1);
  EXPECT_EQ(slow.status, 0);
  EXPECT_NE(slow.error.find("did not answer within 1 s"), std::string::npos) << slow.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  OneShotServer garbage("SSH-2.0-nope\r\n");
  Reply bad = Call(garbage.path(), "GET", "/healthz", "", 5);
  EXPECT_EQ(bad.status, 0);
  EXPECT_NE(bad.error.find("no valid HTTP answer"), std::string::npos) << bad.error;
}

TEST(Transport, EscapeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(Escape("db-1.x_~"), "db-1.x_~");
  EXPECT_EQ(Escape("a b/c=d&\xc3\xbc"), "a%20b%2Fc%3Dd%26%C3%BC");
}

}  // namespace
}  // namespace warmblock::client
