// A mutex the compiler can check: clang's -Wthread-safety proves that
// members marked GUARDED_BY are touched only with their mutex held (the
// standard library's std::mutex carries no such annotations). Elsewhere
// the annotations compile to nothing.
#pragma once

#include <chrono>
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

namespace warmblock {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Releases the mutex until `cv` is notified (or wakes spuriously), then
  // takes it again.
  void Await(std::condition_variable_any& cv) REQUIRES(this) { cv.wait(mu_); }
  // The same for at most `d`; false if it timed out. Callers loop on their
  // condition: a predicate lambda would touch guarded members where the
  // analysis cannot see the lock.
  template <typename Rep, typename Period>
  bool AwaitFor(std::condition_variable_any& cv, std::chrono::duration<Rep, Period> d) REQUIRES(this) {
    return cv.wait_for(mu_, d) == std::cv_status::no_timeout;
  }
  template <typename Clock, typename Duration>
  bool AwaitUntil(std::condition_variable_any& cv, std::chrono::time_point<Clock, Duration> t) REQUIRES(this) {
    return cv.wait_until(mu_, t) == std::cv_status::no_timeout;
  }

 private:
  std::mutex mu_;
};

// Holds `mu` for its scope, except between an Unlock and the next Lock
// (work done without the lock, such as kernel calls).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.Unlock();
  }
  void Unlock() RELEASE() {
    mu_.Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_.Lock();
    held_ = true;
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace warmblock
