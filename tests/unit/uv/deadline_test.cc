// uv::Deadline and uv::TimerQueue over a real loop: a deadline fires once when
// it passes and follows a deadline moved later or earlier; deadlines of
// several lanes fire in deadline order; none fires after disarm(), close() or
// destruction, also when another deadline's callback does it; lanes are
// freed once empty; every test leaves an empty loop behind.
#include <doctest/doctest.h>

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "proxy/uv/deadline.h"

using proxy::uv::Deadline;
using proxy::uv::TimerQueue;

namespace {

struct Fixture {
  uv_loop_t loop{};
  TimerQueue queue;
  uint64_t start = 0;
  bool timed_out = false;
  std::vector<int> order;         // ids of the nodes that fired, in firing order
  std::vector<uint64_t> expected; // their deadlines (ms from start), in the same order

  Fixture() {
    REQUIRE(uv_loop_init(&loop) == 0);
    REQUIRE(queue.open(&loop) == 0);
    uv_update_time(&loop);
    start = uv_now(&loop);
  }
  ~Fixture() {
    queue.close();
    uv_run(&loop, UV_RUN_DEFAULT); // the close callbacks
    CHECK(uv_loop_close(&loop) == 0);
  }
  uint64_t now() const { return uv_now(&loop) - start; }

  // Runs the loop until nothing is pending (the queue's timer stops once no
  // deadline is armed), bounded by a guard timer.
  void run() {
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    guard.data = this;
    uv_timer_start(
        &guard,
        [](uv_timer_t* t) {
          static_cast<Fixture*>(t->data)->timed_out = true;
          uv_stop(t->loop);
        },
        2000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_FALSE(timed_out);
  }
};

// The owner of one Deadline: records when it fired, then runs `action` (which
// may destroy this node: nothing touches it after).
struct Node {
  using Action = void (*)(Node& self);

  Fixture& f;
  int id;
  Deadline deadline;
  uint64_t expect = 0; // deadline of the last arm(), ms from start
  int fired = 0;
  uint64_t fired_at = 0;
  Action action = nullptr;
  std::vector<Node*> peers; // what `action` works on

  Node(Fixture& fixture, int node_id) : f(fixture), id(node_id) {
    deadline.open(f.queue, this, &onFire);
  }
  void arm(uint64_t ms) {
    expect = f.now() + ms;
    deadline.arm(ms);
  }
  static void onFire(void* owner) {
    auto* n = static_cast<Node*>(owner);
    ++n->fired;
    n->fired_at = n->f.now();
    n->f.order.push_back(n->id);
    n->f.expected.push_back(n->expect);
    CHECK(n->fired_at >= n->expect);
    if (n->action != nullptr) n->action(*n);
  }
};

// Runs `step` once, `ms` from now, from a plain libuv timer (to change
// deadlines while the loop runs).
void after(Fixture& f, uint64_t ms, std::function<void()> step) {
  struct Later {
    uv_timer_t timer;
    std::function<void()> step;
  };
  auto* l = new Later{{}, std::move(step)};
  uv_timer_init(&f.loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(
      &l->timer,
      [](uv_timer_t* h) {
        static_cast<Later*>(h->data)->step();
        uv_close(reinterpret_cast<uv_handle_t*>(h),
                 [](uv_handle_t* x) { delete static_cast<Later*>(x->data); });
      },
      ms, 0);
}

bool nonDecreasing(const std::vector<uint64_t>& v) {
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] < v[i - 1]) return false;
  }
  return true;
}

} // namespace

TEST_CASE("a deadline fires once, when it passes") {
  Fixture f;
  Node a(f, 0);
  a.arm(30);
  CHECK(a.deadline.armed());
  CHECK(f.queue.armedForTest() == 1);
  f.run();
  CHECK(a.fired == 1);
  CHECK(a.fired_at >= 30);
  CHECK_FALSE(a.deadline.armed());
  CHECK(f.queue.armedForTest() == 0);
}

TEST_CASE("a deadline moved later fires at the later time, once") {
  Fixture f;
  Node a(f, 0);
  a.arm(20);
  after(f, 10, [&] { a.arm(60); }); // now due at about 70
  f.run();
  CHECK(a.fired == 1);
  CHECK(a.fired_at >= 70);
}

TEST_CASE("a deadline moved earlier fires at the earlier time") {
  Fixture f;
  Node a(f, 0);
  a.arm(1500);
  a.arm(20);
  f.run();
  CHECK(a.fired == 1);
  CHECK(a.fired_at < 1500);
}

