"""Scenario 7 of the report: does `workers: 2` scale, and what bounded each run.

Every figure comes from the records of bench.py's `measure --spread` and
`loadcheck` (see cpuacct.py for what is read from /proc).  CPU shares are % of
one CPU over the run (both CPUs: 200%); medians over rounds.
"""
import statistics

NAMES = {"nginx": "nginx", "haproxy": "HAProxy", "switchyard": "Switchyard"}
ORDER = ("switchyard", "nginx", "haproxy")
# A thread running or waiting for a CPU this share of the run or more never
# waited for the others: it is saturated (a bottleneck).
SATURATED_PCT = 90.0
# The CPUs count as full from this busy share of both, or when the run's
# threads together waited this share of one CPU for a CPU (a CPU may idle a
# moment while a thread queues on the other one).
CPUS_FULL_PCT = 90.0
CPUS_WAITED_PCT = 50.0
# Others (processes outside the run, interrupts) using this share of one CPU
# or more: the run is noisy.
OTHERS_NOISY_PCT = 15.0


def fmt(v, digits=None, below_one=2):
    """A table cell: `digits` decimals when given, else fewer the larger the
    value (2 below 10; `below_one` below 1, report.py's tables use 3)."""
    if v is None:
        return "n/a"
    if digits is not None:
        return f"{v:.{digits}f}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.{below_one}f}"


def pct(v):
    return "n/a" if v is None else f"{v:.0f}%"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def span(xs):
    xs = [x for x in xs if x is not None]
    return f"{fmt(min(xs))}-{fmt(max(xs))}" if xs else "n/a"


def worker_view(r):
    """Per run: the proxy's `workers` busiest threads (nginx: processes), each
    with its share of the workers' CPU time and of their write syscalls, and
    whether it was saturated; and what the busiest one costs per request."""
    threads = r["proxy_threads"][:r["workers"]]
    cpu = sum(t["cpu_pct"] for t in threads) or 1e-9
    writes = sum(t["writes"] for t in r["proxy_threads"])
    total_cpu = sum(t["cpu_pct"] for t in r["proxy_threads"]) or 1e-9
    busiest = threads[0]["cpu_pct"] / total_cpu if threads else 1.0
    return {
        "cpu_shares": [100 * t["cpu_pct"] / cpu for t in threads],
        "write_shares": [100 * t["writes"] / max(1, sum(x["writes"] for x in threads))
                         for t in threads],
        "writes_per_req": writes / max(1, r["requests"]),
        "busy": [t["cpu_pct"] + t["wait_pct"] for t in threads],
        # req/s the proxy could serve with each worker on a CPU of its own, if
        # CPU per request stayed as measured: the busiest worker saturates first
        "capacity": 1e6 / (r["cpu_us_per_req"] * busiest),
    }


def limits(r, view):
    """What was saturated in one run (several things can be at once)."""
    out = []
    waited = sum(r.get(k) or 0 for k in ("proxy_wait_pct", "wrk_wait_pct", "backend_wait_pct"))
    if r["cpus_busy_pct"] >= CPUS_FULL_PCT or waited >= CPUS_WAITED_PCT:
        out.append("both CPUs")
    if r.get("wrk_thread_busy_pct") is not None and r["wrk_thread_busy_pct"] >= SATURATED_PCT:
        out.append("wrk")
    if view and all(b >= SATURATED_PCT for b in view["busy"]):
        out.append("proxy worker" + ("s" if len(view["busy"]) > 1 else ""))
    if r["backend_cpu_pct"] + r["backend_wait_pct"] >= SATURATED_PCT:
        out.append("backend")
    return out


def runs_of(recs):
    """{(system, workers): [record, ...]} and the no-proxy records."""
    runs = {}
    for r in recs:
        if r.get("part") in ("s7w1", "s7w2") and r.get("proxy_threads") is not None:
            runs.setdefault((r["system"], r["workers"]), []).append(r)
    direct = [r for r in recs if r.get("part") == "s7direct"]
    return runs, direct


