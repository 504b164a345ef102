// ExchangePool: spare ExchangeStates (exchange_state.h), one pool per worker,
// used on that worker's loop thread only. Declared apart from the state so
// that the worker can hold a pool without seeing the session's types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/http/parser.h"

namespace proxy {

struct ExchangeState;

class ExchangePool {
public:
  // States kept for reuse; more than this many exchanges ending at once
  // free the rest.
  static constexpr size_t kMaxSpare = 256;
  // A state whose buffers grew beyond this (a huge head, a long pipeline) is
  // freed, not kept.
  static constexpr size_t kMaxKeptBytes = 32 * 1024;

  ExchangePool();
  ~ExchangePool();
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;

  // A state for `handler`'s next request: parser reset with these limits,
  // nothing pending, every value at its default.
  std::unique_ptr<ExchangeState> take(http::Parser::Handler* handler, http::HeadLimits limits,
                                      uint64_t cid);
  // Back to the pool, or freed; drops its snapshot pin and any upstream link.
  void give(std::unique_ptr<ExchangeState> state) noexcept;
  size_t spare() const noexcept { return spare_.size(); }

private:
  std::vector<std::unique_ptr<ExchangeState>> spare_;
};

} // namespace proxy
