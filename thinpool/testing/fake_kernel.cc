#include "warmblock/thinpool/fake_kernel.h"

#include <sys/sysmacros.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "words.h"

namespace warmblock::thinpool {
namespace {

constexpr uint32_t kDmMajor = 253;

}  // namespace

FakeDeviceMapper::PoolState* FakeDeviceMapper::PoolOf(const std::string& name) {
  auto it = devices_.find(name);
  if (it == devices_.end() || it->second.table.empty() || it->second.table[0].type != "thin-pool") return nullptr;
  return &metadata[Words(it->second.table[0].params)[0]];
}

Status FakeDeviceMapper::Create(const std::string& name, const std::vector<DmTarget>& table) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("create " + name);
  if (devices_.count(name)) return Status::FromErrno(EBUSY, "dm create " + name);
  if (table.empty()) return Status::FromErrno(EINVAL, "dm create " + name);
  if (table[0].type == "thin") {
    // "<pool major:minor> <id>": the id must exist in that pool.
    auto w = Words(table[0].params);
    bool found = false;
    for (auto& [dname, dev] : devices_) {
      std::string dev_str = std::to_string(dev.info.major) + ":" + std::to_string(dev.info.minor);
      if (dev_str != w[0]) continue;
      PoolState* pool = PoolOf(dname);
      found = pool && pool->thins.count(static_cast<uint32_t>(std::stoul(w[1])));
    }
    if (!found) return Status::FromErrno(ENODATA, "dm create " + name);
  }
  // Loading a pool on fresh metadata formats it; existing metadata is kept.
  if (table[0].type == "thin-pool") metadata[Words(table[0].params)[0]];
  Device dev;
  dev.table = table;
  dev.info.major = kDmMajor;
  dev.info.minor = next_minor_++;
  devices_[name] = dev;
  return Status::OK();
}

Status FakeDeviceMapper::Reload(const std::string& name, const std::vector<DmTarget>& table) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("reload " + name);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, "dm load " + name);
  it->second.table = table;
  if (PoolState* p = PoolOf(name)) {
    uint64_t blocks = table[0].length / std::stoull(Words(table[0].params)[2]);
    if (p->data_used < blocks) p->out_of_data_space = false;
  }
  return Status::OK();
}

Status FakeDeviceMapper::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("remove " + name);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, "dm remove " + name);
  if (it->second.info.open_count > 0) return Status::FromErrno(EBUSY, "dm remove " + name);
  devices_.erase(it);
  return Status::OK();
}

Status FakeDeviceMapper::Suspend(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("suspend " + name);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, "dm suspend " + name);
  it->second.info.suspended = true;
  return Status::OK();
}

Status FakeDeviceMapper::Resume(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("resume " + name);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, "dm resume " + name);
  it->second.info.suspended = false;
  return Status::OK();
}

Result<DmInfo> FakeDeviceMapper::Info(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, "dm info " + name);
  Device& d = it->second;
  DmInfo info = d.info;
  if (d.closes_after_infos >= 0 && d.closes_after_infos-- == 0) info.open_count = d.info.open_count = 0;
  return info;
}

Result<std::vector<DmTarget>> FakeDeviceMapper::Table(const std::string& name, bool table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = devices_.find(name);
  if (it == devices_.end()) return Status::FromErrno(ENXIO, std::string(table ? "dm table " : "dm status ") + name);
  if (table) return it->second.table;
  DmTarget t = it->second.table[0];
  if (t.type == "thin-pool") {
    PoolState* p = PoolOf(name);
    auto w = Words(t.params);
    uint64_t blocks = t.length / std::stoull(w[2]);
    bool error_if_no_space = t.params.find("error_if_no_space") != std::string::npos;
    t.params = std::to_string(p->transaction_id) + " " + std::to_string(10 + p->thins.size()) + "/4096 " +
               std::to_string(p->data_used) + "/" + std::to_string(blocks) + " - " +
               (p->out_of_data_space ? "out_of_data_space" : "rw") + " discard_passdown " +
               (error_if_no_space ? "error_if_no_space" : "queue_if_no_space") + " - 1024";
  } else if (t.type == "thin") {
    t.params = "0 -";
  }
  return std::vector<DmTarget>{t};
}

