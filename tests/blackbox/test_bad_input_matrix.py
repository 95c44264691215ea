"""The bad-input matrix (issue 8): a table of hostile and malformed requests
through nginx, one TAP line each.  Every row gets its documented 4xx and the
relay's JSON error {"error": {"code", "message"}} -- except where nginx
answers first (a malformed request line, a header too large, a body past
client_max_body_size...), where nginx's own status is expected and the row
says so.  A few rows are hostile data that must be stored literally and read
back intact (SQL fragments, quotes, escapes), and boundary values that must
be accepted.  Afterwards the relay still answers GET /v1/health, is the same
process it was, never answered a 5xx, and logged no crash.

Requests go over a raw socket, so that what is sent is exactly the row's
bytes: http.client would refuse or repair most of them."""

import json
import os
import socket

from harness import Relay, check, run, test

CH = "mx"               # the channel the refused requests aim at
OK_CH = "mx-ok"         # where rows that must succeed store things
JSON_CT = "Content-Type: application/json"
LIMIT = 64 * 1024       # the relay's default body limit
NGINX_MAX_BODY = 1024 * 1024  # client_max_body_size in the harness's nginx.conf

state = {}              # ids and lease tokens made in setup, used by rows


# --- sending exactly the bytes of a row ------------------------------------------------

class Answer:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers.setdefault(k.strip().lower(), v.strip())
        try:
            self.json = json.loads(self.body.decode("utf-8"))
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.raw[:400])


def send(port, method, path, headers=(), body=b"", length=True, timeout=20):
    """Sends one HTTP/1.1 request (Connection: close) and reads the answer to EOF."""
    head = "%s %s HTTP/1.1\r\nHost: relay.test\r\nConnection: close\r\n" % (method, path)
    for h in headers:
        head += h + "\r\n"
    if length and body:
        head += "Content-Length: %d\r\n" % len(body)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1") + b"\r\n")
        try:
            s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # nginx answered (413) and closed before the body was all sent
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return Answer(out)


# --- the table ------------------------------------------------------------------------

ROWS = []


def row(name, method, path, body=None, headers=(), status=400, code="invalid_request", by="relay", key=True,
        says=None, length=True, then=None):
    """One hostile request.  body: bytes as they are, or any other value as
    JSON (with a JSON Content-Type unless headers name one).  by="nginx":
    nginx answers first with its own status and page.  says: a word the
    message must hold (the field it names).  then(answer): more checks."""
    ROWS.append(dict(name=name, method=method, path=path, body=body, headers=list(headers), status=status,
                     code=code, by=by, key=key, says=says, length=length, then=then))


C = "/v1/channels/%s/commands" % CH
ONE = lambda: "/v1/channels/%s/commands/%d" % (CH, state["broadcast"])  # noqa: E731
ACK_Q = lambda: "/v1/channels/%s/commands/%d/ack" % (CH, state["queue"])  # noqa: E731
CLAIMS = "/v1/channels/%s/claims" % CH
POLL = "/v1/channels/%s/poll" % CH


def big(n):
    return "x" * n


# Methods: 405 with Allow, whatever comes with them.
for method, path, allow in (
        ("PUT", C, "GET, POST"), ("PATCH", C, "GET, POST"), ("DELETE", C, "GET, POST"),
        ("OPTIONS", "/v1/health", "GET"), ("POST", "/v1/health", "GET"), ("PUT", "/v1/channels", "GET"),
        ("GET", CLAIMS, "POST"), ("GET", POLL, "POST"), ("DELETE", POLL, "POST"), ("POST", "/metrics", "GET"),
        ("DELETE", "/v1/channels/%s/consumers" % CH, "GET"), ("PUT", "/v1/channels/%s/commands/1" % CH, "GET, DELETE"),
        ("GET", "/v1/channels/%s/commands/1/ack" % CH, "POST"), ("FOO", C, "GET, POST"),
        ("PROPFIND", "/v1/channels", "GET"), ("MKCOL", C, "GET, POST")):
    row("method_%s_on_%s_is_405" % (method.lower(), path.strip("/").replace("/", "_")), method, path,
        body={"name": "x"} if method in ("PUT", "PATCH", "POST") else None, status=405, code="method_not_allowed",
        then=lambda a, allow=allow: check(a.headers.get("allow") == allow, "Allow: " + allow, a.headers))
