"""Loads the admin stats page of a real Switchyard in headless Chromium.

  page_check.py --build DIR [--out DIR]

Starts a demo upstream and the proxy (built in DIR) with the admin listener on
127.0.0.1 port 0, sends traffic, and renders GET / in Debian's Chromium
(--headless --no-sandbox) twice: the page must list every server of the pool
with its health, have polled /api/stats, and show more requests for a server
after more traffic went to it, and each A/B variant's latency. Then drains a server with the page's API and
checks that the page shows it. Saves the last render as a screenshot
(stats-page.png in --out, default DIR) and prints what the page showed.
Loopback only; every process it starts is stopped; every wait is bounded.
Exits 0 when every check passed, 1 otherwise, 2 when something is missing.
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-extensions", "--window-size=1366,1000",
                  "--virtual-time-budget=6000"]


class Rows(html.parser.HTMLParser):
    """Collects tr[data-server] rows (in .rows) and tr[data-variant] rows (in
    .variants): key -> {cell class: (data-value or text)}."""

    def __init__(self):
        super().__init__()
        self.rows, self.variants, self.updates = {}, {}, None
        self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.updates = a.get("data-updates")
        if tag == "tr" and "data-server" in a:
            self._row = self.rows.setdefault(a["data-server"], {"state": a.get("data-state")})
        elif tag == "tr" and "data-variant" in a:
            self._row = self.variants.setdefault(a["data-variant"], {})
        elif tag == "td" and self._row is not None:
            self._cell = (a.get("class") or "").split()
            self._value = a.get("data-value")
            self._text = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            for c in self._cell:
                self._row[c] = self._value if self._value not in (None, "") else self._text.strip()
            self._cell = None
        elif tag == "tr":
            self._row = None


def wait_line(proc_lines, pattern, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in proc_lines():
            m = re.search(pattern, line)
            if m:
                return m
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    proxy_bin = os.path.join(args.build, "proxy", "switchyard")
    origin_bin = os.path.join(args.build, "tests", "support", "swy-demo-upstream")
    chromium = shutil.which("chromium")
    for path in (proxy_bin, origin_bin):
        if not os.access(path, os.X_OK):
            print(f"page-check: {path} not found: build first", file=sys.stderr)
            return 2
    if chromium is None:
        print("page-check: chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    out_dir = args.out or args.build
    work = tempfile.mkdtemp(prefix="swy-page-")
    procs, logs = [], {}

    def start(name, argv):
        log = open(os.path.join(work, name + ".log"), "w+")
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=work))
        logs[name] = log.name

    def lines(name):
        with open(logs[name]) as f:
            return f.read().splitlines()

    failures = []

    def check(ok, what):
        print(("   ok: " if ok else "   FAILED: ") + what)
        if not ok:
            failures.append(what)

    try:
        upstreams = {}
        for name in ("app1", "app2"):
            start(name, [origin_bin, "--name", name, "--listen", "127.0.0.1:0"])
            m = wait_line(lambda n=name: lines(n), r"127\.0\.0\.1:(\d+)")
            if not m:
                print(f"page-check: {name} did not start", file=sys.stderr)
                return 1
            upstreams[name] = m.group(0)
        config = os.path.join(work, "switchyard.yaml")
        with open(config, "w") as f:
            f.write("workers: 1\naccess_log: off\nadmin: {address: 127.0.0.1:0}\n"
                    "listeners:\n  - {name: public, address: 127.0.0.1:0}\n"
                    "pools:\n  - name: web\n    health_check: {path: /healthz, interval: 200ms, timeout: 200ms}\n"
                    "    servers:\n"
                    f"      - {{name: app1, address: {upstreams['app1']}}}\n"
                    f"      - {{name: app2, address: {upstreams['app2']}}}\n"
                    "routes:\n  - {name: all, split: {experiment: ab, key: 'header:X-User', "
                    "variants: [{name: control, pool: web, weight: 50}, "
                    "{name: treat, pool: web, weight: 50}]}}\n")
        start("proxy", [proxy_bin, "-c", config])
        if not wait_line(lambda: lines("proxy"), r"^switchyard: ready"):
            print("page-check: the proxy did not start:\n" + "\n".join(lines("proxy")),
                  file=sys.stderr)
            return 1
        public = wait_line(lambda: lines("proxy"), r"name=public address=(127\.0\.0\.1:\d+)").group(1)
        admin = wait_line(lambda: lines("proxy"), r"admin listening address=(127\.0\.0\.1:\d+)").group(1)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def traffic(n):
            for i in range(n):
                req = urllib.request.Request(f"http://{public}/p{i}", headers={"X-User": f"u{i}"})
                with opener.open(req, timeout=5) as r:
                    r.read()

        def render(extra=()):
            r = subprocess.run([chromium, *CHROMIUM_FLAGS, *extra, f"http://{admin}/"],
                               capture_output=True, text=True, timeout=90, cwd=work)
            return r.stdout

        traffic(10)
        rows = Rows()
        rows.feed(render(["--dump-dom"]))
        print(f"== first render: {len(rows.rows)} server rows, {rows.updates} polls")
        for key, row in sorted(rows.rows.items()):
            print(f"   {key}: health={row.get('health')} state={row.get('state')} "
                  f"requests={row.get('requests')}")
        check(set(rows.rows) == {"web/app1", "web/app2"}, "the page lists web/app1 and web/app2")
        check(all(r.get("health") == "up" for r in rows.rows.values()), "both servers are up")
        check(rows.updates is not None and int(rows.updates) >= 1, "the page polled /api/stats")
        before = int(rows.rows.get("web/app1", {}).get("requests") or -1)
        check(before >= 1, f"app1 shows its requests ({before})")

        traffic(20)
        body = json.dumps({"state": "drain"}).encode()
        req = urllib.request.Request(f"http://{admin}/api/pools/web/servers/app2", data=body,
                                     method="PUT", headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=5) as r:
            check(r.status == 200, "PUT drain for app2 answered 200")
        shot = os.path.join(out_dir, "stats-page.png")
        render([f"--screenshot={shot}"])
        rows = Rows()
        rows.feed(render(["--dump-dom"]))
        after = int(rows.rows.get("web/app1", {}).get("requests") or -1)
        print(f"== after 20 more requests and draining app2: app1 requests {before} -> {after}, "
              f"app2 state {rows.rows.get('web/app2', {}).get('state')}")
        check(after >= before + 10, "the page shows the new traffic")
        check(rows.rows.get("web/app2", {}).get("state") == "drain", "the page shows app2 draining")
        for key, row in sorted(rows.variants.items()):
            print(f"   variant {key}: requests={row.get('requests')} 5xx={row.get('errors')} "
                  f"p50={row.get('p50')} ms p99={row.get('p99')} ms")
        check(set(rows.variants) == {"ab/control", "ab/treat"}, "the page lists both A/B variants")
        check(all(re.fullmatch(r"\d+(\.\d+)?", r.get("p50") or "") and
                  re.fullmatch(r"\d+(\.\d+)?", r.get("p99") or "") for r in rows.variants.values()),
              "each variant shows its p50 and p99 latency")
        check(os.path.getsize(shot) > 10000 if os.path.exists(shot) else False,
              f"a screenshot was written: {shot}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"page-check: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
