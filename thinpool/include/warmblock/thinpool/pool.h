// A device-mapper thin pool and its thin volumes, driven in-process through
// the DeviceMapper interface (no dmsetup, no udev).
//
// Durability: the pool keeps a catalogue (thin ids, names, sizes, origins, the
// next id) in its state directory. Every change follows intent -> kernel ->
// result: the intent is written to the catalogue, the pool message is sent,
// the pool's transaction id is bumped (set_transaction_id old old+1), then the
// result is written. On Open the pool's transaction id tells which side is
// ahead after a crash, and the pending intent is rolled forward or back, so
// no thin id is leaked or lost.
//
// Thread-safety: all methods of a Pool may be called from any thread; they
// are serialised internally.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "warmblock/base/status.h"
#include "warmblock/thinpool/kernel.h"
#include "warmblock/thinpool/status.h"

namespace warmblock::thinpool {

// The kernel the pool talks to. Not owned: both must outlive the pool.
struct Kernel {
  DeviceMapper* dm = nullptr;
  BlockDevices* block = nullptr;
};

struct PoolOptions {
  // Device-mapper name of the pool: [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
  std::string name = "warmblock-pool";
  // Holds the catalogue, and in embedded mode the sparse data/metadata files.
  std::string state_dir;

  // Embedded mode (default): sparse files data.img and metadata.img in
  // state_dir, bound to loop devices with direct I/O. Overcommit is allowed:
  // the file is sparse and thin volumes may add up to more than this.
  // Pool::Grow makes both larger later.
  uint64_t data_bytes = 0;
  // 0 = derived: 48 * data_bytes / block size, clamped to [256 MiB, ~16 GiB].
  uint64_t metadata_bytes = 0;

  // Device mode: two block devices (e.g. LVM volumes) the user names. Both
  // set means device mode; their first metadata block is zeroed on Create.
  std::string data_device;
  std::string metadata_device;

  // Pool block size in 512-byte sectors: 128 (64 KiB) to 2097152, a multiple of 128.
  uint32_t block_sectors = 128;
  // Low-water mark in data blocks; 0 = 5% of the data blocks.
  uint64_t low_water_blocks = 0;
  // Writers get ENOSPC at once when data runs out instead of queueing.
  bool error_if_no_space = false;
  // Keeps newly provisioned blocks unzeroed. Faster, but a partial write to a
  // fresh block may expose data of a deleted volume: off by default.
  bool skip_block_zeroing = false;
};

struct Thin {
  uint32_t id = 0;   // 24-bit pool device id
  std::string name;  // unique within the pool
  uint64_t size_bytes = 0;
  std::optional<uint32_t> origin;  // set for snapshots
};

struct ThinSpec {
  // [A-Za-z0-9][A-Za-z0-9._-]{0,63}, unique within the pool.
  std::string name;
  // > 0, a multiple of 512, at most kMaxThinBytes. For snapshots, 0 = origin's size.
  uint64_t size_bytes = 0;
  // Explicit device id; normally left empty so the pool allocates one.
  std::optional<uint32_t> id;
};

struct Activation {
  std::string dm_name;  // "<pool>-<thin>"
  std::string path;     // usable block device node, even without udev
  uint32_t major = 0;
  uint32_t minor = 0;
};

inline constexpr uint32_t kMaxThinId = (1u << 24) - 1;
inline constexpr uint64_t kMaxThinBytes = 1ull << 50;  // 1 PiB
// dm-thin uses at most 255 * 2^14 metadata blocks of 4 KiB (~15.9 GiB).
inline constexpr uint64_t kMaxMetadataBytes = 255ull * (1ull << 14) * 4096;

class Pool {
 public:
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // Creates a new pool (files or devices per `options`) and its catalogue.
  // kAlreadyExists if state_dir already holds a pool or the dm name is taken;
  // kInvalidArgument for a bad name, size or block size. On failure nothing
  // is left behind (no dm device, no loop device, no files it created).
  static Result<std::unique_ptr<Pool>> Create(const PoolOptions& options, Kernel kernel);

  // Opens the pool whose catalogue is in `state_dir`: uses the live dm pool
  // if there is one, otherwise binds the files/devices again and loads the
  // pool on its existing metadata. Repairs an interrupted change (see top).
  // kNotFound if there is no catalogue; kCorruption if catalogue and pool
  // transaction ids cannot be reconciled.
  static Result<std::unique_ptr<Pool>> Open(const std::string& state_dir, Kernel kernel);

  // Deactivates every thin, removes the pool device and deletes the state
  // (catalogue and embedded files). kBusy if a thin is still open.
  Status Destroy();

