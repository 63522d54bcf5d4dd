// What /proc says of a process: the daemon's orphan reaper and the ublk
// server's liveness checks read the same file the same way.
#pragma once

#include <cstdint>
#include <optional>

namespace warmblock {

struct ProcStat {
  char state = '?';         // field 3: R, S, D, Z (zombie), X (dead), ...
  uint64_t start_time = 0;  // field 22: clock ticks after boot; changes when the pid is reused
};

// Fields of /proc/PID/stat, read after the command name (which may hold
// spaces and parentheses, hence the last ')'); nullopt for pid <= 0, no
// such process, or a line that does not parse. Thread-safe.
std::optional<ProcStat> ReadProcStat(int64_t pid);

}  // namespace warmblock
