// Starting other programs: the one way warmblockd, its tests and its
// benchmarks do it. posix_spawn (vfork underneath) rather than fork: no copy
// of the caller's page tables, which a fork would make on every cold volume,
// and nothing runs in the child between the fork and the exec.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock {

// Where a child's standard streams come from and go. A path is opened by the
// child (stdin read-only; stdout and stderr created and truncated); an fd
// of the caller is duplicated; neither: inherited.
struct Stdio {
  std::string in = "/dev/null";
  int out_fd = -1, err_fd = -1;
  std::string out_path, err_path;
};

// Starts argv[0], looked up in PATH. The caller waits for it.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const Stdio& stdio = {});

// Waits for `pid`: its exit code, or 128 + the signal that ended it.
int WaitExit(pid_t pid);

// Runs argv[0] to completion with `stdio`; its exit code as WaitExit, 127
// if it could not start.
int Run(const std::vector<std::string>& argv, const Stdio& stdio = {});

// Runs argv[0] to completion with stdout (and stderr when `with_stderr`,
// else inherited) captured in *output; its exit code as Run.
int RunCapture(const std::vector<std::string>& argv, std::string* output, bool with_stderr = false);

// Runs argv[0] to completion, its output captured; kIOError naming the
// command line, exit code or signal and last line of output unless it
// exits 0. For tools whose chatter (version banners) should stay out of a
// log while the end of it explains a failure.
Status RunProgram(const std::vector<std::string>& argv);

}  // namespace warmblock
