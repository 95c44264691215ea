"""The same binary as a plain CGI program: run directly with a CGI
environment (RFC 3875), and behind a real Apache with mod_cgi, sharing its
database with a FastCGI relay behind nginx."""

import json
import os
import signal
import subprocess
import tempfile
import time

from harness import (BIN, SANITIZER_REPORT, ApacheCgi, Relay, admin_key_of, cgi_request, check, run, sqlite3_cli,
                     test)

TUTORIAL = {"CMDRELAY_TUTORIAL_OPEN": "1"}


class Servers:
    """The fixture: nginx + a FastCGI relay, and Apache running the relay as
    CGI on the same database."""

    def __enter__(self):
        self.relay = Relay(env=TUTORIAL)
        self.relay.__enter__()
        try:
            self.apache = ApacheCgi(self.relay.env["CMDRELAY_DB"], env=TUTORIAL)
            self.apache.__enter__()
        except BaseException:
            self.relay.__exit__(None, None, None)
            raise
        self.db = self.relay.env["CMDRELAY_DB"]
        return self

    def __exit__(self, *exc):
        try:
            self.apache.__exit__(*exc)
        finally:
            self.relay.__exit__(*exc)

    def cgi(self, method, path, **kw):
        kw.setdefault("db", self.db)
        kw.setdefault("env", TUTORIAL)
        return cgi_request(method, path, **kw)

    def stored(self):
        r = self.cgi("GET", "/GetCommands")
        check(r.status == 200, "GetCommands", r)
        return r.json["Data"]

    def reset(self):
        names = list(self.stored())
        if names:
            check(self.cgi("DELETE", "/DeleteCommands", body=names).status == 200, "clearing")


def refused(r, status, code):
    check(r.status == status, "status %d expected" % status, r, getattr(r, "stderr", ""))
    check(r.header("Content-Type") == "application/json", "JSON", r.headers)
    check(isinstance(r.json, dict) and r.json.get("error", {}).get("code") == code, "error code " + code, r)
    check(r.json["error"].get("message"), "a message", r)
    return r.json["error"]


@test
def cgi_post_get_delete_round_trip(s):
    s.reset()
    r = s.cgi("POST", "/PostCommand", body={"kick": "Player1", "say": {"text": "h\u00e9"}})
    check(r.status == 201 and r.json == {"Server": "HTTP 201: Created"}, "POST", r, r.stderr)
    r = s.cgi("GET", "/GetCommands")
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK",
                                         "Data": {"kick": "Player1", "say": {"text": "h\u00e9"}}}, "GET", r)
    r = s.cgi("DELETE", "/DeleteCommands", body=["kick", "unknown"])
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK"}, "DELETE", r)
    check(s.stored() == {"say": {"text": "h\u00e9"}}, "only say left")


@test
def cgi_response_has_status_type_and_exact_length(s):
    r = s.cgi("GET", "/GetCommands")
    check(r.stdout.startswith(b"Status: 200 OK\r\n"), "Status header first", r.stdout[:100])
    check(r.header("Content-Type") == "application/json", "type", r.headers)
    check(int(r.header("Content-Length")) == len(r.raw), "Content-Length matches the body", r.headers, len(r.raw))
    check(r.exit_code == 0 and r.stderr == "", "exit 0, nothing on stderr", r.exit_code, r.stderr)


@test
def cgi_routes_on_path_info_document_uri_or_request_uri(s):
    s.reset()
    s.cgi("POST", "/PostCommand", body={"x": 1})
    for var in ("PATH_INFO", "DOCUMENT_URI", "REQUEST_URI"):
        r = s.cgi("GET", "/GetCommands", path_var=var, query="cachebust=1")
        check(r.status == 200 and r.json["Data"] == {"x": 1}, "routed by " + var, r)


@test
def cgi_decodes_request_uri_escapes_once(s):
    r = s.cgi("GET", "/Get%43ommands", path_var="REQUEST_URI")
    check(r.status == 200, "%43 is C", r)
    refused(s.cgi("GET", "/%2547etCommands", path_var="REQUEST_URI"), 404, "not_found")


@test
def cgi_refuses_malformed_request_uri_escapes_with_400(s):
    for path in ("/Get%ZZCommands", "/GetCommands%", "/GetCommands%4", "/Get%00Commands"):
        err = refused(s.cgi("GET", path, path_var="REQUEST_URI"), 400, "invalid_request")
        check("escape" in err["message"], "message says escape", err)


