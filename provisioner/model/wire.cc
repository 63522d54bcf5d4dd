#include "warmblock/provisioner/wire.h"

#include <set>

#include "warmblock/base/text.h"
#include "warmblock/base/units.h"

namespace warmblock::provisioner::wire {
namespace {

bool HasControl(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

// Reads fields of one object of a reply; the first missing or mistyped
// field is remembered and every later read is skipped.
class Reader {
 public:
  Reader(const json& j, std::string what) : j_(j), what_(std::move(what)) {
    if (!j_.is_object()) Fail("is not a JSON object");
  }

  template <typename T>
  void Get(const char* key, T* out) {
    if (!status_.ok()) return;
    auto it = j_.find(key);
    if (it == j_.end()) return Fail(std::string("has no \"") + key + "\"");
    bool typed;
    if constexpr (std::is_same_v<T, bool>)
      typed = it->is_boolean();
    else if constexpr (std::is_same_v<T, double>)
      typed = it->is_number();
    else if constexpr (std::is_unsigned_v<T>)
      typed = it->is_number_unsigned();
    else if constexpr (std::is_integral_v<T>)
      typed = it->is_number_integer();
    else if constexpr (std::is_same_v<T, std::string>)
      typed = it->is_string();
    else
      typed = it->is_object() || it->is_array();
    if (!typed) return Fail(std::string("has \"") + key + "\" of the wrong type");
    try {
      *out = it->get<T>();
    } catch (const json::exception&) {
      Fail(std::string("has \"") + key + "\" of the wrong type");
    }
  }

  // A list whose items `decode` reads.
  template <typename T, typename F>
  void List(const char* key, std::vector<T>* out, F decode) {
    if (!status_.ok()) return;
    auto it = j_.find(key);
    if (it == j_.end() || !it->is_array()) return Fail(std::string("has no \"") + key + "\" list");
    for (const auto& item : *it) {
      auto v = decode(item);
      if (!v.ok()) {
        status_ = v.status();
        return;
      }
      out->push_back(std::move(*v));
    }
  }

  void Fail(const std::string& why) {
    if (status_.ok()) status_ = Status::InvalidArgument(what_ + " " + why);
  }
  const Status& status() const { return status_; }

 private:
  const json& j_;
  std::string what_;
  Status status_;
};

Result<ReactorReport> DecodeReactor(const json& j) {
  ReactorReport r;
  Reader in(j, "a reactor");
  in.Get("queues", &r.queues);
  in.Get("zero_copy_queues", &r.zero_copy_queues);
  in.Get("requests", &r.requests);
  in.Get("buffer_bytes", &r.buffer_bytes);
  if (!in.status().ok()) return in.status();
  return r;
}

Result<ClassReport> DecodeClass(const json& j) {
  ClassReport c;
  Reader in(j, "a class");
  in.Get("name", &c.name);
  in.Get("fs", &c.fs);
  in.Get("size_bytes", &c.size_bytes);
  in.Get("warm", &c.warm);
  in.Get("target", &c.target);
  in.Get("hits", &c.hits);
  in.Get("misses", &c.misses);
  if (!in.status().ok()) return in.status();
  return c;
}

Result<std::string> DecodeText(const json& j) {
  if (!j.is_string()) return Status::InvalidArgument("a repair line is not a string");
  return j.get<std::string>();
}

Status CheckLabels(const json& labels) {
  if (!labels.is_object()) return Status::InvalidArgument("labels: must be an object of strings");
  if (labels.size() > kMaxLabels) return Status::InvalidArgument("labels: at most " + std::to_string(kMaxLabels));
  for (auto& [k, v] : labels.items()) {
    if (!v.is_string()) return Status::InvalidArgument("labels." + EscapeControl(k) + ": must be a string");
    const std::string& text = v.get_ref<const std::string&>();
    if (k.empty() || k.size() > kMaxLabelKeyBytes || text.size() > kMaxLabelValueBytes)
      return Status::InvalidArgument("labels: keys are 1-" + std::to_string(kMaxLabelKeyBytes) +
                                     " bytes, values at most " + std::to_string(kMaxLabelValueBytes));
    // A key is matched by ?label=KEY=VALUE, so it cannot hold '='; control
    // characters (a NUL above all) would cut or forge lines where labels
    // are printed and logged.
    if (k.find('=') != std::string::npos || HasControl(k) || HasControl(text))
      return Status::InvalidArgument("labels: keys may not hold '=', and neither keys nor values control characters");
  }
  return Status::OK();
}

}  // namespace

json Encode(const Volume& v) {
  return json{{"name", v.name},
              {"class", v.class_name},
              {"fs", v.fs},
              {"size_bytes", v.size_bytes},
              {"size", FormatSize(v.size_bytes)},
              {"device", v.device},
              {"labels", v.labels},
              {"ephemeral", v.ephemeral},
              {"owner_pid", v.owner_pid},
              {"created_ms", v.created_ms},
              {"state", Name(v.state)},
              {"source", Name(v.source)}};
}

json Encode(const std::vector<Volume>& list) {
  json out = json::array();
  for (const auto& v : list) out.push_back(Encode(v));
  return json{{"volumes", out}};
}

// Only what was given, so the daemon refuses a request that gives both a
// class and a size; the filesystem goes with a size, as a class brings its
// own.
json Encode(const CreateRequest& r) {
  json j{{"name", r.name}};
  if (!r.class_name.empty()) j["class"] = r.class_name;
  if (r.size_bytes != 0) j["size"] = r.size_bytes;
  if (r.class_name.empty()) j["fs"] = r.fs;
  if (!r.labels.empty()) j["labels"] = r.labels;
  if (r.ephemeral) j["ephemeral"] = true;
  if (r.owner_pid != 0) j["owner_pid"] = r.owner_pid;
  return j;
}

json Encode(const PoolReport& p) {
  json classes = json::array();
  for (const auto& c : p.classes)
    classes.push_back(json{{"name", c.name},
                           {"fs", c.fs},
                           {"size_bytes", c.size_bytes},
                           {"warm", c.warm},
                           {"target", c.target},
                           {"hits", c.hits},
                           {"misses", c.misses}});
  return json{{"data_total_bytes", p.data_total_bytes},
              {"data_used_bytes", p.data_used_bytes},
              {"metadata_total_bytes", p.metadata_total_bytes},
              {"metadata_used_bytes", p.metadata_used_bytes},
              {"provisioned_bytes", p.provisioned_bytes},
              {"overcommit", p.Overcommit()},
              {"transaction_id", p.transaction_id},
              {"volumes", p.volumes},
              {"data_limit_bytes", p.data_limit_bytes},
              {"grow_events", p.grow_events},
              {"full", p.full},
              {"full_reason", p.full_reason},
              {"classes", classes}};
}

json Encode(const DaemonReport& d) {
  json reactors = json::array();
  for (const auto& r : d.reactors)
    reactors.push_back(json{{"queues", r.queues},
                            {"zero_copy_queues", r.zero_copy_queues},
                            {"requests", r.requests},
                            {"buffer_bytes", r.buffer_bytes}});
  return json{{"version", d.version},   {"started_ms", d.started_ms},
              {"uptime_s", d.uptime_s}, {"ublk_features", d.ublk_features},
              {"reactors", reactors},   {"repairs", d.repairs}};
}

Result<CreateRequest> DecodeCreateRequest(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("body: not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("body: must be a JSON object");
  static const std::set<std::string> kFields = {"name", "class", "size", "fs", "labels", "ephemeral", "owner_pid"};
  for (auto& [k, v] : j.items())
    if (kFields.count(k) == 0) return Status::InvalidArgument(EscapeControl(k) + ": unknown field");
  CreateRequest r;
  if (!j.contains("name") || !j["name"].is_string()) return Status::InvalidArgument("name: required, a string");
  r.name = j["name"].get<std::string>();
  if (j.contains("class")) {
    if (!j["class"].is_string()) return Status::InvalidArgument("class: must be a string");
    r.class_name = j["class"].get<std::string>();
  }
  if (j.contains("fs")) {
    if (!j["fs"].is_string()) return Status::InvalidArgument("fs: must be a string");
    r.fs = j["fs"].get<std::string>();
  }
  if (j.contains("size")) {
    const json& s = j["size"];
    if (s.is_number_unsigned()) {
      r.size_bytes = s.get<uint64_t>();
    } else if (s.is_string()) {
      WB_ASSIGN_OR_RETURN(r.size_bytes, ParseSize(s.get<std::string>(), "size"));
    } else {
      return Status::InvalidArgument("size: must be a size such as \"1G\" or a number of bytes");
    }
  }
  if (r.class_name.empty() == (r.size_bytes == 0))
    return Status::InvalidArgument("class: give either a class or a size");
  if (!r.class_name.empty() && j.contains("fs"))
    return Status::InvalidArgument("fs: comes with the class; give it only with a size");
  if (j.contains("labels")) {
    WB_RETURN_IF_ERROR(CheckLabels(j["labels"]));
    r.labels = j["labels"].get<std::map<std::string, std::string>>();
  }
  if (j.contains("ephemeral")) {
    if (!j["ephemeral"].is_boolean()) return Status::InvalidArgument("ephemeral: must be true or false");
    r.ephemeral = j["ephemeral"].get<bool>();
  }
  if (j.contains("owner_pid")) {
    if (!j["owner_pid"].is_number_unsigned() || j["owner_pid"].get<uint64_t>() == 0 ||
        j["owner_pid"].get<uint64_t>() > INT32_MAX)
      return Status::InvalidArgument("owner_pid: must be a process id");
    r.owner_pid = j["owner_pid"].get<int64_t>();
  }
  return r;
}

Result<Volume> DecodeVolume(const json& j) {
  Volume v;
  Reader in(j, "a volume");
  std::string state, source;
  in.Get("name", &v.name);
  in.Get("class", &v.class_name);
  in.Get("fs", &v.fs);
  in.Get("size_bytes", &v.size_bytes);
  in.Get("device", &v.device);
  in.Get("labels", &v.labels);
  in.Get("ephemeral", &v.ephemeral);
  in.Get("owner_pid", &v.owner_pid);
  in.Get("created_ms", &v.created_ms);
  in.Get("state", &state);
  in.Get("source", &source);
  if (!in.status().ok()) return in.status();
  auto s = ParseVolumeState(state);
  if (!s) return Status::InvalidArgument("a volume in an unknown state " + Quoted(state));
  auto src = ParseSource(source);
  if (!src) return Status::InvalidArgument("a volume of an unknown source " + Quoted(source));
  v.state = *s;
  v.source = *src;
  return v;
}

Result<std::vector<Volume>> DecodeVolumeList(const json& j) {
  std::vector<Volume> out;
  Reader in(j, "the list");
  in.List("volumes", &out, DecodeVolume);
  if (!in.status().ok()) return in.status();
  return out;
}

Result<PoolReport> DecodePoolReport(const json& j) {
  PoolReport p;
  Reader in(j, "the pool report");
  in.Get("data_total_bytes", &p.data_total_bytes);
  in.Get("data_used_bytes", &p.data_used_bytes);
  in.Get("metadata_total_bytes", &p.metadata_total_bytes);
  in.Get("metadata_used_bytes", &p.metadata_used_bytes);
  in.Get("provisioned_bytes", &p.provisioned_bytes);
  in.Get("transaction_id", &p.transaction_id);
  in.Get("volumes", &p.volumes);
  in.Get("data_limit_bytes", &p.data_limit_bytes);
  in.Get("grow_events", &p.grow_events);
  in.Get("full", &p.full);
  in.Get("full_reason", &p.full_reason);
  in.List("classes", &p.classes, DecodeClass);
  if (!in.status().ok()) return in.status();
  return p;
}

Result<DaemonReport> DecodeDaemonReport(const json& j) {
  DaemonReport d;
  Reader in(j, "the daemon report");
  in.Get("version", &d.version);
  in.Get("started_ms", &d.started_ms);
  in.Get("uptime_s", &d.uptime_s);
  in.Get("ublk_features", &d.ublk_features);
  in.List("reactors", &d.reactors, DecodeReactor);
  in.List("repairs", &d.repairs, DecodeText);
  if (!in.status().ok()) return in.status();
  return d;
}

namespace {

struct ErrorMapping {
  Status::Code code;
  const char* kind;
  int http_status;
};
constexpr ErrorMapping kErrors[] = {{Status::Code::kInvalidArgument, "invalid_argument", 400},
                                    {Status::Code::kNotFound, "not_found", 404},
                                    {Status::Code::kAlreadyExists, "already_exists", 409},
                                    {Status::Code::kBusy, "busy", 409},
                                    {Status::Code::kNoSpace, "no_space", 507}};

}  // namespace

const char* ErrorKind(Status::Code code) {
  for (const auto& e : kErrors)
    if (e.code == code) return e.kind;
  return "internal";
}

int HttpStatus(Status::Code code) {
  for (const auto& e : kErrors)
    if (e.code == code) return e.http_status;
  return 500;
}

json EncodeError(const Status& s) {
  std::string kind = ErrorKind(s.code());
  return EncodeError(kind, kind == "internal" ? s.ToString() : s.message());
}

json EncodeError(const std::string& kind, const std::string& message) {
  return json{{"error", message}, {"code", kind}};
}

Status DecodeError(long http_status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  std::string message = body, kind;
  if (j.is_object() && j.contains("error") && j["error"].is_string()) message = j["error"].get<std::string>();
  if (j.is_object() && j.contains("code") && j["code"].is_string()) kind = j["code"].get<std::string>();
  for (const auto& e : kErrors)
    if (kind == e.kind) return Status::Error(e.code, message);
  return Status::Error(Status::Code::kIOError, message + " (HTTP " + std::to_string(http_status) + ")");
}

}  // namespace warmblock::provisioner::wire
