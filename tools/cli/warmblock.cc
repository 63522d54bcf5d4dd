// warmblock: the command-line client of warmblockd's API (HTTP over its Unix
// socket). Human tables by default, --json for scripts.
//
// Exit codes: 0 ok, 1 daemon or transport error, 2 usage, 3 not found,
// 4 conflict (exists with another spec, or busy), 5 pool full.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "client.h"
#include "warmblock/base/units.h"

namespace {

using namespace warmblock;
using json = nlohmann::json;

using client::Call;
using client::Reply;

// Prints an error reply and maps it to the documented exit code.
int Failed(const Reply& r) {
  if (!r.error.empty()) {
    std::fprintf(stderr, "warmblock: %s\n", r.error.c_str());
    return 1;
  }
  std::fprintf(stderr, "warmblock: %s (HTTP %ld)\n", r.Message().c_str(), r.status);
  switch (r.status) {
    case 400:
      return 2;
    case 404:
      return 3;
    case 409:
      return 4;
    case 507:
      return 5;
    default:
      return 1;
  }
}

std::string Labels(const json& labels) {
  std::string out;
  for (auto& [k, v] : labels.items()) out += (out.empty() ? "" : ",") + k + "=" + v.get<std::string>();
  return out.empty() ? "-" : out;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

std::vector<std::string> VolumeRow(const json& v) {
  return {v["name"],
          v["class"].get<std::string>().empty() ? "-" : v["class"].get<std::string>(),
          v["fs"],
          v["size"],
          v["device"],
          v["state"],
          Labels(v["labels"])};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"warmblock: manage per-container block volumes through warmblockd", "warmblock"};
  app.require_subcommand(1);
  std::string socket = "/run/warmblock/warmblockd.sock";
  bool as_json = false;
  app.add_option("--socket", socket, "warmblockd's API socket")->envname("WARMBLOCK_SOCKET");
  app.add_flag("--json", as_json, "print the daemon's JSON instead of a table");
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

  auto* volume = app.add_subcommand("volume", "create, list, inspect and remove volumes");
  volume->require_subcommand(1);
  std::string name, cls, size, fs;
  std::vector<std::string> labels;
  bool ephemeral = false;
  int64_t owner_pid = 0;
  auto* create = volume->add_subcommand("create", "create (or get, if it exists with this spec) a volume");
  create->add_option("name", name, "volume name")->required();
  create->add_option("--class", cls, "a configured volume class (see: warmblock pool status)");
  create->add_option("--size", size, "size for a volume outside the classes, e.g. 10G");
  create->add_option("--fs", fs, "filesystem with --size: ext4 (default) or xfs");
  create->add_option("--label", labels, "KEY=VALUE, repeatable");
  create->add_flag("--ephemeral", ephemeral, "delete the volume when its container stops (used by the OCI hook)");
  create
      ->add_option("--owner-pid", owner_pid,
                   "with --ephemeral: warmblockd deletes the volume once this process is gone")
      ->needs("--ephemeral");
  auto* ls = volume->add_subcommand("ls", "list volumes");
  ls->add_option("--label", labels, "only volumes with KEY=VALUE, repeatable");
  auto* inspect = volume->add_subcommand("inspect", "show one volume");
  inspect->add_option("name", name, "volume name")->required();
  auto* rm = volume->add_subcommand("rm", "delete a volume (refused while mounted)");
  rm->add_option("name", name, "volume name")->required();
  auto* pool = app.add_subcommand("pool", "the thin pool");
  pool->require_subcommand(1);
  auto* pool_status = pool->add_subcommand("status", "capacity, usage, overcommit and warm stock per class");
  auto* daemon = app.add_subcommand("daemon", "warmblockd itself");
  daemon->require_subcommand(1);
  auto* daemon_status = daemon->add_subcommand("status", "version, uptime, start-up repairs, ublk reactors");
  CLI11_PARSE(app, argc, argv);

  Reply r;
  if (create->parsed()) {
    json body{{"name", name}};
    if (!cls.empty()) body["class"] = cls;
    if (!size.empty()) body["size"] = size;
    if (!fs.empty()) body["fs"] = fs;
    if (ephemeral) body["ephemeral"] = true;
    if (owner_pid != 0) body["owner_pid"] = owner_pid;
    json l = json::object();
    for (const auto& kv : labels) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "warmblock: --label %s: write KEY=VALUE\n", kv.c_str());
        return 2;
      }
      l[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!l.empty()) body["labels"] = l;
    r = Call(socket, "POST", "/v1/volumes", body.dump());
    if (r.status != 200 && r.status != 201) return Failed(r);
    json v = json::parse(r.body);
    if (as_json) {
      std::printf("%s", r.body.c_str());
    } else {
      std::printf("%s %s (%s %s, %s)\n", v["device"].get<std::string>().c_str(), v["name"].get<std::string>().c_str(),
                  v["fs"].get<std::string>().c_str(), v["size"].get<std::string>().c_str(),
                  v["source"].get<std::string>().c_str());
    }
    return 0;
  }
  if (ls->parsed()) {
    std::string query;
    for (const auto& kv : labels) query += (query.empty() ? "?" : "&") + std::string("label=") + client::Escape(kv);
    r = Call(socket, "GET", "/v1/volumes" + query);
    if (r.status != 200) return Failed(r);
    if (as_json) {
      std::printf("%s", r.body.c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "CLASS", "FS", "SIZE", "DEVICE", "STATE", "LABELS"}};
    for (const auto& v : json::parse(r.body)["volumes"]) rows.push_back(VolumeRow(v));
    PrintTable(rows);
    return 0;
  }
  if (inspect->parsed() || rm->parsed()) {
    std::string path = "/v1/volumes/" + client::Escape(name);
    if (rm->parsed()) {
      r = Call(socket, "DELETE", path);
      if (r.status != 204) return Failed(r);
      if (!as_json) std::printf("removed %s\n", name.c_str());
      return 0;
    }
    r = Call(socket, "GET", path);
    if (r.status != 200) return Failed(r);
    if (as_json) {
      std::printf("%s", r.body.c_str());
      return 0;
    }
    json v = json::parse(r.body);
    for (auto& [k, val] : v.items())
      std::printf("%-12s %s\n", (k + ":").c_str(),
                  val.is_string() ? val.get<std::string>().c_str() : val.dump().c_str());
    return 0;
  }
  if (pool_status->parsed()) {
    r = Call(socket, "GET", "/v1/pool");
    if (r.status != 200) return Failed(r);
    if (as_json) {
      std::printf("%s", r.body.c_str());
      return 0;
    }
    json p = json::parse(r.body);
    using warmblock::FormatSize;
    auto pct = [](uint64_t a, uint64_t b) { return b == 0 ? 0.0 : 100.0 * static_cast<double>(a) / b; };
    std::printf("data       %s used of %s (%.1f%%)\n", FormatSize(p["data_used_bytes"]).c_str(),
                FormatSize(p["data_total_bytes"]).c_str(), pct(p["data_used_bytes"], p["data_total_bytes"]));
    // Older daemons do not report growth.
    if (p.contains("data_limit_bytes")) {
      uint64_t limit = p["data_limit_bytes"], total = p["data_total_bytes"];
      std::printf("growth     %s (%llu since start-up)\n",
                  limit > total ? ("up to " + FormatSize(limit)).c_str() : "none, at its limit",
                  static_cast<unsigned long long>(p["grow_events"].get<uint64_t>()));
      std::printf("state      %s\n",
                  p["full"].get<bool>() ? ("FULL: " + p["full_reason"].get<std::string>()).c_str() : "has space");
    }
    std::printf("metadata   %s used of %s (%.1f%%)\n", FormatSize(p["metadata_used_bytes"]).c_str(),
                FormatSize(p["metadata_total_bytes"]).c_str(),
                pct(p["metadata_used_bytes"], p["metadata_total_bytes"]));
    std::printf("volumes    %d, %s provisioned (overcommit %.2fx)\n", p["volumes"].get<int>(),
                FormatSize(p["provisioned_bytes"]).c_str(), p["overcommit"].get<double>());
    std::printf("txid       %llu\n\n", static_cast<unsigned long long>(p["transaction_id"].get<uint64_t>()));
    std::vector<std::vector<std::string>> rows = {{"CLASS", "FS", "SIZE", "WARM", "TARGET", "HITS", "MISSES"}};
    for (const auto& c : p["classes"])
      rows.push_back({c["name"], c["fs"], FormatSize(c["size_bytes"]), std::to_string(c["warm"].get<int>()),
                      std::to_string(c["target"].get<int>()), std::to_string(c["hits"].get<uint64_t>()),
                      std::to_string(c["misses"].get<uint64_t>())});
    PrintTable(rows);
    return 0;
  }
  if (daemon_status->parsed()) {
    r = Call(socket, "GET", "/v1/daemon");
    if (r.status != 200) return Failed(r);
    if (as_json) {
      std::printf("%s", r.body.c_str());
      return 0;
    }
    json d = json::parse(r.body);
    std::printf("warmblockd %s, up %llds\nublk features: %s\n", d["version"].get<std::string>().c_str(),
                static_cast<long long>(d["uptime_s"].get<int64_t>()), d["ublk_features"].get<std::string>().c_str());
    int i = 0;
    for (const auto& re : d["reactors"])
      std::printf("reactor %d: %d queues (%d zero-copy), %llu requests\n", i++, re["queues"].get<int>(),
                  re["zero_copy_queues"].get<int>(), static_cast<unsigned long long>(re["requests"].get<uint64_t>()));
    std::printf("start-up repairs: %zu\n", d["repairs"].size());
    for (const auto& line : d["repairs"]) std::printf("  %s\n", line.get<std::string>().c_str());
    return 0;
  }
  return 2;
}
