// The provisioning service at the heart of warmblockd: a thin pool with a
// formatted golden image per volume class, a stock of warm volumes per class
// (snapshot taken, thin active, ublk disk started) refilled in the
// background, and the volumes handed out. Handing out a warm volume is one
// database update: no mkfs, no fork, no kernel call on the request path.
//
// Thread-safe. Kernel access goes through the interfaces in Services, so
// unit tests run it on fakes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "warmblock/base/status.h"
#include "warmblock/provisioner/config.h"
#include "warmblock/provisioner/model.h"
#include "warmblock/thinpool/pool.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::provisioner {

// Puts a filesystem on a block device (mkfs). Slow; never on a request path
// except the cold one.
class Formatter {
 public:
  virtual ~Formatter() = default;
  virtual Status Format(const std::string& device, const std::string& fs) = 0;
  // Gives the filesystem on `device` (a snapshot of a golden image) a UUID
  // of its own.
  virtual Status NewIdentity(const std::string& device, const std::string& fs) = 0;
  // Grows the (never mounted) filesystem on `device` to the device's size.
  virtual Status Grow(const std::string& device, const std::string& fs) = 0;
};
// Runs mkfs.ext4 / mkfs.xfs, tune2fs / xfs_admin, resize2fs / xfs_growfs.
std::unique_ptr<Formatter> MkfsFormatter();

struct Services {
  thinpool::Kernel kernel;       // the pool's device-mapper and loop access
  ublk::Server* ublk = nullptr;  // serves the volumes' disks
  Formatter* formatter = nullptr;
  std::function<void(const std::string&)> log;  // one line per notable event
  // The start time of process `pid` (any value that changes when the pid is
  // reused), nullopt once it is gone. Unset: read from /proc, which must
  // show the container runtime's processes (the host's pid namespace).
  std::function<std::optional<uint64_t>(int64_t pid)> process_start;
};

class Provisioner {
 public:
  virtual ~Provisioner() = default;

  // Opens (or on first start creates) the pool and the database under
  // config.state_dir, repairs what a crash left, makes missing golden images
  // and starts the background refill. Returns once the service can answer.
  static Result<std::unique_ptr<Provisioner>> Start(const Config& config, Services services);

  // Idempotent by name: the same name and spec again returns the existing
  // volume (source "existing"); the same name with another spec is
  // kAlreadyExists. kInvalidArgument names the bad field; kNoSpace when the
  // pool is full.
  virtual Result<Volume> Create(const CreateRequest& request) = 0;
  virtual Result<Volume> Get(const std::string& name) = 0;
  // Volumes carrying every label in `labels`.
  virtual Result<std::vector<Volume>> List(const std::map<std::string, std::string>& labels) = 0;
  // Stops the disk and returns the space to the pool. kBusy while the disk
  // is mounted or open; kNotFound for an unknown name.
  virtual Status Delete(const std::string& name) = 0;

  virtual Result<PoolReport> Report() = 0;
  // What start-up repair did, one line each.
  virtual std::vector<std::string> Repairs() const = 0;
  // For maintenance and uninstall: stops every disk (kBusy at the first
  // one still mounted or open), deactivates the thins and removes the pool
  // device; the database and the pool's data stay for the next Start.
  // Destroying a Provisioner without it leaves the disks up for the next
  // process to adopt. Unusable afterwards.
  virtual Status Shutdown() = 0;

  // Blocks until every class's stock is at its target or `timeout_ms`
  // passes (false).
  virtual bool WaitWarm(int timeout_ms) = 0;
};

// The ublk owner tag (ublk::ServerOptions::owner) of the daemon using
// `state_dir`: start-up repair deletes abandoned disks of this owner only.
uint32_t OwnerTag(const std::string& state_dir);

}  // namespace warmblock::provisioner
