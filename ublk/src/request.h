// How one ublk request moves through its steps under USER_COPY, apart from
// any ring or thread: the reactor feeds it the request's descriptor and the
// result of each step, and carries out the steps it asks for through an
// IoSteps. Unit tests drive it with a fake IoSteps.
//
//   read:  backing read -> copy to the request (pwrite on /dev/ublkcN) -> commit
//   write: copy from the request (pread on /dev/ublkcN) -> backing write -> commit
//   flush, discard, write-zeroes: one backing step -> commit
#pragma once

#include <cstdint>

#include "uapi.h"

namespace warmblock::ublk {

class IoSteps {
 public:
  virtual ~IoSteps() = default;
  virtual char* GetBuffer() = 0;  // nullptr when memory is short
  virtual void PutBuffer(char* buf) = 0;
  virtual void ReadBacking(char* buf, uint32_t len, uint64_t offset) = 0;
  virtual void WriteBacking(char* buf, uint32_t len, uint64_t offset, bool fua) = 0;
  virtual void FlushBacking() = 0;
  virtual void DiscardBacking(uint64_t offset, uint32_t len) = 0;
  virtual void ZeroBacking(uint64_t offset, uint32_t len) = 0;
  virtual void CopyFromRequest(char* buf, uint32_t len) = 0;
  virtual void CopyToRequest(char* buf, uint32_t len) = 0;
  // Completes the request with `result` (bytes, or -errno) and fetches the next.
  virtual void Commit(int32_t result) = 0;
};

struct Request {
  enum class Stage { kIdle, kBackendRead, kCopyOut, kCopyIn, kBackendWrite, kOther };
  Stage stage = Stage::kIdle;
  char* buf = nullptr;
  uint32_t len = 0;
  uint64_t offset = 0;
  bool fua = false;
};

// Starts the request `desc` describes; requests above `max_io_bytes` fail
// with -EINVAL, unknown ops with -EOPNOTSUPP.
void StartRequest(Request& r, const abi::IoDesc& desc, uint32_t max_io_bytes, IoSteps& io);
// Feeds `result` (bytes or -errno) of the step `r` waits for.
void CompleteStep(Request& r, int result, IoSteps& io);

}  // namespace warmblock::ublk
