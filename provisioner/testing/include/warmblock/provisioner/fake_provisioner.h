// A Provisioner in memory for tests of what sits in front of one (the API,
// its fuzz target): volumes in a map, no pool, no kernel. Not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "warmblock/base/text.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {

class FakeProvisioner final : public Provisioner {
 public:
  // At most `capacity` volumes; another create is kNoSpace.
  explicit FakeProvisioner(size_t capacity = 2) : capacity_(capacity) {
    report.data_total_bytes = 1ull << 30;
    report.classes.push_back(ClassReport{"small", "ext4", 1ull << 30, 3, 4, 7, 1});
    report.data_limit_bytes = 2ull << 30;
    report.grow_events = 2;
    report.full = true;
    report.full_reason = "the pool is full at its limit";
  }

  // The name rule, then: an existing name with the same spec is kExisting,
  // with another one kAlreadyExists; a new volume is kWarm from a class,
  // kCold for a size.
  Result<Volume> Create(const CreateRequest& r) override {
    ++creates;
    last = r;
    WB_RETURN_IF_ERROR(ValidateVolumeName(r.name));
    if (auto it = volumes_.find(r.name); it != volumes_.end()) {
      const Volume& v = it->second;
      if (v.class_name != r.class_name || (r.class_name.empty() && (v.fs != r.fs || v.size_bytes != r.size_bytes)))
        return Status::AlreadyExists("name: " + Quoted(r.name) + " exists with another spec");
      Volume existing = v;
      existing.source = Source::kExisting;
      return existing;
    }
    if (volumes_.size() >= capacity_) return Status::Error(Status::Code::kNoSpace, "pool full");
    Volume v;
    v.name = r.name;
    v.class_name = r.class_name;
    v.fs = r.fs;
    v.size_bytes = r.size_bytes != 0 ? r.size_bytes : 1ull << 30;
    v.device = "/dev/ublkb" + std::to_string(volumes_.size());
    v.labels = r.labels;
    v.ephemeral = r.ephemeral;
    v.owner_pid = r.owner_pid;
    v.state = VolumeState::kReady;
    v.source = r.class_name.empty() ? Source::kCold : Source::kWarm;
    volumes_[r.name] = v;
    return v;
  }
  Result<Volume> Get(const std::string& name) override {
    auto it = volumes_.find(name);
    if (it == volumes_.end()) return Status::NotFound("no volume named " + Quoted(name));
    return it->second;
  }
  Result<std::vector<Volume>> List(const std::map<std::string, std::string>& labels) override {
    std::vector<Volume> out;
    for (const auto& [name, v] : volumes_) {
      bool match = true;
      for (const auto& [k, val] : labels) match = match && v.labels.count(k) != 0 && v.labels.at(k) == val;
      if (match) out.push_back(v);
    }
    return out;
  }
  // Names in `busy`, and names starting with "busy", are mounted: kBusy.
  Status Delete(const std::string& name) override {
    if (volumes_.count(name) != 0 && (busy.count(name) != 0 || name.rfind("busy", 0) == 0))
      return Status::Error(Status::Code::kBusy, "mounted");
    return volumes_.erase(name) != 0 ? Status::OK() : Status::NotFound("no volume named " + Quoted(name));
  }
  // `report`, with the volumes and their sizes filled in.
  Result<PoolReport> Report() override {
    PoolReport r = report;
    for (const auto& [name, v] : volumes_) r.provisioned_bytes += v.size_bytes;
    r.volumes = static_cast<unsigned>(volumes_.size());
    return r;
  }
  std::vector<std::string> Repairs() const override { return {"deleted orphan thin x"}; }
  bool WaitWarm(int) override { return true; }
  Status Shutdown() override { return Status::OK(); }

  PoolReport report;           // what Report answers, but for volumes and provisioned_bytes
  std::set<std::string> busy;  // volumes whose deletion is refused
  size_t creates = 0;          // Create calls so far
  CreateRequest last;          // the last one's request

 private:
  size_t capacity_;
  std::map<std::string, Volume> volumes_;
};

}  // namespace warmblock::provisioner
