// Status and Result<T>: errors as values, shared by every warmblock module.
//
// A Status is OK or carries a Code, the errno it came from (0 if none) and a
// message that names the operation and the object it failed on, e.g.
//   "create_thin 42: Device or resource busy (pool warmblock-pool)".
// Modules translate errno at their boundary with Status::FromErrno; callers
// branch on code(), never on the message text. Both types are cheap to move
// and are [[nodiscard]]: ignoring an error is a compile error under -Werror.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace warmblock {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kInvalidArgument,  // the caller's input is wrong; retrying will not help
    kNotFound,         // the named object does not exist
    kAlreadyExists,    // an object with that name or id exists
    kBusy,             // in use; may succeed later
    kNoSpace,          // pool, file system or id space exhausted
    kUnsupported,      // the kernel or device lacks the feature
    kCorruption,       // persisted state is inconsistent
    kIOError,          // any other system error
    kTimeout,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status Error(Code code, std::string msg) { return Status(code, 0, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Error(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Error(Code::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) { return Error(Code::kAlreadyExists, std::move(msg)); }
  static Status Corruption(std::string msg) { return Error(Code::kCorruption, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Error(Code::kUnsupported, std::move(msg)); }

  // "<context>: <strerror(err)>[ (<detail>)]"; the code is derived from err.
  static Status FromErrno(int err, const std::string& context, const std::string& detail = "");

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>"; code and errno kept.
  Status Annotate(const std::string& prefix) const;

  static Code CodeFromErrno(int err);
  static const char* CodeName(Code code);

 private:
  Status(Code code, int err, std::string msg) : code_(code), errno_(err), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string msg_;
};

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                                              // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; Status::OK() when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace warmblock

// Propagate a non-OK Status from the enclosing function.
#define WB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::warmblock::Status wb_status_ = (expr); \
    if (!wb_status_.ok()) return wb_status_; \
  } while (0)

#define WB_CONCAT_INNER_(a, b) a##b
#define WB_CONCAT_(a, b) WB_CONCAT_INNER_(a, b)
// `WB_ASSIGN_OR_RETURN(auto x, F());` binds the value or returns the error.
#define WB_ASSIGN_OR_RETURN(lhs, expr) WB_ASSIGN_OR_RETURN_IMPL_(WB_CONCAT_(wb_result_, __LINE__), lhs, expr)
#define WB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
