// IntrusiveList: items link themselves in, in order; removal from the head,
// middle and tail keeps the rest linked; items() is a copy a walk may outlive.
#include <doctest/doctest.h>

#include <vector>

#include "proxy/core/intrusive_list.h"

namespace {

struct Item : proxy::ListNode<Item> {
  explicit Item(int v) : value(v) {}
  int value;
};

std::vector<int> values(const proxy::IntrusiveList<Item>& list) {
  std::vector<int> out;
  for (Item* i : list.items())
    out.push_back(i->value);
  return out;
}

} // namespace

TEST_CASE("items stay in insertion order and leave from anywhere") {
  proxy::IntrusiveList<Item> list;
  Item a(1), b(2), c(3), d(4);
  CHECK(list.empty());
  for (Item* i : {&a, &b, &c, &d})
    list.pushBack(i);
  CHECK(list.size() == 4);
  CHECK(values(list) == std::vector<int>{1, 2, 3, 4});
  list.remove(&b); // middle
  CHECK(values(list) == std::vector<int>{1, 3, 4});
  list.remove(&a); // head
  CHECK(values(list) == std::vector<int>{3, 4});
  list.remove(&d); // tail
  CHECK(values(list) == std::vector<int>{3});
  list.pushBack(&b); // a removed item can come back
  CHECK(values(list) == std::vector<int>{3, 2});
  list.remove(&c);
  list.remove(&b);
  CHECK(list.empty());
  CHECK(list.items().empty());
  list.pushBack(&d); // an emptied list links again from scratch
  CHECK(values(list) == std::vector<int>{4});
}

TEST_CASE("a walk over items() may remove any item, the current one included") {
  // As the worker walks its sessions: a step may close others; a closed one
  // is still visited (it is alive until reaped) and knows it left.
  proxy::IntrusiveList<Item> list;
  std::vector<Item> items{Item(1), Item(2), Item(3), Item(4), Item(5)};
  std::vector<bool> listed(items.size(), true);
  for (Item& i : items)
    list.pushBack(&i);
  auto leave = [&](Item& i) {
    if (!listed[static_cast<size_t>(i.value - 1)]) return;
    listed[static_cast<size_t>(i.value - 1)] = false;
    list.remove(&i);
  };
  std::vector<int> seen;
  for (Item* i : list.items()) {
    seen.push_back(i->value);
    if (i->value == 2) leave(items[4]); // another one, further on
    if (i->value == 2) CHECK(values(list) == std::vector<int>{2, 3, 4});
    leave(*i);
  }
  CHECK(seen == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(list.empty());
}