def median_run(rs):
    """Medians of one system and worker count over rounds, views included."""
    views = [worker_view(r) for r in rs]
    m = {k: med([r.get(k) for r in rs]) for k in (
        "rps", "cpu_us_per_req", "cpu_busy_pct", "proxy_wait_pct", "wrk_cpu_pct",
        "wrk_wait_pct", "wrk_thread_busy_pct", "backend_cpu_pct", "backend_wait_pct",
        "harness_cpu_pct", "others_cpu_pct", "cpus_busy_pct", "steal_pct")}
    n = min(len(v["cpu_shares"]) for v in views)
    view = {k: [med([v[k][i] for v in views]) for i in range(n)]
            for k in ("cpu_shares", "write_shares", "busy")}
    view["writes_per_req"] = med([v["writes_per_req"] for v in views])
    view["capacity"] = med([v["capacity"] for v in views])
    m.update({"workers": rs[0]["workers"], "rounds": len(rs), "view": view,
              "rps_all": [r["rps"] for r in rs],
              "errors": sum(r["errors"] + r["status_errors"] for r in rs)})
    return m


def paired(runs, system):
    """2 workers / 1 worker, within each round (the two runs are back to back)."""
    one = {r["round"]: r for r in runs.get((system, 1), [])}
    out = []
    for r2 in runs.get((system, 2), []):
        r1 = one.get(r2["round"])
        if r1:
            out.append({"rps": r2["rps"] / r1["rps"],
                        "cpu": r2["cpu_us_per_req"] / r1["cpu_us_per_req"],
                        "capacity": worker_view(r2)["capacity"] / worker_view(r1)["capacity"]})
    return out


def split_text(shares):
    return " / ".join(f"{s:.0f}" for s in shares)


