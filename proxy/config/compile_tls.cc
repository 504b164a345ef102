// compileTls(): a validated `tls:` block -> tls::ServerOptions ->
// tls::ServerContext (built once per listener per config, shared by every
// worker). Relative file paths resolve against the current directory.
#include <utility>
#include <vector>

#include "proxy/config/compile.h"

namespace proxy::config {
namespace {

tls::ServerOptions serverOptions(const TlsSpec& spec) {
  tls::ServerOptions options;
  for (const CertificateSpec& certificate : spec.certificates)
    options.certificates.push_back(
        tls::CertificateFiles{certificate.cert.value, certificate.key.value});
  if (spec.min_version.set) options.min_version = spec.min_version.value;
  if (spec.ciphers.set) options.ciphers = spec.ciphers.value;
  if (spec.has_alpn) {
    options.alpn.clear();
    for (const Value<std::string>& protocol : spec.alpn)
      options.alpn.push_back(protocol.value);
  }
  if (spec.session_tickets.set) options.session_tickets = spec.session_tickets.value;
  if (spec.ticket_rotation.set) options.ticket_rotation_seconds = spec.ticket_rotation.value / 1000;
  if (spec.ticket_secret.set) options.ticket_secret = spec.ticket_secret.value;
  if (spec.strict_sni.set) options.strict_sni = spec.strict_sni.value;
  if (spec.client_auth.present) {
    bool optional = spec.client_auth.mode.set && spec.client_auth.mode.value == "optional";
    options.client_auth = optional ? tls::ClientAuth::kOptional : tls::ClientAuth::kRequired;
    options.client_ca = spec.client_auth.ca.value;
  }
  return options;
}

// The key naming `file`, or the `tls` key when no key does (or file is empty).
const Loc& problemLoc(const TlsSpec& spec, const std::string& file) {
  if (file.empty()) return spec.loc;
  for (const CertificateSpec& certificate : spec.certificates) {
    if (certificate.cert.value == file) return certificate.cert_key_loc;
    if (certificate.key.value == file) return certificate.key_key_loc;
  }
  if (spec.client_auth.present && spec.client_auth.ca.value == file)
    return spec.client_auth.ca_key_loc;
  return spec.loc;
}

} // namespace

bool compileTls(const TlsSpec& spec, Listener* listener, Diagnostics& diags) {
  if (!spec.present) return true;
  std::vector<tls::Problem> problems;
  std::unique_ptr<tls::ServerContext> context =
      tls::ServerContext::create(serverOptions(spec), &problems);
  for (const tls::Problem& problem : problems) {
    std::string message =
        problem.file.empty() ? problem.message : problem.file + ": " + problem.message;
    diags.error(problemLoc(spec, problem.file), std::move(message));
  }
  if (context == nullptr) {
    if (problems.empty()) diags.error(spec.loc, "cannot build the TLS context");
    return false;
  }
  listener->tls = std::move(context);
  if (spec.hsts_max_age.set) listener->hsts_max_age = spec.hsts_max_age.value;
  return true;
}

} // namespace proxy::config
