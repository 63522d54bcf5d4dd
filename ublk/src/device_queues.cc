#include "device_queues.h"

#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

namespace warmblock::ublk {

Status DeviceQueues::Attach(uint32_t dev_id, int char_fd, int backing_fd, bool backing_is_block, uint32_t max_io_bytes,
                            BackendKind backend) {
  dev_id_ = dev_id;
  const std::string what = "ublk device " + std::to_string(dev_id);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t len = (depth_ * sizeof(abi::IoDesc) + page - 1) / page * page;
  std::vector<std::future<Status>> fetched;
  Status result;
  for (uint16_t qi = 0; qi < reactor_of_.size(); ++qi) {
    auto q = std::make_unique<Queue>();
    q->q_id = qi;
    q->char_fd = char_fd;
    q->backing_fd = backing_fd;
    q->backing_is_block = backing_is_block;
    q->max_io_bytes = max_io_bytes;
    q->backend = backend;
    q->mode = mode_;
    auto mapped = host_.files().MapDescriptors(char_fd, qi, len);
    if (!mapped.ok()) {
      result = mapped.status().Annotate(what);
      break;
    }
    q->descs_map = std::move(mapped).value();
    q->descs = static_cast<const abi::IoDesc*>(q->descs_map.get());
    q->tags.resize(depth_);
    for (uint16_t t = 0; t < depth_; ++t) {
      q->tags[t].queue = q.get();
      q->tags[t].tag = t;
    }
    fetched.push_back(host_.AddQueue(reactor_of_[qi], q.get()));
    queues_.push_back(std::move(q));
  }
  for (auto& f : fetched) {
    Status s = f.get();
    if (result.ok() && !s.ok()) result = s.Annotate(what);
  }
  return result;
}

Status DeviceQueues::Release() {
  Status result;
  if (!queues_.empty()) {
    const std::string what = "remove ublk device " + std::to_string(dev_id_);
    Status s = host_.control().StopDev(dev_id_);
    if (!s.ok()) result = s.Annotate(what);
    for (size_t i = 0; i < queues_.size(); ++i) {
      auto fut = queues_[i]->drained.get_future();
      if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        for (size_t j = i; j < queues_.size(); ++j) (void)queues_[j].release();
        queues_.resize(i);
        reactor_of_.clear();
        result = Status::Error(Status::Code::kTimeout, what + ": queue " + std::to_string(i) + " did not drain");
        break;
      }
    }
  }
  for (unsigned r : reactor_of_) host_.Unplace(r, depth_, mode_ == CopyMode::kZeroCopy);
  reactor_of_.clear();
  queues_.clear();
  return result;
}

DeviceStats DeviceQueues::stats() const {
  DeviceStats s;
  for (const auto& q : queues_) {
    s.reads += q->reads.load(std::memory_order_relaxed);
    s.writes += q->writes.load(std::memory_order_relaxed);
    s.flushes += q->flushes.load(std::memory_order_relaxed);
    s.discards += q->discards.load(std::memory_order_relaxed);
    s.read_bytes += q->read_bytes.load(std::memory_order_relaxed);
    s.write_bytes += q->write_bytes.load(std::memory_order_relaxed);
    s.errors += q->errors.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace warmblock::ublk
