// warmblock-oci-hook: gives a container the volumes its annotations ask for
// (see annotations.h), as an OCI runtime hook.
//
//   createRuntime (or prestart, for older runtimes):  warmblock-oci-hook create
//   poststop:                                         warmblock-oci-hook poststop
//
// The runtime passes the container's state JSON on stdin. At create the hook
// asks warmblockd for each volume and mounts it inside the container's mount
// namespace under its root filesystem, before pivot_root. At poststop it
// deletes the ephemeral volumes. Any failure is one line on stderr and a
// non-zero exit, so the runtime refuses to start the container rather than
// start it without its volume.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "annotations.h"
#include "client.h"

namespace {

using namespace warmblock;
using json = nlohmann::json;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "warmblock-oci-hook: %s\n", message.c_str());
  std::exit(1);
}

json ReadJson(std::istream& in, const std::string& what) {
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) Die(what + " is not a JSON object");
  return j;
}

struct Container {
  std::string id;
  pid_t pid = 0;
  std::string bundle;
  std::string rootfs;  // absolute
  std::map<std::string, std::string> annotations;
};

// The state from stdin; annotations and the root path from the bundle's
// config.json where the state lacks them.
Container ReadState() {
  json state = ReadJson(std::cin, "the container state on stdin");
  Container c;
  if (!state.contains("id") || !state["id"].is_string()) Die("the container state has no id");
  c.id = state["id"];
  if (state.contains("pid") && state["pid"].is_number_integer()) c.pid = state["pid"];
  if (state.contains("bundle") && state["bundle"].is_string()) c.bundle = state["bundle"];
  json config = json::object();
  if (!c.bundle.empty()) {
    std::ifstream f(c.bundle + "/config.json");
    if (f) config = ReadJson(f, c.bundle + "/config.json");
  }
  const json& notes =
      state.contains("annotations") ? state["annotations"] : config.value("annotations", json::object());
  for (auto& [k, v] : notes.items())
    if (v.is_string()) c.annotations[k] = v.get<std::string>();
  std::string root = "rootfs";
  if (config.contains("root") && config["root"].is_object() && config["root"].contains("path") &&
      config["root"]["path"].is_string())
    root = config["root"]["path"];
  c.rootfs = root.size() > 0 && root[0] == '/' ? root : c.bundle + "/" + root;
  return c;
}

unsigned long MountFlags(const hook::VolumeMount& m) {
  unsigned long f = 0;
  if (m.read_only) f |= MS_RDONLY;
  if (m.nodev) f |= MS_NODEV;
  if (m.nosuid) f |= MS_NOSUID;
  if (m.noexec) f |= MS_NOEXEC;
  return f;
}