row("method_head_is_405_without_a_body", "HEAD", "/v1/channels", status=405, code=None)
row("method_lowercase_is_refused_by_nginx", "get", "/v1/health", status=400, by="nginx")
row("method_trace_is_refused_by_nginx", "TRACE", "/v1/health", status=405, by="nginx")

# Paths: 404 not_found for anything not in the route table, however it is spelled.
for name, path in (
        ("unknown_version", "/v2/health"), ("near_miss", "/v1/healthz"), ("trailing_slash", "/v1/health/"),
        ("upper_case", "/V1/HEALTH"), ("channel_without_collection", "/v1/channels/%s" % CH),
        ("commands_trailing_slash", C + "/"), ("ack_with_extra_segment", "/v1/channels/%s/commands/1/ack/x" % CH),
        ("dot_dot_to_etc_passwd", "/v1/channels/../../etc/passwd"), ("encoded_dot_dot", "/v1/channels/%2e%2e/commands"),
        ("encoded_slash_in_channel", "/v1/channels/a%2Fb/commands"), ("double_slashes_to_nowhere", "//v1//nothing"),
        ("backslash", "/v1/health\\"), ("not_utf8_escape", "/v1/%FF%FE"), ("raw_high_bytes", "/v1/\xff\xfe"),
        ("semicolon_params", "/v1/health;jsessionid=1"), ("root", "/"),
        ("id_not_a_number", "/v1/channels/%s/commands/abc" % CH), ("id_zero", "/v1/channels/%s/commands/0" % CH),
        ("id_negative", "/v1/channels/%s/commands/-1" % CH), ("id_fraction", "/v1/channels/%s/commands/1.5" % CH),
        ("id_beyond_2_53", "/v1/channels/%s/commands/9007199254740993" % CH),
        ("id_beyond_64_bits", "/v1/channels/%s/commands/99999999999999999999999" % CH),
        ("id_with_plus", "/v1/channels/%s/commands/%%2B1" % CH), ("id_with_space", "/v1/channels/%s/commands/%%201" % CH),
        ("id_hex", "/v1/channels/%s/commands/0x10" % CH), ("id_unknown", "/v1/channels/%s/commands/123456789" % CH),
        ("ack_of_unknown_id", "/v1/channels/%s/commands/123456789/ack" % CH)):
    row("path_%s_is_404" % name, "POST" if name == "ack_of_unknown_id" else "GET", path, status=404, code="not_found",
        body={"consumer": "c1"} if name == "ack_of_unknown_id" else None)
row("path_over_1023_bytes_is_414_from_the_relay", "GET", "/v1/channels/%s/commands/%s" % (CH, "1" * 1100),
    status=414, code="invalid_request", says="longer")
row("path_over_8k_is_refused_by_nginx", "GET", "/" + "a" * 9000, status=414, by="nginx")
row("path_with_encoded_nul_is_refused_by_nginx", "GET", "/v1/health%00", status=400, by="nginx")
row("path_with_encoded_nul_in_channel_is_refused_by_nginx", "GET", "/v1/channels/a%00b/commands", status=400,
    by="nginx")
row("path_above_the_root_is_refused_by_nginx", "GET", "/../../etc/passwd", status=400, by="nginx")
row("path_with_a_malformed_escape_is_refused_by_nginx", "GET", "/v1/health%2", status=400, by="nginx")
row("path_not_starting_with_slash_is_refused_by_nginx", "GET", "v1/health", status=400, by="nginx")
row("asterisk_target_is_refused_by_nginx", "GET", "*", status=400, by="nginx")

