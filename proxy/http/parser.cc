#include "proxy/http/parser.h"

namespace proxy::http {

namespace {
Parser* self(llhttp_t* p) noexcept { return static_cast<Parser*>(p->data); }

// RFC 9110 section 5.6.2: field names are tokens.
bool isTchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~': return true;
  default: return false;
  }
}

// RFC 9110 section 5.5: no control characters but HTAB in field values.
bool isValueChar(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// What makes a complete head unfit to forward that llhttp 8 lets through,
// or nullptr.
const char* headProblem(const MessageHead& h, bool response) noexcept {
  // RFC 9110 section 15: status codes outside 100..599 are invalid (llhttp
  // takes anything up to 999, even "9").
  if (response && (h.status < 100 || h.status > 599)) return "invalid status code";
  // RFC 9110 sections 15.2.2 and 7.8: a 101 names the new protocol in
  // Upgrade and carries Connection: upgrade. Without them llhttp keeps
  // parsing HTTP while the session would switch to a tunnel.
  if (response && h.status == 101 && !h.upgrade) return "101 response without Upgrade";
  // RFC 9110 section 5.1: a field name is a token, never empty. llhttp 8
  // accepts ": value" (nodejs/llhttp#257); "\r\n:\r\n" is a smuggling shape.
  for (size_t i = 0; i < h.fieldCount(); ++i) {
    if (h.name(i).empty()) return "empty header name";
  }
  return nullptr;
}
} // namespace

const llhttp_settings_t& Parser::settings() noexcept {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = &Parser::onMessageBeginCb;
    v.on_url = &Parser::onTargetCb;
    v.on_status = &Parser::onTargetCb;
    v.on_header_field = &Parser::onFieldCb;
    v.on_header_value = &Parser::onValueCb;
    v.on_headers_complete = &Parser::onHeadersCompleteCb;
    v.on_body = &Parser::onBodyCb;
    v.on_message_complete = &Parser::onMessageCompleteCb;
    return v;
  }();
  return s;
}

Parser::Parser(Type type, Handler* handler, HeadLimits limits) noexcept
    : type_(type), handler_(handler), limits_(limits) {
  error_kind_ = type == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway;
  reset();
}

void Parser::reset() noexcept {
  llhttp_init(&parser_, type_ == Type::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
  parser_.data = this;
  head_.clear();
  in_message_ = false;
  in_value_ = false;
  in_trailers_ = false;
  body_bytes_ = 0;
  error_reason_ = nullptr;
}

void Parser::bind(Handler* handler, HeadLimits limits) noexcept {
  handler_ = handler;
  limits_ = limits;
  reset();
}

void Parser::skipBody(uint64_t n) noexcept {
  if (n >= contentLengthRemaining()) return; // would end the body behind llhttp's back
  parser_.content_length -= n;
  body_bytes_ += n;
}

void Parser::fail(ErrorKind kind, const char* reason) noexcept {
  error_kind_ = kind;
  error_reason_ = reason;
}

const char* Parser::errorReason() const noexcept {
  if (error_reason_ != nullptr) return error_reason_;
  const char* r = llhttp_get_error_reason(&parser_);
  return r != nullptr ? r : llhttp_errno_name(llhttp_get_errno(&parser_));
}

int Parser::onMessageBeginCb(llhttp_t* p) noexcept {
  Parser* s = self(p);
  s->head_.clear();
  s->in_message_ = true;
  s->in_trailers_ = false;
  s->body_bytes_ = 0;
  return s->handler_->onMessageBegin();
}

int Parser::checkHeadSize() noexcept {
  // Each field costs its bytes plus ": " and CRLF on the wire.
  if (head_.bytes() + 4 * head_.fieldCount() > limits_.max_header_bytes) {
    fail(type_ == Type::kRequest ? ErrorKind::kHeadersTooLarge : ErrorKind::kBadGateway,
         "header section too large");
    return HPE_USER;
  }
  return 0;
}

int Parser::onTargetCb(llhttp_t* p, const char* at, size_t n) noexcept {
  Parser* s = self(p);
  // RFC 9112 section 4: a reason phrase is HTAB, SP, VCHAR or obs-text; it
  // is forwarded as is, so hold it to the field-value rule (llhttp passes NUL).
  for (size_t i = 0; s->type_ == Type::kResponse && i < n; ++i) {
    if (!isValueChar(static_cast<unsigned char>(at[i]))) {
      s->fail(ErrorKind::kBadGateway, "invalid character in reason phrase");
      return HPE_USER;
    }
  }
  s->head_.appendTarget(at, n);
  if (s->type_ == Type::kRequest && s->head_.target().size() > s->limits_.max_uri_bytes) {
    s->fail(ErrorKind::kUriTooLong, "request target too long");
    return HPE_USER;
  }
  return s->checkHeadSize();
}

int Parser::onFieldCb(llhttp_t* p, const char* at, size_t n) noexcept {
  Parser* s = self(p);
  // Trailer fields (after a chunked body) are dropped, RFC 9110 section
  // 6.5.1: the head was already forwarded and the body is re-chunked
  // without them. Appending them would corrupt the head's last field.
  if (s->in_trailers_) return 0;
  s->in_value_ = false;
  for (size_t i = 0; i < n; ++i) {
    if (!isTchar(static_cast<unsigned char>(at[i]))) {
      s->fail(s->type_ == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway,
              "invalid character in header name");
      return HPE_USER;
    }
  }
  size_t before = s->head_.fieldCount();
  s->head_.appendFieldName(at, n);
  if (s->head_.fieldCount() != before && s->head_.fieldCount() > s->limits_.max_headers) {
    s->fail(s->type_ == Type::kRequest ? ErrorKind::kHeadersTooLarge : ErrorKind::kBadGateway,
            "too many header fields");
    return HPE_USER;
  }
  return s->checkHeadSize();
}

int Parser::onValueCb(llhttp_t* p, const char* at, size_t n) noexcept {
  Parser* s = self(p);
  if (s->in_trailers_) return 0;
  // llhttp 8 accepts obs-fold and hands the continuation line over as a
  // second piece of the same value. A value legitimately arrives in several
  // pieces only across execute() calls: the previous piece ended where that
  // input ended and this one starts where this input starts. Anything else
  // is a fold, which RFC 9112 section 5.2 lets us reject with 400.
  if (s->in_value_ && !(s->value_end_ == s->input_end_prev_ && at == s->input_begin_)) {
    s->fail(s->type_ == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway,
            "obsolete line folding in header");
    return HPE_USER;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!isValueChar(static_cast<unsigned char>(at[i]))) {
      s->fail(s->type_ == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway,
              "invalid character in header value");
      return HPE_USER;
    }
  }
  s->in_value_ = true;
  s->value_end_ = at + n;
  s->head_.appendFieldValue(at, n);
  return s->checkHeadSize();
}