// Mounts `device` at `target` inside the mount namespace of process `pid`
// (0: this one), from a child so that this process keeps its own.
std::string MountIn(pid_t pid, const std::string& device, const std::string& target, const std::string& fs,
                    unsigned long flags) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return "pipe: " + std::string(std::strerror(errno));
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    std::string err;
    if (pid > 0) {
      int ns = ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNS) != 0)
        err = "enter the mount namespace of pid " + std::to_string(pid) + ": " + std::strerror(errno);
    }
    std::error_code ec;
    if (err.empty()) std::filesystem::create_directories(target, ec);
    if (err.empty() && ec) err = "create " + target + ": " + ec.message();
    if (err.empty() && ::mount(device.c_str(), target.c_str(), fs.c_str(), flags, nullptr) != 0)
      err = "mount " + device + " (" + fs + ") on " + target + ": " + std::strerror(errno);
    if (!err.empty()) (void)!::write(pipefd[1], err.data(), err.size());
    ::_exit(err.empty() ? 0 : 1);
  }
  ::close(pipefd[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (err.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) err = "mount helper failed";
  return err;
}

// Deletes volume `name`, waiting out a busy answer for a few seconds: the
// container's mounts go with its mount namespace, a moment after its exit.
std::string Release(const std::string& socket, const std::string& name, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    client::Reply r = client::Call(socket, "DELETE", "/v1/volumes/" + client::Escape(name), "", timeout_s);
    if (r.status == 204 || r.status == 404) return "";
    if (r.status != 409 || std::chrono::steady_clock::now() >= deadline)
      return "release volume " + name + ": " + r.Message();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int Create(const Container& c, const std::vector<hook::VolumeMount>& mounts, const std::string& socket, int timeout_s) {
  std::vector<std::string> made;  // ephemeral volumes to release if a later step fails
  auto fail = [&](const std::string& why) {
    for (const auto& name : made) (void)Release(socket, name, timeout_s);
    Die(why);
  };
  for (const auto& m : mounts) {
    std::string name = m.VolumeName(c.id);
    json req{{"name", name},
             {"labels", {{"io.warmblock.container", c.id}, {"io.warmblock.label", m.label}}},
             {"ephemeral", m.ephemeral()}};
    // The container's init owns an ephemeral volume: should the runtime kill
    // it (a hook timeout) or die before poststop, warmblockd releases it.
    if (m.ephemeral()) req["owner_pid"] = c.pid;
    if (!m.class_name.empty()) {
      req["class"] = m.class_name;
    } else {
      req["size"] = m.size_bytes;
      req["fs"] = m.fs;
    }
    client::Reply r = client::Call(socket, "POST", "/v1/volumes", req.dump(), timeout_s);
    if (r.status != 200 && r.status != 201) fail("volume " + m.label + " (" + name + "): " + r.Message());
    json v = json::parse(r.body, nullptr, false);
    if (!v.is_object() || !v.contains("device")) fail("volume " + name + ": warmblockd sent no device");
    if (m.ephemeral() && r.status == 201) made.push_back(name);
    std::string err = MountIn(c.pid, v["device"], c.rootfs + m.path, v["fs"], MountFlags(m));
    if (!err.empty()) fail("volume " + name + ": " + err);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"warmblock-oci-hook: gives a container the block volumes its annotations ask for", "warmblock-oci-hook"};
  app.require_subcommand(1);
  std::string socket = "/run/warmblock/warmblockd.sock";
  int timeout_s = 30;
  app.add_option("--socket", socket, "warmblockd's API socket")->envname("WARMBLOCK_SOCKET");
  app.add_option("--timeout", timeout_s, "seconds to wait for warmblockd per request");
  auto* create = app.add_subcommand("create", "createRuntime/prestart: get and mount the volumes (state on stdin)");
  auto* prestart = app.add_subcommand("prestart", "the same as create, for runtimes without createRuntime");
  auto* poststop = app.add_subcommand("poststop", "release the container's ephemeral volumes (state on stdin)");
  app.footer(
      "Annotations:\n"
      "  io.warmblock.volume/LABEL=\"path=/data,class=small\"\n"
      "  io.warmblock.volume/LABEL=\"path=/data,size=10G,fs=xfs,name=pgdata,ro,nodev,nosuid,noexec,keep=true\"\n"
      "A named volume is reused and kept; an unnamed one is made for the container and deleted at poststop.");
  CLI11_PARSE(app, argc, argv);

  Container c = ReadState();
  auto mounts = hook::ParseAnnotations(c.annotations);
  if (!mounts.ok()) Die(mounts.status().message());
  if (mounts->empty()) return 0;
  if (create->parsed() || prestart->parsed()) {
    if (c.pid <= 0) Die("the container state has no pid to enter");
    return Create(c, *mounts, socket, timeout_s);
  }
  if (poststop->parsed()) {
    std::string errors;
    for (const auto& m : *mounts) {
      if (!m.ephemeral()) continue;
      std::string err = Release(socket, m.VolumeName(c.id), timeout_s);
      if (!err.empty()) errors += (errors.empty() ? "" : "; ") + err;
    }
    if (!errors.empty()) Die(errors);
  }
  return 0;
}
