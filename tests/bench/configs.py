"""Config rendering for tests/bench/run: fills the templates of this folder
(`@NAME@` placeholders) for the backend and the three proxies."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
SMALL_BODY = ("switchyard-bench-small-body-" + "0123456789" * 10)[:100]  # exactly 100 bytes


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for line in text.splitlines():
        for k in re.findall(r"@([A-Z_]+)@", line):
            if line.lstrip().startswith("#") and "\n" in str(values.get(k, "")):
                raise ValueError(f"{template}: a comment names @{k}@, a multi-line value")
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise ValueError(f"{template}: unfilled placeholders {left}")
    return text


TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
TLS12_SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def routes_of(variant):
    """scenario 6: (route index list) -- 100 routes, or the last one alone."""
    if variant == "routes100":
        return list(range(100))
    if variant == "routes1":
        return [99]
    return None


def render_backend(a):
    return fill("backend-nginx.conf.in", {
        "RUNDIR": a.rundir, "NOFILE": a.nofile, "HOST": HOST, "PLAIN_PORT": a.port,
        "TLS_PORT": a.tls_port, "TLS_NORESUME_PORT": a.noresume_port,
        "CERT": f"{a.rundir}/cert.pem", "KEY": f"{a.rundir}/key.pem",
        "SMALL_BODY": SMALL_BODY, "WWW": f"{a.rundir}/www"})


def render_nginx(a, tls, routes):
    tls_lines = ""
    if tls:
        tls_lines = "\n".join("        " + l for l in [
            f"ssl_certificate {a.rundir}/cert.pem;",
            f"ssl_certificate_key {a.rundir}/key.pem;",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            f"ssl_ciphers {TLS12_SUITES};",
            f"ssl_conf_command Ciphersuites {TLS13_SUITES};",
            "ssl_prefer_server_ciphers on;",
            "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
            "ssl_session_cache off;",
            "ssl_session_tickets off;"])
    routing, pool = "", "backend"
    if routes is not None:
        lines = ["    map $http_x_route $pool {", "        default no_route;"]
        lines += [f"        ~^svc-{n}(-.*)?$ pool{n};" for n in routes]
        lines.append("    }")
        for n in routes:
            lines += [f"    upstream pool{n} {{", f"        server {a.backend};",
                      "        keepalive 256;", "        keepalive_requests 1000000;",
                      "        keepalive_timeout 300s;", "    }"]
        routing, pool = "\n".join(lines) + "\n", "$pool"
    return fill("nginx-proxy.conf.in", {
        "RUNDIR": a.rundir, "NOFILE": a.nofile, "MAX_CONNS": a.max_conns,
        "IDLE_TIMEOUT": a.idle_timeout, "BACKEND": a.backend, "ROUTING": routing,
        "HOST": HOST, "PORT": a.port, "SSL": "ssl" if tls else "", "TLS": tls_lines,
        "POOL": pool, "WORKERS": a.workers,
        # several workers: one listening socket each (SO_REUSEPORT), as Switchyard
        # does, rather than one shared socket whose wake-ups may favour one worker
        "REUSEPORT": "reuseport" if a.workers > 1 else ""})


def render_haproxy(a, tls, routes, splice=False):
    bind_ssl = ""
    if tls:
        bind_ssl = (f"ssl crt {a.rundir}/haproxy.pem alpn http/1.1 "
                    f"curves X25519:P-256:P-384 ciphers {TLS12_SUITES} "
                    f"ciphersuites {TLS13_SUITES} no-tls-tickets")
    rules, backends = "", ""
    if routes is not None:
        rules = "\n".join(f"    use_backend pool{n} if {{ hdr_reg(x-route) ^svc-{n}(-.*)?$ }}"
                          for n in routes)
        backends = "\n".join(f"\nbackend pool{n}\n    server s1 {a.backend}" for n in routes)
    return fill("haproxy.cfg.in", {
        "RUNDIR": a.rundir, "WORKERS": a.workers, "MAX_CONNS": a.max_conns, "SSL_CACHESIZE": 0,
        "IDLE_TIMEOUT": a.idle_timeout, "HOST": HOST, "PORT": a.port, "BIND_SSL": bind_ssl,
        "ROUTING_RULES": rules, "BACKEND": a.backend, "ROUTING_BACKENDS": backends,
        # scenario 4's splice variant: HAProxy splices the responses whenever it
        # can, as Switchyard with `splice: true` does (splice-auto would guess)
        "SPLICE": "    option splice-response" if splice else ""})


def render_switchyard(a, tls, routes, splice=False):
    tls_lines = ""
    if tls:
        tls_lines = (f"    tls: {{certificates: [{{cert: '{a.rundir}/cert.pem', "
                     f"key: '{a.rundir}/key.pem'}}], session_tickets: false}}")
    if routes is None:
        pools = f"  - {{name: backend, servers: [{{name: s1, address: '{a.backend}'}}]}}"
        route_lines = "  - {name: all, pool: backend}"
    else:
        pools = "\n".join(f"  - {{name: pool{n}, servers: [{{name: s1, address: '{a.backend}'}}]}}"
                          for n in routes)
        route_lines = "\n".join(
            f"  - {{name: r{n}, match: {{headers: {{X-Route: '^svc-{n}(-.*)?$'}}}}, pool: pool{n}}}"
            for n in routes)
    return fill("switchyard.yaml.in", {
        "WORKERS": a.workers, "HOST": HOST, "PORT": a.port, "TLS": tls_lines,
        "IDLE_TIMEOUT": a.idle_timeout, "POOLS": pools, "ROUTES": route_lines,
        "SPLICE": f"splice: {'true' if splice else 'false'}"})


def render(what, variant, a):
    """The text of one config: `what` is backend or a system, `variant` plain,
    tls, routes100, routes1 or splice (plain, with kernel splicing of response
    bodies where the system has it: nginx has none, so it stays plain); `a`
    holds rundir, port, tls_port, noresume_port, backend, nofile, max_conns,
    idle_timeout and workers (nginx worker processes, HAProxy threads,
    Switchyard worker threads)."""
    if what == "backend":
        return render_backend(a)
    tls, routes = variant == "tls", routes_of(variant)
    if what == "nginx":
        return render_nginx(a, tls, routes)
    render_system = render_haproxy if what == "haproxy" else render_switchyard
    return render_system(a, tls, routes, splice=variant == "splice")
