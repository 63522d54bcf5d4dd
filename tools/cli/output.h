// What every warmblock CLI command shares: mapping a failed reply to the
// documented exit code, and printing tables.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client.h"

namespace warmblock::cli {

// Global options every command reads.
struct Globals {
  std::string socket = "/run/warmblock/warmblockd.sock";
  bool json = false;
};

// Exit codes: 0 ok, 1 daemon or transport error, 2 usage, 3 not found,
// 4 conflict (exists with another spec, or busy), 5 pool full.
// Prints the error of `r` and returns its exit code.
int Failed(const client::Reply& r);

// GET `path` for replies not yet typed in the client: the daemon's JSON as it
// came with --json, else `print` of it; a body that is not JSON or lacks a
// field `print` reads is exit 1 with a message, never an exception.
int Show(const Globals& g, const std::string& path, const std::function<void(const nlohmann::json&)>& print);

// Left-aligned columns two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// A leaf command: run when `sub` was the one parsed; returns the exit code.
struct Command {
  CLI::App* sub;
  std::function<int()> run;
};

// Each noun registers its verbs on `app`; the options they bind live as
// long as the returned commands.
std::vector<Command> AddVolumeCommands(CLI::App& app, const Globals& g);
std::vector<Command> AddPoolCommands(CLI::App& app, const Globals& g);
std::vector<Command> AddDaemonCommands(CLI::App& app, const Globals& g);

}  // namespace warmblock::cli
