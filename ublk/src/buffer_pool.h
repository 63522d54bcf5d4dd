// A reactor's I/O buffers for the copying modes: page-aligned, by size,
// reused (a few idle ones kept per size, a burst's surplus freed so that
// idle memory does not stay at the peak), with a cap on the bytes in use at
// once that requests wait under rather than fail.
//
// Not thread-safe: its reactor owns it. in_use_bytes() may be read from any
// thread (the reactor's statistics).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace warmblock::ublk {

class BufferPool {
 public:
  static constexpr size_t kIdleKept = 16;  // per size
  explicit BufferPool(uint64_t cap_bytes, size_t idle_kept = kIdleKept);
  // Frees the idle buffers. Every buffer Get returned must be back.
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of `size` bytes, aligned to 4096; null if memory ran out.
  char* Get(uint32_t size);
  // Takes back a buffer of `size` from Get.
  void Put(char* buf, uint32_t size);
  // Whether a request needing `size` more must wait for buffers to come
  // back: the cap would be passed. One request always proceeds, whatever
  // the cap, so that a cap below one request's size cannot stall a disk.
  bool OverCap(uint32_t size) const;

  uint64_t in_use_bytes() const { return in_use_.load(std::memory_order_relaxed); }
  size_t idle_count() const;

 private:
  const uint64_t cap_;
  const size_t idle_kept_;
  std::map<uint32_t, std::vector<char*>> idle_;  // by size
  std::atomic<uint64_t> in_use_{0};
};

}  // namespace warmblock::ublk
