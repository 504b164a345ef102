#include "tests/support/load_tally.h"

namespace swytest {

void LoadTally::ok() {
  std::lock_guard<std::mutex> lock(mu_);
  ++ok_;
  progress_.notify_all();
}

void LoadTally::failed(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  ++failed_;
  if (failures_.size() < 2000) failures_ += what + "\n";
  progress_.notify_all();
}

int LoadTally::oks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ok_;
}

int LoadTally::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

std::string LoadTally::failureText() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

bool LoadTally::waitOk(int n, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  progress_.wait_for(lock, timeout, [&] { return ok_ >= n || failed_ > 0; });
  return ok_ >= n;
}

} // namespace swytest
