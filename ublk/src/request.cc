#include "request.h"

#include <cerrno>

namespace warmblock::ublk {
namespace {

void Finish(Request& r, int32_t result, IoSteps& io) {
  if (r.buf != nullptr) io.PutBuffer(r.buf);
  r.buf = nullptr;
  r.stage = Request::Stage::kIdle;
  io.Commit(result);
}

}  // namespace

void StartRequest(Request& r, const abi::IoDesc& desc, uint32_t max_io_bytes, IoSteps& io) {
  const uint8_t op = desc.op_flags & 0xff;
  r.len = desc.nr_sectors * 512u;
  r.offset = desc.start_sector * 512u;
  r.fua = (desc.op_flags & abi::kIoFFua) != 0;
  switch (op) {
    case abi::kOpRead:
    case abi::kOpWrite:
      if (r.len == 0 || r.len > max_io_bytes) return Finish(r, -EINVAL, io);
      r.buf = io.GetBuffer();
      if (r.buf == nullptr) return Finish(r, -ENOMEM, io);
      if (op == abi::kOpRead) {
        r.stage = Request::Stage::kBackendRead;
        io.ReadBacking(r.buf, r.len, r.offset);
      } else {
        r.stage = Request::Stage::kCopyIn;
        io.CopyFromRequest(r.buf, r.len);
      }
      return;
    case abi::kOpFlush:
      r.stage = Request::Stage::kOther;
      return io.FlushBacking();
    case abi::kOpDiscard:
      r.stage = Request::Stage::kOther;
      return io.DiscardBacking(r.offset, r.len);
    case abi::kOpWriteZeroes:
      r.stage = Request::Stage::kOther;
      return io.ZeroBacking(r.offset, r.len);
    default:
      return Finish(r, -EOPNOTSUPP, io);
  }
}

void CompleteStep(Request& r, int result, IoSteps& io) {
  switch (r.stage) {
    case Request::Stage::kBackendRead:
      if (result < 0) return Finish(r, result, io);
      // A short read (end of a file) is passed on as it is; the kernel
      // fails the rest of the request.
      r.len = static_cast<uint32_t>(result);
      r.stage = Request::Stage::kCopyOut;
      return io.CopyToRequest(r.buf, r.len);
    case Request::Stage::kCopyIn:
      if (result < 0) return Finish(r, result, io);
      r.len = static_cast<uint32_t>(result);
      r.stage = Request::Stage::kBackendWrite;
      return io.WriteBacking(r.buf, r.len, r.offset, r.fua);
    case Request::Stage::kCopyOut:
    case Request::Stage::kBackendWrite:
      return Finish(r, result, io);
    case Request::Stage::kOther:
      return Finish(r, result < 0 ? result : 0, io);
    case Request::Stage::kIdle:
      return;  // a stray completion; nothing waits for it
  }
}

}  // namespace warmblock::ublk
