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
#include "warmblock/base/fd.h"
#include "warmblock/base/text.h"
#include "warmblock/provisioner/client.h"

namespace {

using namespace warmblock;
using json = nlohmann::json;

int Fail(const Status& s) {
  std::fprintf(stderr, "warmblock-oci-hook: %s\n", s.message().c_str());
  return 1;
}

Status Failure(const std::string& message) { return Status::Error(Status::Code::kIOError, message); }

Result<json> ReadJson(std::istream& in, const std::string& what) {
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) return Status::InvalidArgument(what + " is not a JSON object");
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
Result<Container> ReadState() {
  WB_ASSIGN_OR_RETURN(json state, ReadJson(std::cin, "the container state on stdin"));
  Container c;
  if (!state.contains("id") || !state["id"].is_string())
    return Status::InvalidArgument("the container state has no id");
  c.id = state["id"];
  if (state.contains("pid") && state["pid"].is_number_integer()) c.pid = state["pid"];
  if (state.contains("bundle") && state["bundle"].is_string()) c.bundle = state["bundle"];
  json config = json::object();
  if (!c.bundle.empty()) {
    std::ifstream f(c.bundle + "/config.json");
    if (f) {
      WB_ASSIGN_OR_RETURN(config, ReadJson(f, c.bundle + "/config.json"));
    }
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
Status MountIn(pid_t pid, const std::string& device, const std::string& target, const std::string& fs,
               unsigned long flags) {
  Fd own(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  Fd theirs(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (own.get() < 0 || theirs.get() < 0 || ::setns(theirs.get(), CLONE_NEWNS) != 0)
    return Status::FromErrno(errno, "enter the mount namespace of pid " + std::to_string(pid));
  Status s;
  std::error_code ec;
  std::filesystem::create_directories(target, ec);
  if (ec)
    s = Failure("create " + target + ": " + ec.message());
  else if (::mount(device.c_str(), target.c_str(), fs.c_str(), flags, nullptr) != 0)
    s = Status::FromErrno(errno, "mount " + device + " (" + fs + ") on " + target);
  // Without our own namespace back, the socket path would not resolve: the
  // caller must not go on.
  if (::setns(own.get(), CLONE_NEWNS) != 0) return Status::FromErrno(errno, "return to the hook's mount namespace");
  return s;
}

// Deletes volume `name`, waiting out a busy answer for a few seconds: the
// container's mounts go with its mount namespace, a moment after its exit.
Status Release(const client::Client& api, const std::string& name, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    Status s = api.Delete(name);
    if (s.ok() || s.code() == Status::Code::kNotFound) return Status::OK();
    if (s.code() != Status::Code::kBusy || std::chrono::steady_clock::now() >= deadline)
      return Status::Error(s.code(), "release volume " + name + ": " + s.message());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Gets and mounts each volume; on a failure releases the ephemeral volumes
// this run made, so a container that does not start leaves nothing behind.
Status Create(const Container& c, const std::vector<hook::VolumeMount>& mounts, const client::Client& api,
              int timeout_s) {
  std::vector<std::string> made;
  auto fail = [&](const Status& why) {
    for (const auto& name : made) (void)Release(api, name, timeout_s);
    return why;
  };
  for (const auto& m : mounts) {
    std::string name = m.VolumeName(c.id);
    provisioner::CreateRequest req;
    req.name = name;
    req.labels = {{"io.warmblock.container", c.id}, {"io.warmblock.label", m.label}};
    req.ephemeral = m.ephemeral();
    // The container's init owns an ephemeral volume: should the runtime kill
    // it (a hook timeout) or die before poststop, warmblockd releases it.
    if (m.ephemeral()) req.owner_pid = c.pid;
    if (!m.class_name.empty()) {
      req.class_name = m.class_name;
    } else {
      req.size_bytes = m.size_bytes;
      req.fs = m.fs;
    }
    auto v = api.Create(req);
    if (!v.ok())
      return fail(Status::Error(v.status().code(), "volume " + m.label + " (" + name + "): " + v.status().message()));
    if (m.ephemeral() && v->source != provisioner::Source::kExisting) made.push_back(name);
    Status s = MountIn(c.pid, v->device, c.rootfs + m.path, v->fs, MountFlags(m));
    if (!s.ok()) return fail(Status::Error(s.code(), "volume " + name + ": " + s.message()));
  }
  return Status::OK();
}

// Releases the container's ephemeral volumes, all of them even when one fails.
Status PostStop(const Container& c, const std::vector<hook::VolumeMount>& mounts, const client::Client& api,
                int timeout_s) {
  std::string errors;
  for (const auto& m : mounts) {
    if (!m.ephemeral()) continue;
    Status s = Release(api, m.VolumeName(c.id), timeout_s);
    if (!s.ok()) errors += (errors.empty() ? "" : "; ") + s.message();
  }
  return errors.empty() ? Status::OK() : Failure(errors);
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
  bool help = false;
};

// By hand rather than with CLI11: the hook runs at every container start and
// stop, and under emulation CLI11 alone made each run ~60 ms slower.
// A --help run is Args with `help` set.
Result<Args> ParseArgs(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("WARMBLOCK_SOCKET"); env != nullptr && *env != '\0') a.socket = env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      return a;
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
        return Status::InvalidArgument(arg + " needs a value (see --help)");
      }
      if (arg == "--socket") {
        if (value.empty()) return Status::InvalidArgument("--socket needs a path");
        a.socket = value;
      } else {
        char* end = nullptr;
        long t = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || t < 1 || t > 3600)
          return Status::InvalidArgument("--timeout needs whole seconds from 1 to 3600, not " + Quoted(value));
        a.timeout_s = static_cast<int>(t);
      }
    } else if ((arg == "create" || arg == "prestart" || arg == "poststop") && a.stage.empty()) {
      a.stage = arg;
    } else {
      return Status::InvalidArgument("unexpected argument " + Quoted(arg) + " (see --help)");
    }
  }
  if (a.stage.empty()) return Status::InvalidArgument("which stage: create, prestart or poststop? (see --help)");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) return Fail(args.status());
  if (args->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto c = ReadState();
  if (!c.ok()) return Fail(c.status());
  auto mounts = hook::ParseAnnotations(c->annotations);
  if (!mounts.ok()) return Fail(mounts.status());
  if (mounts->empty()) return 0;
  client::Client api(args->socket, args->timeout_s);
  if (args->stage == "poststop") {
    Status s = PostStop(*c, *mounts, api, args->timeout_s);
    return s.ok() ? 0 : Fail(s);
  }
  if (c->pid <= 0) return Fail(Status::InvalidArgument("the container state has no pid to enter"));
  Status s = Create(*c, *mounts, api, args->timeout_s);
  return s.ok() ? 0 : Fail(s);
}
