// ublk: block devices (/dev/ublkbN) whose I/O this process serves, through
// a fixed number of reactor threads, each one io_uring serving the queues of
// many devices and the back-end I/O for them in the same ring. Adding a
// device adds no thread.
//
// How data moves between a request and the back end (CopyMode) is chosen per
// device from what the kernel offers: zero copy where the driver registers
// the request's pages with the reactor's ring (AUTO_BUF_REG, Linux >= 6.16),
// else USER_COPY (>= 6.5), else the driver copies to and from a daemon
// buffer (NEED_GET_DATA). The copying modes draw buffers from a per-reactor
// pool sized to the I/O in flight (capped; requests wait for a buffer rather
// than fail), never depth x max I/O per device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::ublk {

// What the running kernel's ublk driver supports (GET_FEATURES).
struct Features {
  uint64_t flags = 0;
  bool user_copy() const;
  bool need_get_data() const;  // the buffered mode
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

enum class CopyMode {
  kAuto,      // the best the kernel and back end allow, in the order below
  kZeroCopy,  // back-end I/O straight to the request's pages; io_uring back end only
  kUserCopy,  // pread/pwrite of the request's data on /dev/ublkcN
  kBuffered,  // the driver copies into (NEED_GET_DATA) and out of a daemon buffer
};
const char* CopyModeName(CopyMode mode);

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
  // kAuto falls back silently (the choice is logged); an explicit mode the
  // kernel lacks is kUnsupported.
  CopyMode copy = CopyMode::kAuto;
};

// Checks `options` without touching the kernel; kInvalidArgument naming the
// bad field.
Status ValidateDeviceOptions(const DeviceOptions& options);

struct ServerOptions {
  unsigned reactors = 0;  // 0 = number of cores
  // Cap on the copy buffers a reactor has lent to requests in flight; a
  // request beyond it waits for one to come back. At least one request
  // always proceeds.
  uint64_t max_buffer_bytes = 64ull << 20;
  // Marks the devices this server adds (the kernel keeps the mark);
  // ListAbandoned and DeleteAbandoned see only devices with the same
  // owner, so separate daemons never touch each other's devices.
  uint32_t owner = 0;
  // Receives one line per notable event (copy mode chosen, fallbacks,
  // refused commands); called from any of the server's threads.
  std::function<void(const std::string&)> log;
};

// Counters of one device since it was added or adopted.
struct DeviceStats {
  uint64_t reads = 0, writes = 0, flushes = 0, discards = 0;
  uint64_t read_bytes = 0, write_bytes = 0;
  uint64_t errors = 0;  // requests completed with an error
};

struct ReactorStats {
  unsigned queues = 0;            // device queues placed on this reactor
  unsigned zero_copy_queues = 0;  // of which served with zero copy
  uint64_t requests = 0;          // completed since start
  uint64_t buffer_bytes = 0;      // copy buffers lent to requests now
  uint64_t waits_for_buffer = 0;  // requests that had to wait at the cap
};

// A ublk device as the kernel reports it (GET_DEV_INFO).
struct DeviceInfo {
  enum class State { kDead, kLive, kQuiesced, kFailIo };
  uint32_t id = 0;
  // kDead: added but not (or no longer) started, so there is no /dev/ublkbN;
  // kQuiesced / kFailIo: its server died and recovery waits for a new one.
  State state = State::kDead;
  // The server the kernel recorded; Linux reports -1 once that process is
  // gone (older kernels keep the number).
  int32_t server_pid = -1;
};
const char* DeviceStateName(DeviceInfo::State state);

// Every ublk device on the host carrying `owner`'s mark (ServerOptions::
// owner), by id, whether served, abandoned or never started: what the
// reliability tests count. kNotFound without /dev/ublk-control. A device
// that vanishes while listed is left out. Thread-safe.
Result<std::vector<DeviceInfo>> ListOwnedDevices(uint32_t owner);

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
  virtual CopyMode copy_mode() const = 0;
  // Grows the live disk to `bytes` (a multiple of 4096, at least the current
  // size); the back end must already be that large. kUnsupported without
  // Features::update_size() (Linux >= 6.16).
  virtual Status Resize(uint64_t bytes) = 0;
  virtual DeviceStats stats() const = 0;
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
  // kNotFound without /dev/ublk-control; kUnsupported before Linux 6.5
  // (no GET_FEATURES).
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);

  // Adds, configures and starts a device served by this process.
  virtual Result<std::unique_ptr<Device>> AddDevice(const DeviceOptions& options) = 0;
  // Takes over device `id` that a dead process served (it must have been
  // created with recovery): START_USER_RECOVERY, fetch every tag,
  // END_USER_RECOVERY. /dev/ublkbN stays throughout; I/O the kernel held
  // meanwhile (REISSUE) completes once adopted. Queues, depth and size come
  // from the kernel. kNotFound for an unknown id or a device with no disk
  // (added but never started: nothing to adopt, and the kernel would refuse
  // for ever), kInvalidArgument if another owner (ServerOptions::owner)
  // added it, kAlreadyExists if this process serves it, kUnsupported if
  // the device has no recovery, kBusy if after 10 s the kernel still holds
  // the old server's /dev/ublkcN (or that server still runs).
  // A failure before the queues are attached leaves the device for a later
  // attempt; a failure after removes it.
  virtual Result<std::unique_ptr<Device>> AdoptDevice(uint32_t id, const std::string& backing_path,
                                                      BackendKind backend = BackendKind::kIoUring) = 0;

  // Devices of this server's owner (ServerOptions::owner; added by any
  // process) whose server is gone, by id: quiesced or failing I/O, or live
  // or never started with their recorded server no longer running (gone, or
  // a zombie). Other programs' and owners' ublk devices are never listed.
  virtual std::vector<uint32_t> ListAbandoned() = 0;
  // Stops and deletes such a device without adopting it: a process that
  // finds a device nobody will adopt (an orphan of a crash) cleans it up.
  // kBusy if a live server still owns it.
  virtual Status DeleteAbandoned(uint32_t id) = 0;

  virtual const Features& features() const = 0;
  // One entry per reactor, in reactor order.
  virtual std::vector<ReactorStats> Reactors() const = 0;
};

}  // namespace warmblock::ublk
