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
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "annotations.h"
#include "volumes.h"
#include "warmblock/base/fd.h"
#include "warmblock/base/text.h"

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
// and comes back to this process's own: the hook is single-threaded, so it
// may switch namespaces itself, which costs far less than a child under
// emulation.
std::string MountIn(pid_t pid, const std::string& device, const std::string& target, const std::string& fs,
                    unsigned long flags) {
  Fd own(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  Fd theirs(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (own.get() < 0 || theirs.get() < 0 || ::setns(theirs.get(), CLONE_NEWNS) != 0)
    return "enter the mount namespace of pid " + std::to_string(pid) + ": " + std::strerror(errno);
  std::string err;
  std::error_code ec;
  std::filesystem::create_directories(target, ec);
  if (ec)
    err = "create " + target + ": " + ec.message();
  else if (::mount(device.c_str(), target.c_str(), fs.c_str(), flags, nullptr) != 0)
    err = "mount " + device + " (" + fs + ") on " + target + ": " + std::strerror(errno);
  // Without our own namespace back, the socket path would not resolve.
  if (::setns(own.get(), CLONE_NEWNS) != 0)
    Die("return to the hook's mount namespace: " + std::string(std::strerror(errno)));
  return err;
}

// Deletes volume `name`, waiting out a busy answer for a few seconds: the
// container's mounts go with its mount namespace, a moment after its exit.
std::string Release(const std::string& socket, const std::string& name, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    client::Reply r = client::DeleteVolume(socket, name, timeout_s).reply;
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
    client::CreateVolumeRequest req;
    req.name = name;
    req.labels = {{"io.warmblock.container", c.id}, {"io.warmblock.label", m.label}};
    req.ephemeral = m.ephemeral();
    // The container's init owns an ephemeral volume: should the runtime kill
    // it (a hook timeout) or die before poststop, warmblockd releases it.
    if (m.ephemeral()) req.owner_pid = c.pid;
    if (!m.class_name.empty()) {
      req.class_name = m.class_name;
    } else {
      req.size = std::to_string(m.size_bytes);
      req.fs = m.fs;
    }
    auto a = client::CreateVolume(socket, req, timeout_s);
    if (!a.ok) fail("volume " + m.label + " (" + name + "): " + a.reply.Message());
    const client::Volume& v = a.value;
    if (m.ephemeral() && a.reply.status == 201) made.push_back(name);
    std::string err = MountIn(c.pid, v.device, c.rootfs + m.path, v.fs, MountFlags(m));
    if (!err.empty()) fail("volume " + name + ": " + err);
  }
  return 0;
}

constexpr char kUsage[] =
    "Usage: warmblock-oci-hook [--socket PATH] [--timeout SECONDS] create|prestart|poststop\n"
    "\n"
    "An OCI runtime hook that gives a container the block volumes its annotations\n"
    "ask for. The runtime passes the container's state JSON on stdin.\n"
    "\n"
    "  create     createRuntime hook: get each volume from warmblockd and mount it\n"
    "             in the container before pivot_root\n"
    "  prestart   the same, for runtimes without createRuntime\n"
    "  poststop   delete the container's ephemeral volumes\n"
    "\n"
    "Options:\n"
    "  --socket PATH      warmblockd's API socket (env WARMBLOCK_SOCKET;\n"
    "                     default /run/warmblock/warmblockd.sock)\n"
    "  --timeout SECONDS  wait for warmblockd per request (default 30)\n"
    "  -h, --help         this text\n"
    "\n"
    "Annotations:\n"
    "  io.warmblock.volume/LABEL=\"path=/data,class=small\"\n"
    "  io.warmblock.volume/LABEL=\"path=/data,size=10G,fs=xfs,name=pgdata,ro,nodev,nosuid,noexec,keep=true\"\n"
    "Options are separated by ',' or ';'. podman's --annotation splits its value at\n"
    "commas, so with podman write: --annotation 'io.warmblock.volume/data=path=/data;class=small'\n"
    "A named volume is reused and kept; an unnamed one is made for the container\n"
    "and deleted at poststop.\n";

struct Args {
  std::string stage;
  std::string socket = "/run/warmblock/warmblockd.sock";
  int timeout_s = 30;
};

// By hand rather than with CLI11: the hook runs at every container start and
// stop, and under emulation CLI11 alone made each run ~60 ms slower.
Args ParseArgs(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("WARMBLOCK_SOCKET"); env != nullptr && *env != '\0') a.socket = env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    bool takes_value =
        arg == "--socket" || arg == "--timeout" || arg.starts_with("--socket=") || arg.starts_with("--timeout=");
    if (takes_value) {
      if (auto eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg.resize(eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        Die(arg + " needs a value (see --help)");
      }
      if (arg == "--socket") {
        if (value.empty()) Die("--socket needs a path");
        a.socket = value;
      } else {
        char* end = nullptr;
        long t = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || t < 1 || t > 3600)
          Die("--timeout needs whole seconds from 1 to 3600, not " + Quoted(value));
        a.timeout_s = static_cast<int>(t);
      }
    } else if ((arg == "create" || arg == "prestart" || arg == "poststop") && a.stage.empty()) {
      a.stage = arg;
    } else {
      Die("unexpected argument " + Quoted(arg) + " (see --help)");
    }
  }
  if (a.stage.empty()) Die("which stage: create, prestart or poststop? (see --help)");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  Container c = ReadState();
  auto mounts = hook::ParseAnnotations(c.annotations);
  if (!mounts.ok()) Die(mounts.status().message());
  if (mounts->empty()) return 0;
  if (args.stage == "poststop") {
    std::string errors;
    for (const auto& m : *mounts) {
      if (!m.ephemeral()) continue;
      std::string err = Release(args.socket, m.VolumeName(c.id), args.timeout_s);
      if (!err.empty()) errors += (errors.empty() ? "" : "; ") + err;
    }
    if (!errors.empty()) Die(errors);
    return 0;
  }
  if (c.pid <= 0) Die("the container state has no pid to enter");
  return Create(c, *mounts, args.socket, args.timeout_s);
}
