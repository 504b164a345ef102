#include "proxy/http/request_target.h"

#include <llhttp.h>

#include <cctype>

namespace proxy::http {
namespace {

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Splits the request-target (RFC 9112 section 3.2). Absolute-form carries
// the authority, which then replaces Host; upstream gets origin-form.
const char* splitTarget(const MessageHead& head, RequestTarget* out, std::string_view* authority) {
  std::string_view t = head.target();
  if (t == "*") {
    if (head.method != HTTP_OPTIONS) return "asterisk-form is only valid for OPTIONS";
    out->target.assign(t);
    out->path = out->target;
    out->query = {};
    return nullptr;
  }
  if (t.empty() || t.front() != '/') {
    size_t skip = startsWithIgnoreCase(t, "http://")    ? 7
                  : startsWithIgnoreCase(t, "https://") ? 8
                                                        : 0;
    if (skip == 0) return "invalid request target";
    t.remove_prefix(skip);
    size_t slash = t.find_first_of("/?");
    *authority = t.substr(0, slash);
    if (authority->empty() || authority->find('@') != std::string_view::npos)
      return "invalid authority in request target";
    t = slash == std::string_view::npos ? std::string_view() : t.substr(slash);
    out->target.assign(t.empty() || t.front() != '/' ? "/" : "");
    out->target.append(t);
  } else {
    out->target.assign(t);
  }
  size_t hash = out->target.find('#');
  if (hash != std::string::npos) out->target.resize(hash); // never sent (RFC 9110 s4.2.5)
  std::string_view origin = out->target;
  size_t q = origin.find('?');
  out->path = origin.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : origin.substr(q + 1);
  return nullptr;
}

} // namespace

bool validAuthority(std::string_view a) {
  std::string_view port;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : a.substr(1, close - 1)) {
      if (!isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    size_t colon = a.rfind(':');
    std::string_view host = a.substr(0, colon);
    if (colon != std::string_view::npos) port = a.substr(colon + 1);
    // reg-name or IPv4: unreserved, pct-encoded, sub-delims.
    for (char c : host) {
      if (!isalnum(static_cast<unsigned char>(c)) &&
          std::string_view("-._~!$&'()*+,;=%").find(c) == std::string_view::npos)
        return false;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

const char* prepareRequestTarget(const MessageHead& head, RequestTarget* out) {
  if (head.method == HTTP_CONNECT) return "CONNECT is not supported by this reverse proxy";
  // "PRI * HTTP/2.0" opens HTTP/2 with prior knowledge; as an HTTP/1.1
  // method it would reach an upstream that reads it as a broken preface.
  if (head.method == HTTP_PRI)
    return "PRI is the HTTP/2 connection preface; this listener speaks HTTP/1.1";
  // Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
  const bool is10 = head.version_major == 1 && head.version_minor == 0;
  if (is10 && head.find("transfer-encoding") >= 0)
    return "Transfer-Encoding in an HTTP/1.0 request";
  // Exactly one Host in HTTP/1.1, at most one in 1.0.
  const size_t hosts = head.count("host");
  if (hosts > 1) return "more than one Host header";
  if (!is10 && hosts == 0) return "missing Host header";
  std::string_view authority;
  if (const char* why = splitTarget(head, out, &authority)) return why;
  // A Host with an invalid value is a 400, also when an absolute-form
  // target's authority replaces it.
  std::string_view host_field =
      hosts == 1 ? head.value(static_cast<size_t>(head.find("host"))) : std::string_view();
  if (!validAuthority(host_field)) return "invalid Host header";
  if (!validAuthority(authority)) return "invalid authority in request target";
  if (authority.empty()) authority = host_field;
  // The host routes see: the port stripped, lowercased.
  std::string_view h = authority;
  if (!h.empty() && h.front() == '[') {
    h = h.substr(0, h.find(']') + 1);
  } else {
    size_t colon = h.rfind(':');
    if (colon != std::string_view::npos) h = h.substr(0, colon);
  }
  out->host.assign(h);
  for (char& c : out->host)
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  out->forward_host.assign(authority);
  if (head.chunked) {
    out->framing = Framing::kChunked;
  } else if (head.has_content_length && head.content_length > 0) {
    out->framing = Framing::kContentLength;
  } else {
    out->framing = Framing::kNone;
  }
  return nullptr;
}

} // namespace proxy::http
