"""Deployment behind nginx, from the files shipped in deploy/nginx and
deploy/systemd: the relay at the root and under /relay/, launched by
`cmdrelay serve`, by spawn-fcgi with several processes and by socket
activation; the rate limit's 429, the body limit's 413, the database never
served, and the systemd units checked by systemd-analyze."""

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess

from harness import BIN, check, pid_alive, run, test
from servers import (SYSTEMD_ANALYZE, SYSTEMD_SOCKET_ACTIVATE, ShippedNginx, deploy_file, hammer, make_keys,
                     render, scenario)

SQLITE_MAGIC = b"SQLite format 3\x00"


def with_keys(relay):
    return make_keys(relay.env["CMDRELAY_DB"])


@test
def nginx_root_with_cmdrelay_serve_passes_the_scenario():
    with ShippedNginx("cmdrelay", "serve") as relay:
        scenario(relay, with_keys(relay))


@test
def nginx_prefix_with_cmdrelay_serve_passes_the_scenario():
    with ShippedNginx("cmdrelay-prefix", "serve") as relay:
        with open(os.path.join(relay.htdocs, "index.html"), "w") as f:
            f.write("the rest of the site\n")
        scenario(relay, with_keys(relay))
        r = relay.request("GET", "/../index.html")
        check(r.status == 200 and r.raw == b"the rest of the site\n", "the site's own root still serves", r)
        r = relay.request("GET", "/../v1/health")
        check(r.status == 404, "outside the prefix is the site, not the relay", r)


@test
def nginx_with_spawn_fcgi_four_processes_passes_the_scenario():
    with ShippedNginx("cmdrelay", "spawn-fcgi", processes=4) as relay:
        pids = relay.relay_pids()
        check(len(pids) == 4 and all(pid_alive(p) for p in pids), "four relay processes", pids)
        scenario(relay, with_keys(relay))
        # Each of the four serves; a command published through one is read through all.
        keys = with_keys(relay)
        r = relay.request("POST", "/v1/channels/spread/commands", {"name": "hello"},
                          headers={"Authorization": "Bearer " + keys["publish"]} if keys else {})
        check(r.status == 201, "publish", r)
        for _ in range(16):
            r = relay.request("GET", "/v1/channels/spread/commands",
                              headers={"Authorization": "Bearer " + keys["consume"]} if keys else {})
            check(r.status == 200 and [c["name"] for c in r.json["commands"]] == ["hello"], "seen by every process", r)


@test
def nginx_with_systemd_socket_activation_passes_the_scenario():
    check(os.path.exists(SYSTEMD_SOCKET_ACTIVATE), "systemd-socket-activate (package systemd) is needed")
    with ShippedNginx("cmdrelay", "systemd") as relay:
        # The unit runs no `cmdrelay init`: the relay creates the database at its first start.
        r = relay.request("GET", "/v1/health")
        check(r.status == 200, "the first request starts the relay", r)
        check(os.path.exists(relay.env["CMDRELAY_DB"]), "the relay created its database")
        scenario(relay, with_keys(relay))


@test
def systemd_units_pass_systemd_analyze_verify():
    check(os.path.exists(SYSTEMD_ANALYZE), "systemd-analyze (package systemd) is needed")
    with ShippedNginx("cmdrelay", "serve", init=False) as relay:
        # verify checks that ExecStart= can run: point it at this build.
        units = os.path.join(relay.dir, "units")
        render("systemd/cmdrelay.socket", os.path.join(units, "cmdrelay.socket"))
        render("systemd/cmdrelay.service", os.path.join(units, "cmdrelay.service"),
               replace=[("ExecStart=/usr/local/bin/cmdrelay", "ExecStart=" + os.path.abspath(BIN))])
        p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", os.path.join(units, "cmdrelay.socket"),
                            os.path.join(units, "cmdrelay.service")], capture_output=True, text=True, cwd=units)
        check(p.returncode == 0 and "cmdrelay" not in p.stderr, "systemd-analyze verify", p.stdout, p.stderr)
        p = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager",
                            os.path.join(units, "cmdrelay.service")], capture_output=True, text=True, cwd=units)
        m = re.search(r"Overall exposure level for cmdrelay.service: ([0-9.]+)", p.stdout)
        if m is None:
            print("# systemd-analyze security --offline is not available here: %s" % p.stderr.strip()[:200])
        else:
            check(float(m.group(1)) <= 2.0, "the service is hardened (exposure <= 2.0)", m.group(0))
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                           ("ProtectHome", "yes"), ("StateDirectory", "cmdrelay"),
                           ("ReadWritePaths", "/var/lib/cmdrelay"), ("User", "cmdrelay")):
            check("\n%s=%s\n" % (key, value) in open(deploy_file("systemd/cmdrelay.service")).read(),
                  "cmdrelay.service sets %s=%s" % (key, value))


