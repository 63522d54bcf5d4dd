#include "disks.h"

namespace warmblock::provisioner {

Disks::~Disks() {
  // Dropping a Device would remove it: hand them to the kernel as they are.
  for (auto& [row, disk] : by_row_) (void)disk.release();
}

bool Disks::Has(int64_t row) const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_row_.count(row) != 0;
}

ublk::Device* Disks::Find(int64_t row) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_row_.find(row);
  return it == by_row_.end() ? nullptr : it->second.get();
}

void Disks::Put(int64_t row, std::unique_ptr<ublk::Device> disk) {
  std::lock_guard<std::mutex> lock(mu_);
  by_row_[row] = std::move(disk);
}

Status Disks::Stop(int64_t row, bool force) {
  ublk::Device* disk = Find(row);
  if (disk == nullptr) return Status::OK();
  // Outside the lock: a stop waits for the kernel, and other rows' disks
  // are handed out and stopped meanwhile.
  Status s = disk->Remove(force);
  if (!s.ok() && !force) return s;
  std::lock_guard<std::mutex> lock(mu_);
  by_row_.erase(row);
  return Status::OK();
}

Status Disks::StopAll() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!by_row_.empty()) {
    auto it = by_row_.begin();
    WB_RETURN_IF_ERROR(it->second->Remove(/*force=*/false).Annotate("shut down"));
    by_row_.erase(it);
  }
  return Status::OK();
}

}  // namespace warmblock::provisioner
