"""Bad input through nginx: every malformed request gets a 4xx and a JSON body
{"error": {"code", "message"}}, never a 500, and nothing half-stored."""

import json
import socket
import time

from harness import Relay, check, run, test

TUTORIAL = {"CMDRELAY_TUTORIAL_OPEN": "1"}
JSON = {"Content-Type": "application/json"}
DEFAULT_LIMIT = 64 * 1024


def refused(r, status, code=None):
    """Checks that r is the relay's own error: status, JSON type, and a body of
    exactly {"error": {"code": "...", "message": "..."}} with both non-empty."""
    check(r.status == status, "status %d expected" % status, r)
    check((r.header("Content-Type") or "").startswith("application/json"), "JSON content type", r.headers)
    body = r.json
    check(isinstance(body, dict) and list(body) == ["error"], "body is {\"error\": ...}", r)
    err = body["error"]
    check(isinstance(err, dict) and sorted(err) == ["code", "message"], "error has code and message", r)
    check(isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str) and err["message"],
          "code and message are non-empty strings", r)
    if code is not None:
        check(err["code"] == code, "error code %s expected" % code, r)
    return err


def post_raw(relay, data, headers=JSON, path="/PostCommand"):
    return relay.request("POST", path, raw=data, headers=headers)


def delete_raw(relay, data, headers=JSON):
    return relay.request("DELETE", "/DeleteCommands", raw=data, headers=headers)


def stored(relay):
    return relay.get("/GetCommands").json["Data"]


def reset(relay, commands=None):
    """Leaves exactly these commands stored."""
    names = list(stored(relay))
    if names:
        relay.delete("/DeleteCommands", names)
    if commands:
        check(relay.post("/PostCommand", commands).status == 201, "seeding commands")


def object_of_size(size):
    """A valid PostCommand body of exactly size bytes: values of at most 16 KiB
    (the per-value limit), then trailing whitespace, which JSON allows."""
    values, n = {}, 0
    while len(json.dumps(values)) + 16100 < size:
        values["v%d" % n] = "x" * 16000
        n += 1
    text = json.dumps(values).encode()
    check(len(text) <= size, "test body too big already")
    return text + b" " * (size - len(text))


