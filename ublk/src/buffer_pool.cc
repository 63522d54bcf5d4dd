#include "buffer_pool.h"

#include <cstdlib>

namespace warmblock::ublk {

BufferPool::BufferPool(uint64_t cap_bytes, size_t idle_kept) : cap_(cap_bytes), idle_kept_(idle_kept) {}

BufferPool::~BufferPool() {
  for (auto& [size, bufs] : idle_)
    for (char* b : bufs) std::free(b);
}

char* BufferPool::Get(uint32_t size) {
  auto& list = idle_[size];
  char* b = nullptr;
  if (!list.empty()) {
    b = list.back();
    list.pop_back();
  } else if (void* p = nullptr; ::posix_memalign(&p, 4096, size) == 0) {
    b = static_cast<char*>(p);
  }
  if (b != nullptr) in_use_.fetch_add(size, std::memory_order_relaxed);
  return b;
}

void BufferPool::Put(char* buf, uint32_t size) {
  in_use_.fetch_sub(size, std::memory_order_relaxed);
  auto& list = idle_[size];
  if (list.size() < idle_kept_) {
    list.push_back(buf);
  } else {
    std::free(buf);
  }
}

bool BufferPool::OverCap(uint32_t size) const {
  uint64_t used = in_use_bytes();
  return used > 0 && used + size > cap_;
}

size_t BufferPool::idle_count() const {
  size_t n = 0;
  for (const auto& [size, bufs] : idle_) n += bufs.size();
  return n;
}

}  // namespace warmblock::ublk
