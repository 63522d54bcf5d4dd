#include "warmblock/provisioner/releaser.h"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>  // environ

#include <chrono>
#include <filesystem>
#include <thread>

#include "warmblock/provisioner/state_lock.h"

namespace warmblock::provisioner {

Result<unsigned> ReleaseHeldDisks(const ReleaseOptions& o) {
  if (o.ublk == nullptr) return Status::InvalidArgument("release held disks: no ublk server");
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  for (;;) {
    std::error_code ec;
    if (!std::filesystem::is_directory(o.state_dir, ec)) return 0u;  // removed: nothing is to come back
    WB_ASSIGN_OR_RETURN(bool held, StateLock::Held(o.state_dir));
    if (held) return 0u;  // a daemon took over: its disks are its own
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
  }
  auto lock = StateLock::Acquire(o.state_dir, StateLock::Role::kReleaser);
  if (!lock.ok()) {
    if (lock.status().code() == Status::Code::kBusy) return 0u;  // a daemon came just now
    return lock.status();
  }
  unsigned deleted = 0;
  Status first;
  for (uint32_t id : o.ublk->ListAbandoned()) {
    Status s = o.ublk->DeleteAbandoned(id);
    if (s.ok()) {
      ++deleted;
      log("removed /dev/ublkb" + std::to_string(id) + ": no warmblockd took it over in " + std::to_string(o.timeout_s) +
          " s (its held I/O fails; its volume stays)");
    } else {
      log("could not remove ublk device " + std::to_string(id) + ": " + s.ToString());
      if (first.ok()) first = s;
    }
  }
  if (!first.ok()) return first;
  return deleted;
}

Status StartReleaser(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
    return Status::InvalidArgument("start the releaser: needs an absolute program path");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session: a terminal's Ctrl-C that stopped the daemon does not
  // reach it.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  // Only stderr (the log) is kept: a caller reading the daemon's stdout to
  // its end must not wait for the releaser too.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &files, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::FromErrno(rc, "start " + argv[0] + " --release-held");
  return Status::OK();
}

}  // namespace warmblock::provisioner
