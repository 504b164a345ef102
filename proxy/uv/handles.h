// RAII owners for libuv handles and write requests. This is the only code
// that calls uv_close. A Handle heap-allocates its uv handle; close() nulls
// handle->data first (so every callback that starts with
// `if (!self) return;` stops touching the owner) and frees the memory in the
// close callback. The owning object may therefore be destroyed at any point
// after close() returned, but never from inside one of its own callbacks
// (sessions are reaped by the worker between loop phases).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace proxy::uv {

template <class T> class Handle {
public:
  Handle() = default;
  ~Handle() { close(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      close();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }

  // Allocates the handle; `init` is the uv_*_init call to make on it.
  // Returns the libuv error (the memory is released on failure).
  template <class Init> int open(void* data, Init&& init) {
    close();
    T* h = new T{};
    int rc = init(h);
    if (rc != 0) {
      delete h;
      return rc;
    }
    h->data = data;
    h_ = h;
    return 0;
  }

  // The same for an init call that leaves the handle registered with the
  // loop even when it fails (uv_spawn): on failure the handle is closed,
  // not deleted, and the error returned.
  template <class Init> int openOrClose(void* data, Init&& init) {
    close();
    h_ = new T{};
    int rc = init(h_);
    h_->data = rc == 0 ? data : nullptr;
    if (rc != 0) close();
    return rc;
  }

  void close() noexcept {
    if (h_ == nullptr) return;
    T* h = std::exchange(h_, nullptr);
    h->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* x) { delete reinterpret_cast<T*>(x); });
  }

  T* get() const noexcept { return h_; }
  uv_stream_t* stream() const noexcept { return reinterpret_cast<uv_stream_t*>(h_); }
  uv_handle_t* handle() const noexcept { return reinterpret_cast<uv_handle_t*>(h_); }
  explicit operator bool() const noexcept { return h_ != nullptr; }

private:
  T* h_ = nullptr;
};

using Tcp = Handle<uv_tcp_t>;
using Timer = Handle<uv_timer_t>;
using Async = Handle<uv_async_t>;
using Signal = Handle<uv_signal_t>;
using Check = Handle<uv_check_t>;
using Pipe = Handle<uv_pipe_t>;
using Process = Handle<uv_process_t>;
using Poll = Handle<uv_poll_t>;

// Anything whose stream->data points at it and that wants to hear about
// finished writes (backpressure release, flush-then-close).
class StreamOwner {
public:
  virtual void onWriteDone(int status) noexcept = 0;

protected:
  ~StreamOwner() = default;
};

// Writes `bufs` to `stream` (whose data is a StreamOwner* or null): tries
// uv_try_write first and copies only what the kernel did not take into one
// heap write request, which owns that copy and frees it in its callback
// (UV_ECANCELED included). Returns 0 or a libuv error. `queued` tells whether
// a write request is now pending (onWriteDone will follow).
int write(uv_stream_t* stream, const uv_buf_t* bufs, unsigned count, bool* queued);

// Timer helpers: (re)arm or stop a timer owned by `timer`.
void arm(Timer& timer, uint64_t ms, uv_timer_cb cb) noexcept;
void disarm(Timer& timer) noexcept;

} // namespace proxy::uv
