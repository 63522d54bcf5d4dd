// warmblockd's HTTP/JSON API, apart from any socket: Api::Handle maps one
// request to one response, so unit tests drive it directly; HttpServer
// (http_server.h) feeds it from the Unix socket.
//
//   GET    /healthz                      200 {"status":"ok"} | 503 while starting
//   GET    /metrics                      Prometheus text format
//   POST   /v1/volumes                   {"name", "class" | "size" [, "fs"], "labels", "ephemeral",
//                                         "owner_pid" (ephemeral: released when that process is gone)}
//                                        201 new, 200 existing (same spec), 409 other spec
//   GET    /v1/volumes[?label=k=v...]    {"volumes": [...]}
//   GET    /v1/volumes/NAME              the volume | 404
//   DELETE /v1/volumes/NAME              204 | 404 | 409 while mounted
//   GET    /v1/pool                      capacity, usage, overcommit, warm stock per class,
//                                        growth (data_limit_bytes, grow_events), full + full_reason
//   GET    /v1/daemon                    version, uptime, repairs at start-up, ublk features
//
// Errors: {"error": "<message naming the bad field>", "code": "<kind>"} with
// 400, 404, 405, 409, 413, 503 (starting), 507 (pool full) or 500.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "warmblock/base/mutex.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct HttpRequest {
  std::string method;
  std::string path;  // without the query
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  Peer peer;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

struct DaemonInfo {
  std::string version;
  std::string ublk_features;
  int64_t started_ms = 0;
};

class Api {
 public:
  // `log` receives one line per change (create, delete) with the peer.
  Api(DaemonInfo info, std::function<void(const std::string&)> log);

  // Until a provisioner is attached every /v1 request and /healthz answer 503.
  void Attach(Provisioner* provisioner, const ublk::Server* ublk);

  HttpResponse Handle(const HttpRequest& request);

  // Largest request body accepted (HttpServer answers 413 above it): room
  // for any request within the label limits (model.h), even one that writes every
  // character as a six-byte \uXXXX escape.
  static constexpr size_t kMaxBodyBytes = 512 * 1024;
  static_assert(kMaxBodyBytes >= kMaxLabels * (kMaxLabelKeyBytes + kMaxLabelValueBytes + 6) * 6 + 4096);

 private:
  HttpResponse Volumes(const HttpRequest& r);
  HttpResponse Volume(const HttpRequest& r, const std::string& name);
  HttpResponse Create(const HttpRequest& r);
  HttpResponse Metrics();
  HttpResponse Daemon();
  HttpResponse Pool();
  void Observe(const std::string& source, double seconds);

  DaemonInfo info_;
  std::function<void(const std::string&)> log_;
  std::atomic<Provisioner*> provisioner_{nullptr};
  std::atomic<const ublk::Server*> ublk_{nullptr};

  // Hand-out latency histogram per source (warm, cold, existing).
  Mutex metrics_mu_;
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts per kLatencyBuckets bound
    uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::string, Histogram> handout_ GUARDED_BY(metrics_mu_);
  std::map<int, uint64_t> responses_ GUARDED_BY(metrics_mu_);  // by status code
};

}  // namespace warmblock::provisioner
