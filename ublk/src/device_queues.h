// A device's queues as its server's reactors serve them, with the
// placement they hold. Stopping them (Release, or the destructor) sends
// STOP_DEV, which makes the kernel hand every fetched tag back, waits for
// each queue to drain, then unmaps the queues and gives their placement
// back. A queue that never drains stays mapped and placed for ever: its
// reactor still references it. Not thread-safe; owned by one device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "device.h"
#include "queue.h"

namespace warmblock::ublk {

class DeviceQueues {
 public:
  // `reactors`: one per queue, already placed with `depth` tags each.
  DeviceQueues(DeviceHost& host, CopyMode mode, uint16_t depth, std::vector<unsigned> reactors)
      : host_(host), mode_(mode), depth_(depth), reactor_of_(std::move(reactors)) {}
  ~DeviceQueues() { (void)Release(); }
  DeviceQueues(const DeviceQueues&) = delete;
  DeviceQueues& operator=(const DeviceQueues&) = delete;

  // Maps each queue's descriptors from `char_fd` (/dev/ublkcN of device
  // `dev_id`) and has its reactor fetch every tag; returns once all
  // fetches are submitted. On error the queues handed over so far stay
  // until Release. The fds must outlive the queues.
  Status Attach(uint32_t dev_id, int char_fd, int backing_fd, bool backing_is_block, uint32_t max_io_bytes,
                BackendKind backend);
  // Stops the device if any queue was handed over, and lets go of the
  // queues and their placement. kTimeout if a queue did not drain.
  // Idempotent.
  Status Release();
  DeviceStats stats() const;

 private:
  DeviceHost& host_;
  const CopyMode mode_;
  const uint16_t depth_;
  uint32_t dev_id_ = 0;
  std::vector<unsigned> reactor_of_;            // placement held, one per queue
  std::vector<std::unique_ptr<Queue>> queues_;  // those handed to a reactor
};

}  // namespace warmblock::ublk
