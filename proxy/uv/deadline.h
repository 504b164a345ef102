// uv::Deadline: a connection's timeout over a uv::Timer it owns.
#pragma once

#include <uv.h>

#include <cstdint>

#include "proxy/uv/handles.h"

namespace proxy::uv {

// Deadline: a connection's timeout, re-armed far more often than it fires
// (every request and every read moves it). arm() only records the new
// deadline; the libuv timer is restarted only when the deadline moves earlier
// than the time it is set for, and a timer that fires before the deadline
// (which moved later meanwhile) sets itself for the rest. A keep-alive request
// then costs no timer-heap update at all instead of six. Times are the loop's
// cached clock (uv_now), as libuv's own timers use.
// The callback runs once per arm() whose deadline passes, never after
// disarm() or close(); it may destroy the owner (this object is not touched
// after it returns).
class Deadline {
public:
  using Callback = void (*)(void* owner);

  Deadline() = default;
  Deadline(const Deadline&) = delete; // the libuv timer points at this object
  Deadline& operator=(const Deadline&) = delete;

  int open(uv_loop_t* loop, void* owner, Callback cb);
  void arm(uint64_t ms) noexcept; // fire `ms` from now
  void rearm() noexcept { arm(period_); } // the last arm()'s `ms` again, from now
  void disarm() noexcept { deadline_ = 0; }
  bool armed() const noexcept { return deadline_ != 0; }
  void close() noexcept { timer_.close(); }
  explicit operator bool() const noexcept { return static_cast<bool>(timer_); }

private:
  static void onFire(uv_timer_t* t);

  Timer timer_; // its data points at this object
  uv_loop_t* loop_ = nullptr;
  void* owner_ = nullptr;
  Callback cb_ = nullptr;
  uint64_t deadline_ = 0; // loop time in ms; 0: disarmed
  uint64_t due_ = 0;      // when the libuv timer fires; 0: not running
  uint64_t period_ = 0;
};

} // namespace proxy::uv
