// ublk: block devices (/dev/ublkbN) whose I/O this process serves, through
// a fixed number of reactor threads, each one io_uring serving the queues of
// many devices and the back-end I/O for them in the same ring. Adding a
// device adds no thread.
//
// Data moves with USER_COPY (Linux >= 6.5): the reactor reads or writes the
// request's data on /dev/ublkcN with buffers drawn from a per-reactor pool
// that grows with I/O in flight and keeps at most 16 idle buffers per size,
// never depth x max I/O per device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::ublk {

// What the running kernel's ublk driver supports (GET_FEATURES).
struct Features {
  uint64_t flags = 0;
  bool user_copy() const;
  bool user_recovery() const;
  bool recovery_reissue() const;
  bool update_size() const;
  bool auto_buf_reg() const;
  bool safe_stop() const;  // TRY_STOP_DEV: the kernel refuses to stop an open disk
  // Space-separated names of the known flags that are set.
  std::string Describe() const;
};

// Where a device's back-end reads, writes and flushes go: into the reactor's
// own io_uring (default), or through a per-reactor libaio context whose
// completions the reactor reaps (for comparison, and for hosts where
// io_uring file I/O is restricted). Discard and write-zeroes take the same
// path with either.
enum class BackendKind { kIoUring, kLibaio };

struct DeviceOptions {
  // Block device or file the data lives on; opened read-write with O_DIRECT.
  std::string backing_path;
  // 0 = the backing's size. A multiple of the logical block size.
  uint64_t size_bytes = 0;
  uint16_t queues = 1;                 // 1..64
  uint16_t depth = 64;                 // 1..4096 requests per queue
  uint32_t max_io_bytes = 512 * 1024;  // 4 KiB..32 MiB, multiple of 4 KiB
  uint32_t logical_block = 512;        // 512, 1024, 2048 or 4096
  uint32_t physical_block = 4096;      // >= logical_block, power of two, <= 64 KiB
  // Keep /dev/ublkbN across a crash of this process so that a new one can
  // adopt it (USER_RECOVERY_REISSUE where available).
  bool recovery = true;
  BackendKind backend = BackendKind::kIoUring;
};

// Checks `options` without touching the kernel; kInvalidArgument naming the
// bad field.
Status ValidateDeviceOptions(const DeviceOptions& options);

struct ServerOptions {
  unsigned reactors = 0;  // 0 = number of cores
};

class Server;

// One started ublk device. Destroying it stops and deletes the kernel
// device (after the reactors let go of its queues). Not thread-safe; the
// Server that made it must outlive it.
class Device {
 public:
  virtual ~Device() = default;
  virtual uint32_t id() const = 0;
  virtual const std::string& disk_path() const = 0;  // "/dev/ublkbN"
  virtual uint64_t size_bytes() const = 0;
  // Stops and deletes the device now, reporting errors. Unless `force`:
  // kBusy while the disk is mounted or held exclusively, and on kernels
  // with safe_stop() while anything has it open. With `force` (and in the
  // destructor) the device goes regardless and its users get I/O errors.
  // Idempotent.
  virtual Status Remove(bool force = false) = 0;
};

// Owns the control connection and the reactor threads. Thread-safe.
class Server {
 public:
  virtual ~Server() = default;
  // kNotFound without /dev/ublk-control; kUnsupported on kernels without
  // USER_COPY (before 6.5).
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);

  // Adds, configures and starts a device served by this process.
  virtual Result<std::unique_ptr<Device>> AddDevice(const DeviceOptions& options) = 0;
  // Takes over device `id` that a dead process served (it must have been
  // created with recovery): START_USER_RECOVERY, fetch every tag,
  // END_USER_RECOVERY. /dev/ublkbN stays throughout; I/O the kernel held
  // meanwhile (REISSUE) completes once adopted. Queues, depth and size come
  // from the kernel. kNotFound for an unknown id, kUnsupported if the device
  // has no recovery, kBusy if its old server is still alive after ~10 s.
  // A failure before the queues are attached leaves the device for a later
  // attempt; a failure after removes it.
  virtual Result<std::unique_ptr<Device>> AdoptDevice(uint32_t id, const std::string& backing_path,
                                                      BackendKind backend = BackendKind::kIoUring) = 0;

  virtual const Features& features() const = 0;
  // Queues served by each reactor, in reactor order.
  virtual std::vector<unsigned> QueuesPerReactor() const = 0;
};

}  // namespace warmblock::ublk
