// Api::Handle on arbitrary requests, first with no provisioner attached (as
// while warmblockd starts), then with a small fake one so that requests get
// past the 503 into the volume routes and wire::DecodeCreateRequest.
//
// Input: up to kMaxRequests requests separated by form feeds ('\f'), each
//   METHOD TARGET [PID [UID [GID]]]\n
//   BODY
// where TARGET is PATH[?QUERY] and QUERY is k=v pairs joined by '&'; the
// numbers are the peer's credentials.
//
// Invariants: every answer has a status in 100..599 and, unless 204 or the
// Prometheus text, a JSON object body, with "error" and "code" strings on
// 4xx/5xx (but for the health check's "status"); before Attach every /v1/ path is 503 and nothing is logged; a
// body wire::DecodeCreateRequest accepts is a JSON object keeping the request rules, and
// one it refuses is a 400 naming the field; every change (201, 204) is
// logged with the peer; a volume just created can be read back and one just
// deleted cannot; /metrics counts exactly the answers given.
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "warmblock/base/text.h"
#include "warmblock/provisioner/api.h"
#include "warmblock/provisioner/fake_provisioner.h"

namespace warmblock::provisioner {
namespace {

using json = nlohmann::json;

// Bounds the work per input; sequences longer than this add little.
constexpr size_t kMaxRequests = 16;

template <typename T>
T Number(const std::string& s) {
  T v{};
  std::from_chars(s.data(), s.data() + s.size(), v);  // garbage: 0
  return v;
}

// Cuts `s` at the first `sep`: returns the part before, leaves the rest.
std::string Cut(std::string* s, char sep) {
  size_t at = s->find(sep);
  std::string head = s->substr(0, at);
  *s = at == std::string::npos ? "" : s->substr(at + 1);
  return head;
}

HttpRequest ReadRequest(std::string text) {
  HttpRequest r;
  std::string line = Cut(&text, '\n');
  r.body = text.substr(0, Api::kMaxBodyBytes);  // HttpServer answers 413 above it
  r.method = Cut(&line, ' ');
  std::string target = Cut(&line, ' ');
  r.peer.pid = Number<pid_t>(Cut(&line, ' '));
  r.peer.uid = Number<uid_t>(Cut(&line, ' '));
  r.peer.gid = Number<gid_t>(line);
  r.path = Cut(&target, '?');
  while (!target.empty()) {
    std::string pair = Cut(&target, '&');
    std::string key = Cut(&pair, '=');
    r.query.emplace_back(key, pair);
  }
  return r;
}

std::vector<HttpRequest> ReadRequests(std::string text) {
  std::vector<HttpRequest> out;
  while (!text.empty() && out.size() < kMaxRequests) out.push_back(ReadRequest(Cut(&text, '\f')));
  return out;
}

std::string Show(const HttpRequest& r, const HttpResponse& resp) {
  return r.method + " " + r.path + " -> " + std::to_string(resp.status) + " " + resp.body.substr(0, 300);
}

// What holds for any answer; returns the JSON body (null if none).
json CheckResponse(const HttpRequest& r, const HttpResponse& resp) {
  WB_FUZZ_CHECK(resp.status >= 100 && resp.status <= 599, Show(r, resp));
  if (resp.status == 204) {
    WB_FUZZ_CHECK(resp.body.empty(), Show(r, resp));
    return nullptr;
  }
  if (resp.content_type != "application/json") {
    WB_FUZZ_CHECK(r.path == "/metrics" && resp.status == 200 && resp.content_type.rfind("text/plain", 0) == 0,
                  "not JSON: " + resp.content_type + " " + Show(r, resp));
    return nullptr;
  }
  json j = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  WB_FUZZ_CHECK(j.is_object(), "body is not a JSON object: " + Show(r, resp));
  if (r.path == "/healthz" && r.method == "GET") {
    // The health check answers {"status": "ok" | "starting"}, not an error.
    WB_FUZZ_CHECK(j.contains("status") && j["status"].is_string(), Show(r, resp));
  } else if (resp.status >= 400) {
    WB_FUZZ_CHECK(j.contains("error") && j["error"].is_string() && !j["error"].get<std::string>().empty(),
                  Show(r, resp));
    WB_FUZZ_CHECK(j.contains("code") && j["code"].is_string(), Show(r, resp));
  }
  return j;
}

// Answers counted by /metrics must be exactly those given.
void CheckMetrics(Api& api, const std::map<int, uint64_t>& given, bool attached) {
  HttpRequest r{.method = "GET", .path = "/metrics"};
  HttpResponse m = api.Handle(r);
  CheckResponse(r, m);
  WB_FUZZ_CHECK(m.status == 200, Show(r, m));
  WB_FUZZ_CHECK(m.body.find(attached ? "\nwarmblock_up 1\n" : "\nwarmblock_up 0\n") != std::string::npos, m.body);
  const std::string prefix = "warmblock_http_responses_total{code=\"";
  std::map<int, uint64_t> counted;
  for (size_t at = m.body.find(prefix); at != std::string::npos; at = m.body.find(prefix, at + 1)) {
    std::string line = m.body.substr(at + prefix.size(), m.body.find('\n', at) - at - prefix.size());
    std::string code = Cut(&line, '"');
    counted[Number<int>(code)] = Number<uint64_t>(line.substr(line.find(' ') + 1));
  }
  WB_FUZZ_CHECK(counted == given, "/metrics miscounts the answers:\n" + m.body);
}

void CheckDetached(const HttpRequest& r, const HttpResponse& resp, const json& body) {
  if (r.path.rfind("/v1/", 0) == 0) {
    WB_FUZZ_CHECK(resp.status == 503 && body.value("code", "") == "starting", "served before Attach: " + Show(r, resp));
  } else if (r.path == "/healthz") {
    WB_FUZZ_CHECK(resp.status == (r.method == "GET" ? 503 : 405), Show(r, resp));
  }
}

// A POST /v1/volumes answered with the fake attached. `reached`: DecodeCreateRequest
// accepted the body and the provisioner got the request.
void CheckCreate(const HttpRequest& r, const HttpResponse& resp, const json& answer, const FakeProvisioner& p,
                 bool reached) {
  json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  static const std::set<std::string> kFields = {"name", "class", "size", "fs", "labels", "ephemeral", "owner_pid"};
  if (!reached) {
    WB_FUZZ_CHECK(resp.status == 400 && answer.value("code", "") == "invalid_argument", Show(r, resp));
    // It starts with the field ("size: ...", "size \"x\": ...", "labels.k:
    // ..."), the body as a whole, or the unknown key it refuses.
    const std::string msg = answer.value("error", "");
    bool named = false;
    for (const std::string field : {"body", "name", "class", "size", "fs", "labels", "ephemeral", "owner_pid"})
      named = named || (msg.rfind(field, 0) == 0 && msg.size() > field.size() &&
                        std::string(": .").find(msg[field.size()]) != std::string::npos);
    if (body.is_object())
      for (const auto& [k, v] : body.items()) named = named || msg == EscapeControl(k) + ": unknown field";
    WB_FUZZ_CHECK(named, "the 400 names no field: " + Show(r, resp));
    return;
  }
  const CreateRequest& c = p.last;
  WB_FUZZ_CHECK(body.is_object(), "accepted a body that is no JSON object: " + r.body);
  for (const auto& [k, v] : body.items()) WB_FUZZ_CHECK(kFields.count(k) != 0, "accepted unknown field " + k);
  WB_FUZZ_CHECK(body["name"].is_string() && body["name"] == c.name, "name differs from the body's: " + c.name);
  WB_FUZZ_CHECK(c.class_name.empty() != (c.size_bytes == 0), "needs exactly one of class and size: " + r.body);
  WB_FUZZ_CHECK(c.class_name.empty() || !body.contains("fs"), "fs accepted with a class: " + r.body);
  WB_FUZZ_CHECK(c.labels.size() <= kMaxLabels, r.body);
  for (const auto& [k, v] : c.labels)
    WB_FUZZ_CHECK(!k.empty() && k.size() <= kMaxLabelKeyBytes && v.size() <= kMaxLabelValueBytes,
                  "label out of bounds: " + r.body);
  WB_FUZZ_CHECK(c.labels.empty() || (body["labels"].is_object() && body["labels"].size() == c.labels.size()),
                "labels differ from the body's: " + r.body);
  WB_FUZZ_CHECK(c.owner_pid >= 0 && c.owner_pid <= INT32_MAX, "owner_pid " + std::to_string(c.owner_pid));
  WB_FUZZ_CHECK(c.ephemeral == (body.contains("ephemeral") && body["ephemeral"] == true), r.body);
}

void Detached(const std::vector<HttpRequest>& requests) {
  std::vector<std::string> log;
  Api api(DaemonInfo{"0.1.0", "user_copy", 0}, [&log](const std::string& line) { log.push_back(line); });
  std::map<int, uint64_t> given;
  for (const auto& r : requests) {
    HttpResponse resp = api.Handle(r);
    ++given[resp.status];
    CheckDetached(r, resp, CheckResponse(r, resp));
  }
  WB_FUZZ_CHECK(log.empty(), "logged a change before Attach: " + log.front());
  CheckMetrics(api, given, /*attached=*/false);
}

void Attached(const std::vector<HttpRequest>& requests) {
  std::vector<std::string> log;
  FakeProvisioner p(/*capacity=*/4);
  Api api(DaemonInfo{"0.1.0", "user_copy", 0}, [&log](const std::string& line) { log.push_back(line); });
  api.Attach(&p, nullptr);
  std::map<int, uint64_t> given;
  // Reads a volume back; `status` is the answer expected.
  auto get = [&](const std::string& name, const Peer& peer, int status) {
    HttpRequest g{.method = "GET", .path = "/v1/volumes/" + name, .peer = peer};
    HttpResponse resp = api.Handle(g);
    ++given[resp.status];
    json j = CheckResponse(g, resp);
    WB_FUZZ_CHECK(resp.status == status, Show(g, resp));
    if (status == 200) WB_FUZZ_CHECK(j["name"] == name, Show(g, resp));
  };
  for (const auto& r : requests) {
    const size_t creates = p.creates, logged = log.size();
    HttpResponse resp = api.Handle(r);
    ++given[resp.status];
    json answer = CheckResponse(r, resp);
    const bool create = r.method == "POST" && r.path == "/v1/volumes";
    if (create) CheckCreate(r, resp, answer, p, p.creates > creates);
    if (resp.status == 201 || resp.status == 204) {
      const std::string who = "pid " + std::to_string(r.peer.pid) + " uid " + std::to_string(r.peer.uid);
      WB_FUZZ_CHECK(log.size() > logged && log.back().find(who) != std::string::npos,
                    "a change not logged with the peer: " + Show(r, resp));
    }
    if (create && (resp.status == 200 || resp.status == 201)) get(answer["name"], r.peer, 200);
    if (resp.status == 204) get(r.path.substr(std::string("/v1/volumes/").size()), r.peer, 404);
  }
  CheckMetrics(api, given, /*attached=*/true);
}

}  // namespace
}  // namespace warmblock::provisioner

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto requests = warmblock::provisioner::ReadRequests(std::string(reinterpret_cast<const char*>(data), size));
  warmblock::provisioner::Detached(requests);
  warmblock::provisioner::Attached(requests);
  return 0;
}
