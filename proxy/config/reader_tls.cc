// Reader for a listener's `tls:` block: certificates, protocol options,
// session tickets (the ticket secret is resolved here, like sticky secrets),
// client_auth and hsts. Shapes and conversions only; validate_tls.cc checks
// the values and compile() loads the files.
#include "proxy/config/reader.h"
#include "proxy/config/secrets.h"
#include "proxy/config/values.h"
#include "proxy/config/yaml_node.h"

namespace proxy::config {
namespace {

using Item = std::pair<YAML::Node, Loc>;

// Reads a file path; records where its key was written.
void readPath(const Entry* entry, Value<std::string>* out, Loc* key_loc, Diagnostics& diags) {
  if (entry == nullptr) return;
  *key_loc = entry->key_loc;
  readString(entry, out, diags);
}

CertificateSpec readCertificate(const Item& item, Diagnostics& diags) {
  CertificateSpec spec;
  spec.loc = item.second;
  spec.cert_key_loc = spec.key_key_loc = item.second;
  MapView map(item.first, item.second, {"cert", "key"}, diags);
  readPath(map.require("cert", diags), &spec.cert, &spec.cert_key_loc, diags);
  readPath(map.require("key", diags), &spec.key, &spec.key_key_loc, diags);
  return spec;
}

void readTicketSecret(const Entry* entry, Value<std::string>* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  bool literal = false;
  readScalar<std::string>(
      entry, "a secret: env:NAME, file:PATH or a string",
      [&literal](const std::string& text, std::string* value) {
        ResolvedSecret secret;
        std::string error = resolveSecret(text, &secret);
        *value = std::move(secret.bytes);
        literal = secret.literal;
        return error;
      },
      out, diags);
  if (literal) {
    diags.warning(entry->value_loc, "a literal secret in the config file; secrets belong in "
                                    "env:NAME or file:PATH");
  }
}

void readClientAuth(const Entry* entry, ClientAuthSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = out->ca_key_loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc,
              {"ca", "mode", "subject_header", "fingerprint_header"}, diags);
  readPath(map.require("ca", diags), &out->ca, &out->ca_key_loc, diags);
  readString(map.find("mode"), &out->mode, diags);
  readString(map.find("subject_header"), &out->subject_header, diags);
  readString(map.find("fingerprint_header"), &out->fingerprint_header, diags);
}

// max_age: seconds as a plain integer, or a duration with s, m, h or d.
void readHsts(const Entry* entry, TlsSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->has_hsts = true;
  out->hsts_loc = entry->value_loc;
  MapView map(entry->value, entry->value_loc, {"max_age"}, diags);
  readScalar<uint64_t>(
      map.require("max_age", diags), "seconds or a duration such as 730d",
      [](const std::string& text, uint64_t* seconds) {
        if (parseUint(text, seconds)) return std::string();
        if (!parseTtl(text, seconds).empty()) {
          return "expected seconds or a duration such as 365d (units s, m, h, d), got '" + text +
                 "'";
        }
        return std::string();
      },
      &out->hsts_max_age, diags);
}

} // namespace

void readTls(const Entry* entry, TlsSpec* out, Diagnostics& diags) {
  if (entry == nullptr) return;
  out->present = true;
  out->loc = out->certificates_loc = out->hsts_loc = entry->key_loc;
  MapView map(entry->value, entry->value_loc,
              {"certificates", "min_version", "ciphers", "alpn", "session_tickets",
               "ticket_rotation", "ticket_secret", "strict_sni", "client_auth", "hsts"},
              diags);
  if (const Entry* certificates = map.require("certificates", diags)) {
    out->certificates_loc = certificates->key_loc;
    for (const Item& item : listItems(*certificates, diags))
      out->certificates.push_back(readCertificate(item, diags));
  }
  readString(map.find("min_version"), &out->min_version, diags);
  readString(map.find("ciphers"), &out->ciphers, diags);
  if (const Entry* alpn = map.find("alpn")) {
    out->has_alpn = true;
    for (const Entry& item : scalarItems(*alpn, diags)) {
      out->alpn.emplace_back();
      readString(&item, &out->alpn.back(), diags);
    }
  }
  readBool(map.find("session_tickets"), &out->session_tickets, diags);
  readDuration(map.find("ticket_rotation"), &out->ticket_rotation, diags);
  readTicketSecret(map.find("ticket_secret"), &out->ticket_secret, diags);
  readBool(map.find("strict_sni"), &out->strict_sni, diags);
  readClientAuth(map.find("client_auth"), &out->client_auth, diags);
  readHsts(map.find("hsts"), out, diags);
}

} // namespace proxy::config
