"""Report of tests/bench/run: medians over rounds, ratios to the best peer,
the targets of issue 7 and the fairness checks, as Markdown (RUNDIR/results.md)."""
import json
import statistics

import report_workers
from report_workers import workers_section

SYSTEMS = ("nginx", "haproxy", "switchyard")
NAMES = {"nginx": "nginx", "haproxy": "HAProxy", "switchyard": "Switchyard"}

# (part, label, field, better, target): target is (kind, op, value) where kind
# "ratio" compares Switchyard / best peer, "abs" Switchyard's own value.
ROWS = [
    ("s1", "1 small GET, keep-alive, 64 conns: req/s", "rps", "high", None),
    ("s1", "1: latency p50 (ms)", "p50_ms", "low", None),
    ("s1", "1: latency p99 (ms)", "p99_ms", "low", ("ratio", "<=", 1.0)),
    ("s1", "1: proxy CPU µs / request", "cpu_us_per_req", "low", ("ratio", "<=", 0.8)),
    ("s1", "1: proxy RSS under load (MiB)", "rss_max_mib", "low", None),
    ("s2", "2 new connection per request: req/s", "rps", "high", None),
    ("s2", "2: latency p50 (ms)", "p50_ms", "low", None),
    ("s2", "2: latency p99 (ms)", "p99_ms", "low", ("ratio", "<=", 1.0)),
    ("s2", "2: proxy CPU µs / request", "cpu_us_per_req", "low", ("ratio", "<=", 0.8)),
    ("s3ka", "3 TLS keep-alive: req/s", "rps", "high", None),
    ("s3ka", "3: TLS keep-alive CPU µs / request", "cpu_us_per_req", "low",
     ("ratio", "<=", 0.8)),
    ("s3hs", "3 TLS full handshakes / s", "hs_per_s", "high", None),
    ("s3hs", "3: proxy CPU µs / full handshake", "cpu_us_per_hs", "low", ("ratio", "<=", 1.0)),
    ("s4", "4 10 MiB response, 4 clients: MB/s", "mbps", "high", None),
    ("s4", "4: proxy CPU s / GB", "cpu_s_per_gb", "low", ("ratio", "<=", 0.8)),
    ("s4", "4: proxy RSS growth (MiB)", "rss_growth_mib", "low", ("abs", "<", 8.0)),
    ("s4sp", "4 with splicing (Switchyard `splice: true`, HAProxy `option splice-response`; "
     "nginx has none): MB/s", "mbps", "high", None),
    ("s4sp", "4 with splicing: proxy CPU s / GB", "cpu_s_per_gb", "low", ("ratio", "<=", 0.8)),
    ("s5", "5 idle keep-alive conns: proxy RSS KiB / conn", "kib_per_conn", "low",
     ("abs", "<=", 0.5)),
    ("s6r1", "6 one header-regex route: req/s", "rps", "high", None),
    ("s6r100", "6 100 routes, last matches: req/s", "rps", "high", None),
    ("s6", "6: 100 routes / 1 route, req/s", "route_rps_ratio", "high", ("abs", ">=", 0.95)),
    ("s6r1", "6: proxy CPU µs / request, 1 route", "cpu_us_per_req", "low", None),
    ("s6r100", "6: proxy CPU µs / request, 100 routes", "cpu_us_per_req", "low", None),
    ("s6", "6: 100 routes / 1 route, by CPU per request", "route_cpu_ratio", "high",
     ("abs", ">=", 0.95)),
]
PART_SCENARIO = {"s1": "1", "s2": "2", "s3ka": "3", "s3hs": "3", "s4": "4", "s4sp": "4", "s5": "5",
                 "s6r1": "6", "s6r100": "6", "s6": "6"}


def fmt(v):
    return report_workers.fmt(v, below_one=3)


def load_records(rundir):
    recs = []
    try:
        with open(f"{rundir}/results.jsonl") as f:
            for line in f:
                r = json.loads(line)
                if "rss_max_kib" in r:  # not in scenario 7's no-proxy runs
                    r["rss_max_mib"] = r["rss_max_kib"] / 1024
                    r["rss_growth_mib"] = r["rss_growth_kib"] / 1024
                recs.append(r)
    except FileNotFoundError:
        pass
    # scenario 6: ratios paired within a round (the two runs are back to back)
    by = {(r["system"], r["part"], r["round"]): r for r in recs}
    for (system, part, rnd), r100 in list(by.items()):
        r1 = by.get((system, "s6r1", rnd))
        if part == "s6r100" and r1:
            recs.append({"system": system, "part": "s6", "round": rnd,
                         "route_rps_ratio": r100["rps"] / r1["rps"],
                         "route_cpu_ratio": r1["cpu_us_per_req"] / r100["cpu_us_per_req"]})
    return recs