# Channel names: 400 naming the rule.
for name, channel in (("leading_dash", "-bad"), ("leading_dot", ".bad"), ("leading_underscore", "_bad"),
                      ("65_characters", "a" * 65), ("non_ascii", "%C3%A9t%C3%A9"), ("space", "a%20b"),
                      ("sql_fragment", "x%27%20OR%201=1--"), ("star", "*"), ("encoded_star", "%2A"),
                      ("colon", "a:b"), ("tilde", "a~b"), ("encoded_newline", "a%0Ab"), ("percent_literal", "a%25b")):
    row("channel_%s_is_400" % name, "GET", "/v1/channels/%s/commands" % channel, says="channel")

# Query strings: integers only, in range, and no unknown names.
for name, qs, says in (
        ("after_negative", "after=-1", "after"), ("after_fraction", "after=1.5", "after"),
        ("after_word", "after=abc", "after"), ("after_empty", "after=", "after"),
        ("after_beyond_2_53", "after=9007199254740993", "after"), ("after_plus_sign", "after=%2B1", "after"),
        ("after_leading_space", "after=+1", "after"), ("after_hex", "after=0x10", "after"),
        ("limit_101", "limit=101", "limit"), ("limit_negative", "limit=-1", "limit"), ("wait_26", "wait=26", "wait"),
        ("wait_exponent", "wait=1e1", "wait"), ("consumer_with_space", "consumer=a%20b", "consumer"),
        ("consumer_empty", "consumer=", "consumer"), ("consumer_129_bytes", "consumer=" + "c" * 129, "consumer"),
        ("consumer_sql_fragment", "consumer=x%27%20OR%201%3D1", "consumer"), ("unknown_name", "foo=1", "foo"),
        ("typo_of_after", "afer=1", "afer"), ("encoded_nul", "after=%00", "escape"),
        ("malformed_escape", "after=%zz", "escape"), ("truncated_escape", "after=1%2", "escape"),
        ("17_parameters", "&".join("after=%d" % i for i in range(17)), "16")):
    row("query_%s_is_400" % name, "GET", C + "?" + qs, says=says)
row("query_on_the_channel_list_is_400", "GET", "/v1/channels?x=1", says="x")

# Publish: every field with a wrong type or out of range, all or nothing.
for name, body, says in (
        ("empty_object", {}, "name"), ("empty_array", [], "name"), ("name_empty", {"name": ""}, "name"),
        ("name_number", {"name": 1}, "name"), ("name_array", {"name": ["a"]}, "name"),
        ("name_object", {"name": {}}, "name"), ("name_65_bytes", {"name": big(65)}, "name"),
        ("name_control_character", {"name": "a\u0001b"}, "name"), ("name_delete_character", {"name": "a\u007fb"}, "name"),
        ("mode_unknown", {"name": "a", "mode": "fifo"}, "mode"), ("mode_number", {"name": "a", "mode": 1}, "mode"),
        ("ttl_zero", {"name": "a", "ttl": 0}, "ttl"), ("ttl_over_a_week", {"name": "a", "ttl": 604801}, "ttl"),
        ("ttl_string", {"name": "a", "ttl": "60"}, "ttl"), ("ttl_fraction", {"name": "a", "ttl": 1.5}, "ttl"),
        ("ttl_float_integral", {"name": "a", "ttl": 60.0}, "ttl"), ("ttl_negative", {"name": "a", "ttl": -1}, "ttl"),
        ("ttl_boolean", {"name": "a", "ttl": True}, "ttl"), ("ttl_array", {"name": "a", "ttl": [60]}, "ttl"),
        ("max_attempts_zero", {"name": "a", "max_attempts": 0}, "max_attempts"),
        ("max_attempts_101", {"name": "a", "max_attempts": 101}, "max_attempts"),
        ("target_with_space", {"name": "a", "target": "a b"}, "target"),
        ("target_empty", {"name": "a", "target": ""}, "target"), ("target_number", {"name": "a", "target": 5}, "target"),
        ("target_sql_fragment", {"name": "a", "target": "x' OR '1'='1"}, "target"),
        ("key_129_bytes", {"name": "a", "key": big(129)}, "key"), ("key_number", {"name": "a", "key": 7}, "key"),
        ("data_over_16_kib", {"name": "a", "data": big(16400)}, "data"),
        ("unknown_field", {"name": "a", "priority": 1}, "priority"), ("field_in_wrong_case", {"Name": "a"}, "Name"),
        ("batch_with_one_bad_element", [{"name": "ok"}, {"name": ""}], "commands[1]"),
        ("batch_of_101", [{"name": "a"}] * 101, "100"), ("batch_of_numbers", [1], "commands[0]"),
        ("a_string", "kick", "object"), ("a_number", 5, "object"), ("null", b"null", "object"),
        ("batch_with_a_bad_ttl_last", [{"name": "a"}] * 99 + [{"name": "a", "ttl": 0}], "commands[99].ttl")):
    row("publish_%s_is_400" % name, "POST", C, body=body, says=says)
