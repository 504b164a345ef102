// BufferPool: the exchange buffers a connection gives back when it goes idle
// come back to the next taker empty but with their memory, and the pool
// bounds what it keeps.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "proxy/session/buffer_pool.h"

using proxy::BufferPool;
using proxy::SessionBuffers;

namespace {

SessionBuffers used(size_t bytes) {
  SessionBuffers b;
  b.out.assign(bytes, 'x');
  b.head.buffer.assign(64, 'h');
  b.head.fields.push_back({0, 4, 4, 8});
  b.header_views.push_back({"Host", "h"});
  b.tried.assign(3, 1);
  b.tls_out.assign(100, 't');
  return b;
}

} // namespace

TEST_CASE("a given set comes back empty, with the same memory") {
  BufferPool pool;
  SessionBuffers b = used(300);
  const char* out = b.out.data();
  pool.give(std::move(b));
  CHECK(pool.spare() == 1);
  SessionBuffers again = pool.take();
  CHECK(pool.spare() == 0);
  CHECK(again.out.empty());
  CHECK(again.head.buffer.empty());
  CHECK(again.head.fields.empty());
  CHECK(again.header_views.empty());
  CHECK(again.tried.empty());
  CHECK(again.tls_out.empty());
  CHECK(again.out.capacity() >= 300);
  CHECK(again.out.data() == out);
}

TEST_CASE("an empty pool hands out a new empty set") {
  BufferPool pool;
  SessionBuffers b = pool.take();
  CHECK(b.out.empty());
  CHECK(b.head.fields.empty());
}

TEST_CASE("a set grown past the cap is freed, and the pool keeps at most kMaxSpare") {
  BufferPool pool;
  pool.give(used(BufferPool::kMaxKeptBytes + 1));
  CHECK(pool.spare() == 0);
  for (size_t i = 0; i < BufferPool::kMaxSpare + 10; ++i)
    pool.give(used(10));
  CHECK(pool.spare() == BufferPool::kMaxSpare);
}