@test
def cgi_refuses_malformed_json_with_400(s):
    s.reset()
    for raw in (b"{", b'{"a":1,}', b"{'a':1}", b'{"a":"\xc0\xaf"}', b'{"a":9007199254740993}'):
        refused(s.cgi("POST", "/PostCommand", raw=raw), 400, "invalid_json")
    refused(s.cgi("POST", "/PostCommand", raw=b""), 400, "invalid_json")
    check(s.stored() == {}, "nothing stored")


@test
def cgi_refuses_an_unknown_path_with_404(s):
    refused(s.cgi("GET", "/nope"), 404, "not_found")
    refused(s.cgi("GET", None), 404, "not_found")


@test
def cgi_refuses_a_wrong_method_with_405_and_allow(s):
    r = s.cgi("GET", "/PostCommand")
    refused(r, 405, "method_not_allowed")
    check(r.header("Allow") == "POST", "Allow: POST", r.headers)
    r = s.cgi("PUT", "/GetCommands", raw=b"{}")
    refused(r, 405, "method_not_allowed")
    check(r.header("Allow") == "GET", "Allow: GET", r.headers)


@test
def cgi_refuses_a_non_json_content_type_with_415(s):
    refused(s.cgi("POST", "/PostCommand", raw=b'{"a":1}', content_type="text/plain"), 415, "unsupported_media_type")


@test
def cgi_refuses_a_body_over_the_limit_from_content_length_alone(s):
    # CONTENT_LENGTH announces 100000 bytes but stdin holds 9: a relay that
    # read before deciding would answer 400 (body ended early), not 413.
    r = s.cgi("POST", "/PostCommand", raw=b'{"a":"xx"', env=dict(TUTORIAL, CONTENT_LENGTH="100000"))
    refused(r, 413, "payload_too_large")
    r = s.cgi("POST", "/PostCommand", raw=b"{}", env=dict(TUTORIAL, CONTENT_LENGTH="1025",
                                                          CMDRELAY_BODY_LIMIT="1024"))
    err = refused(r, 413, "payload_too_large")
    check("1024" in err["message"], "configured limit", err)


@test
def cgi_refuses_a_body_shorter_than_content_length_with_400(s):
    err = refused(s.cgi("POST", "/PostCommand", raw=b'{"a":1}', env=dict(TUTORIAL, CONTENT_LENGTH="100")),
                  400, "invalid_request")
    check("ended" in err["message"], "message says the body ended", err)


@test
def cgi_refuses_a_content_length_that_is_not_a_byte_count(s):
    for value in ("abc", "-1", "+7", " 7", "7x", "99999999999999999999"):
        refused(s.cgi("POST", "/PostCommand", raw=b'{"a":1}', env=dict(TUTORIAL, CONTENT_LENGTH=value)),
                400, "invalid_request")


@test
def cgi_and_fastcgi_share_one_database(s):
    s.reset()
    check(s.relay.post("/PostCommand", {"via_nginx": 1}).status == 201, "stored through nginx")
    check(s.cgi("POST", "/PostCommand", body={"via_cgi": 2}).status == 201, "stored through CGI")
    check(s.stored() == {"via_nginx": 1, "via_cgi": 2}, "CGI sees both")
    check(s.relay.get("/GetCommands").json["Data"] == {"via_nginx": 1, "via_cgi": 2}, "FastCGI sees both")
    s.cgi("DELETE", "/DeleteCommands", body=["via_nginx"])
    check(s.relay.get("/GetCommands").json["Data"] == {"via_cgi": 2}, "FastCGI sees CGI's delete")


@test
def cgi_creates_a_new_database_on_first_request(s):
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "new.db")
        r = cgi_request("POST", "/PostCommand", body={"first": True}, db=db, env=TUTORIAL)
        check(r.status == 201, "stored", r, r.stderr)
        r = cgi_request("GET", "/GetCommands", db=db, env=TUTORIAL)
        check(r.json["Data"] == {"first": True}, "read back", r)


@test
def cgi_leaves_an_empty_wal_where_no_other_process_holds_the_database(s):
    # CGI-only hosting: every process is the database's only user, and the
    # next one would read back whatever the WAL holds before answering.
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "cgi-only.db")
        payload = {"blob": "z" * 300}
        for i in range(20):
            r = cgi_request("POST", "/v1/channels/c/commands", db=db,
                            body=[{"name": "n%d" % i, "data": payload, "ttl": 600} for _ in range(20)])
            check(r.status == 201, "publish %d" % i, r, r.stderr)
            check(os.path.getsize(db + "-wal") == 0, "the WAL is empty after publish %d" % i,
                  os.path.getsize(db + "-wal"))
        r = cgi_request("GET", "/v1/channels/c/commands", db=db, query="after=0&limit=100")
        check(r.status == 200 and len(r.json["commands"]) == 100, "read back", r)
        check(os.path.getsize(db + "-wal") == 0, "and a read leaves it empty")
        check(sqlite3_cli(db, "SELECT count(*) FROM commands") == "400\n", "all 400 in the database file")


