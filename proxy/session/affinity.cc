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
  case config::KeySource::Kind::kClientIp: *out = ex_->client_ip; return true;
  case config::KeySource::Kind::kPath: *out = path; return true;
  case config::KeySource::Kind::kNone: break;
  }
  return false;
}

void DownstreamSession::resolveAction(const http::MessageHead& head, std::string_view path) {
  const config::RouteAction& action = ex_->snapshot->actions[static_cast<size_t>(ex_->route)];
  if (action.kind == config::RouteAction::Kind::kRedirect) return; // no pool involved
  ex_->pool = action.kind == config::RouteAction::Kind::kSplit
                  ? resolveSplit(head, path, action.split)
                  : action.pool;
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  ex_->record.pool = pool.name;
  std::string_view key;
  if (pool.balance == config::Balance::kHash && lookupKey(head, pool.hash_key, path, &key)) {
    ex_->has_hash_key = true;
    ex_->hash_key = routing::stableHash(key);
  }
  if (pool.sticky.enabled) readStickyCookie(head, pool);
}

size_t DownstreamSession::resolveSplit(const http::MessageHead& head, std::string_view path,
                                       size_t index) {
  const config::Split& split = ex_->snapshot->splits[index];
  Experiments& experiments = gen_->experiments();
  const routing::SplitAssigner& assigner = experiments.assigner(index);
  ex_->split = index;
  std::string_view forced;
  if (split.override_key.kind != config::KeySource::Kind::kNone &&
      lookupKey(head, split.override_key, path, &forced)) {
    ex_->variant = assigner.find(forced);
    if (ex_->variant < 0 && experiments.firstUnknownOverride(index)) {
      fprintf(stderr,
              "switchyard: warning: experiment %s: unknown override value ignored (logged once)\n",
              split.experiment.c_str());
    }
  }
  const bool overridden = ex_->variant >= 0;
  if (!overridden) {
    std::string_view key;
    bool have = lookupKey(head, split.key, path, &key);
    if (!have && !split.assign_cookie.empty()) {
      have = findRequestCookie(head, split.assign_cookie, &key);
      if (!have) { // a new user: hand out an id and remember it in a cookie
        ex_->assigned_id.clear();
        appendHex(worker_.nextRandom(), &ex_->assigned_id);
        appendHex(worker_.nextRandom(), &ex_->assigned_id);
        key = ex_->assigned_id;
        have = true;
      }
    }
    if (!have) key = ex_->client_ip; // no key and nothing to assign: the client address
    ex_->variant = static_cast<int>(assigner.assign(key));
  }
  TrafficStats& stats = gen_->stats();
  TrafficStats::Variant& counts =
      stats.worker(worker_.id())
          .variants[stats.variantIndex(index, static_cast<size_t>(ex_->variant))];
  (overridden ? counts.overridden : counts.assigned).add();
  const config::SplitVariant& v = split.variants[static_cast<size_t>(ex_->variant)];
  ex_->record.variant = v.name;
  return v.pool;
}

void DownstreamSession::readStickyCookie(const http::MessageHead& head, const config::Pool& pool) {
  ex_->set_sticky_cookie = true; // unless a valid cookie names the server we end up using
  std::string_view value, id;
  if (!findRequestCookie(head, pool.sticky.cookie, &value)) return;
  const routing::StickyCodec& codec = *gen_->upstreams().pool(ex_->pool).sticky;
  routing::StickyCodec::Verdict verdict = codec.decode(value, nowSeconds(), &id);
  if (verdict != routing::StickyCodec::Verdict::kValid &&
      verdict != routing::StickyCodec::Verdict::kValidOldKey) {
    return; // tampered, stale or foreign: ignored and replaced
  }
  for (size_t i = 0; i < pool.server_ids.size(); ++i) {
    if (pool.server_ids[i] == id) ex_->sticky_server = static_cast<int>(i);
  }
  // Signed by an older key: keep the server, re-issue under the current key.
  ex_->set_sticky_cookie =
      ex_->sticky_server < 0 || verdict == routing::StickyCodec::Verdict::kValidOldKey;
}

void DownstreamSession::appendSetCookies(std::string* out) {
  const config::Pool& pool = ex_->snapshot->pools[ex_->pool];
  if (pool.sticky.enabled && ex_->server >= 0 &&
      (ex_->set_sticky_cookie || ex_->server != ex_->sticky_server)) {
    const config::Sticky& st = pool.sticky;
    out->append("Set-Cookie: ");
    out->append(st.cookie);
    out->push_back('=');
    out->append(gen_->upstreams().pool(ex_->pool).sticky->encode(
        pool.server_ids[static_cast<size_t>(ex_->server)], nowSeconds()));
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
  if (!ex_->assigned_id.empty()) {
    const config::Split& split = ex_->snapshot->splits[ex_->split];
    out->append("Set-Cookie: ");
    out->append(split.assign_cookie);
    out->push_back('=');
    out->append(ex_->assigned_id);
    out->append("; Path=/; Max-Age=" + std::to_string(kAssignCookieMaxAge) +
                "; HttpOnly; SameSite=Lax\r\n");
  }
}

} // namespace proxy