for name, raw, says in (
        ("no_body", b"", "empty"), ("only_whitespace", b" \r\n\t ", None), ("truncated", b'{"name":"a"', None),
        ("trailing_garbage", b'{"name":"a"} x', None), ("two_values", b'{"name":"a"}{"name":"b"}', None),
        ("trailing_comma", b'{"name":"a",}', None), ("single_quotes", b"{'name':'a'}", None),
        ("comment", b'{"name":"a"/*x*/}', None), ("nan", b'{"name":"a","data":NaN}', None),
        ("infinity", b'{"name":"a","data":1e400}', None), ("leading_zero", b'{"name":"a","data":00}', None),
        ("minus_leading_zero", b'{"name":"a","data":-01}', None),
        ("integer_beyond_2_53", b'{"name":"a","data":9007199254740993}', "2^53"),
        ("ttl_beyond_64_bits", b'{"name":"a","ttl":18446744073709551616}', "2^53"),
        ("ttl_below_int64", b'{"name":"a","ttl":-9223372036854775809}', "2^53"),
        ("nested_33_levels", b'{"name":"a","data":' + b"[" * 32 + b"]" * 32 + b"}", "32"),
        ("nested_30000_levels", b'{"name":"a","data":' + b"[" * 30000 + b"]" * 30000 + b"}", "32"),
        ("unclosed_nesting", b"[" * 50000, None),
        ("invalid_utf8", b'{"name":"\xff"}', "UTF-8"), ("overlong_utf8", b'{"name":"\xc0\xaf"}', "UTF-8"),
        ("utf8_surrogate", b'{"name":"\xed\xa0\x80"}', "UTF-8"), ("utf16_body", '{"name":"a"}'.encode("utf-16"), None),
        ("utf8_bom", b'\xef\xbb\xbf{"name":"a"}', None), ("raw_tab_in_string", b'{"name":"a\tb"}', None),
        ("embedded_nul", b'{"name":"a"}\x00', None), ("escaped_nul_in_a_key", b'{"name\\u0000x":"a"}', None),
        ("bad_escape", b'{"name":"a\\x41"}', None), ("truncated_unicode_escape", b'{"name":"\\u12"}', None),
        ("form_encoded_as_json", b"name=a&data=b", None), ("xml", b"<command name='a'/>", None)):
    row("publish_%s_is_invalid_json" % name, "POST", C, body=raw, headers=[JSON_CT], code="invalid_json", says=says)

# Content types and lengths.
row("publish_as_text_plain_is_415", "POST", C, body=b'{"name":"a"}', headers=["Content-Type: text/plain"],
    status=415, code="unsupported_media_type")
