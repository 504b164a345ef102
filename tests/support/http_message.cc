#include "tests/support/http_message.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace swytest {

namespace {

constexpr size_t kMaxHead = 1 << 20;
constexpr size_t kMaxLine = 4096;

bool isTchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool containsIgnoreCase(std::string_view hay, std::string_view needle) {
  return toLower(hay).find(toLower(needle)) != std::string::npos;
}

} // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const Header& h : list) {
    if (equalsIgnoreCase(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::string Headers::valueOr(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

size_t Headers::count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(
      list.begin(), list.end(), [&](const Header& h) { return equalsIgnoreCase(h.name, name); }));
}

bool Headers::hasToken(std::string_view name, std::string_view token) const {
  for (const Header& h : list) {
    if (!equalsIgnoreCase(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = trimOws(rest.substr(0, comma));
      if (equalsIgnoreCase(item, token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

MessageParser::MessageParser(Kind kind, size_t max_stored_body)
    : kind_(kind), max_stored_body_(max_stored_body) {}

void MessageParser::reset() {
  state_ = State::kIncomplete;
  phase_ = Phase::kHead;
  head_complete_ = false;
  head_.clear();
  line_.clear();
  remaining_ = 0;
  hash_ = Fnv64{};
  error_.clear();
  msg_ = HttpMessage{};
  head_request_ = false;
}

void MessageParser::fail(std::string why) {
  if (state_ != State::kError) error_ = std::move(why);
  state_ = State::kError;
}

void MessageParser::addBody(std::string_view bytes) {
  if (msg_.body.size() < max_stored_body_) {
    msg_.body.append(bytes.substr(0, max_stored_body_ - msg_.body.size()));
  }
  msg_.body_size += bytes.size();
  hash_.update(bytes);
  msg_.body_hash = hash_.value;
}

size_t MessageParser::feed(std::string_view data) {
  size_t used = 0;
  while (state_ == State::kIncomplete && used < data.size()) {
    std::string_view rest = data.substr(used);
    switch (phase_) {
    case Phase::kHead: used += feedHead(rest); break;
    case Phase::kBody:
    case Phase::kChunkData: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
      addBody(rest.substr(0, n));
      used += n;
      remaining_ -= n;
      if (remaining_ == 0) {
        if (phase_ == Phase::kBody)
          finish();
        else
          phase_ = Phase::kChunkCrlf;
      }
      break;
    }
    case Phase::kClose:
      addBody(rest);
      used += rest.size();
      break;
    case Phase::kChunkCrlf:
    case Phase::kChunkSize:
    case Phase::kTrailers: {
      bool complete = false;
      used += feedLine(rest, &line_, &complete);
      if (complete && !failed()) {
        std::string line = std::move(line_);
        line_.clear();
        onLine(line);
      }
      break;
    }
    }
  }
  return used;
}

// A complete line in one of the chunked-body phases (RFC 9112 §7.1).
void MessageParser::onLine(const std::string& line) {
  if (phase_ == Phase::kChunkCrlf) {
    if (!line.empty()) fail("chunk data not followed by CRLF");
    phase_ = Phase::kChunkSize;
    return;
  }
  if (phase_ == Phase::kTrailers) {
    if (line.empty())
      finish();
    else
      parseHeaderLine(line, &msg_.trailers);
    return;
  }
  std::string_view size = line;
  size = size.substr(0, size.find(';'));
  if (size.empty() || size.size() > 15 ||
      size.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
    fail("bad chunk size line: " + line);
    return;
  }
  remaining_ = std::stoull(std::string(size), nullptr, 16);
  if (remaining_ == 0) {
    phase_ = Phase::kTrailers;
  } else {
    msg_.chunk_sizes.push_back(remaining_);
    phase_ = Phase::kChunkData;
  }
}

// Accumulates one CRLF-terminated line (CRLF stripped); a bare LF or CR is an error.
size_t MessageParser::feedLine(std::string_view data, std::string* line, bool* complete) {
  size_t nl = data.find('\n');
  size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
  line->append(data.substr(0, take));
  if (line->size() > kMaxLine) {
    fail("line too long");
    return take;
  }
  if (nl == std::string_view::npos) return take;
  if (line->size() < 2 || (*line)[line->size() - 2] != '\r') {
    fail("bare LF");
    return take;
  }
  line->resize(line->size() - 2);
  if (line->find('\r') != std::string::npos) fail("bare CR");
  *complete = true;
  return take;
}

size_t MessageParser::feedHead(std::string_view data) {
  size_t old = head_.size();
  head_.append(data);
  size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  // Only bytes up to the end of the head are head bytes; the rest is body.
  size_t check_to = end == std::string::npos ? head_.size() : end + 4;
  for (size_t i = old; i < check_to; ++i) {
    if (head_[i] == '\n' && (i == 0 || head_[i - 1] != '\r')) {
      fail("bare LF in head");
      return data.size();
    }
  }
  if (end == std::string::npos) {
    if (head_.size() > kMaxHead) fail("head too large");
    return data.size();
  }
  size_t head_len = end + 4;
  size_t used = data.size() - (head_.size() - head_len);
  head_.resize(head_len);
  if (!parseHead()) return used;
  if (kind_ == Kind::kResponse && msg_.status >= 100 && msg_.status < 200 && msg_.status != 101) {
    // Interim response: keep it and parse the next head (RFC 9110 §15.2).
    HttpMessage interim = std::move(msg_);
    std::vector<HttpMessage> earlier = std::move(interim.interim);
    earlier.push_back(std::move(interim));
    msg_ = HttpMessage{};
    msg_.interim = std::move(earlier);
    head_.clear();
    return used;
  }
  head_complete_ = true;
  chooseFraming();
  return used;
}

bool MessageParser::parseHead() {
  msg_.raw_head = head_;
  std::string_view rest(head_);
  rest.remove_suffix(2); // the final empty line's CRLF
  bool first = true;
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (line.find('\r') != std::string_view::npos) {
      fail("bare CR in head");
      return false;
    }
    if (first) {
      if (!parseStartLine(line)) return false;
      first = false;
    } else if (!parseHeaderLine(line, &msg_.headers)) {
      return false;
    }
  }
  if (first) fail("empty head");
  return !failed();
}

bool MessageParser::parseStartLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail("bad start line: " + std::string(line)), false;
  if (kind_ == Kind::kRequest) {
    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      return fail("bad request line: " + std::string(line)), false;
    }
    msg_.method = line.substr(0, sp1);
    msg_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    msg_.version = line.substr(sp2 + 1);
  } else {
    msg_.version = line.substr(0, sp1);
    std::string_view code = line.substr(sp1 + 1, 3);
    uint64_t status = 0;
    if (!parseDecimal(code, &status) || code.size() != 3 ||
        (line.size() > sp1 + 4 && line[sp1 + 4] != ' ')) {
      return fail("bad status line: " + std::string(line)), false;
    }
    msg_.status = static_cast<int>(status);
    if (line.size() > sp1 + 5) msg_.reason = line.substr(sp1 + 5);
  }
  if (msg_.version != "HTTP/1.1" && msg_.version != "HTTP/1.0") {
    return fail("bad version: " + msg_.version), false;
  }
  return true;
}

bool MessageParser::parseHeaderLine(std::string_view line, Headers* into) {
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
    return fail("obs-fold"), false;
  }
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    return fail("bad header line: " + std::string(line)), false;
  }
  std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), isTchar)) {
    return fail("bad header name: " + std::string(name)), false;
  }
  std::string_view value = trimOws(line.substr(colon + 1));
  for (char c : value) {
    if (c == '\0' || c == '\r' || c == '\n') return fail("bad header value"), false;
  }
  into->list.push_back({std::string(name), std::string(value)});
  return true;
}

