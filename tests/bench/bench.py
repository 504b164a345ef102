#!/usr/bin/env python3
"""Helper of tests/bench/run (standard library only).

Subcommands (each called by `run`; none starts a long-lived process).  Config
rendering is in configs.py, the report in report.py.
  ports N                 print N free loopback TCP ports
  certs RUNDIR            ECDSA P-256 self-signed certificate (openssl) + haproxy.pem
  render ...              fill a template of this folder into a config file
  wait-http ...           wait (bounded) until a URL answers as expected; prints what it saw
  clientcheck ...         how wrk and `openssl s_time -new` behave (reconnects, resumption)
  tlscheck ...            what a TLS listener negotiates and whether it resumes
  measure ...             one measured run against a proxy: load + /proc + backend stub_status
                          (--spread, scenario 7: all on both CPUs, and the CPU of wrk,
                          the backend and each proxy thread: cpuacct.py)
  loadcheck ...           scenario 7: the same load straight to the backend (wrk's headroom)
  report RUNDIR           medians, ratios and targets as Markdown (results.md)

Every wait is bounded by a deadline; every child (wrk, openssl) is killed on
exit, SIGTERM or Ctrl-C.  Measurements append one JSON object per line to
RUNDIR/results.jsonl.
"""
import argparse
import contextlib
import http.client
import json
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from configs import HOST, render  # noqa: E402 (after the line above on purpose)
from cpuacct import CpuAccount, thread_ids  # noqa: E402
from report import NAMES, SYSTEMS, report  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

CHILDREN = []  # Popen objects to kill on exit


def die(msg):
    print(f"bench.py: {msg}", file=sys.stderr)
    sys.exit(1)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    CHILDREN.clear()


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


# ---------------------------------------------------------------- /proc

def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def proc_tree(root):
    """root and all its descendants (nginx: master + worker)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, i = [root], 0
    while i < len(out) and i < 1000:
        out += kids.get(out[i], [])
        i += 1
    return out


def cpu_ticks(pids):
    """utime+stime of each process (all its threads: /proc/PID/stat sums them)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def status_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_kib(pids):
    return sum(status_field(p, "VmRSS") for p in pids)


def cpu_busy_ticks(cpu):
    """Ticks CPU `cpu` spent busy (all but idle and iowait) since boot."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v[:8]) - v[3] - v[4]
    return 0


def set_affinity(pids, cpus):
    """Moves every thread of `pids` (processes this harness started) to `cpus`."""
    for _, tid in thread_ids(pids):
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass


def exited(pid):
    """True once child `pid` has exited; it stays a zombie (not reaped), so its
    /proc/PID/stat still holds the CPU time of all its threads."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


class Proc:
    """The proxy under test: its process tree, CPU ticks and RSS."""

    def __init__(self, root):
        self.root = root
        if not os.path.exists(f"/proc/{root}"):
            die(f"proxy process {root} is not running")
        self.pids = proc_tree(root)

    def alive(self):
        return os.path.exists(f"/proc/{self.root}")

    def ticks(self):
        return cpu_ticks(self.pids)

    def rss(self):
        return rss_kib(self.pids)

    def threads(self):
        return sum(status_field(p, "Threads") for p in self.pids)


# ---------------------------------------------------------------- small HTTP helpers