Status FakeDeviceMapper::Message(const std::string& name, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  log.push_back("message " + name + " " + message);
  int injected = fail_message ? fail_message(message) : 0;
  auto fail = [&](int err) { return Status::FromErrno(err, message, "pool " + name); };
  if (injected != 0 && !apply_then_fail) return fail(injected);
  PoolState* p = PoolOf(name);
  if (p == nullptr) return fail(ENXIO);
  auto w = Words(message);
  auto id = [&](size_t i) { return static_cast<uint32_t>(std::stoul(w.at(i))); };
  if (w[0] == "create_thin" && w.size() == 2) {
    if (!p->thins.insert(id(1)).second) return fail(EEXIST);
  } else if (w[0] == "create_snap" && w.size() == 3) {
    if (!p->thins.count(id(2))) return fail(ENODATA);
    if (!p->thins.insert(id(1)).second) return fail(EEXIST);
  } else if (w[0] == "delete" && w.size() == 2) {
    if (!p->thins.erase(id(1))) return fail(ENODATA);
  } else if (w[0] == "set_transaction_id" && w.size() == 3) {
    if (std::stoull(w[1]) != p->transaction_id) return fail(EINVAL);
    p->transaction_id = std::stoull(w[2]);
  } else {
    return fail(EINVAL);
  }
  return injected != 0 ? fail(injected) : Status::OK();
}

Result<std::vector<std::string>> FakeDeviceMapper::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, dev] : devices_) out.push_back(name);
  return out;
}

Result<uint32_t> FakeDeviceMapper::WaitEvent(const std::string& name, uint32_t last_event_nr, int timeout_ms) {
  // Polls, like a caller of the real one would wait: a loop around it must
  // not spin.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    WB_ASSIGN_OR_RETURN(DmInfo info, Info(name));
    if (info.event_nr != last_event_nr) return info.event_nr;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::FromErrno(ETIMEDOUT, "wait for dm event on " + name);
}

Result<std::string> FakeDeviceMapper::NodePath(uint32_t, uint32_t minor) { return "/dev/dm-" + std::to_string(minor); }

void FakeDeviceMapper::Reboot() {
  std::lock_guard<std::mutex> lock(mu_);
  devices_.clear();
}

void FakeDeviceMapper::SetOpenCount(const std::string& name, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  devices_.at(name).info.open_count = n;
}

void FakeDeviceMapper::SetOpenBriefly(const std::string& name, int n, int infos) {
  std::lock_guard<std::mutex> lock(mu_);
  devices_.at(name).info.open_count = n;
  devices_.at(name).closes_after_infos = infos;
}

void FakeDeviceMapper::BumpEvent(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  devices_.at(name).info.event_nr++;
}

namespace {
class FakeLoop final : public LoopDevice {
 public:
  FakeLoop(std::string path, dev_t dev, int* live) : path_(std::move(path)), dev_(dev), live_(live) { ++*live_; }
  ~FakeLoop() override { --*live_; }
  const std::string& path() const override { return path_; }
  dev_t devno() const override { return dev_; }
  bool direct_io() const override { return true; }

 private:
  std::string path_;
  dev_t dev_;
  int* live_;
};
}  // namespace

Result<std::unique_ptr<LoopDevice>> FakeBlockDevices::Attach(const std::string& file) {
  auto [it, inserted] = loop_of_file_.emplace(file, static_cast<int>(loop_of_file_.size()));
  int n = it->second;
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(file, ec);
  loop_bytes["/dev/loop" + std::to_string(n)] = ec ? 0 : size;
  return std::unique_ptr<LoopDevice>(
      std::make_unique<FakeLoop>("/dev/loop" + std::to_string(n), makedev(7, n), &attached));
}

Result<BlockInfo> FakeBlockDevices::Probe(const std::string& path) {
  auto it = devices.find(path);
  if (it == devices.end()) return Status::FromErrno(ENOENT, "open " + path);
  return it->second;
}

Status FakeBlockDevices::RefreshLoop(dev_t loop) {
  const std::string path = "/dev/loop" + std::to_string(::minor(loop));
  if (::major(loop) != 7) return Status::InvalidArgument("block device is not a loop device");
  for (const auto& [file, n] : loop_of_file_) {
    if (n != static_cast<int>(::minor(loop))) continue;
    if (refresh_errno != 0) return Status::FromErrno(refresh_errno, "loop set capacity " + path);
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(file, ec);
    if (ec) return Status::FromErrno(ec.value(), "loop set capacity " + path);
    loop_bytes[path] = size;
    return Status::OK();
  }
  return Status::FromErrno(ENXIO, "open " + path);
}

}  // namespace warmblock::thinpool
