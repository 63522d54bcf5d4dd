#include "volumes.h"

#include <gtest/gtest.h>

#include "one_shot_server.h"

namespace warmblock::client {
namespace {

using testing::OneShotServer;

std::string Http(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

constexpr char kVolume[] =
    R"({"name":"db","class":"small","fs":"ext4","size_bytes":1073741824,"size":"1G","device":"/dev/ublkb3",)"
    R"("labels":{"app":"pg"},"ephemeral":false,"owner_pid":0,"created_ms":5,"state":"ready","source":"warm"})";

TEST(Volumes, CreateSendsOnlyWhatWasGivenAndParsesTheVolume) {
  OneShotServer s(Http(201, kVolume));
  CreateVolumeRequest req;
  req.name = "db";
  req.class_name = "small";
  req.labels = {{"app", "pg"}};
  auto a = CreateVolume(s.path(), req, 5);
  ASSERT_TRUE(a.ok) << a.reply.Message();
  EXPECT_EQ(a.reply.status, 201);
  EXPECT_EQ(a.value.device, "/dev/ublkb3");
  EXPECT_EQ(a.value.class_name, "small");
  EXPECT_EQ(a.value.size_bytes, 1u << 30);
  EXPECT_EQ(a.value.source, "warm");
  EXPECT_EQ(a.value.labels.at("app"), "pg");
  EXPECT_EQ(a.value.fields.size(), 12u);
  std::string body = s.request.substr(s.request.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, R"({"class":"small","labels":{"app":"pg"},"name":"db"})");
}

TEST(Volumes, AnErrorStatusIsNotOkAndKeepsTheDaemonsMessage) {
  OneShotServer s(Http(507, R"({"error":"pool full","code":"pool_full"})"));
  CreateVolumeRequest req;
  req.name = "db";
  req.size = "1G";
  auto a = CreateVolume(s.path(), req, 5);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.reply.status, 507);
  EXPECT_EQ(a.reply.Message(), "pool full");
}

TEST(Volumes, AMalformedSuccessIsAnErrorNotACrash) {
  OneShotServer s(Http(200, R"({"name":"db","fs":"ext4"})"));
  auto a = GetVolume(s.path(), "db", 5);
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.reply.Message().find("unexpected answer from warmblockd (HTTP 200): a volume without \"device\""),
            std::string::npos)
      << a.reply.Message();

  OneShotServer garbage(Http(200, "not json"));
  auto list = ListVolumes(garbage.path(), {}, 5);
  EXPECT_FALSE(list.ok);
  EXPECT_NE(list.reply.Message().find("no \"volumes\" list"), std::string::npos) << list.reply.Message();
}

TEST(Volumes, ListEscapesLabelFiltersAndParsesEach) {
  OneShotServer s(Http(200, std::string(R"({"volumes":[)") + kVolume + "," + kVolume + "]}"));
  auto a = ListVolumes(s.path(), {"app=pg", "tier=a b"}, 5);
  ASSERT_TRUE(a.ok) << a.reply.Message();
  EXPECT_EQ(a.value.size(), 2u);
  EXPECT_EQ(s.request.rfind("GET /v1/volumes?label=app%3Dpg&label=tier%3Da%20b HTTP/1.1\r\n", 0), 0u) << s.request;
}

TEST(Volumes, DeleteIsOkOnlyOn204) {
  OneShotServer gone(Http(204, ""));
  EXPECT_TRUE(DeleteVolume(gone.path(), "a/b", 5).ok);
  EXPECT_EQ(gone.request.rfind("DELETE /v1/volumes/a%2Fb HTTP/1.1\r\n", 0), 0u) << gone.request;
  OneShotServer busy(Http(409, R"({"error":"busy: mounted"})"));
  auto a = DeleteVolume(busy.path(), "db", 5);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.reply.status, 409);
}

}  // namespace
}  // namespace warmblock::client
