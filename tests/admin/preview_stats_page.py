"""Serves the stats page with a mock admin API, to look at it without the proxy.

  preview_stats_page.py [--seconds N] [--page PATH] [--reload-every S]
                        [--outage-after S] [--put-error] [--put-delay S]
                        [--empty] [--hostile-names] [--verbose]

Listens on 127.0.0.1, port 0 (the kernel picks one), prints the page's URL on
the first line of stdout and stops by itself after --seconds (default 60).

  GET /                 proxy/admin/stats_page.html, read again on every request
                        (so an edited page shows on reload), with the headers
                        the admin listener is meant to send (CSP included)
  GET /api/stats        MOCK stats in the proxy's JSON contract; the counters
                        grow between polls at a rate that wanders
  PUT /api/pools/{pool}/servers/{server}
                        body {"state": "ready"|"drain"|"maint"}, Content-Type
                        application/json; changes the mock server's state.
                        Errors answer {"error": "..."} with 400/404/409/415.

--reload-every S   every S seconds: generation+1, counters reset (a reload)
--outage-after S   /api/stats answers 503 after S seconds (connection lost)
--put-error        every PUT answers 409 (to see the row's error text)
--put-delay S      each PUT waits S seconds first (to see pending buttons)
--empty            no routes, pools or experiments (the empty states)
--hostile-names    names with HTML in them (the page must show them as text)
--simulated-time   each GET /api/stats moves the mock's clock 2 s on, whatever
                   the real time: for headless screenshots under
                   --virtual-time-budget, where the page polls faster than real time
"""
import argparse
import json
import math
import os
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PAGE = os.path.join(HERE, "..", "..", "proxy", "admin", "stats_page.html")
SERVER_PATH = re.compile(r"^/api/pools/([^/]+)/servers/([^/]+)$")
STATES = ("ready", "drain", "maint")
# What the admin listener should send with the page: everything inline, fetches
# to itself only, and no framing (the page has buttons that change state).
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"),
}


def chi2_sf(x, df):
    """P(X >= x) for a chi-squared variable with df degrees of freedom."""
    if x <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    if z < a + 1:  # series for the lower regularized gamma
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-12:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(-z + a * math.log(z) - math.lgamma(a)))
    # continued fraction for the upper one (Lentz)
    b, c, d = z + 1 - a, 1e300, 1.0 / (z + 1 - a)
    h = d
    for i in range(1, 300):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1) < 1e-12:
            break
    return math.exp(-z + a * math.log(z) - math.lgamma(a)) * h