row("publish_as_a_form_is_415", "POST", C, body=b"name=a", headers=["Content-Type: application/x-www-form-urlencoded"],
    status=415, code="unsupported_media_type")
row("publish_as_application_jsonx_is_415", "POST", C, body=b'{"name":"a"}', headers=["Content-Type: application/jsonx"],
    status=415, code="unsupported_media_type")
row("publish_as_multipart_is_415", "POST", C, body=b"--b\r\n\r\n{}\r\n--b--",
    headers=["Content-Type: multipart/form-data; boundary=b"], status=415, code="unsupported_media_type")
row("publish_with_the_first_of_two_content_types_wrong_is_415", "POST", C, body=b'{"name":"a"}',
    headers=["Content-Type: text/plain", JSON_CT], status=415, code="unsupported_media_type")
row("publish_gzipped_body_is_invalid_json", "POST", C,
    body=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xabV\xcaK\xccMU\xb2RJT\xaa\x05\x00\x1b\xd1\xcbe\x0c\x00\x00\x00",
    headers=[JSON_CT, "Content-Encoding: gzip"], code="invalid_json")
row("publish_over_the_body_limit_is_413", "POST", C, body=b'{"name":"a","data":"' + b"x" * LIMIT + b'"}',
    headers=[JSON_CT], status=413, code="payload_too_large")
row("publish_over_nginx_client_max_body_size_is_refused_by_nginx", "POST", C, body=b"x" * (NGINX_MAX_BODY + 10),
    headers=[JSON_CT], status=413, by="nginx")
row("negative_content_length_is_refused_by_nginx", "POST", C, body=b'{"name":"a"}',
    headers=[JSON_CT, "Content-Length: -1"], length=False, status=400, by="nginx")
row("non_numeric_content_length_is_refused_by_nginx", "POST", C, body=b'{"name":"a"}',
    headers=[JSON_CT, "Content-Length: 12abc"], length=False, status=400, by="nginx")
row("two_content_lengths_are_refused_by_nginx", "POST", C, body=b'{"name":"a"}',
    headers=[JSON_CT, "Content-Length: 12", "Content-Length: 12"], length=False, status=400, by="nginx")
row("unknown_transfer_encoding_is_refused_by_nginx", "POST", C, body=b'{"name":"a"}',
    headers=[JSON_CT, "Transfer-Encoding: gzip"], length=False, status=501, by="nginx")
row("chunked_body_with_a_bad_field_is_400", "POST", C, body=b'c\r\n{"name":"",}\r\n0\r\n\r\n',
    headers=[JSON_CT, "Transfer-Encoding: chunked"], length=False, code="invalid_json")

# Headers: huge, repeated, odd.
row("header_of_10_kib_is_refused_by_nginx", "GET", C, headers=["X-Big: " + big(10000)], status=400, by="nginx")
row("forty_1_kib_headers_are_refused_by_nginx", "GET", C, headers=["X-Rep: " + big(1000)] * 40, status=400,
    by="nginx")
row("two_hundred_repeated_headers_still_get_the_relays_answer", "GET", C + "?after=x",
    headers=["X-Rep: " + big(100)] * 200, says="after")
row("header_with_nul_is_refused_by_nginx", "GET", C, headers=["X-Nul: a\x00b"], status=400, by="nginx")
row("http_1_1_without_host_is_refused_by_nginx", "GET", "/v1/health", status=400, by="nginx",
    then=None, headers=["__no_host__"])
row("no_key_is_401", "GET", C, key=False, status=401, code="unauthorized",
    then=lambda a: check(a.headers.get("www-authenticate", "").startswith("Bearer"), "WWW-Authenticate", a.headers))
row("unknown_key_is_401", "GET", C, key=False, headers=["X-Api-Key: crk_" + "A" * 43], status=401, code="unauthorized")
row("key_of_5000_bytes_is_401", "GET", C, key=False, headers=["X-Api-Key: " + "k" * 5000], status=401,
    code="unauthorized")
