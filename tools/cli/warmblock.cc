// warmblock: the command-line client of warmblockd's API (HTTP over its Unix
// socket). Human tables by default, --json for scripts. Each noun's verbs
// live in their own file (volume.cc, pool.cc, daemon.cc); this file only
// wires them to the parser.
#include "output.h"

int main(int argc, char** argv) {
  using namespace warmblock::cli;
  CLI::App app{"warmblock: manage per-container block volumes through warmblockd", "warmblock"};
  app.require_subcommand(1);
  // Global options may come after the verb too, as in the examples below.
  app.fallthrough();
  Globals g;
  app.add_option("--socket", g.socket, "warmblockd's API socket")->envname("WARMBLOCK_SOCKET");
  app.add_flag("--json", g.json, "print the daemon's JSON instead of a table");
  app.footer(
      "Examples:\n"
      "  warmblock volume create data --class small --label app=pg\n"
      "  warmblock volume create scratch --size 20G --fs xfs --ephemeral\n"
      "  warmblock volume ls --label app=pg\n"
      "  warmblock volume inspect data --json\n"
      "  warmblock volume rm data\n"
      "  warmblock pool status\n"
      "  warmblock daemon status\n"
      "Exit codes: 0 ok, 1 daemon or transport error, 2 bad input, 3 not found, 4 conflict or busy, 5 pool full.");

  std::vector<Command> commands;
  for (auto add : {AddVolumeCommands, AddPoolCommands, AddDaemonCommands}) {
    auto more = add(app, g);
    commands.insert(commands.end(), more.begin(), more.end());
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with code 0; every real one is exit 2, as
    // documented, not CLI11's own numbers.
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const auto& c : commands)
    if (c.sub->parsed()) return c.run();
  return 2;
}
