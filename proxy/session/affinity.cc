// Where a request goes beyond its route: the A/B variant of a split, the
// server named by a valid sticky cookie, the key of a consistent hash; and
// the cookies the proxy sets in return. Part of DownstreamSession (see
// downstream.h).
#include <ctime>

#include "proxy/session/downstream.h"
#include "routing/route_table.h"

namespace proxy {

namespace {

constexpr uint64_t kAssignCookieMaxAge = 31536000; // one year

uint64_t nowSeconds() { return static_cast<uint64_t>(::time(nullptr)); }

bool findRequestCookie(const http::MessageHead& head, std::string_view name,
                       std::string_view* value) {
  for (int i = head.find("cookie"); i >= 0; i = head.find("cookie", static_cast<size_t>(i) + 1)) {
    if (routing::findCookie(head.value(static_cast<size_t>(i)), name, value)) return true;
  }
  return false;
}

void appendHex(uint64_t v, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4)
    out->push_back(kHex[(v >> shift) & 0xf]);
}

} // namespace

bool DownstreamSession::lookupKey(const http::MessageHead& head, const config::KeySource& key,
                                  std::string_view path, std::string_view* out) {
  switch (key.kind) {
  case config::KeySource::Kind::kHeader: {
    int i = head.find(key.name);
    if (i < 0) return false;
    *out = head.value(static_cast<size_t>(i));
    return !out->empty();
  }
  case config::KeySource::Kind::kCookie: return findRequestCookie(head, key.name, out);
  case config::KeySource::Kind::kClientIp: *out = client_ip_; return true;
  case config::KeySource::Kind::kPath: *out = path; return true;
  case config::KeySource::Kind::kNone: break;
  }
  return false;
}

void DownstreamSession::resolveAction(const http::MessageHead& head, std::string_view path) {
  const config::RouteAction& action = snapshot_->actions[static_cast<size_t>(route_)];
  if (action.kind == config::RouteAction::Kind::kRedirect) return; // no pool involved
  pool_ = action.kind == config::RouteAction::Kind::kSplit ? resolveSplit(head, path, action.split)
                                                           : action.pool;
  const config::Pool& pool = snapshot_->pools[pool_];
  record_.pool = pool.name;
  std::string_view key;
  if (pool.balance == config::Balance::kHash && lookupKey(head, pool.hash_key, path, &key)) {
    has_hash_key_ = true;
    hash_key_ = routing::stableHash(key);
  }
  if (pool.sticky.enabled) readStickyCookie(head, pool);
}

size_t DownstreamSession::resolveSplit(const http::MessageHead& head, std::string_view path,
                                       size_t index) {
  const config::Split& split = snapshot_->splits[index];
  Experiments& experiments = gen_->experiments();
  const routing::SplitAssigner& assigner = experiments.assigner(index);
  split_ = index;
  std::string_view forced;
  if (split.override_key.kind != config::KeySource::Kind::kNone &&
      lookupKey(head, split.override_key, path, &forced)) {
    variant_ = assigner.find(forced);
    if (variant_ < 0 && experiments.firstUnknownOverride(index)) {
      fprintf(stderr,
              "switchyard: warning: experiment %s: unknown override value ignored (logged once)\n",
              split.experiment.c_str());
    }
  }
  const bool overridden = variant_ >= 0;
  if (!overridden) {
    std::string_view key;
    bool have = lookupKey(head, split.key, path, &key);
    if (!have && !split.assign_cookie.empty()) {
      have = findRequestCookie(head, split.assign_cookie, &key);
      if (!have) { // a new user: hand out an id and remember it in a cookie
        assigned_id_.clear();
        appendHex(worker_.nextRandom(), &assigned_id_);
        appendHex(worker_.nextRandom(), &assigned_id_);
        key = assigned_id_;
        have = true;
      }
    }
    if (!have) key = client_ip_; // no key and nothing to assign: the client address
    variant_ = static_cast<int>(assigner.assign(key));
  }
  TrafficStats& stats = gen_->stats();
  TrafficStats::Variant& counts =
      stats.worker(worker_.id()).variants[stats.variantIndex(index, static_cast<size_t>(variant_))];
  (overridden ? counts.overridden : counts.assigned).add();
  const config::SplitVariant& v = split.variants[static_cast<size_t>(variant_)];
  record_.variant = v.name;
  return v.pool;
}

void DownstreamSession::readStickyCookie(const http::MessageHead& head, const config::Pool& pool) {
  set_sticky_cookie_ = true; // unless a valid cookie names the server we end up using
  std::string_view value, id;
  if (!findRequestCookie(head, pool.sticky.cookie, &value)) return;
  const routing::StickyCodec& codec = *gen_->upstreams().pool(pool_).sticky;
  routing::StickyCodec::Verdict verdict = codec.decode(value, nowSeconds(), &id);
  if (verdict != routing::StickyCodec::Verdict::kValid &&
      verdict != routing::StickyCodec::Verdict::kValidOldKey) {
    return; // tampered, stale or foreign: ignored and replaced
  }
  for (size_t i = 0; i < pool.server_ids.size(); ++i) {
    if (pool.server_ids[i] == id) sticky_server_ = static_cast<int>(i);
  }
  // Signed by an older key: keep the server, re-issue under the current key.
  set_sticky_cookie_ = sticky_server_ < 0 || verdict == routing::StickyCodec::Verdict::kValidOldKey;
}

void DownstreamSession::appendSetCookies(std::string* out) {
  const config::Pool& pool = snapshot_->pools[pool_];
  if (pool.sticky.enabled && server_ >= 0 && (set_sticky_cookie_ || server_ != sticky_server_)) {
    const config::Sticky& st = pool.sticky;
    out->append("Set-Cookie: ");
    out->append(st.cookie);
    out->push_back('=');
    out->append(gen_->upstreams().pool(pool_).sticky->encode(
        pool.server_ids[static_cast<size_t>(server_)], nowSeconds()));
    out->append("; Path=/");
    if (st.ttl_seconds > 0) out->append("; Max-Age=" + std::to_string(st.ttl_seconds));
    if (st.httponly) out->append("; HttpOnly");
    if (!st.samesite.empty()) out->append("; SameSite=" + st.samesite);
    if (st.secure == config::Sticky::Secure::kAlways ||
        (st.secure == config::Sticky::Secure::kAuto && tls_)) {
      out->append("; Secure");
    }
    out->append("\r\n");
  }
  if (!assigned_id_.empty()) {
    const config::Split& split = snapshot_->splits[split_];
    out->append("Set-Cookie: ");
    out->append(split.assign_cookie);
    out->push_back('=');
    out->append(assigned_id_);
    out->append("; Path=/; Max-Age=" + std::to_string(kAssignCookieMaxAge) +
                "; HttpOnly; SameSite=Lax\r\n");
  }
}

} // namespace proxy