row("empty_bearer_is_401", "GET", C, key=False, headers=["Authorization: Bearer"], status=401, code="unauthorized")
row("basic_auth_is_401", "GET", C, key=False, headers=["Authorization: Basic YTpi"], status=401, code="unauthorized")
row("sql_fragment_as_key_is_401", "GET", C, key=False, headers=["X-Api-Key: ' OR '1'='1"], status=401,
    code="unauthorized")

# Claims, acks and polls: every field with a wrong type or out of range.
for name, body, says in (
        ("no_consumer", {}, "consumer"), ("empty_array_means_no_consumer", [], "consumer"),
        ("consumer_empty", {"consumer": ""}, "consumer"), ("consumer_with_space", {"consumer": "a b"}, "consumer"),
        ("consumer_129_bytes", {"consumer": big(129)}, "consumer"), ("consumer_number", {"consumer": 5}, "consumer"),
        ("consumer_sql_fragment", {"consumer": "x'; DELETE FROM commands;--"}, "consumer"),
        ("max_zero", {"consumer": "c1", "max": 0}, "max"), ("max_101", {"consumer": "c1", "max": 101}, "max"),
        ("max_string", {"consumer": "c1", "max": "5"}, "max"), ("lease_zero", {"consumer": "c1", "lease": 0}, "lease"),
        ("lease_over_an_hour", {"consumer": "c1", "lease": 3601}, "lease"),
        ("wait_26", {"consumer": "c1", "wait": 26}, "wait"), ("wait_negative", {"consumer": "c1", "wait": -1}, "wait"),
        ("wait_fraction", {"consumer": "c1", "wait": 0.5}, "wait"), ("unknown_field", {"consumer": "c1", "x": 1}, "x"),
        ("array_of_numbers", [1], "object")):
    row("claims_%s_is_400" % name, "POST", CLAIMS, body=body, says=says)
for name, body, says in (
        ("no_consumer", {}, "consumer"), ("queue_command_without_lease", {"consumer": "c1"}, "lease"),
        ("lease_number", {"consumer": "c1", "lease": 5}, "lease"),
        ("lease_65_bytes", {"consumer": "c1", "lease": big(65)}, "lease"),
        ("result_over_16_kib", {"consumer": "c1", "lease": "x", "result": big(16400)}, "result"),
        ("unknown_field", {"consumer": "c1", "lease": "x", "ok": True}, "ok")):
    row("ack_%s_is_400" % name, "POST", ACK_Q, body=body, says=says)
row("ack_with_a_wrong_lease_is_409", "POST", ACK_Q, body={"consumer": "c1", "lease": "0" * 32}, status=409,
    code="lease_expired")
row("ack_in_another_channel_is_404", "POST", lambda: "/v1/channels/other/commands/%d/ack" % state["queue"],
    body={"consumer": "c1"}, status=404, code="not_found")
for name, body, says in (
        ("no_consumer", {}, "consumer"), ("after_negative", {"consumer": "c1", "after": -1}, "after"),
        ("after_string", {"consumer": "c1", "after": "5"}, "after"),
        ("claim_101", {"consumer": "c1", "claim": 101}, "claim"), ("lease_zero", {"consumer": "c1", "lease": 0}, "lease"),
        ("acks_object", {"consumer": "c1", "acks": {}}, "acks"),
        ("acks_of_numbers", {"consumer": "c1", "acks": [1]}, "acks[0]"),
        ("ack_without_id", {"consumer": "c1", "acks": [{}]}, "acks[0].id"),
        ("ack_id_string", {"consumer": "c1", "acks": [{"id": "1"}]}, "acks[0].id"),
        ("ack_id_zero", {"consumer": "c1", "acks": [{"id": 0}]}, "acks[0].id"),
        ("ack_unknown_field", {"consumer": "c1", "acks": [{"id": 1, "x": 1}]}, "acks[0]"),
        ("ack_result_over_16_kib", {"consumer": "c1", "acks": [{"id": 1, "result": big(16400)}]}, "acks[0].result"),
        ("101_acks", {"consumer": "c1", "acks": [{"id": 1}] * 101}, "acks"),
        ("unknown_field", {"consumer": "c1", "cursor": 1}, "cursor")):
    row("poll_%s_is_400" % name, "POST", POLL, body=body, says=says)


