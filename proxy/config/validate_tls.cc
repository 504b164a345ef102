// A listener's `tls:` values: certificates present, protocol and cipher
// choices, ALPN, ticket rotation, client_auth and hsts; a pool's `tls:` (ca,
// sni, verify). The files themselves are loaded (and their problems
// reported) by compile().
#include <string>
#include <vector>

#include "proxy/config/validate.h"
#include "proxy/config/values.h"

namespace proxy::config {
namespace {

const std::vector<std::string_view> kTlsVersions = {"TLSv1.2", "TLSv1.3"};

// True when the key was written, even if its value was rejected by the reader.
template <typename T> bool written(const Value<T>& value) { return !value.loc.path.empty(); }

void checkChoice(const Value<std::string>& value, std::string_view what,
                 const std::vector<std::string_view>& choices, Diagnostics& diags) {
  if (!value.set) return;
  for (std::string_view choice : choices) {
    if (value.value == choice) return;
  }
  diags.error(value.loc, "unknown " + std::string(what) + " '" + value.value + "'" +
                             suggestion(value.value, choices) + "; expected " + joinNames(choices));
}

void checkPath(const Value<std::string>& path, Diagnostics& diags) {
  if (path.set && path.value.empty()) diags.error(path.loc, "expected a file path, got ''");
}

void checkMinVersion(const Value<std::string>& version, Diagnostics& diags) {
  if (!version.set) return;
  for (std::string_view old : {"SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1"}) {
    if (version.value == old) {
      diags.error(version.loc, "TLS versions before 1.2 are insecure and never offered; "
                               "expected TLSv1.2 or TLSv1.3");
      return;
    }
  }
  checkChoice(version, "min_version", kTlsVersions, diags);
}

void checkAlpn(const TlsSpec& tls, Diagnostics& diags) {
  for (const Value<std::string>& protocol : tls.alpn) {
    if (!protocol.set || protocol.value == "http/1.1") continue;
    diags.error(protocol.loc, "unsupported ALPN protocol '" + protocol.value +
                                  "': Switchyard speaks HTTP/1.1 only; expected http/1.1");
  }
}

void checkTickets(const TlsSpec& tls, Diagnostics& diags) {
  const Value<uint64_t>& rotation = tls.ticket_rotation;
  if (rotation.set &&
      (rotation.value < kMinTicketRotationMs || rotation.value > kMaxTicketRotationMs)) {
    diags.error(rotation.loc,
                "must be between 1m and 24h, got " + std::to_string(rotation.value) + "ms");
  }
  bool tickets = !tls.session_tickets.set || tls.session_tickets.value;
  if (!tickets && written(tls.ticket_secret)) {
    diags.warning(tls.ticket_secret.loc, "ticket_secret is unused with session_tickets: false");
  }
}

void checkClientAuth(const ClientAuthSpec& auth, Diagnostics& diags) {
  if (!auth.present) return;
  checkPath(auth.ca, diags);
  checkChoice(auth.mode, "mode", {"required", "optional"}, diags);
  for (const Value<std::string>* h : {&auth.subject_header, &auth.fingerprint_header}) {
    if (h->set && !isToken(h->value)) {
      diags.error(h->loc, "'" + h->value + "' is not a valid header name (RFC 9110 token)");
    }
  }
}

void checkHsts(const TlsSpec& tls, Diagnostics& diags) {
  const Value<uint64_t>& max_age = tls.hsts_max_age;
  if (!max_age.set) return;
  if (max_age.value == 0 || max_age.value > kMaxHstsSeconds) {
    diags.error(max_age.loc, "must be between 1 and " + std::to_string(kMaxHstsSeconds) +
                                 " seconds (10 years), got " + std::to_string(max_age.value) +
                                 "; remove hsts to send no header");
  }
}

// An SNI host name: letters, digits, '-' and '.' (RFC 6066 3: a DNS host
// name, no port, no trailing dot, not an IP literal).
void checkSni(const Value<std::string>& sni, Diagnostics& diags) {
  if (!sni.set) return;
  const std::string& name = sni.value;
  bool ok = !name.empty() && name.size() <= 253 && name.front() != '.' && name.back() != '.' &&
            name.front() != '-';
  bool all_digits = true;
  for (char c : name) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = (c >= '0' && c <= '9');
    ok = ok && (alpha || digit || c == '-' || c == '.');
    all_digits = all_digits && (digit || c == '.');
  }
  if (!ok || all_digits) {
    diags.error(sni.loc, "expected a DNS host name such as app.internal (no port, not an IP "
                         "address), got '" +
                             name + "'");
  }
}

} // namespace

void validatePoolTls(const PoolTlsSpec& tls, Diagnostics& diags) {
  if (!tls.present) return;
  checkPath(tls.ca, diags);
  checkSni(tls.sni, diags);
  if (tls.verify.set && !tls.verify.value) {
    diags.warning(tls.verify.loc,
                  "verify: false: the upstream servers are NOT authenticated; anyone on the "
                  "path can impersonate them and read the traffic. Use it only for testing");
    if (written(tls.ca)) diags.warning(tls.ca.loc, "ca is unused with verify: false");
  }
}

void validateTls(const TlsSpec& tls, Diagnostics& diags) {
  if (!tls.present) return;
  bool listed = tls.certificates_loc.path != tls.loc.path; // else the reader reported it
  if (listed && tls.certificates.empty()) {
    diags.error(tls.certificates_loc, "at least one certificate is required (the first is the "
                                      "default for clients without SNI)");
  }
  for (const CertificateSpec& certificate : tls.certificates) {
    checkPath(certificate.cert, diags);
    checkPath(certificate.key, diags);
  }
  checkMinVersion(tls.min_version, diags);
  checkChoice(tls.ciphers, "ciphers", {"intermediate", "modern"}, diags);
  checkAlpn(tls, diags);
  checkTickets(tls, diags);
  checkClientAuth(tls.client_auth, diags);
  checkHsts(tls, diags);
}

} // namespace proxy::config