@test
def a_cgi_process_ended_with_sigterm_once_it_has_answered_still_empties_the_wal(s):
    # What mod_cgid does: the answer is read to its end, then the child, if
    # still running, gets SIGTERM.  The WAL's emptying must not be cut short.
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "terminated.db")
        body = json.dumps([{"name": "n", "data": {"blob": "t" * 500}, "ttl": 600} for _ in range(50)]).encode()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GATEWAY_INTERFACE": "CGI/1.1",
               "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/channels/c/commands", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "CMDRELAY_DB": db, "HTTP_X_API_KEY": admin_key_of(db)}
        env.update({k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")})
        for i in range(5):
            p = subprocess.Popen([BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            p.stdin.write(body)
            p.stdin.close()
            answer = p.stdout.read()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            err = p.stderr.read().decode("utf-8", "replace")
            check(answer.startswith(b"Status: 201"), "publish %d answered 201" % i, answer[:200], err[:2000])
            check(p.returncode == 0, "publish %d exited 0, not by SIGTERM" % i, p.returncode, err[:2000])
            check(not SANITIZER_REPORT.search(err), "sanitizer report from the CGI process", err[:3000])
            check(os.path.getsize(db + "-wal") == 0, "the WAL is empty after publish %d" % i,
                  os.path.getsize(db + "-wal"))


@test
def apache_cgi_leaves_an_empty_wal_though_it_ends_the_child_after_the_answer(s):
    # The same through a real web server: the relay answers, closes its
    # standard output and only then empties the WAL, while Apache sends the
    # answer on.
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "apache-only.db")
        with ApacheCgi(db) as apache:
            for i in range(10):
                r = apache.request("POST", "/v1/channels/c/commands",
                                   [{"name": "n%d" % i, "data": {"blob": "w" * 500}, "ttl": 600} for _ in range(20)])
                check(r.status == 201, "publish %d through Apache" % i, r, apache.error_log()[-2000:])
            wal = db + "-wal"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.path.getsize(wal) != 0:
                time.sleep(0.05)
            check(os.path.getsize(wal) == 0, "the WAL is empty once the last child is done", os.path.getsize(wal),
                  apache.error_log()[-2000:])
        check(sqlite3_cli(db, "SELECT count(*) FROM commands") == "200\n", "all 200 in the database")


@test
def cgi_without_a_usable_database_answers_503(s):
    with tempfile.TemporaryDirectory() as d:
        r = cgi_request("GET", "/GetCommands", db=os.path.join(d, "missing", "x.db"), env=TUTORIAL)
        refused(r, 503, "unavailable")
        check(r.header("Retry-After") == "1", "Retry-After", r.headers)
        check(r.exit_code == 0, "exit 0: the answer was sent", r.exit_code)


@test
def apache_cgi_round_trip_shares_the_database(s):
    s.reset()
    r = s.apache.request("POST", "/PostCommand", {"via_apache": [1, "two"]})
    check(r.status == 201 and r.json == {"Server": "HTTP 201: Created"}, "POST through Apache", r,
          s.apache.error_log()[-2000:])
    r = s.apache.request("GET", "/GetCommands?cachebust=7")
    check(r.status == 200 and r.json["Data"] == {"via_apache": [1, "two"]}, "GET through Apache", r)
    check(s.relay.get("/GetCommands").json["Data"] == {"via_apache": [1, "two"]}, "nginx relay sees it")
    r = s.apache.request("DELETE", "/DeleteCommands", ["via_apache"])
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK"}, "DELETE through Apache", r)
    check(s.relay.get("/GetCommands").json["Data"] == {}, "gone for nginx too")


@test
def apache_cgi_passes_errors_and_allow_through(s):
    r = s.apache.request("GET", "/PostCommand")
    refused(r, 405, "method_not_allowed")
    check(r.header("Allow") == "POST", "Allow header through Apache", r.headers)
    refused(s.apache.request("GET", "/nope"), 404, "not_found")
    refused(s.apache.request("POST", "/PostCommand", raw=b"{bad", headers={"Content-Type": "application/json"}),
            400, "invalid_json")
    refused(s.apache.request("POST", "/PostCommand", raw=b"x" * (64 * 1024 + 1),
                             headers={"Content-Type": "application/json"}), 413, "payload_too_large")


if __name__ == "__main__":
    run(Servers)