TEST_CASE("a deadline earlier than the running timer fires on time") {
  Fixture f;
  Node a(f, 0);
  Node b(f, 1);
  a.arm(1500); // the timer is set for this one
  after(f, 10, [&] { b.arm(20); });
  b.peers = {&a};
  b.action = [](Node& self) { self.peers[0]->deadline.disarm(); };
  f.run();
  CHECK(b.fired == 1);
  CHECK(b.fired_at >= 30);
  CHECK(b.fired_at < 1000);
  CHECK(a.fired == 0);
  CHECK(f.now() < 1000); // nothing kept the loop waiting for the disarmed one
}

TEST_CASE("rearm() restarts the last period from now; disarm() cancels") {
  Fixture f;
  Node a(f, 0);
  a.arm(40);
  after(f, 30, [&] { a.deadline.rearm(); }); // due at about 70
  f.run();
  CHECK(a.fired == 1);
  CHECK(a.fired_at >= 70);

  a.fired = 0;
  a.arm(20);
  a.deadline.disarm();
  CHECK(f.queue.armedForTest() == 0);
  f.run();
  CHECK(a.fired == 0);
}

TEST_CASE("arming again in the same tick with the same period changes nothing") {
  Fixture f;
  Node a(f, 0);
  Node b(f, 1);
  a.arm(10);
  a.arm(10);
  b.arm(10);
  CHECK(f.queue.armedForTest() == 2);
  CHECK(f.queue.lanesForTest() == 1);
  a.arm(20);
  CHECK(f.queue.armedForTest() == 2);
  CHECK(f.queue.lanesForTest() == 2);
  f.run();
  CHECK(a.fired == 1);
  CHECK(b.fired == 1);
  CHECK(f.order == std::vector<int>{1, 0});
}

TEST_CASE("deadlines of several lanes fire in deadline order") {
  Fixture f;
  std::vector<std::unique_ptr<Node>> nodes;
  auto arm = [&](uint64_t ms) {
    nodes.push_back(std::make_unique<Node>(f, static_cast<int>(nodes.size())));
    nodes.back()->arm(ms);
  };
  arm(25);
  arm(5);
  arm(15);
  arm(5);
  after(f, 3, [&] {
    arm(5);
    arm(25);
    arm(15);
    arm(1);
  });
  after(f, 12, [&] {
    arm(5);
    arm(1);
    arm(25);
  });
  f.run();
  REQUIRE(nodes.size() == 11);
  for (const auto& n : nodes)
    CHECK(n->fired == 1);
  CHECK(f.order.size() == 11);
  CHECK(nonDecreasing(f.expected));
  CHECK(f.queue.lanesForTest() == 0);
}

// A closed queue fires nothing; reopened later, it finds every deadline due
// at once, and one pass must pick them across lanes in deadline order (the
// lanes are created in another order: 30, 10, 1, 20).
TEST_CASE("a closed queue fires nothing; reopened, it fires what came due in order") {
  Fixture f;
  Node n0(f, 0), n1(f, 1), n2(f, 2), n3(f, 3), n4(f, 4);
  n0.arm(30);
  n2.arm(10);
  n3.arm(10);
  n4.arm(1);
  f.queue.close();
  n1.arm(20); // recorded while closed
  CHECK(n1.deadline.armed());
  bool reopened = false;
  after(f, 40, [&] {
    CHECK(f.order.empty());
    CHECK(f.queue.open(&f.loop) == 0);
    reopened = true;
  });
  f.run();
  CHECK(reopened);
  CHECK(f.order == std::vector<int>{4, 2, 3, 1, 0});
  CHECK(nonDecreasing(f.expected));
  CHECK(n0.fired_at == n4.fired_at); // one pass
  CHECK(f.queue.lanesForTest() == 0);
}

TEST_CASE("a closed queue lets the loop end with deadlines still armed") {
  Fixture f;
  Node a(f, 0);
  a.arm(10);
  f.queue.close();
  f.run();
  CHECK(a.fired == 0);
  CHECK(a.deadline.armed()); // recorded, never fires
}

TEST_CASE("a callback that closes the queue stops the pass") {
  Fixture f;
  Node a(f, 0), b(f, 1);
  a.arm(10);
  b.arm(10); // due in the same pass, after a
  a.action = [](Node& self) { self.f.queue.close(); };
  f.run();
  CHECK(f.order == std::vector<int>{0});
  CHECK(b.deadline.armed()); // recorded, never fires
}

