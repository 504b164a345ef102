// BufferPool: the buffers a client connection needs only while an exchange
// is in flight (its request head, the serialised heads, the header views the
// router reads, the per-server marks of the balancer), kept per worker. A
// connection takes a set when a request starts and gives it back when it
// goes idle, so an idle keep-alive connection holds no buffer, and a busy
// worker reuses the same few sets instead of allocating them per request.
// One per worker; used only on that worker's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/http/head.h"
#include "routing/request_view.h"

namespace proxy {

struct SessionBuffers {
  http::MessageHead::Storage head;
  std::string out;
  std::vector<routing::Header> header_views;
  std::vector<uint8_t> tried;
  std::string tls_out;
};

class BufferPool {
public:
  // Sets kept for reuse; more than this many exchanges finishing at once
  // free the rest.
  static constexpr size_t kMaxSpare = 256;
  // A set that grew beyond this (a huge head, a large TLS flush) is freed,
  // not kept: at most 8 MiB stay in a worker's pool.
  static constexpr size_t kMaxKeptBytes = 32 * 1024;

  // A set with no content (reused capacity, or new and empty).
  SessionBuffers take() noexcept;
  void give(SessionBuffers&& buffers) noexcept;
  size_t spare() const noexcept { return spare_.size(); }

private:
  std::vector<SessionBuffers> spare_;
};

} // namespace proxy