def nested(depth):
    """{"deep": [[...]]}: the object is level 1, each array one more."""
    return ('{"deep":' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()


@test
def malformed_json_is_refused_with_400(relay):
    reset(relay)
    for body in (b"{", b'{"a":1', b'{"a":1,}', b'{"a" 1}', b"{'a':1}", b"{a:1}", b'{"a":1}}', b'{"a":1} x',
                 b'{"a":1}{"b":2}', b'{"a":01}', b'{"a":.5}', b'{"a":1.}', b'{"a":tru}', b'{"a":"\\x"}',
                 b'/*c*/{"a":1}', b'{"a":"unterminated}', b"   ", b"\x00", b'{"a":1}\x00'):
        refused(post_raw(relay, body), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")


@test
def malformed_json_in_a_delete_is_refused_with_400(relay):
    reset(relay, {"keep": 1})
    for body in (b"[", b'["keep",]', b"['keep']", b'["keep"] ["x"]'):
        refused(delete_raw(relay, body), 400, "invalid_json")
    check(stored(relay) == {"keep": 1}, "nothing deleted")


@test
def json_of_the_wrong_type_is_refused_with_400(relay):
    reset(relay, {"keep": 1})
    for body in ([1], ["keep"], [[]], [{}], "keep", 5, 1.5, True, None):
        err = refused(post_raw(relay, json.dumps(body).encode()), 400, "invalid_request")
        check("object" in err["message"], "message says an object is due", err)
    for body in ({"keep": 1}, {}, "keep", 5, True, None, [1], ["keep", None], [["keep"]], [{"keep": 1}]):
        refused(delete_raw(relay, json.dumps(body).encode()), 400, "invalid_request")
    check(stored(relay) == {"keep": 1}, "nothing stored or deleted")


@test
def body_over_the_default_limit_is_refused_with_413(relay):
    reset(relay)
    err = refused(post_raw(relay, object_of_size(DEFAULT_LIMIT + 1)), 413, "payload_too_large")
    check(str(DEFAULT_LIMIT) in err["message"], "message names the limit", err)
    refused(delete_raw(relay, b"[" + b" " * DEFAULT_LIMIT + b"]"), 413, "payload_too_large")
    check(stored(relay) == {}, "nothing stored")


@test
def body_at_the_default_limit_is_accepted(relay):
    reset(relay)
    body = object_of_size(DEFAULT_LIMIT)
    check(len(body) == DEFAULT_LIMIT, "exactly 64 KiB")
    r = post_raw(relay, body)
    check(r.status == 201, "accepted", r)
    check(stored(relay) == json.loads(body), "stored whole")


@test
def configured_body_limit_is_enforced(relay):
    with Relay(env=dict(TUTORIAL, CMDRELAY_BODY_LIMIT="2048")) as small:
        err = refused(post_raw(small, object_of_size(2049)), 413, "payload_too_large")
        check("2048" in err["message"], "message names the configured limit", err)
        r = post_raw(small, object_of_size(2048))
        check(r.status == 201, "a body of exactly the limit is accepted", r)


@test
def body_limit_is_decided_from_content_length_before_the_body_is_read(relay):
    # Without request buffering nginx hands the request over at once; the
    # relay must answer 413 though only 10 of the announced bytes ever come.
    with Relay(env=TUTORIAL, nginx_extra="            fastcgi_request_buffering off;") as streaming:
        s = socket.create_connection(("127.0.0.1", streaming.port), timeout=10)
        try:
            s.sendall(b"POST /PostCommand HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 200000\r\n\r\n{\"a\": \"xx")
            started = time.monotonic()
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        check(reply.startswith(b"HTTP/1.1 413 "), "413 before the body was sent", reply[:300])
        check(b'"payload_too_large"' in reply, "JSON error body", reply[:400])
        check(time.monotonic() - started < 5, "answered without waiting for the body")


@test
def json_nested_32_levels_deep_is_accepted(relay):
    reset(relay)
    r = post_raw(relay, nested(32))
    check(r.status == 201, "32 levels accepted", r)
    check(stored(relay) == json.loads(nested(32)), "stored as sent")


@test
def json_nested_33_levels_deep_is_refused(relay):
    reset(relay)
    err = refused(post_raw(relay, nested(33)), 400, "invalid_json")
    check("32" in err["message"], "message names the limit", err)
    refused(delete_raw(relay, b"[" * 33 + b"]" * 33), 400, "invalid_json")
    refused(post_raw(relay, nested(2000)), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")


@test
def invalid_utf8_is_refused_with_400(relay):
    reset(relay)
    for bad in (b"\xff", b"\xc3", b"\xc3(", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80"):
        err = refused(post_raw(relay, b'{"v":"' + bad + b'"}'), 400, "invalid_json")
        check("UTF-8" in err["message"], "message says UTF-8", bad, err)
        refused(post_raw(relay, b'{"' + bad + b'":1}'), 400, "invalid_json")
        refused(delete_raw(relay, b'["' + bad + b'"]'), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")


@test
def raw_control_characters_in_strings_are_refused(relay):
    reset(relay)
    for body in (b'{"v":"a\x01b"}', b'{"v":"tab\there"}', b'{"line\nbreak":1}', b'{"v":"\x1f"}'):
        refused(post_raw(relay, body), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")
    r = post_raw(relay, b'{"v":"tab\\there\\u0001"}')
    check(r.status == 201 and stored(relay) == {"v": "tab\there\x01"}, "escaped ones are fine", r)


@test
def empty_body_is_refused_with_400(relay):
    reset(relay, {"keep": 1})
    err = refused(post_raw(relay, b""), 400, "invalid_json")
    check("empty" in err["message"], "message says empty", err)
    refused(relay.request("POST", "/PostCommand", headers=JSON), 400, "invalid_json")
    refused(delete_raw(relay, b""), 400, "invalid_json")
    refused(relay.request("DELETE", "/DeleteCommands"), 400, "invalid_json")
    check(stored(relay) == {"keep": 1}, "nothing stored or deleted")


@test
def non_json_content_type_is_refused_with_415(relay):
    reset(relay, {"keep": 1})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/jsonx", "text/json", "application/xml", "json"):
        err = refused(post_raw(relay, b'{"a":1}', {"Content-Type": ctype}), 415, "unsupported_media_type")
        check(ctype.split(";")[0] in err["message"], "message names the type", err)
        refused(delete_raw(relay, b'["keep"]', {"Content-Type": ctype}), 415, "unsupported_media_type")
    check(stored(relay) == {"keep": 1}, "nothing stored or deleted")


@test
def json_content_types_are_accepted(relay):
    reset(relay)
    for i, ctype in enumerate(("application/json", "application/json; charset=utf-8", "Application/JSON",
                               "application/json ;charset=UTF-8", "application/vnd.game+json")):
        r = post_raw(relay, b'{"c%d":1}' % i, {"Content-Type": ctype})
        check(r.status == 201, "accepted: " + ctype, r)
    r = relay.request("POST", "/PostCommand", raw=b'{"none":1}')
    check(r.status == 201, "a body without Content-Type is taken as JSON", r)
    check(len(stored(relay)) == 6, "all stored")


@test
def unknown_path_is_refused_with_404(relay):
    for path in ("/", "/nope", "/postcommand", "/PostCommands", "/PostCommand/extra", "/GetCommands/",
                 "/v1", "/v1/healthz", "/v1/health/x", "/%C3%A9", "/a/b/c/d/e"):
        err = refused(relay.get(path), 404, "not_found")
        check(path.split("%")[0] in err["message"], "message names the path", err)
    refused(post_raw(relay, b"not json", {"Content-Type": "text/plain"}, path="/nope"), 404, "not_found")


@test
def wrong_method_is_refused_with_405_and_allow(relay):
    cases = {"/PostCommand": ("POST", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"]),
             "/GetCommands": ("GET", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
             "/DeleteCommands": ("DELETE", ["GET", "POST", "PUT", "PATCH", "OPTIONS"]),
             "/v1/health": ("GET", ["POST", "DELETE", "PUT"])}
    for path, (allowed, methods) in cases.items():
        for method in methods:
            r = relay.request(method, path, raw=b'{"a":1}' if method != "GET" else None, headers=JSON)
            refused(r, 405, "method_not_allowed")
            check(r.header("Allow") == allowed, "Allow: %s on %s %s" % (allowed, method, path), r.headers)


@test
def wrong_method_is_refused_before_the_body_is_looked_at(relay):
    r = relay.request("POST", "/GetCommands", raw=b"{{{ not json", headers={"Content-Type": "text/plain"})
    refused(r, 405, "method_not_allowed")


@test
def percent_escapes_in_the_path_are_decoded_once(relay):
    reset(relay, {"x": 1})
    r = relay.get("/Get%43ommands")
    check(r.status == 200 and r.json["Data"] == {"x": 1}, "%43 is C", r)
    refused(relay.get("/%2547etCommands"), 404, "not_found")


@test
def malformed_percent_escapes_in_the_path_are_refused_with_400(relay):
    # nginx refuses these itself (with its own page) before the relay sees
    # them; the relay's own refusal of them is in test_cgi.py.
    for path in ("/Get%ZZCommands", "/GetCommands%", "/GetCommands%4", "/Get%00Commands"):
        r = relay.get(path)
        check(r.status == 400, "400 for " + path, r)


@test
def path_escapes_that_are_not_utf8_get_a_valid_json_404(relay):
    for path in ("/%FF", "/%C0%AF", "/x%ED%A0%80", "/" + "%C3%A9" * 99 + "%C3"):
        r = relay.get(path)
        refused(r, 404, "not_found")
        r.raw.decode("utf-8")  # raises if the body is not UTF-8


@test
def malformed_percent_escape_in_the_query_is_refused_with_400_where_a_query_is_read(relay):
    for query in ("x=%ZZ", "x=%", "%4=1", "after=%00"):
        refused(relay.get("/v1/channels/lobby/commands?" + query), 400, "invalid_request")
    refused(relay.get("/v1/channels/lobby/commands?" + "&".join("a%d=1" % i for i in range(17))), 400,
            "invalid_request")


@test
def the_tutorial_get_ignores_even_a_malformed_query_string(relay):
    reset(relay)
    for query in ("x=%ZZ", "x=%", "%4=1", "x=%00", "&".join("a%d=1" % i for i in range(17))):
        r = relay.get("/GetCommands?" + query)
        check(r.status == 200 and r.json == {"Server": "HTTP 200: OK", "Data": {}}, "ignored: " + query, r)


@test
def integers_beyond_2_53_are_refused_wherever_they_are(relay):
    reset(relay)
    for number in (b"9007199254740993", b"-9007199254740993", b"18446744073709551616", b"1" + b"0" * 40,
                   b"-99999999999999999999"):
        for body in (b'{"n":' + number + b"}", b'{"n":[1,' + number + b"]}", b'{"n":{"deep":{"x":' + number + b"}}}"):
            err = refused(post_raw(relay, body), 400, "invalid_json")
            check("2^53" in err["message"], "message says 2^53", err)
    refused(delete_raw(relay, b'["a", 9007199254740993]'), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")
    r = post_raw(relay, b'{"max":9007199254740992,"min":-9007199254740992}')
    check(r.status == 201 and stored(relay) == {"max": 2 ** 53, "min": -2 ** 53}, "2^53 itself is exact", r)


@test
def numbers_that_are_not_finite_json_are_refused(relay):
    reset(relay)
    for number in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"0x10", b"+1", b"1e"):
        refused(post_raw(relay, b'{"n":' + number + b"}"), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")


@test
def invalid_command_names_are_refused_with_400(relay):
    reset(relay)
    for name in ("", "x" * 65, "ctl\u0001", "del\u007f"):
        err = refused(relay.post("/PostCommand", {name: 1}), 400, "invalid_request")
        check("name" in err["message"], "message says name", err)
    # json-c would cut this name at the NUL and store it as "nul".
    refused(relay.post("/PostCommand", {"nul\u0000x": 1}), 400, "invalid_json")
    check(stored(relay) == {}, "nothing stored")
    r = relay.post("/PostCommand", {"x" * 64: 1, "nul": "a\u0000b"})
    check(r.status == 201, "64 bytes is fine, and so is a NUL in a value", r)
    check(stored(relay) == {"x" * 64: 1, "nul": "a\u0000b"}, "both back as sent")


@test
def refused_post_stores_nothing_of_the_request(relay):
    reset(relay, {"before": "kept"})
    too_many = {"c%d" % i: i for i in range(1001)}
    for body in ({"good": 1, "bad": 9007199254740993}, {"good": 1, "": 2}, {"good": 1, "x" * 65: 2},
                 {"good": 1, "big": "y" * (16 * 1024 + 1)}, {"good": 1, "ctl\u0002": 2}, too_many):
        r = relay.post("/PostCommand", body)
        refused(r, 400)
    check(stored(relay) == {"before": "kept"}, "only what was there before")
    check(relay.sql("SELECT count(*) FROM commands").strip() == "1", "one row in the database")


@test
def refused_delete_deletes_nothing(relay):
    reset(relay, {"a": 1, "b": 2})
    for body in (["a", 5], ["a", None], ["b", ["a"]], ["a"] * 1001):
        refused(relay.delete("/DeleteCommands", body), 400, "invalid_request")
    check(stored(relay) == {"a": 1, "b": 2}, "both still there")


@test
def relay_still_answers_health_after_every_refusal(relay):
    r = relay.get("/v1/health")
    check(r.status == 200 and r.json.get("status") == "ok", "healthy", r)
    check(relay.relay.poll() is None, "the relay process is still the one started")
    check(" -> 5" not in relay.log_text(), "no request was answered with a 5xx", relay.log_text()[-2000:])


if __name__ == "__main__":
    run(lambda: Relay(env=TUTORIAL))
