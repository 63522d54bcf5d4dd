// Client-supplied text in logs and error messages. A name sent by a client
// may hold a newline or a terminal escape; written raw into the daemon's
// log it would read as a forged line. Everything that echoes such a value
// goes through these.
#pragma once

#include <string>
#include <string_view>

namespace warmblock {

// `s` with every control character (below 0x20, and 0x7f) and the
// backslash written as an escape (\n, \t, \r, \\, \xNN); other bytes as
// they are. Thread-safe.
std::string EscapeControl(std::string_view s);

// `s` in double quotes, escaped as by EscapeControl and with `"` as \".
std::string Quoted(std::string_view s);

}  // namespace warmblock
