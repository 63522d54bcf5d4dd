#include "process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace warmblock::provisioner {

Status RunProgram(std::vector<std::string> argv) {
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork for " + argv[0]);
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return Status::Error(Status::Code::kIOError,
                       cmd + " failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
}

}  // namespace warmblock::provisioner
