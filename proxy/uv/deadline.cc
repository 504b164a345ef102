#include "proxy/uv/deadline.h"

namespace proxy::uv {

int Deadline::open(uv_loop_t* loop, void* owner, Callback cb) {
  loop_ = loop;
  owner_ = owner;
  cb_ = cb;
  deadline_ = due_ = 0;
  return timer_.open(this, [&](uv_timer_t* h) { return uv_timer_init(loop, h); });
}

void Deadline::arm(uint64_t ms) noexcept {
  period_ = ms;
  deadline_ = uv_now(loop_) + ms;
  if (deadline_ == 0) deadline_ = 1; // 0 means disarmed
  if (!timer_ || (due_ != 0 && due_ <= deadline_)) return; // fires in time, re-checks then
  due_ = deadline_;
  uv_timer_start(timer_.get(), &onFire, ms, 0);
}

void Deadline::onFire(uv_timer_t* t) {
  auto* self = static_cast<Deadline*>(t->data);
  if (self == nullptr) return; // closed
  self->due_ = 0;
  if (self->deadline_ == 0) return; // disarmed since
  uint64_t now = uv_now(self->loop_);
  if (now < self->deadline_) { // moved later since: sleep for the rest
    self->due_ = self->deadline_;
    uv_timer_start(t, &onFire, self->deadline_ - now, 0);
    return;
  }
  self->deadline_ = 0;
  self->cb_(self->owner_); // may destroy the owner, and this object with it
}

} // namespace proxy::uv
