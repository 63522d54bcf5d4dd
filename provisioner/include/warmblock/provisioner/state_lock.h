// One warmblockd per state directory. Two daemons on the same database and
// pool would each adopt or replace the other's disks and rewrite its rows,
// taking disks away from running containers. The lock is an open file
// description lock (F_OFD_SETLK) on `<state_dir>/lock`, so the kernel drops
// it when its holder dies however it dies: a stale lock cannot exist.
#pragma once

#include <string>

#include "warmblock/base/fd.h"
#include "warmblock/base/status.h"

namespace warmblock::provisioner {

class StateLock {
 public:
  // Who holds it: the daemon, or the releaser a stopped daemon leaves to
  // bound held I/O (it holds the lock only for the moment it works).
  enum class Role { kDaemon, kReleaser };

  // Creates `state_dir` if missing and takes its lock, recording this
  // process's pid and role in the file. kBusy, naming the holder's pid and
  // role, if another open of the file holds it (another process, or this
  // one through another StateLock); while a releaser holds it, waits up to
  // `wait_ms` first. The lock lasts as long as the returned object.
  static Result<StateLock> Acquire(const std::string& state_dir, Role role, int wait_ms = 0);

  // Whether some StateLock holds `state_dir`'s lock now; false when the
  // directory or the file does not exist.
  static Result<bool> Held(const std::string& state_dir);

  StateLock(StateLock&&) = default;
  StateLock& operator=(StateLock&&) = default;

 private:
  explicit StateLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace warmblock::provisioner
