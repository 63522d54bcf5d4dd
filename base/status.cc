#include "warmblock/base/status.h"

#include <cerrno>
#include <cstring>

namespace warmblock {

Status::Code Status::CodeFromErrno(int err) {
  switch (err) {
    case 0:
      return Code::kOk;
    case EINVAL:
    case ERANGE:
    case ENAMETOOLONG:
      return Code::kInvalidArgument;
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ENODATA:
      return Code::kNotFound;
    case EEXIST:
      return Code::kAlreadyExists;
    case EBUSY:
    case EAGAIN:
      return Code::kBusy;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
      return Code::kNoSpace;
    case EOPNOTSUPP:
    case ENOTTY:
    case ENOSYS:
      return Code::kUnsupported;
    case ETIMEDOUT:
      return Code::kTimeout;
    default:
      return Code::kIOError;
  }
}

Status Status::FromErrno(int err, const std::string& context, const std::string& detail) {
  std::string msg = context + ": " + std::strerror(err);
  if (!detail.empty()) msg += " (" + detail + ")";
  Code code = CodeFromErrno(err);
  if (code == Code::kOk) code = Code::kIOError;  // an errno of 0 here is still a failure
  return Status(code, err, std::move(msg));
}

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kAlreadyExists:
      return "already exists";
    case Code::kBusy:
      return "busy";
    case Code::kNoSpace:
      return "no space";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kCorruption:
      return "corruption";
    case Code::kIOError:
      return "I/O error";
    case Code::kTimeout:
      return "timeout";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

Status Status::Annotate(const std::string& prefix) const {
  if (ok()) return *this;
  return Status(code_, errno_, prefix + ": " + msg_);
}

}  // namespace warmblock