def values(recs, system, part, field):
    return [r[field] for r in recs if r["system"] == system and r["part"] == part
            and r.get(field) is not None]


def median_of(recs, system, part, field):
    v = values(recs, system, part, field)
    return statistics.median(v) if v else None


def target_text(t):
    if t is None:
        return ""
    kind, op, val = t
    op = {"<=": "≤", ">=": "≥", "<": "<"}[op]
    return f"{op} {val}x" if kind == "ratio" else f"Switchyard {op} {val}"


def met(t, ratio, own):
    if t is None:
        return ""
    kind, op, val = t
    x = ratio if kind == "ratio" else own
    if x is None:
        return "n/a"
    ok = {"<=": x <= val, ">=": x >= val, "<": x < val}[op]
    return "yes" if ok else "**no**"


def fairness_lines(rundir, recs):
    lines = []
    checks = []
    try:
        with open(f"{rundir}/fairness.json") as f:
            checks = [json.loads(l) for l in f]
    except FileNotFoundError:
        pass
    ok = True
    for part, label in (("s1", "1"), ("s2", "2"), ("s3ka", "3 keep-alive"), ("s6r100", "6"),
                        ("s6r1", "6 (1 route)"), ("s7w1", "7 (1 worker)"),
                        ("s7w2", "7 (2 workers)")):
        cells, total = [], []
        for s in SYSTEMS:
            rs = [r for r in recs if r["system"] == s and r["part"] == part
                  and "be_accepts_per_1k" in r]
            if rs:
                # keep-alive works when the steady state opens (almost) none, or
                # when the whole run opened no more than one per client connection
                ok &= all(r["be_accepts_per_1k"] < 1.0 or r["be_accepts"] <= r["conns"]
                          for r in rs)
                cells.append(f"{NAMES[s]} {max(r['be_accepts_per_1k'] for r in rs):.2f}")
                total.append(f"{NAMES[s]} {max(r['be_accepts'] for r in rs)}")
        if cells:
            lines.append(f"- Upstream keep-alive, scenario {label}: new backend connections "
                         f"per 1k requests after the run's start (worst round): "
                         f"{', '.join(cells)}; in the whole run (most): {', '.join(total)}")
    if lines:
        lines.append("  -> " + ("OK: no proxy opens upstream connections per request; at "
                                "most one per client connection as a run starts" if ok else
                                "**NOT OK: a proxy kept opening upstream connections**"))
    for c in checks:
        if c["check"] == "client":
            per = c["wrk_close_accepts_per_request"]
            verdict = ("reconnects per request" if per > 0.95
                       else "**does not reconnect per request**")
            lines.append(f"- wrk -H 'Connection: close' (direct to the backend): {per:.3f} new "
                         f"connections per request ({c['wrk_close_requests']} requests) "
                         f"-> {verdict}")
            st = c["stime_new"]
            lines.append(f"- `openssl s_time -new` (handshake client, backend TLS port with "
                         f"resumption on): {st['resumed']} resumed / {st['full']} full "
                         f"-> {'never resumes' if st['resumed'] == 0 else '**resumes**'}")
            wh = c["wrk_https_close"]
            lines.append(f"- wrk -H 'Connection: close' over https (same port): "
                         f"{wh['resumed']} resumed / {wh['full']} full: " +
                         ("it resumes, so it is not used for full handshakes" if wh["resumed"]
                          else "it does not resume"))
    for c in checks:
        if c["check"] == "tls":
            r = ", ".join(f"{v}: {n} of 3" for v, n in c["resumed_of_3"].items())
            lines.append(f"- TLS {NAMES[c['system']]}: {c['protocol']} {c['suite']}, "
                         f"key exchange {c['key_exchange']}; a saved session offered "
                         f"again is resumed ({r})")
    suites = {(c["protocol"], c["suite"], c["key_exchange"]) for c in checks
              if c["check"] == "tls"}
    if suites:
        lines.append("  -> " + ("same protocol, suite and key exchange for all three"
                                if len(suites) == 1 else
                                "**negotiation differs between systems**"))
    for c in checks:
        if c["check"] in ("procs", "note"):
            lines.append(f"- {NAMES[c['system']]}: {c['text']}")
    return lines


