#include "process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace warmblock::provisioner {

Status RunProgram(std::vector<std::string> argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe for " + cmd);
  // posix_spawn (vfork underneath): no copy of this process's page tables,
  // which fork would make on every cold volume.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return Status::FromErrno(rc, "run " + cmd);
  }
  // The tools' chatter (version banners) stays out of the daemon's log;
  // the end of it explains a failure.
  std::string said;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) said.append(buf, static_cast<size_t>(n));
    if (said.size() > 4096) said.erase(0, said.size() - 2048);
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  size_t last = said.rfind('\n');
  std::string why = last == std::string::npos ? said : said.substr(last + 1);
  return Status::Error(Status::Code::kIOError, cmd + " failed (" +
                                                   (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                                      : "signal " + std::to_string(WTERMSIG(status))) +
                                                   (why.empty() ? "" : ": " + why) + ")");
}

}  // namespace warmblock::provisioner
