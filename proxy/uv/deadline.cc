#include "proxy/uv/deadline.h"

#include <algorithm>
#include <limits>

namespace proxy::uv {

namespace {

using detail::Link;

bool empty(const Link& sentinel) noexcept { return sentinel.next == &sentinel; }

void append(Link& sentinel, Link* node) noexcept {
  node->prev = sentinel.prev;
  node->next = &sentinel;
  sentinel.prev->next = node;
  sentinel.prev = node;
}

// Moves the nodes first..last (a run of `from`, in order) to the tail of `to`.
void spliceTail(Link* first, Link* last, Link& to) noexcept {
  first->prev->next = last->next;
  last->next->prev = first->prev;
  first->prev = to.prev;
  last->next = &to;
  to.prev->next = first;
  to.prev = last;
}

} // namespace

// ---- Deadline ----

void Deadline::open(TimerQueue& queue, void* owner, Callback cb) noexcept {
  unlink();
  queue_ = &queue;
  owner_ = owner;
  cb_ = cb;
}

void Deadline::arm(uint64_t ms) noexcept {
  if (queue_ == nullptr || queue_->loop_ == nullptr) return;
  const uint32_t period =
      static_cast<uint32_t>(std::min<uint64_t>(ms, std::numeric_limits<uint32_t>::max()));
  uint64_t deadline = uv_now(queue_->loop_) + period;
  if (deadline == 0) deadline = 1; // 0 means disarmed
  // Re-armed in the same loop tick (a request and its reads): already in place.
  if (deadline == deadline_ && period == period_) return;
  TimerQueue::Lane& lane = queue_->laneFor(*this, period);
  unlink();
  append(lane.armed, this);
  deadline_ = deadline;
  period_ = period;
  queue_->schedule(deadline);
}

// ---- TimerQueue ----

TimerQueue::Lane::Lane(uint32_t ms) noexcept : period(ms) {
  armed.prev = armed.next = &armed;
  pending.prev = pending.next = &pending;
}

TimerQueue::~TimerQueue() {
  for (auto& lane : lanes_) {
    for (Link* list : {&lane->pending, &lane->armed}) {
      while (!empty(*list)) {
        auto* d = static_cast<Deadline*>(list->next);
        d->unlink();
        d->queue_ = nullptr;
      }
    }
  }
}

int TimerQueue::open(uv_loop_t* loop) noexcept {
  loop_ = loop;
  due_ = 0;
  int rc = timer_.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop, h); });
  if (rc == 0 && !firing_) restart(); // a reopened queue may hold armed deadlines
  return rc;
}

void TimerQueue::close() noexcept {
  timer_.close();
  due_ = 0;
}

size_t TimerQueue::armedForTest() const noexcept {
  size_t n = 0;
  for (const auto& lane : lanes_) {
    for (const Link* list : {&lane->pending, &lane->armed}) {
      for (const Link* l = list->next; l != list; l = l->next)
        ++n;
    }
  }
  return n;
}

TimerQueue::Lane& TimerQueue::laneFor(Deadline& d, uint32_t ms) {
  // The hint is the lane's index when `d` was last armed; lanes are compacted
  // when freed, so it is trusted only if that slot still holds period `ms`.
  if (d.lane_ < lanes_.size() && lanes_[d.lane_]->period == ms) return *lanes_[d.lane_];
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (lanes_[i]->period == ms) {
      d.lane_ = static_cast<uint32_t>(i);
      return *lanes_[i];
    }
  }
  // A new period: the one allocation, once per distinct timeout value.
  lanes_.push_back(std::make_unique<Lane>(ms));
  d.lane_ = static_cast<uint32_t>(lanes_.size() - 1);
  return *lanes_.back();
}

// Restarts the timer only when `deadline` is earlier than what it is set for:
// a deadline moved later is found still armed when the timer fires, which
// then sets itself for the new earliest.
void TimerQueue::schedule(uint64_t deadline) noexcept {
  if (firing_ || !timer_) return; // fire() sets the timer when it is done
  if (due_ != 0 && due_ <= deadline) return;
  due_ = deadline;
  uv_timer_start(timer_.get(), &onTimer, deadline - uv_now(loop_), 0);
}

void TimerQueue::onTimer(uv_timer_t* t) {
  auto* self = static_cast<TimerQueue*>(t->data);
  if (self == nullptr) return; // closed
  self->fire();
}

// Two steps, so a pass fires exactly the deadlines that were due when it
// started: first every lane's due prefix moves to its pending list, then the
// pending heads fire in deadline order. A callback that re-arms a deadline
// (even for 0 ms) moves it back to an armed list, to fire in a later pass;
// one that disarms or destroys a pending deadline unlinks it, so it never
// fires. Lanes are not freed during the pass, so a Lane stays put while a
// callback runs (the vector may grow: a callback may arm a new period).
void TimerQueue::fire() noexcept {
  due_ = 0;
  const uint64_t now = uv_now(loop_);
  for (auto& lane : lanes_) {
    Link* last = &lane->armed;
    for (Link* l = lane->armed.next;
         l != &lane->armed && static_cast<Deadline*>(l)->deadline_ <= now; l = l->next)
      last = l;
    if (last != &lane->armed) spliceTail(lane->armed.next, last, lane->pending);
  }
  firing_ = true;
  while (Deadline* d = nextDue()) {
    d->unlink(); // disarmed before the call: it may re-arm, or destroy its owner
    d->cb_(d->owner_);
    if (!timer_) break; // a callback closed the queue: nothing fires any more
  }
  firing_ = false;
  if (!timer_) return;
  freeEmptyLanes();
  restart();
}

// The earliest pending deadline over all lanes: O(lanes) per fired deadline,
// and lanes are few.
Deadline* TimerQueue::nextDue() noexcept {
  Deadline* best = nullptr;
  for (auto& lane : lanes_) {
    if (empty(lane->pending)) continue;
    auto* d = static_cast<Deadline*>(lane->pending.next);
    if (best == nullptr || d->deadline_ < best->deadline_) best = d;
  }
  return best;
}

void TimerQueue::freeEmptyLanes() noexcept {
  std::erase_if(lanes_, [](const std::unique_ptr<Lane>& lane) {
    return empty(lane->armed) && empty(lane->pending);
  });
}

// Sets the timer for the earliest armed deadline, if any (a queue closed in
// the middle of a pass may have pending ones left: those are earlier still).
void TimerQueue::restart() noexcept {
  uint64_t earliest = 0;
  for (auto& lane : lanes_) {
    for (Link* list : {&lane->pending, &lane->armed}) {
      if (empty(*list)) continue;
      uint64_t d = static_cast<Deadline*>(list->next)->deadline_;
      if (earliest == 0 || d < earliest) earliest = d;
    }
  }
  if (earliest == 0 || !timer_) return; // nothing armed: the timer stays stopped
  const uint64_t now = uv_now(loop_);
  due_ = earliest;
  uv_timer_start(timer_.get(), &onTimer, earliest > now ? earliest - now : 0, 0);
}

} // namespace proxy::uv
