// Pool checks beyond servers: the balance algorithm, its hash_key, and the
// sticky cookie (name, lifetime, attributes; secrets were resolved by the
// reader, so only their absence is noticed here).
#include <strings.h>

#include <string>
#include <vector>

#include "proxy/config/validate.h"
#include "proxy/config/values.h"

namespace proxy::config {
namespace {

const std::vector<std::string_view> kBalances = {"round_robin", "least_conn", "random_two", "hash"};

// True when the key was written, even if its value was rejected by the reader
// (the reader sets loc, with the key path, for every key present).
template <typename T> bool written(const Value<T>& value) { return !value.loc.path.empty(); }

// "round_robin" when absent or unknown (the unknown one is reported apart).
std::string balanceOf(const PoolSpec& pool) {
  return pool.balance.set ? pool.balance.value : "round_robin";
}

void checkBalance(const PoolSpec& pool, Diagnostics& diags) {
  const Value<std::string>& balance = pool.balance;
  if (written(balance) && !balance.set) return; // the reader reported it
  bool known = false;
  for (std::string_view name : kBalances)
    known = known || (balance.set && balance.value == name);
  if (balance.set && !known) {
    diags.error(balance.loc, "unknown balance '" + balance.value + "'" +
                                 suggestion(balance.value, kBalances) +
                                 "; expected round_robin, least_conn, random_two or hash");
    return;
  }
  bool hash = balanceOf(pool) == "hash";
  if (written(pool.hash_key) && !hash) {
    std::string current =
        balance.set ? "balance is " + balance.value : "balance defaults to round_robin";
    diags.error(pool.hash_key.loc, "hash_key is only used with balance: hash (" + current + ")");
  }
  if (hash && !written(pool.hash_key)) {
    diags.error(balance.loc, "balance: hash needs a hash_key: header:NAME, cookie:NAME, "
                             "client_ip or path");
  }
}

void checkTtl(const Value<uint64_t>& ttl, Diagnostics& diags) {
  if (!ttl.set || ttl.value <= kMaxStickyTtlSeconds) return;
  diags.error(ttl.loc, "must be at most 400d (" + std::to_string(kMaxStickyTtlSeconds) +
                           "s): browsers cap cookie lifetimes at 400 days; got " +
                           std::to_string(ttl.value) + "s");
}

void checkSecure(const Value<std::string>& secure, Diagnostics& diags) {
  if (!secure.set) return;
  const std::string& text = secure.value;
  if (text == "auto" || text == "true" || text == "false") return;
  diags.error(secure.loc, "unknown secure '" + text + "'" +
                              suggestion(text, {"auto", "true", "false"}) +
                              "; expected auto, true or false");
}

// SameSite=None without Secure is rejected by browsers (RFC 6265bis 5.6.7.10);
// `auto` adds Secure only on TLS listeners, so it works only there.
void checkSameSite(const StickySpec& sticky, Diagnostics& diags) {
  const Value<std::string>& samesite = sticky.samesite;
  if (!samesite.set) return;
  const std::string& text = samesite.value;
  bool none = strcasecmp(text.c_str(), "None") == 0;
  if (!none && strcasecmp(text.c_str(), "Strict") != 0 && strcasecmp(text.c_str(), "Lax") != 0) {
    diags.error(samesite.loc, "unknown samesite '" + text + "'" +
                                  suggestion(text, {"Strict", "Lax", "None"}) +
                                  "; expected Strict, Lax or None");
    return;
  }
  if (!none || (!sticky.secure.set && written(sticky.secure))) return; // reported apart
  std::string secure = sticky.secure.set ? sticky.secure.value : "auto";
  if (secure == "false") {
    diags.error(samesite.loc, "samesite: None requires a Secure cookie (browsers drop it "
                              "otherwise); set secure: true, or choose Lax or Strict");
  } else if (secure == "auto") {
    diags.warning(samesite.loc, "samesite: None with secure: auto: on a plain-HTTP listener the "
                                "cookie is not Secure and browsers drop it; set secure: true "
                                "if that is intended");
  }
}

void checkSticky(const StickySpec& sticky, Diagnostics& diags) {
  if (!sticky.present) return;
  checkCookieName(sticky.cookie, diags);
  checkTtl(sticky.ttl, diags);
  checkSecure(sticky.secure, diags);
  checkSameSite(sticky, diags);
  bool configured = false;
  for (const Value<std::string>& secret : sticky.secrets)
    configured = configured || written(secret);
  if (!configured) {
    diags.warning(sticky.secrets_loc,
                  "no secrets: a random key is generated for this process, so stickiness will "
                  "not survive restarts or span instances; set sticky.secrets");
  }
}

} // namespace

void checkCookieName(const Value<std::string>& name, Diagnostics& diags) {
  if (!name.set || isToken(name.value)) return;
  diags.error(name.loc,
              "'" + name.value + "' is not a valid cookie name (RFC 6265 4.1.1: a token)");
}

void validateBalancing(const PoolSpec& pool, Diagnostics& diags) {
  checkBalance(pool, diags);
  checkSticky(pool.sticky, diags);
}

} // namespace proxy::config