bool MessageParser::chooseFraming() {
  const Headers& h = msg_.headers;
  bool no_body = kind_ == Kind::kResponse &&
                 (head_request_ || msg_.status == 101 || msg_.status == 204 || msg_.status == 304);
  size_t te_count = h.count("Transfer-Encoding");
  size_t cl_count = h.count("Content-Length");
  if (te_count > 0 && cl_count > 0) return fail("both Content-Length and Transfer-Encoding"), false;
  if (cl_count > 1) return fail("more than one Content-Length"), false;
  if (no_body) {
    msg_.framing = Framing::kNone;
    finish();
    return true;
  }
  if (te_count > 0) {
    if (te_count > 1 || !equalsIgnoreCase(*h.get("Transfer-Encoding"), "chunked")) {
      return fail("unsupported Transfer-Encoding"), false;
    }
    msg_.framing = Framing::kChunked;
    phase_ = Phase::kChunkSize;
    return true;
  }
  if (cl_count == 1) {
    if (!parseDecimal(*h.get("Content-Length"), &remaining_)) {
      return fail("bad Content-Length"), false;
    }
    msg_.framing = Framing::kLength;
    phase_ = Phase::kBody;
    if (remaining_ == 0) finish();
    return true;
  }
  if (kind_ == Kind::kResponse) {
    msg_.framing = Framing::kClose;
    phase_ = Phase::kClose;
    return true;
  }
  msg_.framing = Framing::kNone;
  finish();
  return true;
}

void MessageParser::feedEof() {
  if (state_ != State::kIncomplete) return;
  if (phase_ == Phase::kClose) {
    finish();
  } else {
    fail(head_.empty() && phase_ == Phase::kHead ? "eof before message" : "eof mid-message");
  }
}

std::string makeResponse(int status, std::string_view reason, std::string_view body,
                         std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += extra_headers;
  bool framed = containsIgnoreCase(extra_headers, "content-length:") ||
                containsIgnoreCase(extra_headers, "transfer-encoding:");
  if (!framed && !(status >= 100 && status < 200) && status != 204) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

std::string makeRequest(std::string_view method, std::string_view target, std::string_view host,
                        std::string_view extra_headers, std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  out += "Host: " + std::string(host) + "\r\n";
  out += extra_headers;
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::string chunked(std::string_view body, size_t chunk) {
  std::string out;
  char size[32];
  for (size_t off = 0; off < body.size(); off += chunk) {
    size_t n = std::min(chunk, body.size() - off);
    snprintf(size, sizeof size, "%zx\r\n", n);
    out += size;
    out += body.substr(off, n);
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

} // namespace swytest
