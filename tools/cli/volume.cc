// warmblock volume create|ls|inspect|rm, over the typed client.
#include <cstdio>
#include <memory>

#include "output.h"
#include "volumes.h"

namespace warmblock::cli {
namespace {

std::string Labels(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

struct VolumeArgs {
  std::string name;
  std::vector<std::string> labels;
  client::CreateVolumeRequest create;
};

int Create(const Globals& g, VolumeArgs& a) {
  a.create.name = a.name;
  for (const auto& kv : a.labels) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "warmblock: --label %s: write KEY=VALUE\n", kv.c_str());
      return 2;
    }
    a.create.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto r = client::CreateVolume(g.socket, a.create);
  if (!r.ok) return Failed(r.reply);
  const client::Volume& v = r.value;
  if (g.json)
    std::printf("%s", r.reply.body.c_str());
  else
    std::printf("%s %s (%s %s, %s)\n", v.device.c_str(), v.name.c_str(), v.fs.c_str(), v.size.c_str(),
                v.source.c_str());
  return 0;
}

int List(const Globals& g, const VolumeArgs& a) {
  auto r = client::ListVolumes(g.socket, a.labels);
  if (!r.ok) return Failed(r.reply);
  if (g.json) {
    std::printf("%s", r.reply.body.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "CLASS", "FS", "SIZE", "DEVICE", "STATE", "LABELS"}};
  for (const auto& v : r.value)
    rows.push_back(
        {v.name, v.class_name.empty() ? "-" : v.class_name, v.fs, v.size, v.device, v.state, Labels(v.labels)});
  PrintTable(rows);
  return 0;
}

int Inspect(const Globals& g, const VolumeArgs& a) {
  auto r = client::GetVolume(g.socket, a.name);
  if (!r.ok) return Failed(r.reply);
  if (g.json) {
    std::printf("%s", r.reply.body.c_str());
    return 0;
  }
  for (const auto& [k, val] : r.value.fields) std::printf("%-12s %s\n", (k + ":").c_str(), val.c_str());
  return 0;
}

int Remove(const Globals& g, const VolumeArgs& a) {
  auto r = client::DeleteVolume(g.socket, a.name);
  if (!r.ok) return Failed(r.reply);
  if (!g.json) std::printf("removed %s\n", a.name.c_str());
  return 0;
}

}  // namespace

std::vector<Command> AddVolumeCommands(CLI::App& app, const Globals& g) {
  auto a = std::make_shared<VolumeArgs>();
  auto* volume = app.add_subcommand("volume", "create, list, inspect and remove volumes");
  volume->require_subcommand(1);

  auto* create = volume->add_subcommand("create", "create (or get, if it exists with this spec) a volume");
  create->add_option("name", a->name, "volume name")->required();
  create->add_option("--class", a->create.class_name, "a configured volume class (see: warmblock pool status)");
  create->add_option("--size", a->create.size, "size for a volume outside the classes, e.g. 10G");
  create->add_option("--fs", a->create.fs, "filesystem with --size: ext4 (default) or xfs");
  create->add_option("--label", a->labels, "KEY=VALUE, repeatable");
  create->add_flag("--ephemeral", a->create.ephemeral,
                   "delete the volume when its container stops (used by the OCI hook)");
  create
      ->add_option("--owner-pid", a->create.owner_pid,
                   "with --ephemeral: warmblockd deletes the volume once this process is gone")
      ->needs("--ephemeral");
  auto* ls = volume->add_subcommand("ls", "list volumes");
  ls->add_option("--label", a->labels, "only volumes with KEY=VALUE, repeatable");
  auto* inspect = volume->add_subcommand("inspect", "show one volume");
  inspect->add_option("name", a->name, "volume name")->required();
  auto* rm = volume->add_subcommand("rm", "delete a volume (refused while mounted)");
  rm->add_option("name", a->name, "volume name")->required();

  return {{create, [&g, a] { return Create(g, *a); }},
          {ls, [&g, a] { return List(g, *a); }},
          {inspect, [&g, a] { return Inspect(g, *a); }},
          {rm, [&g, a] { return Remove(g, *a); }}};
}

}  // namespace warmblock::cli
