#include "warmblock/provisioner/client.h"

#include "warmblock/provisioner/transport.h"
#include "warmblock/provisioner/wire.h"

namespace warmblock::client {
namespace {

namespace wire = provisioner::wire;

// A failed exchange as a Status: the transport's words, or the daemon's
// error mapped back to its code.
Status Failure(const Reply& r) {
  if (r.status == 0) return Status::Error(Status::Code::kIOError, r.error);
  return wire::DecodeError(r.status, r.body);
}

// The body of a reply with status `good`, decoded by `decode`; any other
// status is the daemon's error, and a body that does not decode says so.
template <typename F>
auto Expect(const Reply& r, std::initializer_list<long> good, F decode) -> decltype(decode(wire::json())) {
  bool expected = false;
  for (long s : good) expected |= r.status == s;
  if (!expected) return Failure(r);
  wire::json j = wire::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  auto v = j.is_discarded() ? decltype(decode(j))(Status::InvalidArgument("a body that is not JSON")) : decode(j);
  if (!v.ok())
    return Status::Error(Status::Code::kIOError, "unexpected answer from warmblockd (HTTP " + std::to_string(r.status) +
                                                     "): " + v.status().message());
  return v;
}

}  // namespace

Result<Volume> Client::Create(const CreateRequest& request) const {
  Reply r = Call(socket_, "POST", "/v1/volumes", wire::Encode(request).dump(), timeout_s_);
  return Expect(r, {200, 201}, wire::DecodeVolume);
}

Result<Volume> Client::Get(const std::string& name) const {
  return Expect(Call(socket_, "GET", "/v1/volumes/" + Escape(name), "", timeout_s_), {200}, wire::DecodeVolume);
}

Result<std::vector<Volume>> Client::List(const std::map<std::string, std::string>& labels) const {
  std::string query;
  for (const auto& [k, v] : labels) query += (query.empty() ? "?" : "&") + std::string("label=") + Escape(k + "=" + v);
  return Expect(Call(socket_, "GET", "/v1/volumes" + query, "", timeout_s_), {200}, wire::DecodeVolumeList);
}

Status Client::Delete(const std::string& name) const {
  Reply r = Call(socket_, "DELETE", "/v1/volumes/" + Escape(name), "", timeout_s_);
  return r.status == 204 ? Status::OK() : Failure(r);
}

Result<PoolReport> Client::Pool() const {
  return Expect(Call(socket_, "GET", "/v1/pool", "", timeout_s_), {200}, wire::DecodePoolReport);
}

Result<DaemonReport> Client::Daemon() const {
  return Expect(Call(socket_, "GET", "/v1/daemon", "", timeout_s_), {200}, wire::DecodeDaemonReport);
}

}  // namespace warmblock::client