def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def http_get(port, path, headers=None, tls=False, timeout=5.0):
    """(status, header dict lowercased, body) or raises OSError."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def stub(port):
    """Backend stub_status: (accepts, requests).  The fetch itself is one accept."""
    _, _, body = http_get(port, "/stub")
    m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", body)
    if not m:
        die(f"unexpected stub_status page: {body[:200]!r}")
    return int(m.group(1)), int(m.group(3))


# ---------------------------------------------------------------- subcommands

def cmd_ports(a):
    print(" ".join(map(str, free_ports(a.n))))


def cmd_certs(a):
    d = a.rundir
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "7",
         "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(f"{d}/haproxy.pem", "w") as out:
        for name in ("cert.pem", "key.pem"):
            with open(f"{d}/{name}") as f:
                out.write(f.read())
    os.chmod(f"{d}/key.pem", 0o644)  # the nginx backend's worker is not root


def cmd_render(a):
    try:
        text = render(a.what, a.variant, a)
    except ValueError as e:
        die(str(e))
    with open(a.out, "w") as f:
        f.write(text)


def cmd_wait_http(a):
    """Wait until the URL answers with the expected status (and body length)."""
    headers = dict(h.split(": ", 1) for h in a.header)
    deadline = time.monotonic() + a.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if a.pid and not os.path.exists(f"/proc/{a.pid}"):
            die(f"process {a.pid} exited before answering on port {a.port}")
        try:
            status, hdrs, body = http_get(a.port, a.path, headers, a.tls)
            if status == a.status and (a.length < 0 or len(body) == a.length):
                print(f"status={status} body_bytes={len(body)} "
                      f"connection={hdrs.get('connection', '-')}")
                return
            last = f"status {status}, {len(body)} body bytes"
        except (OSError, http.client.HTTPException) as e:
            last = str(e)
        time.sleep(0.05)
    die(f"port {a.port}{a.path}: expected {a.status} within {a.timeout}s, last: {last}")


def write_lua(rundir):
    path = f"{rundir}/report.lua"
    with open(path, "w") as f:
        f.write("""-- wrk: print one JSON line at the end (no request/response hooks: fast path)
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
    .. '"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
