// Invariant checks for the fuzz targets. Not assert(): the fuzz build is
// RelWithDebInfo, which defines NDEBUG. A failed check aborts, and libFuzzer
// saves the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define WB_FUZZ_CHECK(cond, detail)                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   std::string(detail).c_str());                                             \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
