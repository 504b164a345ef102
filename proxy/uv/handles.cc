#include "proxy/uv/handles.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace proxy::uv {

namespace {

struct WriteRequest {
  uv_write_t req;
  size_t length;
  char data[1]; // flexible tail: `length` bytes
};

void onWritten(uv_write_t* req, int status) {
  uv_stream_t* stream = req->handle;
  std::free(req);
  auto* owner = stream != nullptr ? static_cast<StreamOwner*>(stream->data) : nullptr;
  if (owner == nullptr) return; // owner closed the stream: nothing to tell
  owner->onWriteDone(status);
}

} // namespace

int write(uv_stream_t* stream, const uv_buf_t* bufs, unsigned count, bool* queued) {
  *queued = false;
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i)
    total += bufs[i].len;
  if (total == 0) return 0;
  size_t sent = 0;
  // uv_try_write only helps when nothing is queued already (ordering).
  if (uv_stream_get_write_queue_size(stream) == 0) {
    int rc = uv_try_write(stream, bufs, count);
    if (rc >= 0) {
      sent = static_cast<size_t>(rc);
    } else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
      return rc;
    }
  }
  if (sent == total) return 0;
  size_t rest = total - sent;
  auto* w = static_cast<WriteRequest*>(std::malloc(offsetof(WriteRequest, data) + rest));
  if (w == nullptr) return UV_ENOMEM;
  w->length = rest;
  size_t at = 0;
  size_t skip = sent;
  for (unsigned i = 0; i < count; ++i) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    std::memcpy(w->data + at, bufs[i].base + skip, len - skip);
    at += len - skip;
    skip = 0;
  }
  uv_buf_t one = uv_buf_init(w->data, static_cast<unsigned>(rest));
  int rc = uv_write(&w->req, stream, &one, 1, onWritten);
  if (rc != 0) {
    std::free(w);
    return rc;
  }
  *queued = true;
  return 0;
}

void arm(Timer& timer, uint64_t ms, uv_timer_cb cb) noexcept {
  if (timer) uv_timer_start(timer.get(), cb, ms, 0);
}

void disarm(Timer& timer) noexcept {
  if (timer) uv_timer_stop(timer.get());
}

} // namespace proxy::uv