  // Deactivates every thin and removes the pool device, keeping the
  // catalogue and the data: Open brings it all back. kBusy if a thin is
  // still open. The Pool is unusable afterwards.
  Status Shutdown();

  // Creates a thin volume; the pool allocates a free id unless spec.id is set.
  // kAlreadyExists for a taken name or id; kNoSpace when no id is free.
  Result<Thin> CreateThin(const ThinSpec& spec);

  // Snapshots thin `origin` as a new thin. An active origin is suspended
  // around the snapshot (device-mapper requires it so the snapshot sees a
  // consistent origin); its I/O stalls for that moment. Golden images are
  // kept inactive, so snapshotting them suspends nothing.
  Result<Thin> Snapshot(uint32_t origin, const ThinSpec& spec);

  // Deletes thin `id`, returning its blocks to the pool. kBusy if active
  // (deactivate first), kNotFound if unknown.
  Status DeleteThin(uint32_t id);

  // Grows thin `id` to `bytes` (a multiple of 512); an active thin's table
  // is reloaded, so its block device grows at once. Shrinking is refused
  // (kInvalidArgument): it would cut off a filesystem.
  Status Resize(uint32_t id, uint64_t bytes);

  // Embedded mode: grows the pool to `data_bytes` of data and, unless it is
  // 0, `metadata_bytes` of metadata (never less than now; equal sizes make
  // the live pool catch up with the catalogue). The sparse files are
  // extended first, then the catalogue records the sizes, then the loop
  // devices take the new file sizes and the pool table is reloaded (dm-thin
  // grows its space maps on resume; I/O waiting for space resumes). A crash
  // anywhere in between is safe: a file larger than the catalogue is
  // ignored, and Open finishes a reload that did not happen.
  // kUnsupported in device mode (extend the devices instead);
  // kInvalidArgument for a smaller or out-of-range size.
  Status Grow(uint64_t data_bytes, uint64_t metadata_bytes);

  // Reloads the pool with (on) or without the error_if_no_space feature:
  // with it, writes that need a block of a full pool fail with ENOSPC at
  // once; without it they queue until the pool grows (or the kernel's
  // no_space_timeout, 60 s by default, fails them). Recorded in the
  // catalogue, so Open keeps it. A no-op when already in force.
  Status SetErrorIfNoSpace(bool on);

  // The options as the catalogue holds them now: sizes after Grow (in
  // embedded mode metadata_bytes is the real size, never 0), the
  // error_if_no_space in force.
  PoolOptions options() const;

  // Activates thin `id` as dm device "<pool>-<name>" (idempotent).
  Result<Activation> Activate(uint32_t id);
  // Removes the thin's dm device. kBusy while something holds it open.
  Status Deactivate(uint32_t id);
  // The activation of `id`, or kNotFound if it is not active.
  Result<Activation> ActiveDevice(uint32_t id);

  std::vector<Thin> List() const;
  Result<Thin> Get(uint32_t id) const;
  Result<Thin> FindByName(const std::string& name) const;

  // Kernel status of the pool (blocks used/total, transaction id, mode).
  Result<PoolStatus> GetStatus();
  // Kernel status of an active thin (kNotFound if inactive).
  Result<ThinStatus> GetThinStatus(uint32_t id);

  // Blocks until the pool's dm event counter moves past `last_event` (low
  // water reached, out of space, mode change) or `timeout_ms` passes
  // (kTimeout). Returns the new counter; start with EventCounter().
  Result<uint32_t> WaitEvent(uint32_t last_event, int timeout_ms);
  Result<uint32_t> EventCounter();

  // Transaction id as last committed by this library.
  uint64_t transaction_id() const;
  const std::string& name() const;
  // Block size in bytes and what Open repaired (empty if nothing).
  uint64_t block_bytes() const;
  const std::vector<std::string>& repairs() const;

 private:
  class Impl;      // the work (pool_impl.h)
  struct Guarded;  // Impl behind the pool's lock
  explicit Pool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Guarded> g_;
};

// Validates a pool or thin name; kInvalidArgument with the reason.
Status ValidateName(const std::string& what, const std::string& name);

// The rules the pool applies when PoolOptions leaves a value 0, for callers
// that size a pool or watch it fill: metadata of 48 bytes per data block
// within [256 MiB, kMaxMetadataBytes], and a low-water mark of 5% of the data
// blocks.
uint64_t DefaultMetadataBytes(uint64_t data_bytes, uint32_t block_sectors);
uint64_t LowWaterBlocks(const PoolOptions& options, uint64_t data_blocks);

}  // namespace warmblock::thinpool
