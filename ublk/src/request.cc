#include "request.h"

#include <cerrno>

namespace warmblock::ublk {
namespace {

void Finish(Request& r, int32_t result, IoSteps& io) {
  char* buf = r.buf;
  r.buf = nullptr;
  r.stage = Request::Stage::kIdle;
  if (r.mode == CopyMode::kBuffered && r.op == abi::kOpRead) return io.Commit(result, buf);
  if (buf != nullptr) io.PutBuffer(buf);
  io.Commit(result, nullptr);
}

bool IsData(uint8_t op) { return op == abi::kOpRead || op == abi::kOpWrite; }

}  // namespace

bool NeedsBuffer(CopyMode mode, const abi::IoDesc& desc) {
  return mode != CopyMode::kZeroCopy && IsData(desc.op_flags & 0xff);
}

void StartRequest(Request& r, const abi::IoDesc& desc, uint32_t max_io_bytes, IoSteps& io) {
  r.op = desc.op_flags & 0xff;
  r.len = desc.nr_sectors * 512u;
  r.offset = desc.start_sector * 512u;
  r.fua = (desc.op_flags & abi::kIoFFua) != 0;
  if (IsData(r.op)) {
    if (r.len == 0 || r.len > max_io_bytes) return Finish(r, -EINVAL, io);
    if (NeedsBuffer(r.mode, desc)) {
      r.buf = io.GetBuffer();
      if (r.buf == nullptr) return Finish(r, -ENOMEM, io);
    }
    if (r.op == abi::kOpRead) {
      r.stage = Request::Stage::kBackendRead;
      return io.ReadBacking(r.buf, r.len, r.offset);
    }
    if (r.mode == CopyMode::kZeroCopy) {
      r.stage = Request::Stage::kBackendWrite;
      return io.WriteBacking(r.buf, r.len, r.offset, r.fua);
    }
    r.stage = Request::Stage::kCopyIn;
    return io.CopyFromRequest(r.buf, r.len);
  }
  switch (r.op) {
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
      // A short read (end of a file) is passed on as it is; the kernel
      // fails the rest of the request.
      if (result < 0 || r.mode != CopyMode::kUserCopy) return Finish(r, result, io);
      r.len = static_cast<uint32_t>(result);
      r.stage = Request::Stage::kCopyOut;
      return io.CopyToRequest(r.buf, r.len);
    case Request::Stage::kCopyIn:
      if (result < 0) return Finish(r, result, io);
      if (r.mode == CopyMode::kUserCopy) r.len = static_cast<uint32_t>(result);
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
