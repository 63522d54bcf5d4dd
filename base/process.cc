#include "warmblock/base/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "warmblock/base/fd.h"

extern char** environ;

namespace warmblock {
namespace {

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

// Reads `fd` to its end, keeping at most the last `keep` bytes or so.
std::string ReadAll(int fd, size_t keep = std::string::npos) {
  std::string said;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) said.append(buf, static_cast<size_t>(n));
    if (keep != std::string::npos && said.size() > 2 * keep) said.erase(0, said.size() - keep);
  }
  return said;
}

// Runs argv with stdout (and stderr) on a pipe; *said gets what it wrote.
int RunPiped(const std::vector<std::string>& argv, bool with_stderr, std::string* said, size_t keep) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return 127;
  Fd read_end(p[0]), write_end(p[1]);
  Stdio stdio;
  stdio.out_fd = write_end.get();
  if (with_stderr) stdio.err_fd = write_end.get();
  auto pid = Spawn(argv, stdio);
  write_end.reset();
  if (!pid.ok()) return 127;
  *said = ReadAll(read_end.get(), keep);
  return WaitExit(*pid);
}

}  // namespace

Result<pid_t> Spawn(const std::vector<std::string>& argv, const Stdio& stdio) {
  if (argv.empty()) return Status::InvalidArgument("spawn: no program");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdio.in.c_str(), O_RDONLY, 0);
  if (stdio.out_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, stdio.out_fd, 1);
  else if (!stdio.out_path.empty())
    posix_spawn_file_actions_addopen(&fa, 1, stdio.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (stdio.err_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, stdio.err_fd, 2);
  else if (stdio.err_path == stdio.out_path && !stdio.err_path.empty())
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else if (!stdio.err_path.empty())
    posix_spawn_file_actions_addopen(&fa, 2, stdio.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status::FromErrno(rc, "run " + CommandLine(argv));
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int Run(const std::vector<std::string>& argv, const Stdio& stdio) {
  auto pid = Spawn(argv, stdio);
  return pid.ok() ? WaitExit(*pid) : 127;
}

int RunCapture(const std::vector<std::string>& argv, std::string* output, bool with_stderr) {
  output->clear();
  return RunPiped(argv, with_stderr, output, std::string::npos);
}

Status RunProgram(const std::vector<std::string>& argv) {
  std::string said;
  int code = RunPiped(argv, /*with_stderr=*/true, &said, 2048);
  if (code == 0) return Status::OK();
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  size_t last = said.rfind('\n');
  std::string why = last == std::string::npos ? said : said.substr(last + 1);
  const std::string cmd = CommandLine(argv);
  std::string how = code == 127 && said.empty() ? "could not start"
                    : code > 128                ? "signal " + std::to_string(code - 128)
                                                : "exit " + std::to_string(code);
  return Status::Error(Status::Code::kIOError, cmd + " failed (" + how + (why.empty() ? "" : ": " + why) + ")");
}

}  // namespace warmblock