# Hostile data that is valid: stored literally and read back intact.
def stored_literally(sent):
    def then(a):
        check(a.json is not None and "commands" in a.json, "commands in the answer", a)
        c = a.json["commands"][0]
        for k, v in sent.items():
            if k in ("name", "data", "key", "target"):
                check(c[k] == v, "%s stored literally" % k, c[k], v)
        again = state["relay"].get("/v1/channels/%s/commands/%d" % (OK_CH, c["id"]))
        check(again.status == 200, "read back", again)
        for k, v in sent.items():
            if k in ("name", "data", "key", "target"):
                check(again.json["command"][k] == v, "%s read back intact" % k, again.json["command"][k], v)
    return then


for name, body in (
        ("sql_drop_table_as_name_and_data", {"name": "'; DROP TABLE commands; --",
                                             "data": "Robert'); DROP TABLE commands;--"}),
        ("sql_tautology_as_key", {"name": "a", "key": "' OR '1'='1"}),
        ("sql_comment_and_union", {"name": "x\" UNION SELECT * FROM api_keys --", "data": {"q": "1; --", "/*": "*/"}}),
        ("nul_escape_and_percent_in_data", {"name": "n", "data": "a\u0000b %00 %s %n \\x00"}),
        ("quotes_backslashes_and_unicode", {"name": "\u00e9\u2603\U0001F600 \"q\" \\", "data": ["'", "\"", "\\", "\u2028"]}),
        ("html_and_script", {"name": "<script>alert(1)</script>", "data": "<img src=x onerror=alert(1)>"}),
        ("boundary_name_of_64_bytes", {"name": big(64), "ttl": 1, "max_attempts": 1}),
        ("boundary_ttl_a_week_and_100_attempts", {"name": "a", "ttl": 604800, "max_attempts": 100, "mode": "queue"}),
        ("boundary_data_of_2_53", {"name": "a", "data": [9007199254740992, -9007199254740992, 5e-324, 1.7976931348623157e308]}),
        ("boundary_key_of_128_bytes", {"name": "a", "key": big(128), "target": big(128)})):
    row("publish_%s_is_stored_literally" % name, "POST", "/v1/channels/%s/commands" % OK_CH, body=body,
        status=201, code=None, then=stored_literally(body))
row("read_with_boundary_values_is_200", "GET", "/v1/channels/%s/commands?after=9007199254740992&limit=0&wait=0&consumer=%s"
    % (OK_CH, "c" * 128), status=200, code=None)
row("claims_with_boundary_values_is_200", "POST", "/v1/channels/%s/claims" % OK_CH,
    body={"consumer": "c" * 128, "max": 100, "lease": 3600, "wait": 0}, status=200, code=None)


# --- running the table -------------------------------------------------------------------

def make_request(relay, r):
    body = r["body"]
    headers = list(r["headers"])
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    if body and not any(h.lower().startswith("content-type:") for h in headers):
        headers.append(JSON_CT)
    if r["key"] and relay.key is not None:
        headers.append("X-Api-Key: " + relay.key)
    path = r["path"]() if callable(r["path"]) else r["path"]
    if "__no_host__" in headers:
        headers.remove("__no_host__")
        return send_without_host(relay.port, r["method"], path, headers)
    return send(relay.port, r["method"], path, headers, body or b"", r["length"])


def send_without_host(port, method, path, headers):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(("%s %s HTTP/1.1\r\nConnection: close\r\n%s\r\n" % (method, path, "".join(h + "\r\n" for h in headers)))
                  .encode("latin-1"))
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return Answer(out)


