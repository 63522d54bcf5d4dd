// warmblock volume create|ls|inspect|rm, over the typed client.
#include <memory>

#include "output.h"
#include "warmblock/base/units.h"

namespace warmblock::cli {
namespace {

using provisioner::Volume;

std::string Labels(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

struct VolumeArgs {
  std::string name, size;
  std::vector<std::string> labels;  // KEY=VALUE
  provisioner::CreateRequest create;
};

Result<std::map<std::string, std::string>> ParseLabels(const std::vector<std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& kv : labels) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--label " + kv + ": write KEY=VALUE");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

int Create(const Globals& g, VolumeArgs& a) {
  a.create.name = a.name;
  auto labels = ParseLabels(a.labels);
  if (!labels.ok()) return Failed(labels.status());
  a.create.labels = *labels;
  if (!a.size.empty()) {
    auto bytes = ParseSize(a.size, "--size");
    if (!bytes.ok()) return Failed(bytes.status());
    a.create.size_bytes = *bytes;
  }
  return Print<Volume>(g, g.Client().Create(a.create), [](const Volume& v) {
    std::printf("%s %s (%s %s, %s)\n", v.device.c_str(), v.name.c_str(), v.fs.c_str(), FormatSize(v.size_bytes).c_str(),
                Name(v.source));
  });
}

int List(const Globals& g, const VolumeArgs& a) {
  auto labels = ParseLabels(a.labels);
  if (!labels.ok()) return Failed(labels.status());
  return Print<std::vector<Volume>>(g, g.Client().List(*labels), [](const std::vector<Volume>& list) {
    std::vector<std::vector<std::string>> rows = {{"NAME", "CLASS", "FS", "SIZE", "DEVICE", "STATE", "LABELS"}};
    for (const auto& v : list)
      rows.push_back({v.name, v.class_name.empty() ? "-" : v.class_name, v.fs, FormatSize(v.size_bytes), v.device,
                      Name(v.state), Labels(v.labels)});
    PrintTable(rows);
  });
}

int Inspect(const Globals& g, const VolumeArgs& a) {
  return Print<Volume>(g, g.Client().Get(a.name), [](const Volume& v) {
    const std::pair<const char*, std::string> fields[] = {
        {"name", v.name},
        {"class", v.class_name.empty() ? "-" : v.class_name},
        {"fs", v.fs},
        {"size", FormatSize(v.size_bytes) + " (" + std::to_string(v.size_bytes) + " bytes)"},
        {"device", v.device},
        {"state", Name(v.state)},
        {"labels", Labels(v.labels)},
        {"ephemeral", v.ephemeral ? "yes, released when pid " + std::to_string(v.owner_pid) + " is gone" : "no"},
        {"created_ms", std::to_string(v.created_ms)}};
    for (const auto& [k, val] : fields) std::printf("%-11s %s\n", (std::string(k) + ":").c_str(), val.c_str());
  });
}

int Remove(const Globals& g, const VolumeArgs& a) {
  Status s = g.Client().Delete(a.name);
  if (!s.ok()) return Failed(s);
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
  create->add_option("--size", a->size, "size for a volume outside the classes, e.g. 10G");
  create->add_option("--fs", a->create.fs, "filesystem with --size: ext4 (default) or xfs")->excludes("--class");
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
