#include "warmblock/provisioner/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "warmblock/provisioner/fake_provisioner.h"

namespace warmblock::provisioner {
namespace {

using json = nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : api_(DaemonInfo{"0.1.0", "user_copy", 0}, [this](const std::string& l) { log_.push_back(l); }) {}

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.query = std::move(query);
    r.peer = Peer{42, 1000, 1000};
    return api_.Handle(r);
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  FakeProvisioner p_;
  std::vector<std::string> log_;
  Api api_;
};

TEST_F(ApiTest, AnswersServiceUnavailableUntilAttached) {
  EXPECT_EQ(Call("GET", "/healthz").status, 503);
  auto r = Call("POST", "/v1/volumes", R"({"name":"a","class":"small"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["code"], "starting");
  api_.Attach(&p_, nullptr);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(ApiTest, CreateGetListDelete) {
  api_.Attach(&p_, nullptr);
  auto c = Call("POST", "/v1/volumes", R"({"name":"db","size":"2G","fs":"xfs","labels":{"app":"pg"}})");
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(Body(c)["device"], "/dev/ublkb0");
  EXPECT_EQ(Body(c)["size_bytes"], 2ull << 30);
  EXPECT_EQ(Body(c)["size"], "2G");
  EXPECT_EQ(Body(c)["fs"], "xfs");
  EXPECT_EQ(Call("POST", "/v1/volumes", R"({"name":"db","size":"2G","fs":"xfs"})").status, 200) << "idempotent";
  ASSERT_EQ(Call("POST", "/v1/volumes", R"({"name":"web","class":"small"})").status, 201);

  auto g = Call("GET", "/v1/volumes/db");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(Body(g)["labels"]["app"], "pg");
  auto l = Call("GET", "/v1/volumes", "", {{"label", "app=pg"}});
  ASSERT_EQ(l.status, 200);
  ASSERT_EQ(Body(l)["volumes"].size(), 1u);
  EXPECT_EQ(Body(Call("GET", "/v1/volumes"))["volumes"].size(), 2u);

  EXPECT_EQ(Call("DELETE", "/v1/volumes/db").status, 204);
  EXPECT_EQ(Call("GET", "/v1/volumes/db").status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/volumes/db").status, 404);
  bool logged = false;
  for (const auto& line : log_)
    logged |=
        line.find("created volume \"db\"") != std::string::npos && line.find("pid 42 uid 1000") != std::string::npos;
  EXPECT_TRUE(logged) << "changes are logged with the peer";
}

TEST_F(ApiTest, BadRequestsAre400NamingTheField) {
  api_.Attach(&p_, nullptr);
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {"not json", "body"},
      {"[1]", "body"},
      {R"({"class":"small"})", "name"},
      {R"({"name":"a","class":"small","colour":"red"})", "colour"},
      {R"({"name":"a"})", "class"},
      {R"({"name":"a","class":"small","size":"1G"})", "class"},
      {R"({"name":"a","class":"small","fs":"xfs"})", "fs"},
      {R"({"name":"a","size":"lots"})", "size"},
      {R"({"name":"a","size":-5})", "size"},
      {R"({"name":"a","class":"small","labels":{"k":1}})", "labels.k"},
      // Found by tests/reliability/access.sh: a NUL in a key was accepted.
      {R"({"name":"a","class":"small","labels":{"a\u0000":"b"}})", "labels"},
      {R"({"name":"a","class":"small","labels":{"k":"line\nforged"}})", "labels"},
      {R"({"name":"a","class":"small","labels":{"a=b":"c"}})", "labels"},
      {R"({"name":"a","class":"small","ephemeral":"yes"})", "ephemeral"},
      {R"({"name":"a","class":"small","ephemeral":true,"owner_pid":0})", "owner_pid"},
      {R"({"name":"a","class":"small","ephemeral":true,"owner_pid":"1"})", "owner_pid"},
      {R"({"name":"a","class":"small","ephemeral":true,"owner_pid":99999999999})", "owner_pid"},
      {R"({"name":"../x","class":"small"})", "name"},
  };
  for (const auto& c : cases) {
    auto r = Call("POST", "/v1/volumes", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    std::string msg = Body(r)["error"];
    EXPECT_EQ(msg.rfind(c.field, 0), 0u) << c.body << " -> " << msg;
  }
  EXPECT_EQ(Call("GET", "/v1/volumes", "", {{"colour", "red"}}).status, 400);
  EXPECT_EQ(Call("GET", "/v1/volumes", "", {{"label", "novalue"}}).status, 400);
}

// Every limit of a create can be reached: the largest request the label
// rules allow, written as verbosely as JSON allows, fits the body cap.
TEST_F(ApiTest, ARequestAtEveryLabelLimitFitsTheBodyCap) {
  api_.Attach(&p_, nullptr);
  auto escaped = [](size_t n, char c) {
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out += "\\u00" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    return out;
  };
  std::string body = R"({"name":"full","class":"small","labels":{)";
  for (size_t i = 0; i < kMaxLabels; ++i) {
    std::string key = escaped(kMaxLabelKeyBytes - 2, 'k') + escaped(1, static_cast<char>('A' + i / 26)) +
                      escaped(1, static_cast<char>('a' + i % 26));
    body += (i ? "," : "") + std::string("\"") + key + "\":\"" + escaped(kMaxLabelValueBytes, 'v') + "\"";
  }
  body += "}}";
  ASSERT_LE(body.size(), Api::kMaxBodyBytes);
  auto r = Call("POST", "/v1/volumes", body);
  ASSERT_EQ(r.status, 201) << r.body.substr(0, 200);
  EXPECT_EQ(Body(r)["labels"].size(), kMaxLabels);
}

// A refused name with a newline must not reach the log (or the answer) as
// a second line that reads like the daemon's own.
TEST_F(ApiTest, ClientTextInLogsAndErrorsCannotForgeLines) {
  api_.Attach(&p_, nullptr);
  json req = {{"name", "x\nwarmblockd: created volume \"evil\""}, {"class", "small"}};
  auto r = Call("POST", "/v1/volumes", req.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"].get<std::string>().find('\n'), std::string::npos) << r.body;
  ASSERT_FALSE(log_.empty());
  for (const auto& line : log_) EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_NE(log_.back().find("x\\nwarmblockd"), std::string::npos) << log_.back();
  r = Call("GET", "/v1/volumes", "", {{"col\nour", "red"}});
  EXPECT_EQ(Body(r)["error"].get<std::string>().find('\n'), std::string::npos) << r.body;
}

TEST_F(ApiTest, StatusCodesForConflictsFullPoolsAndWrongPaths) {
  api_.Attach(&p_, nullptr);
  ASSERT_EQ(Call("POST", "/v1/volumes", R"({"name":"a","class":"small"})").status, 201);
  ASSERT_EQ(Call("POST", "/v1/volumes", R"({"name":"b","class":"small"})").status, 201);
  auto full = Call("POST", "/v1/volumes", R"({"name":"c","class":"small"})");
  EXPECT_EQ(full.status, 507);
  EXPECT_EQ(Body(full)["code"], "no_space");
  p_.busy.insert("a");
  EXPECT_EQ(Call("DELETE", "/v1/volumes/a").status, 409);
  EXPECT_EQ(Call("PUT", "/v1/volumes/a").status, 405);
  EXPECT_EQ(Call("GET", "/v2/volumes").status, 404);
  EXPECT_EQ(Call("GET", "/v1/volumes/a/b").status, 404);
  EXPECT_EQ(Call("POST", "/v1/pool").status, 405);
  // Found by fuzzing (tests/fuzz): bytes that are not UTF-8, echoed in the
  // message, made the JSON library throw and ended the daemon.
  auto bad = Call("GET", "/v1/volumes/\xff\xfe");
  EXPECT_EQ(bad.status, 404);
  EXPECT_TRUE(json::accept(bad.body)) << bad.body;
}

TEST_F(ApiTest, PoolDaemonAndMetrics) {
  api_.Attach(&p_, nullptr);
  ASSERT_EQ(Call("POST", "/v1/volumes", R"({"name":"a","class":"small"})").status, 201);
  auto pool = Body(Call("GET", "/v1/pool"));
  EXPECT_EQ(pool["volumes"], 1);
  EXPECT_EQ(pool["classes"][0]["hits"], 7);
  EXPECT_DOUBLE_EQ(pool["overcommit"].get<double>(), 1.0);
  EXPECT_EQ(pool["data_limit_bytes"], 2ull << 30);
  EXPECT_EQ(pool["grow_events"], 2);
  EXPECT_EQ(pool["full"], true);
  EXPECT_EQ(pool["full_reason"], "the pool is full at its limit");
  auto daemon = Body(Call("GET", "/v1/daemon"));
  EXPECT_EQ(daemon["version"], "0.1.0");
  EXPECT_EQ(daemon["repairs"][0], "deleted orphan thin x");
  auto m = Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type.rfind("text/plain", 0), 0u);
  for (const char* want :
       {"warmblock_up 1", "warmblock_volumes 1", "warmblock_warm_volumes{class=\"small\"} 3",
        "warmblock_warm_hits_total{class=\"small\"} 7", "warmblock_handout_seconds_count{source=\"warm\"} 1",
        "warmblock_http_responses_total{code=\"201\"} 1", "warmblock_pool_data_bytes{kind=\"limit\"} 2147483648",
        "warmblock_pool_grow_events_total 2", "warmblock_pool_full 1"})
    EXPECT_NE(m.body.find(want), std::string::npos) << want << "\n" << m.body;
}

}  // namespace
}  // namespace warmblock::provisioner