@test
def nginx_rate_limit_answers_429_in_json_with_retry_after():
    with ShippedNginx("cmdrelay", "serve") as relay:
        token = "rate-limit-test-token-0123456789abcdef"
        answers = hammer(relay.port, "/v1/health", {"X-Api-Key": token}, 400)
        limited = [r for r in answers if r.status == 429]
        check(limited, "400 requests at once with one key meet the limit", [r.status for r in answers][-5:])
        check(all(r.status in (200, 429) for r in answers), "nothing but 200 and 429", set(r.status for r in answers))
        r = limited[0]
        check(r.header("Retry-After") == "1", "Retry-After", r.headers)
        check((r.header("Content-Type") or "").startswith("application/json"), "a JSON body", r.headers)
        check(r.error_code() == "rate_limited", "the relay's error shape", r)
        # Counted per key: another key (and the Authorization header) is not limited.
        r = relay.request("GET", "/v1/health", headers={"Authorization": "Bearer another-token"})
        check(r.status == 200, "another key still gets through", r)
        check(token not in relay.nginx_error_log(), "the key is not in nginx's log")


@test
def nginx_body_limit_answers_413_in_json():
    with ShippedNginx("cmdrelay", "serve") as relay:
        keys = with_keys(relay)
        headers = {"Content-Type": "application/json"}
        if keys:
            headers["Authorization"] = "Bearer " + keys["publish"]
        limit = 64 * 1024
        body = b'{"big": "' + b"x" * (limit + 1 - 11) + b'"}'
        check(len(body) == limit + 1, "one byte over")
        r = relay.request("POST", "/PostCommand", raw=body, headers=headers)
        check(r.status == 413 and r.error_code() == "payload_too_large", "413 over the limit, in JSON", r)
        body = b'{"big": "' + b"x" * (limit - 11) + b'"}'
        r = relay.request("POST", "/PostCommand", raw=body, headers=headers)
        check(r.status != 413, "exactly the limit passes nginx (the relay's limit is the same)", r)


@test
def nginx_never_serves_the_database_file():
    with ShippedNginx("cmdrelay-prefix", "serve") as relay:
        # A copy of the database put into the site's root by mistake.
        shutil.copy(relay.env["CMDRELAY_DB"], os.path.join(relay.htdocs, "cmdrelay.db"))
        for name in ("cmdrelay.db-wal", "cmdrelay.db-shm"):
            open(os.path.join(relay.htdocs, name), "wb").close()
        for path in ("/../cmdrelay.db", "/../cmdrelay.db-wal", "/../cmdrelay.db-shm", "/../CMDRELAY.DB",
                     "/cmdrelay.db", "/relay.db", "/../relay.db", relay.env["CMDRELAY_DB"],
                     "/.." + relay.env["CMDRELAY_DB"]):
            r = relay.request("GET", path)
            check(r.status == 404 and not r.raw.startswith(SQLITE_MAGIC), "GET %s is refused" % path, r)
    with ShippedNginx("cmdrelay", "serve") as relay:
        for path in ("/cmdrelay.db", "/relay.db", "/var/lib/cmdrelay/cmdrelay.db", relay.env["CMDRELAY_DB"]):
            r = relay.request("GET", path)
            check(r.status == 404 and not r.raw.startswith(SQLITE_MAGIC), "GET %s is refused" % path, r)


@test
def nginx_answers_503_in_json_while_the_relay_is_down():
    with ShippedNginx("cmdrelay", "serve") as relay:
        relay.stop_relay()
        r = relay.request("GET", "/v1/health")
        check(r.status == 503 and r.error_code() == "unavailable", "503 in JSON", r)
        check(r.header("Retry-After") is not None, "Retry-After", r.headers)
        relay.start_relay()
        check(relay.request("GET", "/v1/health").status == 200, "back once the relay is")


@test
def nginx_tls_and_http2_lines_work_uncommented():
    if shutil.which("openssl") is None:
        print("# openssl is not installed: the TLS lines are checked by nginx -t only")
        return
    with ShippedNginx("cmdrelay", "serve", tls=True) as relay:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", relay.tls_port, context=ctx, timeout=10)
        try:
            conn.request("GET", "/v1/health")
            r = conn.getresponse()
            check(r.status == 200 and b'"ok"' in r.read(), "health over TLS")
            check(r.getheader("Strict-Transport-Security") is not None, "HSTS")
        finally:
            conn.close()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", relay.tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                check(s.selected_alpn_protocol() == "h2", "HTTP/2 is offered", s.selected_alpn_protocol())


run()
