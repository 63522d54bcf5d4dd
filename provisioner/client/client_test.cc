#include "warmblock/provisioner/client.h"

#include <gtest/gtest.h>

#include "one_shot_server.h"

namespace warmblock::client {
namespace {

using provisioner::Source;
using testing::OneShotServer;

std::string Http(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

std::string Body(const OneShotServer& s) { return s.request.substr(s.request.find("\r\n\r\n") + 4); }

constexpr char kVolume[] =
    R"({"name":"db","class":"small","fs":"ext4","size_bytes":1073741824,"size":"1G","device":"/dev/ublkb3",)"
    R"("labels":{"app":"pg"},"ephemeral":false,"owner_pid":0,"created_ms":5,"state":"ready","source":"warm"})";

TEST(Client, CreateSendsOnlyWhatWasGivenAndReadsTheVolume) {
  OneShotServer s(Http(201, kVolume));
  CreateRequest req;
  req.name = "db";
  req.class_name = "small";
  req.labels = {{"app", "pg"}};
  auto v = Client(s.path(), 5).Create(req);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->device, "/dev/ublkb3");
  EXPECT_EQ(v->class_name, "small");
  EXPECT_EQ(v->size_bytes, 1u << 30);
  EXPECT_EQ(v->source, Source::kWarm);
  EXPECT_EQ(v->labels.at("app"), "pg");
  EXPECT_EQ(s.request.rfind("POST /v1/volumes HTTP/1.1\r\n", 0), 0u) << s.request;
  EXPECT_EQ(Body(s), R"({"class":"small","labels":{"app":"pg"},"name":"db"})");
}

TEST(Client, AnErrorKeepsTheDaemonsMessageAndItsCode) {
  OneShotServer s(Http(507, R"({"error":"pool full","code":"no_space"})"));
  CreateRequest req;
  req.name = "db";
  req.size_bytes = 1 << 30;
  auto v = Client(s.path(), 5).Create(req);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(v.status().message(), "pool full");
  EXPECT_EQ(Body(s), R"({"fs":"ext4","name":"db","size":1073741824})");
}

TEST(Client, AMalformedSuccessIsAnErrorNotACrash) {
  OneShotServer s(Http(200, R"({"name":"db","fs":"ext4"})"));
  auto v = Client(s.path(), 5).Get("db");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Status::Code::kIOError);
  EXPECT_EQ(v.status().message(), "unexpected answer from warmblockd (HTTP 200): a volume has no \"class\"");

  OneShotServer garbage(Http(200, "not json"));
  auto list = Client(garbage.path(), 5).List();
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("a body that is not JSON"), std::string::npos) << list.status().message();

  OneShotServer pool(Http(200, R"({"data_total_bytes":"lots"})"));
  auto p = Client(pool.path(), 5).Pool();
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("\"data_total_bytes\" of the wrong type"), std::string::npos);
}

TEST(Client, ListEscapesLabelFiltersAndReadsEach) {
  OneShotServer s(Http(200, std::string(R"({"volumes":[)") + kVolume + "," + kVolume + "]}"));
  auto list = Client(s.path(), 5).List({{"app", "pg"}, {"tier", "a b"}});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 2u);
  EXPECT_EQ(s.request.rfind("GET /v1/volumes?label=app%3Dpg&label=tier%3Da%20b HTTP/1.1\r\n", 0), 0u) << s.request;
}

TEST(Client, DeleteIsOkOnlyOn204) {
  OneShotServer gone(Http(204, ""));
  EXPECT_TRUE(Client(gone.path(), 5).Delete("a/b").ok());
  EXPECT_EQ(gone.request.rfind("DELETE /v1/volumes/a%2Fb HTTP/1.1\r\n", 0), 0u) << gone.request;
  OneShotServer busy(Http(409, R"({"error":"busy: mounted","code":"busy"})"));
  EXPECT_EQ(Client(busy.path(), 5).Delete("db").code(), Status::Code::kBusy);
  OneShotServer odd(Http(200, "{}"));
  EXPECT_FALSE(Client(odd.path(), 5).Delete("db").ok()) << "only 204 means deleted";
}

TEST(Client, NoDaemonIsAnIOErrorThatSaysSo) {
  auto d = Client("/nonexistent/warmblockd.sock", 5).Daemon();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kIOError);
  EXPECT_NE(d.status().message().find("cannot connect to warmblockd"), std::string::npos) << d.status().message();
}

}  // namespace
}  // namespace warmblock::client
