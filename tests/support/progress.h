// Progress: a byte counter one thread advances (a fake upstream writing a
// body) and another waits on with a deadline (the test, holding its client
// back until the writer is stuck or done).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace swytest {

class Progress {
public:
  void set(uint64_t v) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = v;
    cv_.notify_all();
  }
  uint64_t get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }
  bool waitAtLeast(uint64_t v, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return value_ >= v; });
  }

private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t value_ = 0;
};

} // namespace swytest