def check_row(relay, r):
    a = make_request(relay, r)
    check(a.status == r["status"], "status %d expected from %s" % (r["status"], r["by"]), a)
    if r["by"] == "nginx":
        # nginx's own page, not the relay's JSON: the relay never saw it.
        check(a.json is None, "nginx answered, not the relay", a)
        return
    check(a.status < 500, "never a 5xx from the relay", a)
    if r["method"] != "HEAD" and r["code"] is not None:
        check(a.headers.get("content-type", "").startswith("application/json"), "JSON content type", a)
        body = a.json
        check(isinstance(body, dict) and list(body) == ["error"], 'body is {"error": ...}', a)
        err = body["error"]
        check(isinstance(err, dict) and sorted(err) == ["code", "message"], "error has code and message", a)
        check(err["code"] == r["code"], "error code %s" % r["code"], a)
        check(isinstance(err["message"], str) and err["message"], "a message", a)
        if r["says"] is not None:
            check(r["says"] in err["message"], "message names %r" % r["says"], a)
    if r["then"] is not None:
        r["then"](a)


def setup(relay):
    """A broadcast and a queue command in CH, the queue one leased, so that acks have something to refuse."""
    state["relay"] = relay
    r = relay.post(C, [{"name": "b"}, {"name": "q", "mode": "queue"}])
    check(r.status == 201, "setup publish", r)
    state["broadcast"], state["queue"] = (c["id"] for c in r.json["commands"])
    r = relay.post(CLAIMS, {"consumer": "holder", "lease": 3600})
    check(r.status == 200 and len(r.json["commands"]) == 1, "setup claim", r)
    state["count"] = count_commands(relay)


def count_commands(relay):
    return int(relay.sql("SELECT count(*) FROM commands WHERE channel = '%s'" % CH).strip())


def make_test(r):
    def fn(relay):
        if "broadcast" not in state:
            setup(relay)
        check_row(relay, r)
    fn.__name__ = r["name"]
    return fn


for _r in ROWS:
    test(make_test(_r))


@test
def matrix_has_at_least_100_rows(relay):
    names = [r["name"] for r in ROWS]
    check(len(names) >= 100, "at least 100 rows", len(names))
    check(len(set(names)) == len(names), "row names are unique")
    sys_out = "# matrix: %d rows, %d answered by the relay, %d by nginx first\n" % (
        len(ROWS), sum(r["by"] == "relay" for r in ROWS), sum(r["by"] == "nginx" for r in ROWS))
    os.write(1, sys_out.encode())


@test
def refused_requests_stored_nothing(relay):
    check(count_commands(relay) == state["count"], "no command stored in %s by a refused request" % CH,
          count_commands(relay), state["count"])
    check(relay.sql("PRAGMA integrity_check").strip() == "ok", "integrity_check")
    tables = relay.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").split()
    check({"commands", "acks", "consumers", "api_keys"} <= set(tables), "every table still there", tables)


@test
def relay_still_answers_health_and_never_crashed(relay):
    r = relay.get("/v1/health")
    check(r.status == 200 and r.json["status"] == "ok", "health", r)
    check(relay.relay is not None and relay.relay.poll() is None and relay.relay.pid == state["pid"],
          "the same relay process is still running")
    log = relay.log_text()
    for sign in ("Sanitizer", "runtime error", "Segmentation", "Aborted", "core dumped", " -> 5"):
        check(sign not in log, "the relay's log holds no %r" % sign, log[-2000:])


def fixture():
    relay = Relay()
    return _Fixture(relay)


class _Fixture:
    def __init__(self, relay):
        self.relay = relay

    def __enter__(self):
        self.relay.__enter__()
        state["pid"] = self.relay.relay.pid
        return self.relay

    def __exit__(self, *exc):
        return self.relay.__exit__(*exc)


if __name__ == "__main__":
    run(fixture)