def workers_section(recs, meta):
    runs, direct = runs_of(recs)
    if not runs:
        return []
    meds = {k: median_run(v) for k, v in runs.items()}
    keys = [(s, w) for s in ORDER for w in (1, 2) if (s, w) in meds]
    threads = meta.get("wrk_threads", "1")
    out = ["## Scenario 7: `workers: 1` and `workers: 2`", "",
           f"Keep-alive `GET /small`, `wrk -t{threads} -c64`. The proxy, wrk and the backend "
           f"all run on the same CPUs ({meta.get('proxy_cpu')},{meta.get('load_cpu')}), "
           "unpinned within them, with either worker count; medians over rounds. CPU shares are "
           "% of one CPU (both CPUs: 200%). The no-proxy row is wrk against the backend "
           "directly, with the same load and layout.", "",
           "| System | workers | req/s (min-max) | proxy CPU µs / req | proxy CPU "
           "| per worker: CPU split | writes / req | per worker: write split | saturated "
           "| errors |",
           "|---|---:|---:|---:|---:|---|---:|---|---|---:|"]
    for s, w in keys:
        m = meds[(s, w)]
        v = m["view"]
        writes = (split_text(v["write_shares"]) if w > 1 and 1.8 <= v["writes_per_req"] <= 2.2
                  else "n/a" if w > 1 else "")
        out.append(f"| {NAMES[s]} | {w} | {fmt(m['rps'])} ({span(m['rps_all'])}) | "
                   f"{fmt(m['cpu_us_per_req'])} | {pct(m['cpu_busy_pct'])} | "
                   f"{split_text(v['cpu_shares']) if w > 1 else ''} | "
                   f"{fmt(v['writes_per_req'])} | {writes} | "
                   f"{', '.join(limits(m, v)) or 'nothing'} | {m['errors']} |")
    if direct:
        d = median_run_direct(direct)
        out.append(f"| no proxy (wrk -> backend) | | {fmt(d['rps'])} ({span(d['rps_all'])}) | "
                   f"| | | | | {', '.join(limits(d, None)) or 'nothing'} | {d['errors']} |")
    out += ["", "Who used the CPUs (% of one CPU; waiting: runnable but not running, summed "
            "over the party's threads):", "",
            "| Run | proxy | wrk | backend | harness | others | both CPUs busy "
            "| waiting for a CPU: proxy / wrk / backend | wrk thread running or waiting "
            "| proxy workers running or waiting |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    rows = [(f"{NAMES[s]}, {w} worker{'s' if w > 1 else ''}", meds[(s, w)]) for s, w in keys]
    if direct:
        rows.append(("no proxy", median_run_direct(direct)))
    for label, m in rows:
        v = m.get("view")
        out.append(f"| {label} | {pct(m.get('cpu_busy_pct'))} | {pct(m['wrk_cpu_pct'])} | "
                   f"{pct(m['backend_cpu_pct'])} | {pct(m['harness_cpu_pct'])} | "
                   f"{pct(m['others_cpu_pct'])} | {pct(m['cpus_busy_pct'])} | "
                   f"{pct(m.get('proxy_wait_pct'))} / {pct(m['wrk_wait_pct'])} / "
                   f"{pct(m['backend_wait_pct'])} | {pct(m['wrk_thread_busy_pct'])} | "
                   f"{' / '.join(pct(b) for b in v['busy']) if v else ''} |")
    out += ["", "Scaling, 2 workers / 1 worker, paired within each round (median, min-max):", "",
            "| System | req/s | proxy CPU per request | busier worker's CPU share "
            "| projected capacity |", "|---|---:|---:|---:|---:|"]
    for s in ORDER:
        p = paired(runs, s)
        if not p or (s, 2) not in meds:
            continue
        cells = [f"{fmt(med([x[k] for x in p]))}x ({span([x[k] for x in p])})"
                 for k in ("rps", "cpu", "capacity")]
        out.append(f"| {NAMES[s]} | {cells[0]} | {cells[1]} | "
                   f"{pct(meds[(s, 2)]['view']['cpu_shares'][0])} | {cells[2]} |")
    out += ["", *notes(meds, direct)]
    return out


def median_run_direct(rs):
    m = {k: med([r.get(k) for r in rs]) for k in (
        "rps", "wrk_cpu_pct", "wrk_wait_pct", "wrk_thread_busy_pct", "backend_cpu_pct",
        "backend_wait_pct", "harness_cpu_pct", "others_cpu_pct", "cpus_busy_pct")}
    m.update({"rps_all": [r["rps"] for r in rs],
              "errors": sum(r["errors"] + r["status_errors"] for r in rs)})
    return m


def notes(meds, direct):
    out = ["How to read it: a thread that was running or waiting for a CPU for "
           f"{SATURATED_PCT:.0f}% of the run or more never waited on the others: it was "
           "saturated (\"saturated\" column; \"both CPUs\": they were "
           f"{CPUS_FULL_PCT:.0f}% busy or more, or the waits for a CPU of the proxy, wrk and the "
           f"backend added up to {CPUS_WAITED_PCT:.0f}% of the run or more, so any party could "
           "only go faster by taking CPU from another). wrk is not the bottleneck when its thread is not saturated and "
           "it reaches well above the proxied req/s without a proxy. CPU per request with 1 "
           "and 2 workers (flat: no cost from running two) and the split between the workers "
           "(SO_REUSEPORT for Switchyard and nginx, HAProxy's own spreading) do not depend on "
           "the load generator; the projected capacity is 1 / (CPU per request x the busier "
           "worker's share): the req/s at which that worker would fill a CPU of its own. "
           "The write split is the request split where a proxy writes twice per request "
           "(upstream and downstream: Switchyard and nginx); it is shown only then."]
    noisy = [k for k, m in meds.items() if m["others_cpu_pct"] >= OTHERS_NOISY_PCT]
    if noisy:
        worst = max(meds[k]["others_cpu_pct"] for k in noisy)
        out += ["", f"**Noisy:** processes outside the run used up to {pct(worst)} of a CPU "
                f"(median) in {len(noisy)} of {len(meds)} run kinds; req/s moved with them, "
                "CPU per request and the splits much less."]
    steal = [m.get("steal_pct") or 0 for m in meds.values()]
    if steal and max(steal) >= 5:
        out += ["", f"The hypervisor took up to {pct(max(steal))} of a CPU (steal)."]
    return out + [""]