class Mock:
    """The proxy's state as the page sees it; every method runs under `lock`."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.simulated = 0.0 if args.simulated_time else None
        self.started = self.clock()
        self.last = self.started
        self.last_reload = self.started
        self.generation = 3
        self.reloads = {"ok": 2, "failed": 1, "last_result": "ok"}
        odd = "<img src=x onerror=alert(1)>" if args.hostile_names else None
        self.listeners = [
            {"name": "public", "address": "127.0.0.1:8080", "tls": False, "connections": 12},
            {"name": "public-tls", "address": "127.0.0.1:8443", "tls": True, "connections": 31},
        ]
        # route name -> (pool, base req/s, share of 3xx, 4xx, 5xx, p50 ms)
        self.route_cfg = {
            "api": ("app", 42.0, 0.01, 0.03, 0.004, 1.8),
            "default": ("app", 18.0, 0.06, 0.02, 0.0, 0.9),
            "static": ("app", 64.0, 0.12, 0.01, 0.0, 0.35),
            "beta-header": ("beta", 3.0, 0.0, 0.05, 0.02, 4.1),
            "beta-cookie": ("beta", 1.2, 0.0, 0.08, 0.07, 5.6),
        }
        self.pools = [
            {"name": "app", "balance": "round_robin", "servers": [
                self.server("app1", "127.0.0.1:9001", 1),
                self.server("app2", "127.0.0.1:9002", 2),
                self.server("app3", "127.0.0.1:9003", 1, health="ejected"),
            ]},
            {"name": "beta", "balance": "least_conn", "servers": [
                self.server("app2", "127.0.0.1:9002", 1),
                self.server("beta-canary", "127.0.0.1:9010", 1, health="down", state="maint"),
            ]},
        ]
        # experiment name -> [(variant, weight, true share of traffic)]
        self.exp_cfg = {
            "checkout-redesign": [("control", 50, 0.5), ("treatment", 50, 0.5)],
            "pricing-page": [("control", 90, 0.87), ("cheap", 5, 0.07), ("premium", 5, 0.06)],
        }
        if odd:
            self.route_cfg[odd] = ("a/b pool", 2.0, 0.0, 0.5, 0.0, 1.0)
            self.listeners.append({"name": odd, "address": "[::1]:8081", "tls": False,
                                   "connections": 0})
            self.pools.append({"name": "a/b pool", "balance": "maglev", "servers": [
                self.server('"><script>alert(2)</script>', "127.0.0.1:9020", 1)]})
            self.exp_cfg["<b>bold</b>"] = [("x&y", 1, 0.5), ("'quoted'", 1, 0.5)]
        if args.empty:
            self.route_cfg, self.pools, self.exp_cfg = {}, [], {}
        self.reset_counters()
        self.last -= 600  # the first poll finds ten minutes of traffic

    def clock(self):
        return time.monotonic() if self.simulated is None else self.simulated

    @staticmethod
    def server(name, address, weight, health="up", state="ready"):
        return {"name": name, "address": address, "weight": weight, "state": state,
                "health": health, "active": 0, "requests": 0, "failures": 0}

    def reset_counters(self):
        self.routes = {name: {"requests": 0, "status": dict.fromkeys(
            ("1xx", "2xx", "3xx", "4xx", "5xx"), 0)} for name in self.route_cfg}
        for pool in self.pools:
            for s in pool["servers"]:
                s["requests"] = s["failures"] = 0
        self.variants = {e: {v: 0 for v, _, _ in vs} for e, vs in self.exp_cfg.items()}

    def advance(self):
        if self.simulated is not None:
            self.simulated += 2.0
        now = self.clock()
        dt, self.last = now - self.last, now
        every = self.args.reload_every
        if every and now - self.last_reload >= every:
            self.last_reload = now
            self.generation += 1
            self.reloads["ok"] += 1
            self.reloads["last_result"] = "ok"
            self.reset_counters()
            return
        for listener in self.listeners:
            listener["connections"] = max(0, listener["connections"] + random.randint(-3, 3))
        pools = {p["name"]: p for p in self.pools}
        for name, (pool, rate, s3, s4, s5, _) in self.route_cfg.items():
            n = int(rate * dt * random.uniform(0.6, 1.4) + random.random())
            st = self.routes[name]["status"]
            self.routes[name]["requests"] += n
            fives = sum(random.random() < s5 for _ in range(n))
            fours = sum(random.random() < s4 for _ in range(n))
            threes = sum(random.random() < s3 for _ in range(n))
            st["5xx"] += fives
            st["4xx"] += fours
            st["3xx"] += threes
            st["2xx"] += max(0, n - fives - fours - threes)
            self.spread(pools.get(pool), n, fives)
        for pool in self.pools:
            for s in pool["servers"]:
                busy = s["health"] == "up" and s["state"] != "maint"
                s["active"] = random.randint(0, 6 * s["weight"]) if busy else 0
        for e, vs in self.exp_cfg.items():
            n = int(30 * dt)
            for _ in range(n):
                pick, acc = random.random(), 0.0
                for v, _, share in vs:
                    acc += share
                    if pick < acc:
                        self.variants[e][v] += 1
                        break

    @staticmethod
    def spread(pool, n, failures):
        if not pool:
            return
        ready = [s for s in pool["servers"] if s["health"] == "up" and s["state"] == "ready"]
        total = sum(s["weight"] for s in ready)
        for s in ready:
            s["requests"] += round(n * s["weight"] / total)
            s["failures"] += round(failures * s["weight"] / total)

    def snapshot(self):
        with self.lock:
            self.advance()
            routes = []
            for name, (_, _, _, _, _, p50) in self.route_cfg.items():
                jitter = random.uniform(0.85, 1.2)
                routes.append(dict(self.routes[name], name=name, status=dict(
                    self.routes[name]["status"]), latency_ms={
                        "p50": round(p50 * jitter, 2), "p90": round(p50 * 2.6 * jitter, 2),
                        "p99": round(p50 * 7.5 * jitter, 2)}))
            experiments = []
            for e, vs in self.exp_cfg.items():
                counts = self.variants[e]
                total, wsum = sum(counts.values()), sum(w for _, w, _ in vs)
                p = None
                if total >= 20:
                    chi2 = sum((counts[v] - total * w / wsum) ** 2 / (total * w / wsum)
                               for v, w, _ in vs)
                    p = chi2_sf(chi2, len(vs) - 1)
                experiments.append({"name": e, "srm_p_value": p, "variants": [
                    {"name": v, "weight": w, "requests": counts[v],
                     "status": {"1xx": 0, "2xx": counts[v] - counts[v] // 60, "3xx": 0, "4xx": 0,
                                "5xx": counts[v] // 60},
                     "latency_ms": {"p50": round(random.uniform(4, 6), 2),
                                    "p90": round(random.uniform(11, 15), 2),
                                    "p99": round(random.uniform(30, 45), 2)}}
                    for v, w, _ in vs]})
            return {
                "version": "0.1.0",
                "generation": self.generation,
                "uptime_seconds": round(self.clock() - self.started + 86400 * 2 + 3723, 1),
                "workers": 2,
                "reloads": dict(self.reloads),
                "listeners": [dict(x) for x in self.listeners],
                "routes": routes,
                "pools": [{"name": p["name"], "balance": p["balance"],
                           "servers": [dict(s) for s in p["servers"]]} for p in self.pools],
                "experiments": experiments,
            }

    def set_state(self, pool_name, server_name, state):
        """Returns (status, body) for a PUT."""
        with self.lock:
            for pool in self.pools:
                if pool["name"] != pool_name:
                    continue
                for s in pool["servers"]:
                    if s["name"] == server_name:
                        s["state"] = state
                        return 200, {"pool": pool_name, "server": server_name, "state": state}
                return 404, {"error": "pool %s has no server %s" % (pool_name, server_name)}
            return 404, {"error": "no pool %s" % pool_name}


def make_handler(mock, args, page_path):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def send(self, status, body, headers):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, obj):
            body = json.dumps(obj).encode()
            self.send(status, body, {"Content-Type": "application/json",
                                     "Cache-Control": "no-store"})

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                with open(page_path, "rb") as f:
                    self.send(200, f.read(), PAGE_HEADERS)
            elif path == "/api/stats":
                outage = args.outage_after
                if outage is not None and mock.clock() - mock.started >= outage:
                    self.send_json(503, {"error": "mock outage (--outage-after)"})
                else:
                    self.send_json(200, mock.snapshot())
            else:
                self.send_json(404, {"error": "not found"})

        def do_PUT(self):
            m = SERVER_PATH.match(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= 4096:
                self.close_connection = True
                return self.send_json(400, {"error": "bad Content-Length"})
            raw = self.rfile.read(length)
            if not m:
                return self.send_json(404, {"error": "not found"})
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return self.send_json(415, {"error": "Content-Type must be application/json"})
            try:
                state = json.loads(raw).get("state")
            except (ValueError, AttributeError):
                state = None
            if state not in STATES:
                return self.send_json(400, {"error": 'body must be {"state": "ready"|"drain"|"maint"}'})
            if args.put_delay:
                time.sleep(args.put_delay)
            if args.put_error:
                return self.send_json(409, {"error": "mock refused the change (--put-error)"})
            status, body = mock.set_state(unquote(m.group(1)), unquote(m.group(2)), state)
            self.send_json(status, body)

        def log_message(self, fmt, *a):
            if args.verbose:
                sys.stderr.write("preview: %s\n" % (fmt % a))

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--page", default=DEFAULT_PAGE)
    ap.add_argument("--reload-every", type=float, default=0)
    ap.add_argument("--outage-after", type=float, default=None)
    ap.add_argument("--put-error", action="store_true")
    ap.add_argument("--put-delay", type=float, default=0)
    ap.add_argument("--empty", action="store_true")
    ap.add_argument("--hostile-names", action="store_true")
    ap.add_argument("--simulated-time", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    page_path = os.path.normpath(args.page)
    if not os.path.isfile(page_path):
        sys.exit("preview: no page at %s" % page_path)

    mock = Mock(args)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(mock, args, page_path))
    httpd.daemon_threads = True
    print("http://127.0.0.1:%d/" % httpd.server_address[1], flush=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        time.sleep(max(0.0, args.seconds))
    except KeyboardInterrupt:
        pass
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
