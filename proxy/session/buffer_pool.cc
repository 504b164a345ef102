#include "proxy/session/buffer_pool.h"

#include <utility>

namespace proxy {

SessionBuffers BufferPool::take() noexcept {
  if (spare_.empty()) return {};
  SessionBuffers b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

void BufferPool::give(SessionBuffers&& buffers) noexcept {
  size_t bytes = buffers.head.buffer.capacity() + buffers.out.capacity() +
                 buffers.head.fields.capacity() * sizeof(http::MessageHead::Field) +
                 buffers.header_views.capacity() * sizeof(routing::Header) +
                 buffers.tried.capacity() + buffers.tls_out.capacity();
  if (spare_.size() >= kMaxSpare || bytes > kMaxKeptBytes) return; // freed here
  buffers.head.buffer.clear();
  buffers.head.fields.clear();
  buffers.out.clear();
  buffers.header_views.clear();
  buffers.tried.clear();
  buffers.tls_out.clear();
  spare_.push_back(std::move(buffers));
}

} // namespace proxy
