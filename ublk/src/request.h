// How one ublk request moves through its steps, apart from any ring or
// thread: the reactor feeds it the request's descriptor and the result of
// each step, and carries out the steps it asks for through an IoSteps. Unit
// tests drive it with a fake IoSteps.
//
//   zero copy:  read/write: backing I/O on the request's own pages -> commit
//   user copy:  read:  backing read -> copy to the request -> commit
//               write: copy from the request -> backing write -> commit
//   buffered:   read:  backing read -> commit lending the buffer (the driver
//                      copies from it while taking the commit)
//               write: copy from the request (NEED_GET_DATA: the driver
//                      copies into the buffer) -> backing write -> commit
//   flush, discard, write-zeroes (every mode): one backing step -> commit
#pragma once

#include <cstdint>

#include "uapi.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

class IoSteps {
 public:
  // Passed as the buffer of a backing read or write in zero-copy mode: the
  // request's pages, registered with the ring by the driver.
  static constexpr char* kRequestPages = nullptr;

  virtual ~IoSteps() = default;
  virtual char* GetBuffer() = 0;  // nullptr when memory is short
  virtual void PutBuffer(char* buf) = 0;
  virtual void ReadBacking(char* buf, uint32_t len, uint64_t offset) = 0;
  virtual void WriteBacking(char* buf, uint32_t len, uint64_t offset, bool fua) = 0;
  virtual void FlushBacking() = 0;
  virtual void DiscardBacking(uint64_t offset, uint32_t len) = 0;
  virtual void ZeroBacking(uint64_t offset, uint32_t len) = 0;
  // Completes with the bytes copied (user copy) or 0 (buffered).
  virtual void CopyFromRequest(char* buf, uint32_t len) = 0;
  virtual void CopyToRequest(char* buf, uint32_t len) = 0;
  // Completes the request with `result` (bytes, or -errno) and fetches the
  // next. `lent` (buffered reads only) is a buffer the driver copies the
  // read data from; the callee owns it from here and frees it once the
  // commit has been submitted.
  virtual void Commit(int32_t result, char* lent) = 0;
};

struct Request {
  enum class Stage { kIdle, kBackendRead, kCopyOut, kCopyIn, kBackendWrite, kOther };
  CopyMode mode = CopyMode::kUserCopy;  // of the queue; never kAuto
  Stage stage = Stage::kIdle;
  uint8_t op = 0;
  char* buf = nullptr;
  uint32_t len = 0;
  uint64_t offset = 0;
  bool fua = false;
};

// Whether serving `desc` in `mode` needs a copy buffer.
bool NeedsBuffer(CopyMode mode, const abi::IoDesc& desc);

// Starts the request `desc` describes; requests above `max_io_bytes` fail
// with -EINVAL, unknown ops with -EOPNOTSUPP.
void StartRequest(Request& r, const abi::IoDesc& desc, uint32_t max_io_bytes, IoSteps& io);
// Feeds `result` (bytes or -errno) of the step `r` waits for.
void CompleteStep(Request& r, int result, IoSteps& io);

}  // namespace warmblock::ublk
