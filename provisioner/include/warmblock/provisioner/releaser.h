// What bounds held I/O after warmblockd stops. A stopped daemon leaves its
// disks up so that the next start adopts them without an I/O error (a
// restart, an upgrade); until then the kernel holds their I/O, and a
// container writing to its volume waits. When no daemon comes back within
// held_io_timeout_s, the releaser removes those disks: held and new I/O
// fails, the filesystems can be unmounted, and the volumes and their data
// stay in the pool for the next start to serve on new disks.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "warmblock/base/status.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::provisioner {

struct ReleaseOptions {
  std::string state_dir;
  unsigned timeout_s = 120;      // how long a daemon has to take the state directory
  unsigned poll_ms = 500;        // how often the lock is looked at meanwhile
  ublk::Server* ublk = nullptr;  // its owner tag is the state directory's (OwnerTag)
  std::function<void(const std::string&)> log;
};

// Waits until a daemon holds the state directory's lock (returns OK, having
// touched nothing) or `timeout_s` passes; then takes the lock and deletes
// every disk of this owner that no process serves. Returns the number of
// disks deleted; the first error of a deletion that failed (the others are
// still tried).
Result<unsigned> ReleaseHeldDisks(const ReleaseOptions& options);

// Starts `argv` (argv[0] an absolute path; a warmblockd --release-held) in
// a session of its own and does not wait for it: it outlives the stopping
// daemon. Its stderr is the caller's; stdin and stdout are /dev/null.
Status StartReleaser(const std::vector<std::string>& argv);

}  // namespace warmblock::provisioner
