#include "warmblock/provisioner/api.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "warmblock/base/clock.h"
#include "warmblock/base/text.h"
#include "warmblock/provisioner/wire.h"

namespace warmblock::provisioner {
namespace {

using json = nlohmann::json;
namespace wire = provisioner::wire;

// Upper bounds (seconds) of the hand-out latency histogram buckets.
constexpr double kLatencyBuckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// Bytes that are not UTF-8 (a path or query sent as "%FF") become U+FFFD
// where messages echo them: dump() would otherwise throw, and the exception
// would end the daemon inside libmicrohttpd's callback.
HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, body.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}

HttpResponse Error(int status, const std::string& kind, const std::string& message) {
  return Json(status, wire::EncodeError(kind, message));
}

HttpResponse FromStatus(const Status& s) { return Json(wire::HttpStatus(s.code()), wire::EncodeError(s)); }

std::string Who(const Peer& p) {
  return "pid " + std::to_string(p.pid) + " uid " + std::to_string(p.uid) + " gid " + std::to_string(p.gid);
}

std::string Escape(const std::string& label) {
  std::string out;
  for (char c : label) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Api::Api(DaemonInfo info, std::function<void(const std::string&)> log) : info_(std::move(info)), log_(std::move(log)) {}

void Api::Attach(Provisioner* provisioner, const ublk::Server* ublk) {
  ublk_ = ublk;
  provisioner_ = provisioner;
}

HttpResponse Api::Handle(const HttpRequest& r) {
  HttpResponse resp;
  const bool ready = provisioner_.load() != nullptr;
  if (r.path == "/healthz") {
    resp = r.method != "GET" ? Error(405, "method_not_allowed", "use GET")
           : ready           ? Json(200, json{{"status", "ok"}})
                             : Json(503, json{{"status", "starting"}});
  } else if (r.path == "/metrics") {
    resp = r.method != "GET" ? Error(405, "method_not_allowed", "use GET") : Metrics();
  } else if (r.path.rfind("/v1/", 0) != 0) {
    resp = Error(404, "not_found", "no such path: " + Quoted(r.path) + " (the API lives under /v1/)");
  } else if (!ready) {
    resp = Error(503, "starting", "warmblockd is starting (repairing state, making golden images); retry shortly");
  } else if (r.path == "/v1/volumes") {
    resp = Volumes(r);
  } else if (r.path.rfind("/v1/volumes/", 0) == 0) {
    resp = Volume(r, r.path.substr(12));
  } else if (r.path == "/v1/pool") {
    resp = r.method != "GET" ? Error(405, "method_not_allowed", "use GET") : Pool();
  } else if (r.path == "/v1/daemon") {
    resp = r.method != "GET" ? Error(405, "method_not_allowed", "use GET") : Daemon();
  } else {
    resp = Error(404, "not_found", "no such path: " + Quoted(r.path));
  }
  MutexLock lock(metrics_mu_);
  ++responses_[resp.status];
  return resp;
}

HttpResponse Api::Volumes(const HttpRequest& r) {
  if (r.method == "POST") return Create(r);
  if (r.method != "GET") return Error(405, "method_not_allowed", "use GET or POST");
  std::map<std::string, std::string> labels;
  for (const auto& [k, v] : r.query) {
    if (k != "label")
      return Error(400, "invalid_argument", EscapeControl(k) + ": unknown query parameter (use label=KEY=VALUE)");
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) return Error(400, "invalid_argument", "label: write label=KEY=VALUE");
    labels[v.substr(0, eq)] = v.substr(eq + 1);
  }
  auto list = provisioner_.load()->List(labels);
  if (!list.ok()) return FromStatus(list.status());
  return Json(200, wire::Encode(*list));
}

HttpResponse Api::Create(const HttpRequest& r) {
  auto start = std::chrono::steady_clock::now();
  auto req = wire::DecodeCreateRequest(r.body);
  if (!req.ok()) return FromStatus(req.status());
  auto v = provisioner_.load()->Create(*req);
  if (!v.ok()) {
    if (log_) log_("create " + Quoted(req->name) + " by " + Who(r.peer) + " failed: " + v.status().ToString());
    return FromStatus(v.status());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Observe(Name(v->source), secs);
  const bool made = v->source != Source::kExisting;
  if (log_ && made)
    log_("created volume " + Quoted(v->name) + " (" + Name(v->source) + ", " + v->device + ") for " + Who(r.peer));
  return Json(made ? 201 : 200, wire::Encode(*v));
}

HttpResponse Api::Volume(const HttpRequest& r, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos)
    return Error(404, "not_found", "no such path: " + Quoted(r.path));
  if (r.method == "GET") {
    auto v = provisioner_.load()->Get(name);
    return v.ok() ? Json(200, wire::Encode(*v)) : FromStatus(v.status());
  }
  if (r.method == "DELETE") {
    Status s = provisioner_.load()->Delete(name);
    if (log_) log_("delete volume " + Quoted(name) + " by " + Who(r.peer) + ": " + (s.ok() ? "done" : s.ToString()));
    return s.ok() ? HttpResponse{204, "", "application/json"} : FromStatus(s);
  }
  return Error(405, "method_not_allowed", "use GET or DELETE");
}

HttpResponse Api::Pool() {
  auto rep = provisioner_.load()->Report();
  return rep.ok() ? Json(200, wire::Encode(*rep)) : FromStatus(rep.status());
}

HttpResponse Api::Daemon() {
  DaemonReport d;
  d.version = info_.version;
  d.started_ms = info_.started_ms;
  d.uptime_s = (UnixMs() - info_.started_ms) / 1000;
  d.ublk_features = info_.ublk_features;
  d.repairs = provisioner_.load()->Repairs();
  if (const ublk::Server* u = ublk_.load())
    for (const auto& r : u->Reactors())
      d.reactors.push_back(ReactorReport{.queues = r.queues,
                                         .zero_copy_queues = r.zero_copy_queues,
                                         .requests = r.requests,
                                         .buffer_bytes = r.buffer_bytes});
  return Json(200, wire::Encode(d));
}

void Api::Observe(const std::string& source, double seconds) {
  MutexLock lock(metrics_mu_);
  Histogram& h = handout_[source];
  if (h.buckets.empty()) h.buckets.assign(std::size(kLatencyBuckets), 0);
  for (size_t i = 0; i < std::size(kLatencyBuckets); ++i)
    if (seconds <= kLatencyBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

HttpResponse Api::Metrics() {
  std::ostringstream m;
  Provisioner* p = provisioner_.load();
  m << "# HELP warmblock_up 1 once warmblockd serves requests.\n# TYPE warmblock_up gauge\n"
    << "warmblock_up " << (p != nullptr ? 1 : 0) << "\n";
  if (p != nullptr) {
    auto rep = p->Report();
    if (rep.ok()) {
      m << "# HELP warmblock_volumes Volumes handed out.\n# TYPE warmblock_volumes gauge\n"
        << "warmblock_volumes " << rep->volumes << "\n"
        << "# HELP warmblock_pool_data_bytes Pool data space.\n# TYPE warmblock_pool_data_bytes gauge\n"
        << "warmblock_pool_data_bytes{kind=\"used\"} " << rep->data_used_bytes << "\n"
        << "warmblock_pool_data_bytes{kind=\"total\"} " << rep->data_total_bytes << "\n"
        << "warmblock_pool_data_bytes{kind=\"limit\"} " << rep->data_limit_bytes << "\n"
        << "# HELP warmblock_pool_grow_events_total Times the pool grew itself since start-up.\n"
        << "# TYPE warmblock_pool_grow_events_total counter\n"
        << "warmblock_pool_grow_events_total " << rep->grow_events << "\n"
        << "# HELP warmblock_pool_full 1 while the pool is out of space and creates get 507.\n"
        << "# TYPE warmblock_pool_full gauge\n"
        << "warmblock_pool_full " << (rep->full ? 1 : 0) << "\n"
        << "# HELP warmblock_pool_metadata_bytes Pool metadata space.\n"
        << "# TYPE warmblock_pool_metadata_bytes gauge\n"
        << "warmblock_pool_metadata_bytes{kind=\"used\"} " << rep->metadata_used_bytes << "\n"
        << "warmblock_pool_metadata_bytes{kind=\"total\"} " << rep->metadata_total_bytes << "\n"
        << "# HELP warmblock_provisioned_bytes Sum of volume sizes (overcommit when above data total).\n"
        << "# TYPE warmblock_provisioned_bytes gauge\n"
        << "warmblock_provisioned_bytes " << rep->provisioned_bytes << "\n"
        << "# HELP warmblock_warm_volumes Ready volumes in stock per class.\n# TYPE warmblock_warm_volumes gauge\n";
      for (const auto& c : rep->classes)
        m << "warmblock_warm_volumes{class=\"" << Escape(c.name) << "\"} " << c.warm << "\n";
      m << "# HELP warmblock_warm_hits_total Creates served from stock.\n# TYPE warmblock_warm_hits_total counter\n";
      for (const auto& c : rep->classes)
        m << "warmblock_warm_hits_total{class=\"" << Escape(c.name) << "\"} " << c.hits << "\n";
      m << "# HELP warmblock_warm_misses_total Creates of a class that found its stock empty.\n"
        << "# TYPE warmblock_warm_misses_total counter\n";
      for (const auto& c : rep->classes)
        m << "warmblock_warm_misses_total{class=\"" << Escape(c.name) << "\"} " << c.misses << "\n";
    }
  }
  if (const ublk::Server* u = ublk_.load()) {
    auto reactors = u->Reactors();
    m << "# HELP warmblock_reactor_queues ublk queues served per reactor.\n# TYPE warmblock_reactor_queues gauge\n";
    for (size_t i = 0; i < reactors.size(); ++i)
      m << "warmblock_reactor_queues{reactor=\"" << i << "\"} " << reactors[i].queues << "\n";
    m << "# HELP warmblock_reactor_requests_total ublk requests completed per reactor.\n"
      << "# TYPE warmblock_reactor_requests_total counter\n";
    for (size_t i = 0; i < reactors.size(); ++i)
      m << "warmblock_reactor_requests_total{reactor=\"" << i << "\"} " << reactors[i].requests << "\n";
  }
  MutexLock lock(metrics_mu_);
  m << "# HELP warmblock_handout_seconds Time to answer a volume create, by how it was served.\n"
    << "# TYPE warmblock_handout_seconds histogram\n";
  for (const auto& [source, h] : handout_) {
    for (size_t i = 0; i < std::size(kLatencyBuckets); ++i)
      m << "warmblock_handout_seconds_bucket{source=\"" << source << "\",le=\"" << kLatencyBuckets[i] << "\"} "
        << h.buckets[i] << "\n";
    m << "warmblock_handout_seconds_bucket{source=\"" << source << "\",le=\"+Inf\"} " << h.count << "\n"
      << "warmblock_handout_seconds_sum{source=\"" << source << "\"} " << h.sum << "\n"
      << "warmblock_handout_seconds_count{source=\"" << source << "\"} " << h.count << "\n";
  }
  m << "# HELP warmblock_http_responses_total API responses by status code.\n"
    << "# TYPE warmblock_http_responses_total counter\n";
  for (const auto& [code, n] : responses_) m << "warmblock_http_responses_total{code=\"" << code << "\"} " << n << "\n";
  return HttpResponse{200, m.str(), "text/plain; version=0.0.4"};
}

}  // namespace warmblock::provisioner
