"""Reads a testssl.sh flat JSON report and decides whether anything is weak.

Fails (exit 1) on every finding of severity LOW or above and on every WARN
(a check that could not run proves nothing), except certificate metadata that
describes the private test CA rather than the proxy (listed in ABOUT_TEST_CA,
printed as such). Also fails when a check it relies on is missing from the
report, so a scanner that silently skipped the vulnerability section cannot
pass. Prints a short summary either way.

  scan_verdict.py [--verified ID]... REPORT.json

--verified ID: the scan script re-ran the check ID itself and it passed, so
that check's "could not complete" warning (RACY_CHECKS) is not counted.
"""
import json
import sys

# Facts about the throwaway CA the scan generates, not about Switchyard: a
# private CA publishes no CRL or OCSP responder.
ABOUT_TEST_CA = {
    "cert_revocation": "the test CA publishes no CRL/OCSP URI (a property of the certificate)",
}

# Checks whose client races the server (see tests/tls/scan): the warning the
# scanner writes when its own client gave up, excused only under --verified.
RACY_CHECKS = {
    "sessionresumption_ticket": "check failed because of connect problem",
    "sessionresumption_ID": "check failed because of connect problem",
}

# Checks that must be present in the report (the scan really ran them).
REQUIRED = [
    "SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3",
    "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
    "cipherlist_3DES_IDEA", "cipherlist_AVERAGE", "PFS", "cipher_order",
    "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
    "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
    "LOGJAM", "BEAST", "LUCKY13", "RC4", "HSTS_time",
]
SEVERE = {"LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"}


def main(path, verified):
    with open(path, encoding="utf-8") as f:
        findings = json.load(f)
    by_id = {}
    for item in findings:
        by_id.setdefault(item["id"], item)

    problems, excused = [], []
    for item in findings:
        if item.get("severity") not in SEVERE:
            continue
        line = f'{item["id"]} [{item["severity"]}]: {item.get("finding", "")}'
        if item["id"] in ABOUT_TEST_CA:
            excused.append(f'{line} -- {ABOUT_TEST_CA[item["id"]]}')
        elif (item["id"] in verified and item["severity"] == "WARN"
              and item.get("finding") == RACY_CHECKS.get(item["id"])):
            excused.append(f"{line} -- the scanner's client hung up early; "
                           "re-checked by tests/tls/scan: resumes")
        else:
            problems.append(line)
    missing = [i for i in REQUIRED if i not in by_id]

    def value(i):
        return by_id[i]["finding"] if i in by_id else "(missing)"

    print("   protocols: " + ", ".join(
        f"{p}={value(p)}" for p in ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"]))
    suites = [f["finding"].split()[1] for f in findings if f["id"].startswith("cipher_x")]
    print(f"   suites offered ({len(suites)}): {' '.join(suites)}")
    print(f"   key exchange groups: {value('PFS_ECDHE_curves')}; cipher order: {value('cipher_order')}")
    vulns = REQUIRED[REQUIRED.index("heartbleed"):REQUIRED.index("HSTS_time")]
    ok = [v for v in vulns if v in by_id and by_id[v]["severity"] == "OK"]
    print(f"   vulnerability checks passed: {len(ok)}/{len(vulns)} ({' '.join(ok)})")
    print(f"   HSTS: {value('HSTS_time')}; session resumption: tickets {value('sessionresumption_ticket')}")
    for e in excused:
        print(f"   not counted: {e}")
    for m in missing:
        print(f"   MISSING check: {m}")
    for p in problems:
        print(f"   WEAK: {p}")
    failed = bool(problems or missing)
    print(f"tls-scan: {'FAIL' if failed else 'PASS'}: {len(findings)} findings, "
          f"{len(problems)} weak, {len(missing)} checks missing")
    return 1 if failed else 0


def parse_args(argv):
    verified, rest = set(), []
    while argv:
        arg = argv.pop(0)
        if arg == "--verified" and argv and argv[0] in RACY_CHECKS:
            verified.add(argv.pop(0))
        elif arg.startswith("-"):
            sys.exit(f"scan_verdict.py: unknown or bad option {arg} "
                     f"(--verified takes one of {', '.join(RACY_CHECKS)})")
        else:
            rest.append(arg)
    if len(rest) != 1:
        sys.exit("usage: scan_verdict.py [--verified ID]... REPORT.json")
    return rest[0], verified


if __name__ == "__main__":
    report, checked = parse_args(sys.argv[1:])
    sys.exit(main(report, checked))
