// Running the few external programs warmblockd needs (mkfs and friends,
// groupadd), none of them on a request's warm path.
#pragma once

#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::provisioner {

// Runs argv[0] (looked up in PATH) to completion, its output captured;
// kIOError naming the command line, exit code and last line of output
// unless it exits 0.
Status RunProgram(std::vector<std::string> argv);

}  // namespace warmblock::provisioner
