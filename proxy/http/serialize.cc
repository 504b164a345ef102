#include "proxy/http/serialize.h"

#include <charconv>

#include "proxy/core/error.h"

namespace proxy::http {

namespace {

constexpr std::string_view kAlwaysHopByHop[] = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
};

void appendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

bool isReplacedForwardingField(std::string_view name) noexcept {
  return equalsIgnoreCase(name, "x-forwarded-for") || equalsIgnoreCase(name, "x-forwarded-proto") ||
         equalsIgnoreCase(name, "x-forwarded-host") || equalsIgnoreCase(name, "host");
}

void appendNumber(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

} // namespace

bool isHopByHop(const MessageHead& head, size_t field, bool upgrading) noexcept {
  std::string_view name = head.name(field);
  for (std::string_view h : kAlwaysHopByHop) {
    if (equalsIgnoreCase(name, h)) return true;
  }
  if (equalsIgnoreCase(name, "upgrade")) return !upgrading;
  // Content-Length frames the message (RFC 9112 section 6.2). A Connection
  // option naming it (which RFC 9110 section 7.6.1 forbids) must not strip
  // it: the body would reach the next hop unframed, a smuggling vector.
  if (equalsIgnoreCase(name, "content-length")) return false;
  for (int c = head.find("connection"); c >= 0; c = head.find("connection", c + 1)) {
    if (listHasToken(head.value(static_cast<size_t>(c)), name)) return true;
  }
  return false;
}

void serializeRequest(const MessageHead& request, const UpstreamRequest& info, std::string* out) {
  out->append(info.method);
  out->push_back(' ');
  out->append(info.target);
  out->append(" HTTP/1.1\r\nHost: ");
  out->append(info.host);
  out->append("\r\n");
  bool xff_started = false;
  for (size_t i = 0; i < request.fieldCount(); ++i) {
    if (isHopByHop(request, i, info.upgrade)) continue;
    std::string_view name = request.name(i);
    if (isReplacedForwardingField(name) || equalsIgnoreCase(name, kVariantHeader)) continue;
    if ((!info.drop_fields[0].empty() && equalsIgnoreCase(name, info.drop_fields[0])) ||
        (!info.drop_fields[1].empty() && equalsIgnoreCase(name, info.drop_fields[1]))) {
      continue;
    }
    if (!info.strip_cookie.empty() && equalsIgnoreCase(name, "cookie")) {
      size_t mark = out->size();
      out->append("Cookie: ");
      if (appendCookiesWithout(request.value(i), info.strip_cookie, out)) {
        out->append("\r\n");
      } else {
        out->resize(mark);
      }
      continue;
    }
    if (equalsIgnoreCase(name, "content-length") && info.framing != Framing::kContentLength)
      continue;
    appendField(out, name, request.value(i));
  }
  // RFC 7239 section 5.2's de-facto predecessor: every hop appends its peer.
  out->append("X-Forwarded-For: ");
  for (int i = request.find("x-forwarded-for"); i >= 0;
       i = request.find("x-forwarded-for", i + 1)) {
    std::string_view v = request.value(static_cast<size_t>(i));
    if (v.empty()) continue;
    if (xff_started) out->append(", ");
    out->append(v);
    xff_started = true;
  }
  if (xff_started) out->append(", ");
  out->append(info.client_ip);
  out->append("\r\n");
  appendField(out, "X-Forwarded-Proto", info.proto);
  appendField(out, "X-Forwarded-Host", info.host);
  if (!info.variant.empty()) appendField(out, kVariantHeader, info.variant);
  out->append(info.extra_fields);
  if (info.framing == Framing::kChunked) out->append("Transfer-Encoding: chunked\r\n");
  if (info.upgrade) out->append("Connection: upgrade\r\n");
  out->append("\r\n");
}

bool appendCookiesWithout(std::string_view cookie_value, std::string_view name, std::string* out) {
  bool any = false;
  while (!cookie_value.empty()) {
    size_t semi = cookie_value.find(';');
    std::string_view pair = cookie_value.substr(0, semi);
    cookie_value =
        semi == std::string_view::npos ? std::string_view() : cookie_value.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t'))
      pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t'))
      pair.remove_suffix(1);
    if (pair.empty()) continue;
    std::string_view pair_name = pair.substr(0, pair.find('='));
    // Trim as routing::findCookie does (spaces and tabs), or a cookie the
    // proxy reads as `name` would reach the app.
    while (!pair_name.empty() && (pair_name.back() == ' ' || pair_name.back() == '\t'))
      pair_name.remove_suffix(1);
    if (pair_name == name) continue;
    if (any) out->append("; ");
    out->append(pair);
    any = true;
  }
  return any;
}

void serializeResponse(const MessageHead& response, const DownstreamResponse& info,
                       std::string* out) {
  out->append("HTTP/1.1 ");
  appendNumber(out, static_cast<uint64_t>(response.status));
  out->push_back(' ');
  std::string_view reason = response.target();
  out->append(reason.empty() ? reasonPhrase(response.status) : reason);
  out->append("\r\n");
  for (size_t i = 0; i < response.fieldCount(); ++i) {
    if (isHopByHop(response, i, info.upgrade)) continue;
    std::string_view name = response.name(i);
    if (equalsIgnoreCase(name, "content-length") && info.framing != Framing::kContentLength &&
        !info.keep_length) {
      continue;
    }
    appendField(out, name, response.value(i));
  }
  out->append(info.extra);
  if (info.framing == Framing::kChunked) out->append("Transfer-Encoding: chunked\r\n");
  if (info.upgrade) {
    out->append("Connection: upgrade\r\n");
  } else if (info.close) {
    out->append("Connection: close\r\n");
  } else if (info.keep_alive_10) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
}

void serializeLocalResponse(int status, std::string_view body_text, bool close, bool head_only,
                            std::string* out, std::string_view extra) {
  out->append("HTTP/1.1 ");
  appendNumber(out, static_cast<uint64_t>(status));
  out->push_back(' ');
  out->append(reasonPhrase(status));
  out->append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  appendNumber(out, body_text.size() + 1);
  out->append("\r\nCache-Control: no-store\r\n");
  out->append(extra);
  if (close) out->append("Connection: close\r\n");
  out->append("\r\n");
  if (!head_only) {
    out->append(body_text);
    out->push_back('\n');
  }
}

size_t chunkHeader(size_t length, char* buf) noexcept {
  auto r = std::to_chars(buf, buf + 16, length, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return static_cast<size_t>(r.ptr - buf) + 2;
}

} // namespace proxy::http
