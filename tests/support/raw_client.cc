#include "tests/support/raw_client.h"

#include <sys/socket.h>

#include <algorithm>

namespace swytest {

std::string Response::describe() const {
  std::string out = complete ? "status " + std::to_string(msg.status) : "incomplete";
  out += " io=" + std::string(ioStatusName(io));
  if (!error.empty()) out += " error=" + error;
  if (complete) {
    std::string shown = msg.body.substr(0, 200);
    for (char& ch : shown) {
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '.';
    }
    out += " body=" + shown;
  }
  return out;
}

RawClient::RawClient(uint16_t port) { fd_ = connectLoopback(port, &connect_errno_); }

uint16_t RawClient::localPort() const { return swytest::localPort(fd_.get()); }

bool RawClient::send(std::string_view bytes, milliseconds timeout) {
  return fd_.valid() && writeAll(fd_.get(), bytes, Deadline(timeout)) == IoStatus::kOk;
}

bool RawClient::sendInPieces(std::string_view bytes, size_t piece) {
  for (size_t off = 0; off < bytes.size(); off += piece) {
    if (!send(bytes.substr(off, piece))) return false;
  }
  return true;
}

bool RawClient::sendPayload(uint64_t seed, uint64_t size, milliseconds timeout) {
  Deadline deadline(timeout);
  constexpr uint64_t kBlock = 1 << 20;
  for (uint64_t off = 0; off < size; off += kBlock) {
    std::string block = payloadBytes(seed, off, static_cast<size_t>(std::min(kBlock, size - off)));
    if (writeAll(fd_.get(), block, deadline) != IoStatus::kOk) return false;
  }
  return true;
}

Response RawClient::readResponse(milliseconds timeout, bool head_request) {
  Response r;
  MessageParser parser(MessageParser::Kind::kResponse);
  parser.setHeadRequest(head_request);
  Deadline deadline(timeout);
  for (;;) {
    size_t used = parser.feed(buffer_);
    buffer_.erase(0, used);
    if (parser.done() || parser.failed()) break;
    if (eof_) {
      parser.feedEof();
      if (!parser.done()) r.io = IoStatus::kEof;
      break;
    }
    if (!fd_.valid()) {
      r.io = IoStatus::kError;
      break;
    }
    IoStatus st = readSome(fd_.get(), &buffer_, deadline);
    if (st == IoStatus::kEof) {
      eof_ = true;
    } else if (st != IoStatus::kOk) {
      if (st == IoStatus::kReset) eof_ = true;
      r.io = st;
      break;
    }
  }
  r.complete = parser.done();
  r.error = parser.error();
  r.msg = std::move(parser.message());
  return r;
}

Response RawClient::readInterim(milliseconds timeout) {
  Response r;
  Deadline deadline(timeout);
  for (;;) {
    MessageParser peek(MessageParser::Kind::kResponse);
    peek.feed(buffer_);
    HttpMessage& m = peek.message();
    if (!m.interim.empty()) {
      // Consume only the first interim head; the rest stays for readResponse().
      r.complete = true;
      r.msg = m.interim.front();
      buffer_.erase(0, r.msg.raw_head.size());
      return r;
    }
    if (peek.headComplete() || peek.failed()) {
      r.complete = peek.headComplete();
      r.error = peek.error();
      r.msg = std::move(m);
      r.msg.body.clear();
      return r;
    }
    if (eof_ || !fd_.valid()) {
      r.io = IoStatus::kEof;
      return r;
    }
    IoStatus st = readSome(fd_.get(), &buffer_, deadline);
    if (st == IoStatus::kEof || st == IoStatus::kReset) eof_ = true;
    if (st != IoStatus::kOk && st != IoStatus::kEof) {
      r.io = st;
      return r;
    }
  }
}

std::vector<Response> RawClient::readResponses(size_t n, milliseconds timeout) {
  std::vector<Response> out;
  Deadline deadline(timeout);
  for (size_t i = 0; i < n; ++i) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline.at() - Clock::now());
    out.push_back(readResponse(std::max(left, milliseconds(1))));
    if (!out.back().complete) break;
  }
  return out;
}

Response RawClient::roundTrip(std::string_view request, milliseconds timeout) {
  if (!send(request)) {
    Response r;
    r.io = IoStatus::kError;
    r.error = "send failed";
    return r;
  }
  return readResponse(timeout, request.substr(0, 5) == "HEAD ");
}

IoStatus RawClient::waitClosed(milliseconds timeout) {
  if (eof_) return IoStatus::kEof;
  if (!fd_.valid()) return IoStatus::kError;
  Deadline deadline(timeout);
  for (;;) {
    IoStatus st = readSome(fd_.get(), &buffer_, deadline);
    if (st == IoStatus::kOk) continue;
    if (st == IoStatus::kEof || st == IoStatus::kReset) eof_ = true;
    return st;
  }
}

IoStatus RawClient::readAtLeast(size_t n, milliseconds timeout) {
  Deadline deadline(timeout);
  while (buffer_.size() < n) {
    if (eof_) return IoStatus::kEof;
    IoStatus st = readSome(fd_.get(), &buffer_, deadline);
    if (st == IoStatus::kEof || st == IoStatus::kReset) eof_ = true;
    if (st != IoStatus::kOk) return st;
  }
  return IoStatus::kOk;
}

void RawClient::shutdownWrite() {
  if (fd_.valid()) ::shutdown(fd_.get(), SHUT_WR);
}

Response httpGet(uint16_t port, std::string_view target, std::string_view host,
                 std::string_view extra_headers) {
  RawClient client(port);
  if (!client.connected()) {
    Response r;
    r.io = IoStatus::kError;
    r.error = "connect failed";
    return r;
  }
  return client.roundTrip(makeRequest("GET", target, host, extra_headers));
}

} // namespace swytest
