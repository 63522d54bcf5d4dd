#include "warmblock/provisioner/state_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace warmblock::provisioner {
namespace {

std::string LockPath(const std::string& state_dir) { return state_dir + "/lock"; }

struct flock WholeFile(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl;
}

// "PID ROLE" as the holder wrote it; empty if unreadable.
std::string Holder(int fd) {
  char buf[64] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

const char* RoleName(StateLock::Role r) { return r == StateLock::Role::kDaemon ? "daemon" : "releaser"; }

}  // namespace

Result<StateLock> StateLock::Acquire(const std::string& state_dir, Role role, int wait_ms) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create state directory " + state_dir);
  const std::string path = LockPath(state_dir);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    struct flock fl = WholeFile(F_WRLCK);
    if (::fcntl(fd.get(), F_OFD_SETLK, &fl) == 0) break;
    if (errno != EAGAIN && errno != EACCES) return Status::FromErrno(errno, "lock " + path);
    std::string holder = Holder(fd.get());
    bool releaser = holder.find(" releaser") != std::string::npos;
    if (!releaser || std::chrono::steady_clock::now() >= deadline) {
      size_t space = holder.find(' ');
      std::string pid = holder.substr(0, space);
      std::string what = space == std::string::npos ? "warmblockd" : "warmblockd " + holder.substr(space + 1);
      return Status::Error(Status::Code::kBusy, "state directory " + state_dir + " is in use by " + what +
                                                    (pid.empty() ? "" : " pid " + pid) + " (it holds " + path +
                                                    "); stop it first, or give this one another state_dir");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string me = std::to_string(::getpid()) + " " + RoleName(role) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    return Status::FromErrno(errno, "write " + path);
  return StateLock(std::move(fd));
}

Result<bool> StateLock::Held(const std::string& state_dir) {
  const std::string path = LockPath(state_dir);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return Status::FromErrno(errno, "open " + path);
  }
  // A read-only open can test for a write lock: F_OFD_GETLK with F_WRLCK
  // reports any lock that would conflict.
  struct flock fl = WholeFile(F_WRLCK);
  if (::fcntl(fd.get(), F_OFD_GETLK, &fl) != 0) return Status::FromErrno(errno, "test the lock on " + path);
  return fl.l_type != F_UNLCK;
}

}  // namespace warmblock::provisioner