int Parser::onHeadersCompleteCb(llhttp_t* p) noexcept {
  Parser* s = self(p);
  s->in_value_ = false;
  s->in_trailers_ = true;
  MessageHead& h = s->head_;
  h.finishFields();
  h.method = llhttp_get_method(p);
  h.status = llhttp_get_status_code(p);
  h.version_major = llhttp_get_http_major(p);
  h.version_minor = llhttp_get_http_minor(p);
  h.keep_alive = llhttp_should_keep_alive(p) != 0;
  h.upgrade = llhttp_get_upgrade(p) != 0;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  h.has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
  h.content_length = h.has_content_length ? p->content_length : 0;
  // RFC 9112 section 6.1: a sender must not send both; a proxy must not forward
  // such a message. llhttp already refuses it in requests; refuse it in
  // responses too, whatever the parser would otherwise accept.
  if (h.has_content_length && (p->flags & F_TRANSFER_ENCODING) != 0) {
    s->fail(s->type_ == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway,
            "both Content-Length and Transfer-Encoding");
    return -1;
  }
  if (const char* problem = headProblem(h, s->type_ == Type::kResponse)) {
    s->fail(s->type_ == Type::kRequest ? ErrorKind::kBadRequest : ErrorKind::kBadGateway, problem);
    return -1;
  }
  int verdict = s->handler_->onHeadersComplete(h);
  // RFC 9112 section 6.3 (1): a 1xx, 204 or 304 response ends with its head,
  // whatever its fields say. llhttp 8 reads a Content-Length or chunked body
  // after a 1xx or 204, which would then reach the client unframed.
  if (verdict == kProceed && s->type_ == Type::kResponse &&
      (h.status < 200 || h.status == 204 || h.status == 304)) {
    verdict = kSkipBody;
  }
  return verdict;
}

int Parser::onBodyCb(llhttp_t* p, const char* at, size_t n) noexcept {
  Parser* s = self(p);
  s->body_bytes_ += n;
  return s->handler_->onBody(at, n) == kProceed ? 0 : HPE_USER;
}

int Parser::onMessageCompleteCb(llhttp_t* p) noexcept {
  Parser* s = self(p);
  s->in_message_ = false;
  return s->handler_->onMessageComplete();
}

Parser::Outcome Parser::outcome(llhttp_errno_t err, const char* data, size_t length) noexcept {
  auto consumedTo = [&]() -> size_t {
    const char* pos = llhttp_get_error_pos(&parser_);
    if (pos == nullptr || pos < data || pos > data + length) return length;
    return static_cast<size_t>(pos - data);
  };
  switch (err) {
  case HPE_OK: return {State::kOk, length};
  case HPE_PAUSED: return {State::kPaused, consumedTo()};
  case HPE_PAUSED_UPGRADE: return {State::kUpgrade, consumedTo()};
  default: return {State::kError, consumedTo()};
  }
}

Parser::Outcome Parser::execute(const char* data, size_t length) noexcept {
  input_begin_ = data;
  executing_ = true;
  Outcome o = outcome(llhttp_execute(&parser_, data, length), data, length);
  executing_ = false;
  input_end_prev_ = data + length;
  return o;
}

Parser::Outcome Parser::finish() noexcept {
  executing_ = true;
  llhttp_errno_t err = llhttp_finish(&parser_);
  executing_ = false;
  if (err == HPE_OK || err == HPE_PAUSED) return {err == HPE_OK ? State::kOk : State::kPaused, 0};
  return {State::kError, 0};
}

void Parser::resume() noexcept { llhttp_resume(&parser_); }
void Parser::resumeAfterUpgrade() noexcept { llhttp_resume_after_upgrade(&parser_); }

} // namespace proxy::http
