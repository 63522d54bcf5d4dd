// ublk data path throughput: fio 4 KiB random reads (and writes) on a ublk
// disk served by one reactor in each copy mode the kernel has, against a
// loop device (direct I/O) on the same backing file, measured in one run.
// Writes a JSON summary with the ratios.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "warmblock/thinpool/kernel.h"
#include "warmblock/ublk/ublk.h"

namespace {

// Runs fio on `dev` and returns its IOPS for `rw` (randread/randwrite), or
// -1. fio's JSON output goes to a file that is scanned for "iops".
double Fio(const std::string& dev, const std::string& rw, int seconds, const std::string& out) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string runtime = "--runtime=" + std::to_string(seconds);
    std::string output = "--output=" + out;
    std::string filename = "--filename=" + dev;
    std::string mode = "--rw=" + rw;
    ::execlp("fio", "fio", "--name=bench", filename.c_str(), mode.c_str(), "--bs=4k", "--iodepth=32",
             "--ioengine=io_uring", "--direct=1", "--time_based", runtime.c_str(), "--output-format=json",
             output.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  std::ifstream in(out);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string section = rw == "randread" ? "\"read\"" : "\"write\"";
  size_t at = json.find(section);
  if (at == std::string::npos) return -1;
  at = json.find("\"iops\"", at);
  if (at == std::string::npos) return -1;
  at = json.find(':', at);
  return std::atof(json.c_str() + at + 1);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 10;
  std::string json_path, dir = "/tmp/warmblock-bench-iops";
  CLI::App app{
      "ublk_iops_bench: fio through ublk in each copy mode against a loop device (root, ublk, fio; "
      "tools/bench ublk-iops runs it in the VM)"};
  app.add_option("--seconds", seconds, "fio run time per job")->check(CLI::Range(1, 3600));
  app.add_option("--json", json_path, "also write the results to FILE");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string backing = dir + "/backing";
  {
    // Written out, not sparse: reads must touch real pages on both paths.
    std::ofstream f(backing, std::ios::binary);
    std::vector<char> chunk(1 << 20, 'x');
    for (int i = 0; i < 256; ++i) f.write(chunk.data(), chunk.size());
  }
  auto block = warmblock::thinpool::LinuxBlockDevices();
  auto loop = block->Attach(backing);
  warmblock::ublk::ServerOptions server_options;
  server_options.reactors = 1;
  server_options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  auto server = warmblock::ublk::Server::Start(server_options);
  if (!loop.ok() || !server.ok()) {
    std::fprintf(stderr, "bench: %s %s\n", loop.status().ToString().c_str(), server.status().ToString().c_str());
    return 1;
  }
  std::string fio_out = dir + "/fio.json";
  double loop_read = Fio((*loop)->path(), "randread", seconds, fio_out);
  double loop_write = Fio((*loop)->path(), "randwrite", seconds, fio_out);
  if (loop_read <= 0 || loop_write <= 0) {
    std::fprintf(stderr, "bench: fio failed on the loop device\n");
    return 1;
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "{\n  \"seconds_per_case\": %d,\n  \"reactors\": 1,\n  \"loop_direct_io\": %s,\n"
                "  \"loop_randread_iops\": %.0f,\n  \"loop_randwrite_iops\": %.0f",
                seconds, (*loop)->direct_io() ? "true" : "false", loop_read, loop_write);
  std::string out = line;
  // Every copy mode this kernel has, one device each, against the same loop
  // figures; a mode the kernel lacks is reported as null.
  for (auto mode : {warmblock::ublk::CopyMode::kZeroCopy, warmblock::ublk::CopyMode::kUserCopy,
                    warmblock::ublk::CopyMode::kBuffered}) {
    std::string name = warmblock::ublk::CopyModeName(mode);
    for (char& c : name)
      if (c == '-') c = '_';
    warmblock::ublk::DeviceOptions o;
    o.backing_path = backing;
    o.depth = 128;
    o.copy = mode;
    auto dev = (*server)->AddDevice(o);
    if (!dev.ok()) {
      std::fprintf(stderr, "bench: %s: %s\n", name.c_str(), dev.status().ToString().c_str());
      out += ",\n  \"" + name + "\": null";
      continue;
    }
    double r = Fio((*dev)->disk_path(), "randread", seconds, fio_out);
    double w = Fio((*dev)->disk_path(), "randwrite", seconds, fio_out);
    if (r <= 0 || w <= 0) {
      std::fprintf(stderr, "bench: fio failed on %s\n", (*dev)->disk_path().c_str());
      return 1;
    }
    std::snprintf(line, sizeof line,
                  ",\n  \"%s\": {\"randread_iops\": %.0f, \"over_loop_read\": %.2f, "
                  "\"randwrite_iops\": %.0f, \"over_loop_write\": %.2f}",
                  name.c_str(), r, r / loop_read, w, w / loop_write);
    out += line;
  }
  out += "\n}\n";
  std::fputs(out.c_str(), stdout);
  if (!json_path.empty()) std::ofstream(json_path) << out;
  loop->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
