// ExchangePool: the state a connection gives back when it goes idle comes
// back to the next taker reset (parser at the start, nothing pending, every
// per-request value at its default, no snapshot pinned) but with its memory,
// and the pool bounds what it keeps.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>

#include "proxy/session/exchange_state.h"

using proxy::ExchangePool;
using proxy::ExchangeState;
using proxy::http::MessageHead;
using proxy::http::Parser;

namespace {

struct Handler : Parser::Handler {
  int onHeadersComplete(MessageHead&) noexcept override { return Parser::kProceed; }
  int onBody(const char*, size_t) noexcept override { return Parser::kProceed; }
  int onMessageComplete() noexcept override {
    ++completed;
    return Parser::kPause;
  }
  int completed = 0;
};

// A state as a connection leaves it: a request parsed, buffers used, values set.
std::unique_ptr<ExchangeState> used(ExchangePool& pool, Handler* h, size_t out_bytes) {
  std::unique_ptr<ExchangeState> x = pool.take(h, {}, 7);
  std::string req = "GET /a-long-enough-target HTTP/1.1\r\nHost: h\r\n\r\n";
  REQUIRE(x->parser.execute(req.data(), req.size()).state == Parser::State::kPaused);
  x->out.assign(out_bytes, 'x');
  x->header_views.push_back({"Host", "h"});
  x->tried.assign(3, 1);
  x->snapshot = std::make_shared<const proxy::config::Snapshot>();
  x->route = 2;
  x->server = 1;
  x->variant = 0;
  x->close_after = true;
  x->assigned_id = "abc";
  x->record.status = 200;
  x->parser_paused = true;
  return x;
}

} // namespace

TEST_CASE("a given state comes back reset, with the same memory") {
  ExchangePool pool;
  Handler first;
  std::unique_ptr<ExchangeState> x = used(pool, &first, 300);
  CHECK(x->record.cid == 7);
  const char* out = x->out.data();
  std::weak_ptr<const proxy::config::Snapshot> pinned = x->snapshot;
  pool.give(std::move(x));
  CHECK(pool.spare() == 1);
  CHECK(pinned.expired()); // a spare state pins no configuration

  Handler second;
  std::unique_ptr<ExchangeState> again = pool.take(&second, {}, 9);
  CHECK(pool.spare() == 0);
  CHECK(again->out.empty());
  CHECK(again->out.capacity() >= 300);
  CHECK(again->out.data() == out);
  CHECK(again->pending.empty());
  CHECK(again->header_views.empty());
  CHECK(again->tried.empty());
  CHECK(again->snapshot == nullptr);
  CHECK(again->route == -1);
  CHECK(again->server == -1);
  CHECK(again->variant == -1);
  CHECK_FALSE(again->close_after);
  CHECK_FALSE(again->parser_paused);
  CHECK(again->assigned_id.empty());
  CHECK(again->record.status == 0);
  CHECK(again->record.cid == 9);
  CHECK(again->parser.head().bytes() == 0);

  // The parser starts at a message boundary and reports to its new handler.
  std::string req = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  REQUIRE(again->parser.execute(req.data(), req.size()).state == Parser::State::kPaused);
  CHECK(again->parser.head().target() == "/b");
  CHECK(second.completed == 1);
  CHECK(first.completed == 1);
}

TEST_CASE("an empty pool hands out a new state") {
  ExchangePool pool;
  Handler h;
  std::unique_ptr<ExchangeState> x = pool.take(&h, {}, 1);
  REQUIRE(x != nullptr);
  CHECK(x->out.empty());
  CHECK(x->route == -1);
  CHECK(x->upstream == nullptr);
}

TEST_CASE("a state grown past the cap is freed, and the pool keeps at most kMaxSpare") {
  ExchangePool pool;
  Handler h;
  pool.give(used(pool, &h, ExchangePool::kMaxKeptBytes + 1));
  CHECK(pool.spare() == 0);
  std::vector<std::unique_ptr<ExchangeState>> many;
  for (size_t i = 0; i < ExchangePool::kMaxSpare + 10; ++i)
    many.push_back(used(pool, &h, 10));
  for (auto& x : many)
    pool.give(std::move(x));
  CHECK(pool.spare() == ExchangePool::kMaxSpare);
  pool.give(nullptr); // nothing to keep
  CHECK(pool.spare() == ExchangePool::kMaxSpare);
}