""")
    return path


def run_wrk(rundir, url, conns, seconds, headers, sampler=None, threads=1, watch=None,
            at_exit=None):
    """One wrk run.  `sampler()` is called every 100 ms while it runs, `watch(pid)`
    every 20 ms, and `at_exit(pid)` once it has exited, before it is reaped (its
    CPU time is still readable then, and the end of the load is known within 20 ms)."""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", write_lua(rundir)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + seconds + 30
    next_sample = 0.0
    while not exited(p.pid):
        now = time.monotonic()
        if now >= deadline:
            p.kill()
            die(f"wrk did not finish in {seconds + 30}s")
        if watch:
            watch(p.pid)
        if sampler and now >= next_sample:
            sampler()
            next_sample = now + 0.1
        time.sleep(0.02)
    if at_exit:
        at_exit(p.pid)
    out = p.stdout.read()
    p.wait(timeout=5)
    m = re.search(r"WRKJSON (\{.*\})", out)
    if not m:
        die(f"wrk failed: {out[-800:]}")
    r = json.loads(m.group(1))
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def run_stime(port, procs, seconds, www=None):
    """`procs` parallel `openssl s_time -new`: full handshakes only (never offers a
    session).  Returns the number of connections (handshakes) completed."""
    cmd = ["openssl", "s_time", "-connect", f"{HOST}:{port}", "-new", "-time", str(seconds)]
    if www:
        cmd += ["-www", www]
    ps = [spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for _ in range(procs)]
    total = 0
    deadline = time.monotonic() + seconds + 30
    for p in ps:
        try:
            out, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            die("openssl s_time did not finish")
        m = re.search(r"(\d+) connections in [\d.]+s", out)
        if not m:
            die(f"openssl s_time failed: {out[-500:]}")
        total += int(m.group(1))
    return total


def reuse_log_counts(rundir):
    path = f"{rundir}/backend-tls-reuse.log"
    try:
        with open(path) as f:
            lines = [l.strip() for l in f]
    except OSError:
        lines = []
    return lines.count("r"), lines.count(".")


def truncate(path):
    with open(path, "w"):
        pass


def cmd_clientcheck(a):
    """Checks the load generators themselves, against the backend (no proxy):
    wrk -H 'Connection: close' opens one connection per request; `openssl
    s_time -new` never resumes; wrk -H 'Connection: close' over https does or
    does not resume (why it is not the handshake client)."""
    res = {}
    a0, r0 = stub(a.port)
    w = run_wrk(a.rundir, f"http://{HOST}:{a.port}/small", 16, 1, ["Connection: close"])
    a1, r1 = stub(a.port)
    res["wrk_close_accepts_per_request"] = (a1 - a0 - 1) / max(1, w["requests"])
    res["wrk_close_requests"] = w["requests"]
    log = f"{a.rundir}/backend-tls-reuse.log"
    truncate(log)
    os.kill(a.backend_pid, signal.SIGUSR1)  # nginx reopens its logs
    time.sleep(0.3)
    n = run_stime(a.tls_port, 1, 1, www="/small")
    time.sleep(0.3)
    reused, full = reuse_log_counts(a.rundir)
    res["stime_new"] = {"connections": n, "resumed": reused, "full": full}
    truncate(log)
    os.kill(a.backend_pid, signal.SIGUSR1)
    time.sleep(0.3)
    w = run_wrk(a.rundir, f"https://{HOST}:{a.tls_port}/small", 4, 1, ["Connection: close"])
    time.sleep(0.3)
    reused, full = reuse_log_counts(a.rundir)
    res["wrk_https_close"] = {"requests": w["requests"], "resumed": reused, "full": full}
    with open(f"{a.rundir}/fairness.json", "a") as f:
        f.write(json.dumps({"check": "client", **res}) + "\n")
    print(json.dumps(res))


def s_client(args, stdin=b"", timeout=20):
    p = spawn(["openssl", "s_client", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out = b""
    return out.decode(errors="replace")


def cmd_tlscheck(a):
    """What a TLS listener negotiates with a default OpenSSL client, and whether
    it resumes a session: one connection saves its session (read to the end, so
    that a TLS 1.3 ticket has arrived), three more offer it; TLS 1.3 and 1.2."""
    out = s_client(["-connect", f"{HOST}:{a.port}", "-brief"], b"Q\n")
    proto = re.search(r"Protocol version: (\S+)", out)
    suite = re.search(r"Ciphersuite: (\S+)", out)
    key = re.search(r"(?:Peer|Server) Temp Key: ([^\n]+)", out)
    req = b"GET /small HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n"
    sess = f"{a.rundir}/tlscheck-session.pem"
    resumed = {}
    for version in ("-tls1_3", "-tls1_2"):
        base = ["-connect", f"{HOST}:{a.port}", version, "-ign_eof"]
        s_client(base + ["-sess_out", sess], req)
        hits = 0
        for _ in range(3):
            hits += bool(re.search(r"^Reused,", s_client(base + ["-sess_in", sess], req), re.M))
        resumed[version[1:].replace("_", ".").replace("tls", "TLS ")] = hits
    if os.path.exists(sess):
        os.unlink(sess)
    res = {"check": "tls", "system": a.system,
           "protocol": proto.group(1) if proto else "?",
           "suite": suite.group(1) if suite else "?",
           "key_exchange": key.group(1).strip() if key else "?",
           "resumed_of_3": resumed}
    with open(f"{a.rundir}/fairness.json", "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps(res))


def open_idle(port, n, deadline):
    """n client connections, each sends one GET and reads its response, then idles."""
    req = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    socks = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed before the response head")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(body) < need:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed in the response body")
            body += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise OSError(f"unexpected response {head[:40]!r}")
        s.setblocking(False)
        socks.append(s)
    return socks


@contextlib.contextmanager
def spread_over(a):
    """--spread (scenario 7): the proxy was started on both CPUs; wrk, this
    helper and the backend move there too for one measurement, so that the
    kernel shares the CPUs between all of them.  The backend goes back after."""
    if a.backend_pid <= 0 or os.getppid() != parent_of(a.backend_pid):
        die("--spread needs --backend-pid: the backend nginx started by the same script")
    cpus = {a.proxy_cpu, a.load_cpu}
    os.sched_setaffinity(0, cpus)
    backend = proc_tree(a.backend_pid)
    set_affinity(backend, cpus)
    try:
        yield cpus, backend
    finally:
        set_affinity(backend, {a.load_cpu})


def cmd_measure(a):
    if a.spread:
        with spread_over(a) as (cpus, backend):
            proc = Proc(a.pid)
            measure(a, proc, CpuAccount(cpus, proc.pids, a.pid, backend))
    else:
        os.sched_setaffinity(0, {a.load_cpu})
        measure(a, Proc(a.pid), None)


def measure(a, proc, acct):
    """One measured run; `acct` (scenario 7) also accounts for wrk, the backend
    and everything else on the CPUs, over exactly the life of the measured wrk."""
    rec = {"system": a.system, "part": a.part, "round": a.round, "duration_s": a.duration,
           "conns": a.conns, "workers": a.workers,
           "threads": proc.threads(), "processes": len(proc.pids)}
    scheme = "https" if a.tls else "http"
    url = f"{scheme}://{HOST}:{a.port}{a.path}"
    rss_base = proc.rss()
    peak = [rss_base]

    mid = {}  # backend counters once the measured run is past its start

    def sample():
        peak[0] = max(peak[0], proc.rss())
        if "t" in mid and "acc" not in mid and time.monotonic() >= mid["t"]:
            mid["acc"], mid["req"] = stub(a.backend_port)

    if a.warmup > 0:
        if a.kind in ("wrk", "idle"):
            run_wrk(a.rundir, url, a.conns if a.kind == "wrk" else 64, a.warmup, a.header,
                    sample, a.wrk_threads)
        elif a.kind == "stime":
            run_stime(a.port, a.procs, a.warmup)
    idle_socks = []
    acc0, req0 = stub(a.backend_port)
    t0, c0, b0 = time.monotonic(), proc.ticks(), cpu_busy_ticks(a.proxy_cpu)
    proxy_end = []

    def at_exit(wrk_pid):
        acct.stop(wrk_pid)
        proxy_end.append(proc.ticks())

    if acct:
        acct.start()
    # Upstream keep-alive is judged on the steady state: when the previous
    # load's clients went away with requests in flight, a proxy may have had to
    # close those upstream connections (nginx and Switchyard do), and it opens
    # new ones as the next run starts.
    mid["t"] = t0 + min(1.0, a.duration / 2)
    try:
        if a.kind == "wrk":
            w = run_wrk(a.rundir, url, a.conns, a.duration, a.header, sample, a.wrk_threads,
                        acct and acct.watch, acct and at_exit)
        elif a.kind == "stime":
            hs = run_stime(a.port, a.procs, a.duration)
        else:
            rss0 = proc.rss()
            idle_socks = open_idle(a.port, a.conns, time.monotonic() + 300)
        t1, c1, b1 = time.monotonic(), proc.ticks(), cpu_busy_ticks(a.proxy_cpu)
        if a.kind == "idle":
            time.sleep(1.0)  # let the proxy settle (freed buffers, deferred work)
            rss1 = proc.rss()
            sel = selectors.DefaultSelector()
            for s in idle_socks:
                sel.register(s, selectors.EVENT_READ)
            closed = len(sel.select(timeout=0.2))  # readable = data or EOF: not idle
            sel.close()
    finally:
        for s in idle_socks:
            s.close()
    acc1, req1 = stub(a.backend_port)
    if not proc.alive():
        die(f"{a.system} died during {a.part}")
    if acct:  # everything over the life of wrk: from its start to its exit
        t1, c1 = acct.t1, proxy_end[0]
    cpu_s = (c1 - c0) / CLK_TCK
    wall = t1 - t0
    if acct:
        rec.update(acct.figures(c1 - c0))
        rec["wrk_threads"] = a.wrk_threads
    else:
        # anything else that ran on the proxy's CPU (other processes,
        # interrupts): noise that CPU per request does not fully escape
        rec["other_on_proxy_cpu_pct"] = max(0.0, 100 * ((b1 - b0) - (c1 - c0)) / CLK_TCK / wall)
    rec.update({"wall_s": round(wall, 3), "cpu_s": cpu_s, "cpu_busy_pct": 100 * cpu_s / wall,
                "rss_base_kib": rss_base, "rss_max_kib": peak[0],
                "rss_growth_kib": peak[0] - rss_base,
                # -1: the "after" stub fetch counts its own connection
                "be_accepts": acc1 - acc0 - 1, "be_requests": req1 - req0 - 1})
    if "acc" in mid:
        steady_acc, steady_req = acc1 - mid["acc"] - 1, req1 - mid["req"] - 1
        rec.update({"be_accepts_at_start": mid["acc"] - acc0 - 1,
                    "be_accepts_steady": steady_acc, "be_requests_steady": steady_req,
                    "be_accepts_per_1k": 1000 * steady_acc / max(1, steady_req)})
    if a.kind == "wrk":
        dur = w["duration_us"] / 1e6
        rec.update({"requests": w["requests"], "errors": w["errors"],
                    "status_errors": w["status"], "rps": w["requests"] / dur,
                    "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
                    "bytes": w["bytes"], "mbps": w["bytes"] / dur / 1e6,
                    "cpu_us_per_req": cpu_s * 1e6 / max(1, w["requests"]),
                    "cpu_s_per_gb": cpu_s / max(1e-9, w["bytes"] / 1e9),
                    "bytes_per_response": w["bytes"] / max(1, w["requests"])})
    elif a.kind == "stime":
        rec.update({"handshakes": hs, "hs_per_s": hs / wall,
                    "cpu_us_per_hs": cpu_s * 1e6 / max(1, hs), "errors": 0})
    else:
        rec.update({"idle_conns": len(idle_socks), "idle_closed": closed,
                    "rss_before_kib": rss0, "rss_after_kib": rss1,
                    "kib_per_conn": (rss1 - rss0) / max(1, len(idle_socks)),
                    "errors": a.conns - len(idle_socks) + closed})
    with open(f"{a.rundir}/results.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    brief = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in rec.items()
             if k in ("rps", "p99_ms", "cpu_us_per_req", "cpu_busy_pct", "wrk_cpu_pct",
                      "backend_cpu_pct", "others_cpu_pct", "cpus_busy_pct", "hs_per_s",
                      "cpu_us_per_hs", "mbps", "cpu_s_per_gb", "rss_growth_kib",
                      "kib_per_conn", "be_accepts_per_1k", "errors")}
    if acct:
        brief["proxy_threads_cpu_pct"] = "/".join(f"{t['cpu_pct']:.0f}"
                                                  for t in rec["proxy_threads"])
    print(f"    {a.part:7} {NAMES[a.system]:10} " +
          " ".join(f"{k}={v}" for k, v in brief.items()))


def cmd_loadcheck(a):
    """Scenario 7's check of the load generator: the same wrk load straight to
    the backend, all on both CPUs as in the proxied runs.  What wrk and the
    backend reach without a proxy, and how busy wrk's thread is then."""
    with spread_over(a) as (cpus, backend):
        url = f"http://{HOST}:{a.backend_port}/small"
        if a.warmup > 0:
            run_wrk(a.rundir, url, a.conns, a.warmup, [], None, a.wrk_threads)
        acct = CpuAccount(cpus, [], 0, backend)
        acct.start()
        w = run_wrk(a.rundir, url, a.conns, a.duration, [], None, a.wrk_threads,
                    acct.watch, acct.stop)
    rec = {"system": "direct", "part": "s7direct", "round": a.round, "duration_s": a.duration,
           "conns": a.conns, "wrk_threads": a.wrk_threads, "wall_s": round(acct.wall(), 3),
           "requests": w["requests"], "rps": w["requests"] / (w["duration_us"] / 1e6),
           "errors": w["errors"], "status_errors": w["status"],
           "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000}
    rec.update(acct.figures(0))
    with open(f"{a.rundir}/results.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"    {rec['part']:7} {'no proxy':10} " +
          " ".join(f"{k}={round(rec[k], 2)}" for k in
                   ("rps", "wrk_cpu_pct", "wrk_thread_busy_pct", "backend_cpu_pct",
                    "others_cpu_pct", "cpus_busy_pct")))


def cmd_report(a):
    print(report(a.rundir))


def cmd_meta(a):
    path = f"{a.rundir}/meta.json"
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            meta = json.load(f)
    for kv in a.kv:
        k, v = kv.split("=", 1)
        meta[k] = v
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)


