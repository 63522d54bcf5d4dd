#include "client.h"

#include <curl/curl.h>

#include <mutex>
#include <nlohmann/json.hpp>

namespace warmblock::client {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string Reply::Message() const {
  if (!error.empty()) return error;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return body;
}

Reply Call(const std::string& socket, const std::string& method, const std::string& path, const std::string& body,
           long timeout_s) {
  InitOnce();
  Reply r;
  CURL* c = curl_easy_init();
  if (c == nullptr) return Reply{0, "", "curl_easy_init failed"};
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  std::string url = "http://warmblockd" + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!body.empty()) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    r.error = std::string(curl_easy_strerror(rc));
    if (rc == CURLE_COULDNT_CONNECT)
      r.error = "cannot connect to warmblockd at " + socket + " (is it running? are you root or in group warmblock?)";
    else if (rc == CURLE_OPERATION_TIMEDOUT)
      r.error = "warmblockd at " + socket + " did not answer within " + std::to_string(timeout_s) + " s";
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

std::string Escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

}  // namespace warmblock::client
