// Parser: a strict llhttp parser (no lenient flag is ever set) that copies
// the head once into a MessageHead, enforces the head limits, and hands body
// bytes and message boundaries to a Handler. Used for requests (downstream)
// and responses (upstream). Single-threaded; owned by one session.
//
// Handler callbacks run inside execute(); they must not destroy the parser.
// A handler that needs to stop (to wait for an upstream, or between
// pipelined requests) returns kPause; the caller keeps the unconsumed bytes
// (execute() reports how many were consumed) and calls resume() later.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>

#include "proxy/core/error.h"
#include "proxy/http/head.h"

namespace proxy::http {

struct HeadLimits {
  uint32_t max_header_bytes = 32768;
  uint32_t max_headers = 100;
  uint32_t max_uri_bytes = 8192;
};

class Parser {
public:
  enum class Type { kRequest, kResponse };
  // Return values of the handler's callbacks.
  static constexpr int kProceed = 0;
  static constexpr int kSkipBody = 1; // response to HEAD, 204, 304: no body follows
  static constexpr int kPause = HPE_PAUSED;
  static constexpr int kFail = -1; // after calling Parser::fail()

  class Handler {
  public:
    virtual int onMessageBegin() noexcept { return kProceed; }
    virtual int onHeadersComplete(MessageHead& head) noexcept = 0;
    virtual int onBody(const char* data, size_t length) noexcept = 0;
    virtual int onMessageComplete() noexcept = 0;

  protected:
    ~Handler() = default;
  };

  enum class State { kOk, kPaused, kUpgrade, kError };
  struct Outcome {
    State state;
    size_t consumed; // bytes of the input used; the rest must be fed again later
  };

  Parser(Type type, Handler* handler, HeadLimits limits) noexcept;
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  Outcome execute(const char* data, size_t length) noexcept;
  Outcome finish() noexcept; // the peer closed: completes a close-delimited body
  void resume() noexcept;
  void resumeAfterUpgrade() noexcept;
  void reset() noexcept; // back to the start state (new connection)
  // reset(), now for `handler` with `limits`: a pooled parser serves one
  // connection after another, its head keeping its memory.
  void bind(Handler* handler, HeadLimits limits) noexcept;

  // Called by a handler before returning kFail.
  void fail(ErrorKind kind, const char* reason) noexcept;

  ErrorKind errorKind() const noexcept { return error_kind_; }
  const char* errorReason() const noexcept;
  bool inMessage() const noexcept { return in_message_; }
  // True inside execute() or finish(), that is, while a handler callback
  // runs: the caller must not reset, resume or give away the parser then.
  bool executing() const noexcept { return executing_; }
  bool messageNeedsEof() const noexcept { return llhttp_message_needs_eof(&parser_) != 0; }
  uint64_t bodyBytes() const noexcept { return body_bytes_; }
  // Bytes of a Content-Length body still to come: nonzero only between a
  // message's head and the end of such a body (never chunked, never
  // close-delimited, never a body the handler skipped).
  uint64_t contentLengthRemaining() const noexcept {
    constexpr unsigned kFraming = F_CONTENT_LENGTH | F_CHUNKED | F_TRANSFER_ENCODING | F_SKIPBODY;
    const bool length_framed = (parser_.flags & kFraming) == F_CONTENT_LENGTH;
    return in_message_ && in_trailers_ && length_framed ? parser_.content_length : 0;
  }
  // `n` body bytes, fewer than contentLengthRemaining(), went past the parser
  // (spliced from socket to socket): counted as consumed, without onBody.
  // The body's last byte always goes through execute(), which completes it.
  void skipBody(uint64_t n) noexcept;
  MessageHead& head() noexcept { return head_; }
  const MessageHead& head() const noexcept { return head_; }

private:
  static int onMessageBeginCb(llhttp_t* p) noexcept;
  static int onTargetCb(llhttp_t* p, const char* at, size_t n) noexcept;
  static int onFieldCb(llhttp_t* p, const char* at, size_t n) noexcept;
  static int onValueCb(llhttp_t* p, const char* at, size_t n) noexcept;
  static int onHeadersCompleteCb(llhttp_t* p) noexcept;
  static int onBodyCb(llhttp_t* p, const char* at, size_t n) noexcept;
  static int onMessageCompleteCb(llhttp_t* p) noexcept;
  static const llhttp_settings_t& settings() noexcept;

  int checkHeadSize() noexcept;
  Outcome outcome(llhttp_errno_t err, const char* data, size_t length) noexcept;

  llhttp_t parser_;
  Type type_;
  Handler* handler_;
  HeadLimits limits_;
  MessageHead head_;
  ErrorKind error_kind_ = ErrorKind::kBadRequest;
  const char* error_reason_ = nullptr;
  uint64_t body_bytes_ = 0;
  bool in_message_ = false;
  bool executing_ = false;
  bool in_trailers_ = false; // past headers-complete: fields are trailers
  // obs-fold detection (see onValueCb)
  bool in_value_ = false;
  const char* value_end_ = nullptr;
  const char* input_begin_ = nullptr;
  const char* input_end_prev_ = nullptr;
};

} // namespace proxy::http