def cmd_procs(a):
    """One line about the proxy's processes and threads, for the fairness section."""
    proc = Proc(a.pid)
    text = f"{len(proc.pids)} process(es), {proc.threads()} thread(s) in all"
    if a.label:
        text = f"{a.label}: {text}"
    with open(f"{a.rundir}/fairness.json", "a") as f:
        f.write(json.dumps({"check": "procs", "system": a.system, "text": text}) + "\n")


def cmd_note(a):
    with open(f"{a.rundir}/fairness.json", "a") as f:
        f.write(json.dumps({"check": "note", "system": a.system, "text": a.text}) + "\n")


def add_load_options(p):
    """The wrk load and CPU layout that `measure` and `loadcheck` share."""
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--proxy-cpu", type=int, default=0)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("certs")
    p.add_argument("rundir")
    p = sub.add_parser("render")
    p.add_argument("what", choices=("backend",) + SYSTEMS)
    p.add_argument("out")
    p.add_argument("--variant", default="plain", choices=("plain", "tls", "routes100", "routes1", "splice"))
    p.add_argument("--rundir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int, default=0)
    p.add_argument("--noresume-port", type=int, default=0)
    p.add_argument("--backend", default="")
    p.add_argument("--nofile", type=int, default=20000)
    p.add_argument("--max-conns", type=int, default=12000)
    p.add_argument("--idle-timeout", type=int, default=120)
    p.add_argument("--workers", type=int, default=1)
    p = sub.add_parser("wait-http")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/small")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--tls", action="store_true")
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--length", type=int, default=-1)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("clientcheck")
    p.add_argument("--rundir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--backend-pid", type=int, required=True)
    p = sub.add_parser("tlscheck")
    p.add_argument("--rundir", required=True)
    p.add_argument("--system", required=True)
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("measure")
    p.add_argument("--rundir", required=True)
    p.add_argument("--system", required=True, choices=SYSTEMS)
    p.add_argument("--part", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--kind", required=True, choices=("wrk", "stime", "idle"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/small")
    p.add_argument("--tls", action="store_true")
    add_load_options(p)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--backend-port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1, help="recorded only")
    p.add_argument("--spread", action="store_true",
                   help="wrk, backend and helper on both CPUs (the proxy must be too)")
    p.add_argument("--backend-pid", type=int, default=0)
    p = sub.add_parser("loadcheck")
    p.add_argument("--rundir", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--backend-port", type=int, required=True)
    p.add_argument("--backend-pid", type=int, required=True)
    add_load_options(p)
    p = sub.add_parser("report")
    p.add_argument("rundir")
    p = sub.add_parser("meta")
    p.add_argument("rundir")
    p.add_argument("kv", nargs="*")
    p = sub.add_parser("note")
    p.add_argument("--rundir", required=True)
    p.add_argument("--system", required=True)
    p.add_argument("--text", required=True)
    p = sub.add_parser("procs")
    p.add_argument("--rundir", required=True)
    p.add_argument("--system", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--label", default="")
    a = ap.parse_args()
    try:
        {"ports": cmd_ports, "certs": cmd_certs, "render": cmd_render,
         "wait-http": cmd_wait_http, "clientcheck": cmd_clientcheck, "tlscheck": cmd_tlscheck,
         "measure": cmd_measure, "loadcheck": cmd_loadcheck, "report": cmd_report,
         "meta": cmd_meta, "procs": cmd_procs, "note": cmd_note}[a.cmd](a)
    finally:
        kill_children()


if __name__ == "__main__":
    main()
