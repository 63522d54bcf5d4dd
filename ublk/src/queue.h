// A device queue and its tags as a reactor serves them. Private to the
// module's Linux data plane.
#pragma once

#include <libaio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <vector>

#include "request.h"
#include "uapi.h"
#include "warmblock/base/mapping.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

class Backend;
struct Queue;

// One tag (request slot) of one queue, owned by its reactor.
struct Tag {
  enum class Phase { kFetching, kServing, kDone };
  Queue* queue = nullptr;
  uint16_t tag = 0;
  Phase phase = Phase::kFetching;
  uint16_t buf_index = 0;  // zero copy: where the driver registers the request's pages
  Request req;
  iocb aio{};  // the libaio back end's control block for this tag
};

// One hardware queue of one device. Lives on its reactor from AddQueue until
// every tag is done after STOP_DEV.
struct Queue {
  uint16_t q_id = 0;
  int char_fd = -1;
  int backing_fd = -1;
  bool backing_is_block = false;
  BackendKind backend = BackendKind::kIoUring;
  Backend* io = nullptr;  // set by the reactor when it takes the queue
  CopyMode mode = CopyMode::kUserCopy;
  uint32_t max_io_bytes = 0;
  Mapping descs_map;                   // the descriptors, mapped from /dev/ublkcN
  const abi::IoDesc* descs = nullptr;  // into descs_map
  std::vector<Tag> tags;
  unsigned live = 0;           // tags not yet kDone
  std::promise<void> drained;  // set once live drops to 0
  // Written by the reactor, read by Device::stats().
  std::atomic<uint64_t> reads{0}, writes{0}, flushes{0}, discards{0};
  std::atomic<uint64_t> read_bytes{0}, write_bytes{0}, errors{0};
};

}  // namespace warmblock::ublk
