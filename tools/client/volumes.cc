#include "volumes.h"

#include <nlohmann/json.hpp>

namespace warmblock::client {
namespace {

using json = nlohmann::json;

std::string Text(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

// False, with `why`, when `j` is not a volume as the API describes one.
bool ParseVolume(const json& j, Volume* v, std::string* why) {
  if (!j.is_object()) {
    *why = "a volume that is not a JSON object";
    return false;
  }
  for (const char* key : {"name", "fs", "device", "state", "source"})
    if (!j.contains(key) || !j[key].is_string()) {
      *why = std::string("a volume without \"") + key + "\"";
      return false;
    }
  v->name = j["name"];
  v->fs = j["fs"];
  v->device = j["device"];
  v->state = j["state"];
  v->source = j["source"];
  if (j.contains("class") && j["class"].is_string()) v->class_name = j["class"];
  if (j.contains("size") && j["size"].is_string()) v->size = j["size"];
  if (j.contains("size_bytes") && j["size_bytes"].is_number_unsigned()) v->size_bytes = j["size_bytes"];
  if (j.contains("labels") && j["labels"].is_object())
    for (auto& [k, val] : j["labels"].items()) v->labels[k] = Text(val);
  for (auto& [k, val] : j.items()) v->fields.emplace_back(k, Text(val));
  return true;
}

// Marks `a` failed with a reply the daemon should not have sent.
template <typename T>
Answer<T> Unexpected(Answer<T> a, const std::string& why) {
  a.reply.error = "unexpected answer from warmblockd (HTTP " + std::to_string(a.reply.status) + "): " + why;
  a.ok = false;
  return a;
}

Answer<Volume> OneVolume(Reply r, std::initializer_list<long> good) {
  Answer<Volume> a{std::move(r)};
  bool expected = false;
  for (long s : good) expected |= a.reply.status == s;
  if (!expected) return a;
  json j = json::parse(a.reply.body, nullptr, false);
  std::string why;
  if (!ParseVolume(j, &a.value, &why)) return Unexpected(std::move(a), why);
  a.ok = true;
  return a;
}

}  // namespace

Answer<Volume> CreateVolume(const std::string& socket, const CreateVolumeRequest& req, long timeout_s) {
  json body{{"name", req.name}};
  if (!req.class_name.empty()) body["class"] = req.class_name;
  if (!req.size.empty()) body["size"] = req.size;
  if (!req.fs.empty()) body["fs"] = req.fs;
  if (!req.labels.empty()) body["labels"] = req.labels;
  if (req.ephemeral) body["ephemeral"] = true;
  if (req.owner_pid != 0) body["owner_pid"] = req.owner_pid;
  return OneVolume(Call(socket, "POST", "/v1/volumes", body.dump(), timeout_s), {200, 201});
}

Answer<Volume> GetVolume(const std::string& socket, const std::string& name, long timeout_s) {
  return OneVolume(Call(socket, "GET", "/v1/volumes/" + Escape(name), "", timeout_s), {200});
}

Answer<std::vector<Volume>> ListVolumes(const std::string& socket, const std::vector<std::string>& labels,
                                        long timeout_s) {
  std::string query;
  for (const auto& kv : labels) query += (query.empty() ? "?" : "&") + std::string("label=") + Escape(kv);
  Answer<std::vector<Volume>> a{Call(socket, "GET", "/v1/volumes" + query, "", timeout_s)};
  if (a.reply.status != 200) return a;
  json j = json::parse(a.reply.body, nullptr, false);
  if (!j.is_object() || !j.contains("volumes") || !j["volumes"].is_array())
    return Unexpected(std::move(a), "no \"volumes\" list");
  for (const auto& item : j["volumes"]) {
    Volume v;
    std::string why;
    if (!ParseVolume(item, &v, &why)) return Unexpected(std::move(a), why);
    a.value.push_back(std::move(v));
  }
  a.ok = true;
  return a;
}

Answer<bool> DeleteVolume(const std::string& socket, const std::string& name, long timeout_s) {
  Answer<bool> a{Call(socket, "DELETE", "/v1/volumes/" + Escape(name), "", timeout_s)};
  a.ok = a.value = a.reply.status == 204;
  return a;
}

}  // namespace warmblock::client
