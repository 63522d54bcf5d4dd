// A fake of the public ublk::Server for other modules' unit tests:
// devices as a kernel would keep them, outliving the handle a process
// leaves behind on exit, so that a new server adopts them. It takes no
// lock (unlike the Server it stands for).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

class FakeUblk final : public Server {
 public:
  class Dev final : public Device {
   public:
    Dev(FakeUblk* owner, uint32_t id, uint64_t size) : owner_(owner), id_(id), size_(size) {
      path_ = "/dev/ublkb" + std::to_string(id);
      owner_->handles_.insert(this);
    }
    ~Dev() override {
      owner_->handles_.erase(this);
      if (!removed_) owner_->live_.erase(id_);
    }
    uint32_t id() const override { return id_; }
    const std::string& disk_path() const override { return path_; }
    uint64_t size_bytes() const override { return size_; }
    CopyMode copy_mode() const override { return CopyMode::kUserCopy; }
    Status Resize(uint64_t bytes) override {
      if (!owner_->kernel_features.update_size()) return Status::Unsupported("no UPDATE_SIZE");
      size_ = bytes;
      return Status::OK();
    }
    DeviceStats stats() const override { return {}; }
    Status Remove(bool force) override {
      if (!force && owner_->busy_.count(id_) != 0) return Status::Error(Status::Code::kBusy, path_ + " is mounted");
      owner_->live_.erase(id_);
      removed_ = true;
      return Status::OK();
    }

   private:
    FakeUblk* owner_;
    uint32_t id_;
    uint64_t size_;
    std::string path_;
    bool removed_ = false;
  };

  ~FakeUblk() override {
    // Handles a provisioner let go of on exit (the disks stay up).
    while (!handles_.empty()) delete *handles_.begin();
  }

  Result<std::unique_ptr<Device>> AddDevice(const DeviceOptions& o) override {
    ++adds;
    uint32_t id = next_id_++;
    live_[id] = o.backing_path;
    return std::unique_ptr<Device>(new Dev(this, id, 1 << 30));
  }
  Result<std::unique_ptr<Device>> AdoptDevice(uint32_t id, const std::string& backing, BackendKind) override {
    if (live_.count(id) == 0) return Status::NotFound("no ublk device " + std::to_string(id));
    ++adoptions;
    abandoned_.erase(id);
    live_[id] = backing;
    return std::unique_ptr<Device>(new Dev(this, id, 1 << 30));
  }
  std::vector<uint32_t> ListAbandoned() override { return {abandoned_.begin(), abandoned_.end()}; }
  Status DeleteAbandoned(uint32_t id) override {
    if (abandoned_.erase(id) == 0) return Status::Error(Status::Code::kBusy, "not abandoned");
    live_.erase(id);
    return Status::OK();
  }
  // The serving process died: every disk waits for adoption.
  void ProcessDied() {
    for (const auto& [id, backing] : live_) abandoned_.insert(id);
  }
  const Features& features() const override { return kernel_features; }
  std::vector<ReactorStats> Reactors() const override { return {}; }

  int adds = 0, adoptions = 0;
  std::map<uint32_t, std::string> live_;  // id -> backing, as the kernel has them
  std::set<uint32_t> busy_;               // mounted: Remove() without force refuses
  Features kernel_features;               // update_size() off unless a test sets it

 private:
  uint32_t next_id_ = 0;
  std::set<Dev*> handles_;
  std::set<uint32_t> abandoned_;
};

}  // namespace warmblock::ublk
