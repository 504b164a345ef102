// Socket address parsing and resolution for listeners and servers.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

#include "proxy/config/load.h"
#include "proxy/config/values.h"

namespace proxy::config {
namespace {

HostResolver test_resolver = nullptr; // test hook; null = getaddrinfo

int lookUp(const char* host, const addrinfo* hints, addrinfo** result) {
  if (test_resolver != nullptr) return test_resolver(host, hints, result);
  return getaddrinfo(host, nullptr, hints, result);
}

constexpr std::string_view kExample = "expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080";

struct HostPort {
  std::string host;
  std::string_view port;
  bool bracketed = false;
};

std::string splitHostPort(std::string_view text, HostPort* out) {
  if (text.empty()) return "empty address; " + std::string(kExample);
  size_t colon = 0;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return "missing ']' after the IPv6 address";
    out->host = std::string(text.substr(1, close - 1));
    out->bracketed = true;
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return "missing port; " + std::string(kExample);
    }
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return "missing port; " + std::string(kExample);
    if (text.find(':') != colon) return "an IPv6 address needs brackets, e.g. [::1]:8080";
    out->host = std::string(text.substr(0, colon));
  }
  out->port = text.substr(colon + 1);
  if (out->host.empty()) {
    return "missing host before ':'; use 0.0.0.0:" + std::string(out->port) +
           " for every IPv4 address or [::]:" + std::string(out->port) + " for every IPv6 one";
  }
  return "";
}

bool parsePort(std::string_view text, const AddressRules& rules, uint16_t* port) {
  uint64_t value = 0;
  if (!parseUint(text, &value) || value > 65535) return false;
  if (value == 0 && !rules.allow_port_zero) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

bool setNumericV4(const std::string& host, uint16_t port, SocketAddress* out) {
  sockaddr_in sin{};
  if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) return false;
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  std::memcpy(&out->storage, &sin, sizeof sin);
  out->length = sizeof sin;
  return true;
}

struct AddrinfoFree {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

// getaddrinfo, keeping the first IPv4 result if any, else the first result.
std::string resolve(const std::string& host, int family, int flags, uint16_t port,
                    SocketAddress* out) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags; // no AI_ADDRCONFIG: "localhost" must work without a route
  addrinfo* raw = nullptr;
  int rc = (flags & AI_NUMERICHOST) != 0 ? getaddrinfo(host.c_str(), nullptr, &hints, &raw)
                                         : lookUp(host.c_str(), &hints, &raw);
  std::unique_ptr<addrinfo, AddrinfoFree> list(raw);
  if (rc != 0) return gai_strerror(rc);
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (pick == nullptr || (ai->ai_family == AF_INET && pick->ai_family != AF_INET)) pick = ai;
  }
  if (pick == nullptr || pick->ai_addrlen > sizeof out->storage) return "no IPv4 or IPv6 address";
  std::memcpy(&out->storage, pick->ai_addr, pick->ai_addrlen);
  out->length = static_cast<socklen_t>(pick->ai_addrlen);
  if (pick->ai_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out->storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&out->storage)->sin6_port = htons(port);
  }
  return "";
}

bool looksNumeric(const std::string& host) {
  return host.find_first_not_of("0123456789.") == std::string::npos;
}

bool validHostName(const std::string& host) {
  if (host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool isLocalhost(const std::string& host) { return strcasecmp(host.c_str(), "localhost") == 0; }

std::string resolveHost(const HostPort& hp, const AddressRules& rules, uint16_t port,
                        SocketAddress* out) {
  if (hp.bracketed) {
    if (resolve(hp.host, AF_INET6, AI_NUMERICHOST, port, out).empty()) return "";
    return "'" + hp.host + "' is not a valid IPv6 address";
  }
  if (setNumericV4(hp.host, port, out)) return "";
  if (looksNumeric(hp.host)) return "'" + hp.host + "' is not a valid IPv4 address";
  if (!validHostName(hp.host)) return "'" + hp.host + "' is not a valid host name";
  if (!rules.allow_hostnames && !isLocalhost(hp.host)) {
    return "'" + hp.host + "' is not allowed here: use a numeric IPv4 address, [IPv6] or localhost";
  }
  std::string error = resolve(hp.host, AF_UNSPEC, 0, port, out);
  if (!error.empty()) return "cannot resolve '" + hp.host + "': " + error;
  return "";
}

} // namespace

std::string parseAddress(std::string_view text, const AddressRules& rules, SocketAddress* out) {
  HostPort hp;
  std::string error = splitHostPort(text, &hp);
  if (!error.empty()) return error;
  uint16_t port = 0;
  if (!parsePort(hp.port, rules, &port)) {
    return rules.allow_port_zero ? "port must be a number between 0 and 65535"
                                 : "port must be a number between 1 and 65535";
  }
  SocketAddress result;
  error = resolveHost(hp, rules, port, &result);
  if (!error.empty()) return error;
  result.text = std::string(text);
  *out = std::move(result);
  return "";
}

void setHostResolverForTest(HostResolver resolver) { test_resolver = resolver; }

std::string parsePercent(std::string_view text, uint32_t* out) {
  std::string_view digits = text;
  if (!digits.empty() && digits.back() == '%') digits.remove_suffix(1);
  uint64_t value = 0;
  if (!parseUint(digits, &value) || value > 100)
    return "expected a share such as 20%, from 0% to 100%, got '" + std::string(text) + "'";
  *out = static_cast<uint32_t>(value);
  return "";
}

std::string parseStatusRange(std::string_view text, uint16_t* min, uint16_t* max) {
  size_t dash = text.find('-');
  std::string_view lo = text.substr(0, dash);
  std::string_view hi = dash == std::string_view::npos ? lo : text.substr(dash + 1);
  uint64_t a = 0, b = 0;
  if (!parseUint(lo, &a) || !parseUint(hi, &b))
    return "expected a status or a range such as 200-399, got '" + std::string(text) + "'";
  if (a < 100 || b > 599 || a > b)
    return "expected statuses within 100-599, low to high, got '" + std::string(text) + "'";
  *min = static_cast<uint16_t>(a);
  *max = static_cast<uint16_t>(b);
  return "";
}

std::string_view addressHost(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    return close == std::string_view::npos ? text : text.substr(1, close - 1);
  }
  return text.substr(0, text.rfind(':'));
}

uint16_t addressPort(const SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_port);
  }
  if (address.storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_port);
  }
  return 0;
}

std::string parseSocketAddress(std::string_view text, SocketAddress* out) {
  AddressRules rules;
  rules.allow_port_zero = true;
  rules.allow_hostnames = true;
  return parseAddress(text, rules, out);
}

} // namespace proxy::config
