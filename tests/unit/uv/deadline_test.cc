// uv::Deadline over a real loop: fires once when its deadline passes, follows
// a deadline moved later or earlier, never fires after disarm() or close(),
// and leaves an empty loop behind.
#include <doctest/doctest.h>

#include <uv.h>

#include <cstdint>

#include "proxy/uv/deadline.h"

using proxy::uv::Deadline;

namespace {

struct Probe {
  uv_loop_t loop{};
  Deadline deadline;
  int fired = 0;
  uint64_t fired_at = 0;
  uint64_t start = 0;

  Probe() {
    REQUIRE(uv_loop_init(&loop) == 0);
    REQUIRE(deadline.open(&loop, this, &onFire) == 0);
    uv_update_time(&loop);
    start = uv_now(&loop);
  }
  ~Probe() {
    deadline.close();
    uv_run(&loop, UV_RUN_DEFAULT); // the close callback
    CHECK(uv_loop_close(&loop) == 0);
  }
  static void onFire(void* owner) {
    auto* p = static_cast<Probe*>(owner);
    ++p->fired;
    p->fired_at = uv_now(&p->loop) - p->start;
  }
  // Runs the loop until nothing is pending (a fired or disarmed deadline's
  // timer stops by itself), bounded by a guard timer.
  void run() {
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    uv_timer_start(
        &guard, [](uv_timer_t* t) { uv_stop(t->loop); }, 2000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
};

// A timer that fires after `ms` and runs `step(probe)` (to move the
// deadline while the loop runs).
using Step = void (*)(Probe&);
struct Later {
  uv_timer_t timer;
  Probe* probe;
  Step step;
};

void after(Probe& p, uint64_t ms, Step step) {
  auto* l = new Later{{}, &p, step};
  uv_timer_init(&p.loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(
      &l->timer,
      [](uv_timer_t* h) {
        auto* later = static_cast<Later*>(h->data);
        later->step(*later->probe);
        uv_close(reinterpret_cast<uv_handle_t*>(h),
                 [](uv_handle_t* x) { delete static_cast<Later*>(x->data); });
      },
      ms, 0);
}

} // namespace

TEST_CASE("a deadline fires once, when it passes") {
  Probe p;
  p.deadline.arm(30);
  CHECK(p.deadline.armed());
  p.run();
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 30);
  CHECK_FALSE(p.deadline.armed());
}

TEST_CASE("a deadline moved later fires at the later time, once") {
  Probe p;
  p.deadline.arm(20);
  after(p, 10, [](Probe& q) { q.deadline.arm(60); }); // now due at about 70
  p.run();
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 70);
}

TEST_CASE("a deadline moved earlier fires at the earlier time") {
  Probe p;
  p.deadline.arm(1500);
  p.deadline.arm(20);
  p.run();
  CHECK(p.fired == 1);
  CHECK(p.fired_at < 1500);
}

TEST_CASE("rearm() restarts the last period from now; disarm() cancels") {
  Probe p;
  p.deadline.arm(40);
  after(p, 30, [](Probe& q) { q.deadline.rearm(); }); // due at about 70
  p.run();
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 70);

  p.fired = 0;
  p.deadline.arm(20);
  p.deadline.disarm();
  p.run();
  CHECK(p.fired == 0);
}
