// What every warmblock CLI command shares: the global options, mapping a
// failure to the documented exit code, and printing a result as the
// daemon's JSON or as text.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "warmblock/provisioner/client.h"
#include "warmblock/provisioner/wire.h"

namespace warmblock::cli {

// Global options every command reads.
struct Globals {
  std::string socket = "/run/warmblock/warmblockd.sock";
  bool json = false;
  client::Client Client() const { return client::Client(socket); }
};

// Exit codes: 0 ok, 1 daemon or transport error, 2 usage, 3 not found,
// 4 conflict (exists with another spec, or busy), 5 pool full.
// Prints `s` and returns its exit code.
int Failed(const Status& s);

// Prints `json` as the daemon does.
void PrintJson(const nlohmann::json& json);

// The value of `r` as JSON with --json, else through `text`; or its error.
template <typename T>
int Print(const Globals& g, const Result<T>& r, const std::function<void(const T&)>& text) {
  if (!r.ok()) return Failed(r.status());
  if (g.json)
    PrintJson(provisioner::wire::Encode(*r));
  else
    text(*r);
  return 0;
}

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
