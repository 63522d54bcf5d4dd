// Wall-clock time as the state and the API record it.
#pragma once

#include <chrono>
#include <cstdint>

namespace warmblock {

// Milliseconds since the Unix epoch (system clock: comparable across
// processes and restarts, not monotonic). Thread-safe.
inline int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace warmblock
