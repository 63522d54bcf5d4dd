// A mutex the compiler can check: clang's -Wthread-safety proves that
// members marked GUARDED_BY are touched only with their mutex held (the
// standard library's std::mutex carries no such annotations). Elsewhere
// the annotations compile to nothing.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define WB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WB_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) WB_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY WB_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) WB_THREAD_ANNOTATION(guarded_by(x))
#define REQUIRES(...) WB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) WB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) WB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) WB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

namespace warmblock::ublk {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Releases the mutex until `cv` is notified (or wakes spuriously), then
  // takes it again.
  void Await(std::condition_variable_any& cv) REQUIRES(this) { cv.wait(mu_); }

 private:
  std::mutex mu_;
};

// Holds `mu` for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace warmblock::ublk
