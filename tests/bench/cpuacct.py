"""Scenario 7 of tests/bench/run: who used the CPUs during one wrk run.

With the proxy, wrk and the backend all free to run on the same two CPUs,
req/s alone cannot tell a proxy that stopped scaling from a machine that ran
out of CPU.  CpuAccount reads, per thread of each party:
  /proc/PID/task/TID/stat       utime+stime: CPU time, in clock ticks
  /proc/PID/task/TID/schedstat  ns runnable but waiting for a CPU (run-queue wait)
  /proc/PID/task/TID/io         syscw: write syscalls (for Switchyard, two per
                                proxied request: the request upstream, the
                                response downstream; so requests per worker)
and /proc/stat for the busy time of the CPUs, so that the CPU time none of the
parties used ("other": other processes, interrupts, steal) is shown as well.

A thread that was running or waiting for a CPU during (nearly) the whole run
never slept on I/O: it was saturated, a bottleneck.  A thread that slept part
of the time was waiting for the others.
"""
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def process_ticks(pid):
    """utime+stime of a whole process (all its threads, also once it is a zombie)."""
    fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0


def thread_ids(pids):
    """(pid, tid) of every thread of `pids` now; a process already gone has none."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            yield pid, int(tid)


def threads(pids):
    """{(pid, tid): {"ticks", "wait_ns", "writes"}} for every thread of `pids`."""
    out = {}
    for pid, tid in thread_ids(pids):
        base = f"/proc/{pid}/task/{tid}"
        stat = _read(f"{base}/stat").rsplit(")", 1)[-1].split()
        sched = _read(f"{base}/schedstat").split()
        if len(stat) < 13 or len(sched) < 2:
            continue  # the thread exited meanwhile
        io = dict(l.split(": ") for l in _read(f"{base}/io").splitlines() if ": " in l)
        out[(pid, tid)] = {"ticks": int(stat[11]) + int(stat[12]),
                           "wait_ns": int(sched[1]),
                           "writes": int(io.get("syscw", 0))}
    return out


def cpu_times(cpus):
    """(busy, steal) ticks of the CPUs `cpus` since boot; busy counts steal too:
    time the hypervisor gave to someone else was not available to the run."""
    busy = steal = 0
    with open("/proc/stat") as f:
        for line in f:
            name = line.split(" ", 1)[0]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in line.split()[1:9]]
                busy += sum(v) - v[3] - v[4]  # all but idle and iowait
                steal += v[7]
    return busy, steal


def _delta(end, start):
    return {k: {f: v[f] - start.get(k, {}).get(f, 0) for f in v} for k, v in end.items()}


class CpuAccount:
    """CPU time of the proxy (per thread), wrk, the backend, this harness and
    everything else over one wrk run.  start() just before wrk is spawned,
    watch(wrk_pid) while it runs (its threads vanish before the process can be
    read at exit), stop(wrk_pid) once it has exited but is not reaped yet."""

    def __init__(self, cpus, proxy_pids, proxy_root, backend_pids):
        self.cpus = set(cpus)
        self.proxy_pids, self.proxy_root = proxy_pids, proxy_root
        self.backend_pids = backend_pids
        self.wrk_threads = {}

    def start(self):
        self.t0 = time.monotonic()
        self.proxy0 = threads(self.proxy_pids)
        self.backend0 = threads(self.backend_pids)
        self.self0 = process_ticks(os.getpid())
        self.cpu0 = cpu_times(self.cpus)

    def watch(self, wrk_pid):
        self.wrk_threads.update(threads([wrk_pid]))

    def stop(self, wrk_pid):
        self.t1 = time.monotonic()
        self.proxy1 = threads(self.proxy_pids)
        self.backend1 = threads(self.backend_pids)
        self.self1 = process_ticks(os.getpid())
        self.cpu1 = cpu_times(self.cpus)
        self.wrk_ticks = process_ticks(wrk_pid)

    def wall(self):
        return self.t1 - self.t0

    def figures(self, proxy_ticks):
        """The record fields; CPU shares are % of one CPU over the run.
        `proxy_ticks`: the proxy's CPU time from /proc/PID/stat of its processes."""
        wall = self.wall()

        def pct_ticks(t):
            return 100 * t / CLK_TCK / wall

        def pct_ns(ns):
            return 100 * ns / 1e9 / wall

        proxy = _delta(self.proxy1, self.proxy0)
        backend = _delta(self.backend1, self.backend0)
        wrk = self.wrk_threads
        harness = self.self1 - self.self0
        backend_ticks = sum(t["ticks"] for t in backend.values())
        busy = self.cpu1[0] - self.cpu0[0]
        steal = self.cpu1[1] - self.cpu0[1]
        # busiest first; "main": the process's first thread (Switchyard's main
        # thread waits for signals; HAProxy's first thread is one of its workers)
        per_thread = sorted(({"tid": tid, "main": tid == self.proxy_root,
                              "cpu_pct": pct_ticks(t["ticks"]), "wait_pct": pct_ns(t["wait_ns"]),
                              "writes": t["writes"]}
                             for (_, tid), t in proxy.items()),
                            key=lambda t: -t["cpu_pct"])
        wrk_busiest = max(wrk.values(), key=lambda t: t["ticks"], default=None)
        return {
            "cpus": len(self.cpus),
            "proxy_wait_pct": pct_ns(sum(t["wait_ns"] for t in proxy.values())),
            "proxy_threads": per_thread,
            "wrk_cpu_pct": pct_ticks(self.wrk_ticks),
            "wrk_wait_pct": pct_ns(sum(t["wait_ns"] for t in wrk.values())),
            # its load thread: running or waiting for a CPU all the time = saturated
            "wrk_thread_busy_pct": (pct_ticks(wrk_busiest["ticks"]) +
                                    pct_ns(wrk_busiest["wait_ns"])) if wrk_busiest else None,
            "backend_cpu_pct": pct_ticks(backend_ticks),
            "backend_wait_pct": pct_ns(sum(t["wait_ns"] for t in backend.values())),
            "harness_cpu_pct": pct_ticks(harness),
            "cpus_busy_pct": pct_ticks(busy) / len(self.cpus),
            "steal_pct": pct_ticks(steal),
            # busy time of the CPUs that none of the above used: other
            # processes (another user's build), interrupts, steal
            "others_cpu_pct": max(0.0, pct_ticks(busy - proxy_ticks - self.wrk_ticks
                                                 - backend_ticks - harness)),
        }
