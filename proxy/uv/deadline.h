// Connection timeouts without a libuv timer per connection: one TimerQueue per
// loop owns a single uv timer (through uv::Timer) and drives any number of
// Deadlines, each an intrusive node (no allocation) embedded in the object it
// calls back. A connection's timeout then costs sizeof(Deadline) instead of a
// heap uv_timer_t plus bookkeeping.
//
// Lanes: one per distinct period (ms) in use, each an intrusive FIFO. Every
// deadline in a lane is `arm time + period`, and the loop clock only moves
// forward, so deadlines within a lane are non-decreasing: its head is its
// earliest, an arm() is an O(1) append, and the uv timer is due at the
// earliest lane head. Lanes are few (one per configured timeout value), so
// finding one is a short linear search; empty lanes are freed when the timer
// fires, so a reload that changes timeout values leaves none behind.
//
// Times are the loop's cached clock (uv_now), as libuv's own timers use.
// Everything here belongs to the loop's thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/uv/handles.h"

namespace proxy::uv {

class TimerQueue;

namespace detail {
// A link of a circular doubly-linked list; a lane's sentinels are bare Links,
// every other Link is a Deadline. Unlinked: both null.
struct Link {
  Link* prev = nullptr;
  Link* next = nullptr;
};
} // namespace detail

// Deadline: a connection's timeout, re-armed far more often than it fires
// (every request and every read moves it). arm() in the same loop tick with
// the same period is free; otherwise it moves this node to the tail of its
// period's lane, and restarts the queue's uv timer only when the new deadline
// is earlier than the time it is set for.
//
// The callback runs once per arm() whose deadline passes, never after
// disarm(), close() or destruction. It may destroy the owner, and this
// Deadline with it (nothing here touches it after the call), and may arm,
// disarm or destroy any other Deadline of the same queue; it must not destroy
// the queue. A Deadline does not own its queue: the queue must outlive every
// arm() (a Deadline merely destroyed after its queue is safe, see
// ~TimerQueue). Not movable: the queue's lists point at this object.
class Deadline : private detail::Link {
public:
  using Callback = void (*)(void* owner);

  Deadline() = default;
  ~Deadline() { unlink(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Attaches to `queue` (disarmed); `cb(owner)` is what a passed deadline calls.
  void open(TimerQueue& queue, void* owner, Callback cb) noexcept;
  // Fire `ms` from now (at most ~49 days; longer is clamped). Does nothing
  // before open() or after close(), or before the queue's first open().
  void arm(uint64_t ms) noexcept;
  void rearm() noexcept { arm(period_); } // the last arm()'s `ms` again, from now
  void disarm() noexcept { unlink(); }
  bool armed() const noexcept { return deadline_ != 0; }
  // Disarms and detaches from the queue for good (until the next open()).
  void close() noexcept {
    unlink();
    queue_ = nullptr;
  }
  explicit operator bool() const noexcept { return queue_ != nullptr; }

private:
  friend class TimerQueue;

  // Disarms: out of whichever list holds it (a lane's armed or pending one).
  void unlink() noexcept {
    deadline_ = 0;
    if (next == nullptr) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }

  uint64_t deadline_ = 0; // loop time in ms; 0: disarmed (and then unlinked)
  uint32_t period_ = 0;   // the last arm()'s ms
  uint32_t lane_ = 0;     // index of the lane for period_ when last armed: a hint only
  void* owner_ = nullptr;
  Callback cb_ = nullptr;
  TimerQueue* queue_ = nullptr;
};

// Part of every connection's idle cost: two links, the deadline, period and
// lane hint, the callback and its argument, the queue.
static_assert(sizeof(Deadline) <= 56);

// The connection timeouts of one loop behind one uv timer. Owned by the
// loop's owner (the Worker), loop thread only. close() it before the last
// loop run, like any handle owner, so the loop can end empty.
class TimerQueue {
public:
  TimerQueue() = default;
  // Detaches the Deadlines still armed (they become closed and never fire);
  // one merely attached must not be armed after this.
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Inits the uv timer on `loop`; returns the libuv error. Deadlines may be
  // attached before; an arm() before the first open() does nothing.
  int open(uv_loop_t* loop) noexcept;
  // Closes the uv timer so the loop can end: from then on arm() records the
  // deadline but nothing fires. Idempotent.
  void close() noexcept;
  uv_loop_t* loop() const noexcept { return loop_; }

  size_t armedForTest() const noexcept; // deadlines armed, across all lanes
  size_t lanesForTest() const noexcept { return lanes_.size(); }

private:
  friend class Deadline;

  // One period's deadlines in arm order (so in deadline order). `pending`
  // holds, while the timer callback runs, the ones that were due when it
  // started and have not fired yet (and keeps them if a callback closes the
  // queue, until it is reopened).
  struct Lane {
    explicit Lane(uint32_t ms) noexcept;
    detail::Link armed;
    detail::Link pending;
    uint32_t period;
  };

  Lane& laneFor(Deadline& d, uint32_t ms);
  void schedule(uint64_t deadline) noexcept;
  static void onTimer(uv_timer_t* t);
  void fire() noexcept;
  Deadline* nextDue() noexcept;
  void freeEmptyLanes() noexcept;
  void restart() noexcept;

  uv_loop_t* loop_ = nullptr;
  Timer timer_;      // its data points at this object
  uint64_t due_ = 0; // when timer_ fires; 0: not running
  bool firing_ = false;
  std::vector<std::unique_ptr<Lane>> lanes_; // unique_ptr: lanes' sentinels must not move
};

} // namespace proxy::uv
