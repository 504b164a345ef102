// compileTls(): a validated listener `tls:` block -> tls::ServerOptions ->
// tls::ServerContext (built once per listener per config, shared by every
// worker); compilePoolTls(): a pool's `tls:` -> tls::ClientContext (once per
// pool). Relative file paths resolve against the current directory.
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

// Reports each problem at `loc_of(file)` as "<file>: <message>"; returns
// false (reporting something) when `built` is false.
template <typename LocOf>
bool report(const std::vector<tls::Problem>& problems, bool built, const Loc& fallback,
            LocOf loc_of, Diagnostics& diags) {
  for (const tls::Problem& problem : problems) {
    std::string message =
        problem.file.empty() ? problem.message : problem.file + ": " + problem.message;
    diags.error(loc_of(problem.file), std::move(message));
  }
  if (!built && problems.empty()) diags.error(fallback, "cannot build the TLS context");
  return built;
}

} // namespace

bool compilePoolTls(const PoolTlsSpec& spec, Pool* pool, Diagnostics& diags) {
  if (!spec.present) return true;
  tls::ClientOptions options;
  if (spec.ca.set) options.ca = spec.ca.value;
  options.verify = !spec.verify.set || spec.verify.value;
  options.alpn = {"http/1.1"};
  std::vector<tls::Problem> problems;
  std::unique_ptr<tls::ClientContext> context = tls::ClientContext::create(options, &problems);
  auto loc_of = [&spec](const std::string& file) -> const Loc& {
    return spec.ca.set && !file.empty() && file == spec.ca.value ? spec.ca_key_loc : spec.loc;
  };
  if (!report(problems, context != nullptr, spec.loc, loc_of, diags)) return false;
  pool->tls = std::move(context);
  if (spec.sni.set) pool->tls_sni = spec.sni.value;
  return true;
}

bool compileTls(const TlsSpec& spec, Listener* listener, Diagnostics& diags) {
  if (!spec.present) return true;
  std::vector<tls::Problem> problems;
  std::unique_ptr<tls::ServerContext> context =
      tls::ServerContext::create(serverOptions(spec), &problems);
  auto loc_of = [&spec](const std::string& file) -> const Loc& { return problemLoc(spec, file); };
  if (!report(problems, context != nullptr, spec.loc, loc_of, diags)) return false;
  listener->tls = std::move(context);
  if (spec.hsts_max_age.set) listener->hsts_max_age = spec.hsts_max_age.value;
  listener->mtls_subject_header = spec.client_auth.subject_header.value;
  listener->mtls_fingerprint_header = spec.client_auth.fingerprint_header.value;
  return true;
}

} // namespace proxy::config