TEST_CASE("a deadline closed, disarmed or destroyed by another's callback never fires") {
  Fixture f;
  SUBCASE("due in the same pass, same lane") {
    Node a(f, 0), c(f, 2), d(f, 3), e(f, 4);
    auto* b = new Node(f, 1);
    for (Node* n : {&a, b, &c, &d, &e})
      n->arm(10);
    a.peers = {b, &c, &d};
    a.action = [](Node& self) {
      delete self.peers[0];             // b, the next in the lane
      self.peers[1]->deadline.close();  // c
      self.peers[2]->deadline.disarm(); // d
    };
    f.run();
    CHECK(f.order == std::vector<int>{0, 4});
    CHECK_FALSE(c.deadline);
    CHECK(f.queue.armedForTest() == 0);
  }
  SUBCASE("due in the same pass, another lane") {
    Node a(f, 0), b(f, 1);
    a.arm(10);
    b.arm(11);
    a.peers = {&b};
    a.action = [](Node& self) { self.peers[0]->deadline.disarm(); };
    // Closing the queue and reopening it past both deadlines makes them due
    // in one pass.
    f.queue.close();
    after(f, 20, [&] { CHECK(f.queue.open(&f.loop) == 0); });
    f.run();
    CHECK(f.order == std::vector<int>{0});
    CHECK(b.fired == 0);
  }
  SUBCASE("a later deadline of the same lane") {
    Node a(f, 0);
    auto* b = new Node(f, 1);
    a.arm(10);
    after(f, 5, [&] { b->arm(10); }); // same lane, due about 5 ms after a
    a.peers = {b};
    a.action = [](Node& self) { delete self.peers[0]; };
    f.run();
    CHECK(f.order == std::vector<int>{0});
    CHECK(f.queue.armedForTest() == 0);
    CHECK(f.queue.lanesForTest() == 0);
  }
}

TEST_CASE("a callback may destroy its own deadline") {
  Fixture f;
  auto* a = new Node(f, 0);
  Node b(f, 1);
  a->arm(10);
  b.arm(10); // due in the same pass, after a
  a->action = [](Node& self) { delete &self; };
  f.run();
  CHECK(f.order == std::vector<int>{0, 1});
  CHECK(f.queue.armedForTest() == 0);
}

TEST_CASE("a callback may re-arm its own deadline") {
  Fixture f;
  Node a(f, 0);
  a.arm(5);
  a.action = [](Node& self) {
    if (self.fired < 3) self.arm(5);
  };
  f.run();
  CHECK(a.fired == 3);
  CHECK(a.fired_at >= 15);
}

TEST_CASE("a callback may arm a new lane") {
  Fixture f;
  Node a(f, 0), b(f, 1);
  a.arm(10);
  a.peers = {&b};
  a.action = [](Node& self) {
    self.peers[0]->arm(20);
    CHECK(self.f.queue.lanesForTest() == 2); // a's lane is freed after the pass
  };
  f.run();
  CHECK(f.order == std::vector<int>{0, 1});
  CHECK(b.fired_at >= 30);
  CHECK(f.queue.lanesForTest() == 0);
}

TEST_CASE("empty lanes are freed when the timer fires") {
  Fixture f;
  Node a(f, 0), b(f, 1), c(f, 2);
  a.arm(10);
  c.arm(30);
  CHECK(f.queue.lanesForTest() == 2);
  c.deadline.disarm(); // its lane is empty now, freed at the next firing
  CHECK(f.queue.lanesForTest() == 2);
  a.action = [](Node& self) { CHECK(self.f.queue.lanesForTest() == 2); }; // not during a pass
  f.run();
  CHECK(f.order == std::vector<int>{0});
  CHECK(f.queue.lanesForTest() == 0); // a's lane and the one c left

  // Arming again after the lanes were freed: each period gets its own lane
  // again, whatever index it had before (a's was 0, now period 10's).
  a.action = nullptr;
  b.arm(10);
  a.arm(20);
  CHECK(f.queue.lanesForTest() == 2);
  CHECK(f.queue.armedForTest() == 2);
  f.run();
  CHECK(f.order == std::vector<int>{0, 1, 0});
  CHECK(f.queue.lanesForTest() == 0);
}

TEST_CASE("a deadline may outlive its queue") {
  uv_loop_t loop{};
  REQUIRE(uv_loop_init(&loop) == 0);
  Deadline d;
  int fired = 0;
  {
    TimerQueue queue;
    REQUIRE(queue.open(&loop) == 0);
    d.open(queue, &fired, [](void* owner) { ++*static_cast<int*>(owner); });
    d.arm(10);
    CHECK(d);
    queue.close();
  } // detaches d
  CHECK_FALSE(d);
  CHECK_FALSE(d.armed());
  d.arm(10); // closed: does nothing
  CHECK_FALSE(d.armed());
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(fired == 0);
  CHECK(uv_loop_close(&loop) == 0);
}
