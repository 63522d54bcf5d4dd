// The JSON form of the model (model.h) on warmblockd's HTTP API, written
// once for both ends: the daemon encodes what the client decodes and the
// other way round, so a field renamed on one side fails the round-trip
// tests rather than a user.
//
// Decoding is strict where the daemon reads a request (unknown fields and
// wrong types are refused by name) and tolerant of fields it does not know
// where a client reads a reply (a newer daemon may add some).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "warmblock/base/status.h"
#include "warmblock/provisioner/model.h"

namespace warmblock::provisioner::wire {

using json = nlohmann::json;

json Encode(const Volume& v);
json Encode(const std::vector<Volume>& list);  // {"volumes": [...]}
json Encode(const CreateRequest& r);
json Encode(const PoolReport& p);
json Encode(const DaemonReport& d);

// The body of a create as warmblockd accepts it: kInvalidArgument names the
// field. Checks the labels' limits, not the name (the provisioner does).
Result<CreateRequest> DecodeCreateRequest(const std::string& body);

// Replies, for clients: kInvalidArgument says which field was missing or of
// the wrong type.
Result<Volume> DecodeVolume(const json& j);
Result<std::vector<Volume>> DecodeVolumeList(const json& j);
Result<PoolReport> DecodePoolReport(const json& j);
Result<DaemonReport> DecodeDaemonReport(const json& j);

// Errors travel as {"error": message, "code": kind} with an HTTP status
// chosen by the kind: 400 invalid_argument, 404 not_found, 409
// already_exists and busy, 507 no_space, 500 internal. A client maps the
// kind back to the Status code; any other kind (the HTTP layer's own, such
// as "starting") becomes kIOError with the HTTP status in its message.
json EncodeError(const Status& s);
// The same body for errors of the HTTP layer itself (method_not_allowed,
// starting), which have no Status code.
json EncodeError(const std::string& kind, const std::string& message);
const char* ErrorKind(Status::Code code);
int HttpStatus(Status::Code code);
Status DecodeError(long http_status, const std::string& body);

}  // namespace warmblock::provisioner::wire
