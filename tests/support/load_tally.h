// LoadTally: the outcome of the requests that load threads make while a test
// reloads or upgrades the proxy: counts successes and failures, keeps the
// first failures for the report, and lets the test thread wait for progress
// (an event with a deadline, no sleep). Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include "tests/support/sockets.h"

namespace swytest {

class LoadTally {
public:
  void ok();
  void failed(const std::string& what);
  int oks() const;
  int failures() const;
  // The first failures, one per line (about 2000 bytes at most).
  std::string failureText() const;
  // Waits until `n` requests succeeded or one failed; true if `n` succeeded.
  bool waitOk(int n, milliseconds timeout) const;

private:
  mutable std::mutex mu_;
  mutable std::condition_variable progress_;
  int ok_ = 0;
  int failed_ = 0;
  std::string failures_;
};

} // namespace swytest