def run_details(recs):
    """Rows of the run details table (scenarios 1-6, pinned layout)."""
    rows = []
    main_field = {"s1": "cpu_us_per_req", "s2": "cpu_us_per_req", "s3ka": "cpu_us_per_req",
                  "s3hs": "cpu_us_per_hs", "s4": "cpu_s_per_gb", "s4sp": "cpu_s_per_gb",
                  "s5": "kib_per_conn",
                  "s6r1": "cpu_us_per_req", "s6r100": "cpu_us_per_req"}
    for part, field in main_field.items():
        for s in SYSTEMS:
            v = values(recs, s, part, field)
            if not v:
                continue
            busy = median_of(recs, s, part, "cpu_busy_pct")
            other = median_of(recs, s, part, "other_on_proxy_cpu_pct")
            errs = sum(values(recs, s, part, "errors")) + sum(values(recs, s, part,
                                                                      "status_errors"))
            rows.append(f"| {part} {field} | {NAMES[s]} | {fmt(busy)} | {fmt(other)} | "
                        f"{fmt(statistics.median(v))} | {fmt(min(v))}-{fmt(max(v))} | {errs} |")
    return rows


def report(rundir):
    recs = load_records(rundir)
    meta = {}
    try:
        with open(f"{rundir}/meta.json") as f:
            meta = json.load(f)
    except FileNotFoundError:
        pass
    wanted = set(meta.get("scenarios", "1,2,3,4,5,6,7").split(","))
    out = [f"# Switchyard vs nginx vs HAProxy ({meta.get('date', '?')})", ""]
    out.append(f"{meta.get('rounds', '?')} rounds, {meta.get('duration', '?')} s per "
               f"measurement, medians over rounds; proxy on CPU {meta.get('proxy_cpu')}, "
               f"load generator + backend on CPU {meta.get('load_cpu')}"
               f"{' (scenario 7: all on both)' if '7' in wanted else ''}. "
               f"{meta.get('versions', '')}")
    rows = [row for row in ROWS if PART_SCENARIO[row[0]] in wanted]
    if rows:
        out += ["", "| Metric | nginx | HAProxy | Switchyard | Switchyard / best peer "
                "| Target | Met |", "|---|---:|---:|---:|---:|---|---|"]
    for part, label, field, better, target in rows:
        med = {s: median_of(recs, s, part, field) for s in SYSTEMS}
        peers = [med[s] for s in ("nginx", "haproxy") if med[s] is not None]
        best = (max(peers) if better == "high" else min(peers)) if peers else None
        ratio = med["switchyard"] / best if best and med["switchyard"] is not None else None
        out.append(f"| {label} | {fmt(med['nginx'])} | {fmt(med['haproxy'])} | "
                   f"{fmt(med['switchyard'])} | {fmt(ratio) + 'x' if ratio else 'n/a'} | "
                   f"{target_text(target)} | {met(target, ratio, med['switchyard'])} |")
    if rows:
        out += ["", "Best peer: the better of nginx and HAProxy for that row (higher req/s, "
                "lower CPU, latency or memory). Targets marked `Switchyard` apply to its own "
                "value."]
    out.append("")
    if "7" in wanted:
        out += workers_section(recs, meta)
    out += ["## Fairness checks", ""] + fairness_lines(rundir, recs)
    out.append("")
    details = run_details(recs)
    if details:
        out += ["## Run details (median, min-max over rounds)", "",
                "| Run | System | proxy CPU busy % | other load on proxy CPU % | value (median) "
                "| min-max | errors |",
                "|---|---|---:|---:|---:|---|---:|", *details]
        out += ["", "proxy CPU busy %: the proxy's CPU time over the measured interval; near "
                "100 means the proxy was the bottleneck, lower means the load generator or "
                "backend on the other CPU was. CPU per request is meaningful either way. Other "
                "load on the proxy CPU: busy time of that CPU not spent by the proxy (other "
                "processes, interrupts); a few % is normal, more means the figures of that run "
                "are noisy." + (" Scenario 7 has its own section above." if "7" in wanted
                                 else ""), ""]
    if meta.get("load_before") or meta.get("load_after"):
        out += ["## Machine", "", f"- load before: {meta.get('load_before', '?')}",
                f"- load after: {meta.get('load_after', '?')}",
                f"- busiest other processes at start: {meta.get('busy_before', '?')}", ""]
    text = "\n".join(out)
    with open(f"{rundir}/results.md", "w") as f:
        f.write(text + "\n")
    return text
