"""v1: the rules that apply to every endpoint -- errors and their statuses,
[] for {}, integers only where due, numbers beyond 2^53, unknown fields and
query parameters, size limits, content types, the channel limit, reads that
never take the write lock, and 503 when the database stays locked."""

import json
import os
import threading
import time

from harness import Relay, check, run, test
from v1util import WriteLock, data_version, error, fresh_channel, publish, publish_one, timed

CHANNEL_LIMIT = 5
JSON = {"Content-Type": "application/json"}


def raw_post(relay, path, raw, headers=None):
    return relay.post(path, raw=raw, headers=headers or JSON)


def count_rows(relay, channel):
    return int(relay.sql("SELECT count(*) FROM commands WHERE channel = '%s'" % channel).strip())


def settle_key_use(relay):
    """With API keys, a request whose key is not in the relay's cache of
    checked keys (1 s) records the key's use, a write, once a minute.  Let
    the cache run out and send one request, so that it happens now and not
    during what a test measures next."""
    time.sleep(1.1)
    relay.get("/v1/channels")


def leased_command(relay):
    """A channel with one leased queue command: (channel, command with lease)."""
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    return ch, relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w"}).json["commands"][0]


@test
def errors_are_json_objects_with_code_and_message(relay):
    r = relay.get("/v1/nowhere")
    error(r, 404, "not_found")
    check(r.header("Content-Type") == "application/json", "JSON content type", r.headers)
    check(r.raw.endswith(b"\n") and json.loads(r.raw) == r.json, "one JSON document", r.raw)


@test
def unknown_endpoints_are_404_not_found(relay):
    for path in ("/", "/v1", "/v1/channels/", "/v1/channels/x", "/v1/channels/x/commands/1/ack/more",
                 "/v1/channels/x/claim", "/V1/health", "/v2/health"):
        error(relay.get(path), 404, "not_found")


@test
def a_method_an_endpoint_lacks_is_405_with_allow(relay):
    for path, allow in (("/v1/health", "GET"), ("/v1/channels", "GET"), ("/v1/channels/x/commands", "GET, POST"),
                        ("/v1/channels/x/commands/1", "GET, DELETE"), ("/v1/channels/x/commands/1/ack", "POST"),
                        ("/v1/channels/x/claims", "POST"), ("/v1/channels/x/poll", "POST"),
                        ("/v1/channels/x/consumers", "GET"), ("/metrics", "GET")):
        allowed = [m.strip() for m in allow.split(",")]
        for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
            if method in allowed:
                continue
            r = relay.request(method, path, body={} if method in ("POST", "PUT", "PATCH") else None)
            error(r, 405, "method_not_allowed")
            check(r.header("Allow") == allow, "Allow of %s" % path, r.header("Allow"), allow)


@test
def an_empty_array_is_accepted_wherever_an_object_is_expected(relay):
    ch, got = leased_command(relay)
    # Each body is read as {}: the answer is about the missing field, not the type.
    error(relay.post("/v1/channels/%s/claims" % ch, []), 400, "invalid_request", "consumer is required")
    error(relay.post("/v1/channels/%s/poll" % ch, []), 400, "invalid_request", "consumer is required")
    error(relay.post("/v1/channels/%s/commands/%d/ack" % (ch, got["id"]), []), 400, "invalid_request",
          "consumer is required")
    error(relay.post("/v1/channels/%s/commands" % ch, []), 400, "invalid_request", "name is required")
    error(relay.post("/v1/channels/%s/commands" % ch, [{"name": "ok"}, []]), 400, "invalid_request",
          "commands[1].name")
    error(relay.post("/v1/channels/%s/poll" % ch, {"consumer": "s", "acks": [[]]}), 400, "invalid_request",
          "acks[0].id")
    # And where any JSON goes, [] stays [].
    c = publish_one(relay, fresh_channel(), data=[])
    check(c["data"] == [], "data [] kept", c)
    r = relay.post("/v1/channels/%s/commands/%d/ack" % (ch, got["id"]),
                   {"consumer": "w", "lease": got["lease"]["token"], "result": []})
    check(r.status == 200 and r.json["command"]["result"] == [], "result [] kept", r)


@test
def integers_are_refused_as_decimals_strings_exponents_or_booleans(relay):
    ch, got = leased_command(relay)
    bads = [1.5, "3", 1e2, 1.0, True, [], {}]
    cases = [("/v1/channels/%s/commands" % ch, {"name": "x"}, f) for f in ("ttl", "max_attempts")] + \
            [("/v1/channels/%s/claims" % ch, {"consumer": "w"}, f) for f in ("max", "lease", "wait")] + \
            [("/v1/channels/%s/poll" % ch, {"consumer": "w"}, f) for f in ("after", "wait", "claim", "lease")]
    for path, base, field in cases:
        for bad in bads:
            body = dict(base)
            body[field] = bad
            error(relay.post(path, body), 400, "invalid_request", field)
    for bad in ("1.5", "%223%22", "1e2", "1.0", "true", "0x10", "+3", "%203"):
        for field in ("after", "limit", "wait"):
            error(relay.get("/v1/channels/%s/commands?%s=%s" % (ch, field, bad)), 400, "invalid_request", field)
    # 1e2 as raw text (json.dumps would write 100.0).
    error(raw_post(relay, "/v1/channels/%s/commands" % ch, b'{"name": "x", "ttl": 1e2}'), 400, "invalid_request",
          "ttl")
    check(count_rows(relay, ch) == 1, "nothing stored")


@test
def numbers_beyond_2_53_are_refused_not_rounded(relay):
    ch, got = leased_command(relay)
    for raw in (b'{"name": "x", "data": 9007199254740993}', b'{"name": "x", "data": -9007199254740993}',
                b'{"name": "x", "data": {"a": [1, 18446744073709551616]}}', b'[{"name": "x", "data": 1e400}]',
                b'{"name": "x", "ttl": 9007199254740993}'):
        r = raw_post(relay, "/v1/channels/%s/commands" % ch, raw)
        check(r.status == 400 and r.error_code() in ("invalid_json", "invalid_request"), "400", raw, r)
    error(raw_post(relay, "/v1/channels/%s/commands/%d/ack" % (ch, got["id"]),
                   b'{"consumer": "w", "lease": "%s", "result": 9007199254740993}' % got["lease"]["token"].encode()),
          400, "invalid_json", "2^53")
    error(raw_post(relay, "/v1/channels/%s/poll" % ch, b'{"consumer": "w", "after": 9007199254740993}'), 400,
          "invalid_json", "2^53")
    check(count_rows(relay, ch) == 1, "nothing stored")
    c = publish_one(relay, ch, data=[9007199254740992, -9007199254740992])
    check(c["data"] == [9007199254740992, -9007199254740992], "2^53 itself is exact", c)


@test
def unknown_fields_are_refused_naming_them(relay):
    ch, got = leased_command(relay)
    for path, body, named in (
            ("/v1/channels/%s/commands" % ch, {"name": "x", "tll": 5}, '"tll"'),
            ("/v1/channels/%s/commands" % ch, [{"name": "x"}, {"name": "y", "Data": 1}], '"commands[1].Data"'),
            ("/v1/channels/%s/claims" % ch, {"consumer": "w", "count": 5}, '"count"'),
            ("/v1/channels/%s/commands/%d/ack" % (ch, got["id"]), {"consumer": "w", "lease": "x", "results": 1},
             '"results"'),
            ("/v1/channels/%s/poll" % ch, {"consumer": "w", "ack": []}, '"ack"'),
            ("/v1/channels/%s/poll" % ch, {"consumer": "w", "acks": [{"id": 1, "token": "x"}]}, '"acks[0].token"')):
        error(relay.post(path, body), 400, "invalid_request", "unknown field", named)
    check(count_rows(relay, ch) == 1, "nothing stored")


@test
def unknown_query_parameters_are_refused_naming_them_on_every_endpoint(relay):
    ch, got = leased_command(relay)
    c = "/v1/channels/%s/commands/%d" % (ch, got["id"])
    for method, path, body in (("GET", "/v1/health", None), ("GET", "/v1/channels", None),
                               ("POST", "/v1/channels/%s/commands" % ch, {"name": "x"}),
                               ("GET", "/v1/channels/%s/commands" % ch, None), ("GET", c, None), ("DELETE", c, None),
                               ("POST", c + "/ack", {"consumer": "w", "lease": got["lease"]["token"]}),
                               ("POST", "/v1/channels/%s/claims" % ch, {"consumer": "w"}),
                               ("POST", "/v1/channels/%s/poll" % ch, {"consumer": "w"}),
                               ("GET", "/v1/channels/%s/consumers" % ch, None), ("GET", "/metrics", None)):
        error(relay.request(method, path + "?ttl=5", body=body), 400, "invalid_request", '"ttl"')
    check(count_rows(relay, ch) == 1, "nothing published")
    check(relay.get(c).json["command"]["state"] == "leased", "nothing acked or cancelled")


@test
def data_or_result_over_16_kib_is_400_naming_the_field(relay):
    ch, got = leased_command(relay)
    big = "x" * (16 * 1024)  # 16386 bytes encoded, with its quotes
    error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "data": big}), 400, "invalid_request", "data")
    error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "data": {"k": [big]}}), 400, "invalid_request",
          "data")
    error(relay.post("/v1/channels/%s/commands/%d/ack" % (ch, got["id"]),
                     {"consumer": "w", "lease": got["lease"]["token"], "result": big}), 400, "invalid_request", "result")
    error(relay.post("/v1/channels/%s/poll" % ch,
                     {"consumer": "w", "acks": [{"id": got["id"], "lease": got["lease"]["token"], "result": big}]}),
          400, "invalid_request", "acks[0].result")
    check(count_rows(relay, ch) == 1, "nothing stored")


@test
def a_body_over_the_body_limit_is_413(relay):
    ch = fresh_channel()
    limit = 64 * 1024
    body = json.dumps([{"name": "x", "data": "y" * 1000}] * 80).encode()
    check(len(body) > limit, "the body is over the limit")
    for path in ("/v1/channels/%s/commands" % ch, "/v1/channels/%s/poll" % ch, "/v1/channels/%s/claims" % ch):
        error(raw_post(relay, path, body), 413, "payload_too_large")
    padded = b'{"name": "x"' + b" " * (limit - 13) + b"}"
    check(len(padded) == limit, "exactly the limit")
    check(raw_post(relay, "/v1/channels/%s/commands" % ch, padded).status == 201, "a body of exactly the limit is read")
    error(raw_post(relay, "/v1/channels/%s/commands" % ch, padded + b" "), 413, "payload_too_large")
    check(count_rows(relay, ch) == 1, "only the one at the limit stored")


@test
def a_body_with_a_non_json_content_type_is_415(relay):
    ch = fresh_channel()
    body = b'{"name": "x"}'
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
               "application/jsonx", "json"):
        error(raw_post(relay, "/v1/channels/%s/commands" % ch, body, {"Content-Type": ct}), 415,
              "unsupported_media_type")
        error(raw_post(relay, "/v1/channels/%s/poll" % ch, b'{"consumer": "w"}', {"Content-Type": ct}), 415,
              "unsupported_media_type")
    check(count_rows(relay, ch) == 0, "nothing stored")
    for ct in ("application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"):
        r = raw_post(relay, "/v1/channels/%s/commands" % ch, body, {"Content-Type": ct})
        check(r.status == 201, "accepted: %s" % ct, r)
    check(raw_post(relay, "/v1/channels/%s/commands" % ch, body, {}).status == 201, "no content type: JSON")


@test
def malformed_json_is_400_invalid_json(relay):
    ch = fresh_channel()
    for raw in (b"{", b'{"name": "x"} {}', b"{'name': 'x'}", b'{"name": "\xff"}', b'{"name": NaN}',
                b'{"name": "x", "data": 01}', b'{"name": "x", "data": .5}', b"\xef\xbb\xbf{}", b'{"name":"a\x01"}'):
        error(raw_post(relay, "/v1/channels/%s/commands" % ch, raw), 400, "invalid_json")
    check(count_rows(relay, ch) == 0, "nothing stored")


@test
def a_channel_holding_its_limit_answers_429_channel_full(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "n%d" % i, "key": "k%d" % i} for i in range(CHANNEL_LIMIT)])
    r = relay.post("/v1/channels/%s/commands" % ch, {"name": "one-too-many"})
    error(r, 429, "channel_full", ch)
    check(r.header("Retry-After") is not None, "Retry-After", r.headers)
    # A retry whose key is already there stores nothing, so it is not refused.
    r = relay.post("/v1/channels/%s/commands" % ch, {"name": "n0", "key": "k0"})
    check(r.status == 200 and r.json["commands"][0]["id"] == got[0]["id"], "dedup still answers", r)
    publish_one(relay, fresh_channel(), name="elsewhere")
    relay.delete("/v1/channels/%s/commands/%d" % (ch, got[0]["id"]))
    publish_one(relay, ch, name="room-again")
    check(count_rows(relay, ch) == CHANNEL_LIMIT, "at the limit")


@test
def a_batch_over_the_channel_limit_stores_nothing(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    error(relay.post("/v1/channels/%s/commands" % ch, [{"name": "d"}, {"name": "e"}, {"name": "f"}]), 429,
          "channel_full")
    check(count_rows(relay, ch) == 3, "all or nothing")


@test
def done_and_dead_commands_do_not_count_against_the_channel_limit(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "q%d" % i, "mode": "queue", "max_attempts": 1} for i in range(3)])
    got = relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w", "max": 3, "lease": 1}).json["commands"]
    relay.post("/v1/channels/%s/commands/%d/ack" % (ch, got[0]["id"]), {"consumer": "w", "lease": got[0]["lease"]["token"]})
    time.sleep(1.1)  # the two others die
    publish(relay, ch, [{"name": "n%d" % i} for i in range(CHANNEL_LIMIT)])


@test
def nothing_a_client_sends_gets_a_500(relay):
    ch, got = leased_command(relay)
    bodies = [b"", b"null", b"[]", b"{}", b"[[]]", b"[{}]", b'"x"', b"0", b"-1", b"[null]", b'{"": ""}',
              b'{"consumer": null}', b'{"consumer": "w", "acks": null}', b'{"consumer": "w", "acks": [null]}',
              b'{"name": {"x": 1}}', b'{"consumer": ["w"]}', b"[" * 40 + b"]" * 40, b'{"a":' * 40 + b"1" + b"}" * 40,
              b'{"consumer": "w", "lease": "' + b"x" * 5000 + b'"}', b'{"name": "\\u0000"}']
    paths = ["/v1/channels/%s/commands" % ch, "/v1/channels/%s/claims" % ch, "/v1/channels/%s/poll" % ch,
             "/v1/channels/%s/commands/%d/ack" % (ch, got["id"]), "/v1/channels/%s/commands/1/ack" % ch]
    for path in paths:
        for body in bodies:
            r = raw_post(relay, path, body)
            check(r.status < 500 and r.json is not None and ("error" in r.json or r.status in (200, 201)),
                  "no 500", path, body[:60], r)
    for path in ("/v1/channels/%s/commands/%s" % (ch, "9" * 30), "/v1/channels/%s" % ("x" * 2000),
                 "/v1/channels/%s/commands?after=%s" % (ch, "9" * 40), "/v1/channels/%s/commands?%s" % (ch, "&a=1" * 40),
                 "/v1/channels/%s/commands?after=%%zz" % ch, "/v1/channels/%C0%AF/commands"):
        r = relay.get(path)
        check(r.status < 500, "no 500", path, r)


@test
def reading_never_takes_the_write_lock_when_there_is_nothing_to_write(relay):
    ch, got = leased_command(relay)
    b = publish_one(relay, ch, name="b")
    settle_key_use(relay)
    # The consumer is known and was seen just now: its presence is fresh.
    relay.post("/v1/channels/%s/poll" % ch, {"consumer": "s", "after": b["id"]})
    with WriteLock(relay.env["CMDRELAY_DB"]):
        for method, path, body in (
                ("GET", "/v1/channels/%s/commands?after=%d" % (ch, b["id"]), None),
                ("GET", "/v1/channels/%s/commands?consumer=s" % ch, None),
                ("POST", "/v1/channels/%s/poll" % ch, {"consumer": "s"}),
                ("POST", "/v1/channels/%s/poll" % ch, {"consumer": "s", "after": b["id"], "claim": 5}),
                ("POST", "/v1/channels/%s/claims" % ch, {"consumer": "s"}),
                ("GET", "/v1/channels/%s/commands/%d" % (ch, got["id"]), None),
                ("GET", "/v1/channels", None), ("GET", "/v1/channels/%s/consumers" % ch, None),
                ("GET", "/v1/health", None), ("GET", "/metrics", None)):
            r, took = timed(relay.request, method, path, body=body)
            check(r.status == 200, "answered while another process holds the write lock", path, r)
            check(took < 1.0, "without waiting for the lock", path, took)


@test
def idle_polls_and_reads_write_nothing_to_the_database(relay):
    ch, got = leased_command(relay)
    b = publish_one(relay, ch, name="b")
    settle_key_use(relay)
    relay.post("/v1/channels/%s/poll" % ch, {"consumer": "idle", "after": b["id"]})
    db = relay.env["CMDRELAY_DB"]
    conn, version = data_version(db)
    try:
        sizes = (os.path.getsize(db), os.path.getsize(db + "-wal"))
        v0 = version()
        for _ in range(10):
            for method, path, body in (("POST", "/v1/channels/%s/poll" % ch, {"consumer": "idle"}),
                                       ("POST", "/v1/channels/%s/poll" % ch, {"consumer": "idle", "after": b["id"],
                                                                              "claim": 3}),
                                       ("GET", "/v1/channels/%s/commands?after=%d" % (ch, b["id"]), None),
                                       ("POST", "/v1/channels/%s/claims" % ch, {"consumer": "idle"})):
                check(relay.request(method, path, body=body).status == 200, "answered")
        check(version() == v0, "no other connection committed anything (PRAGMA data_version)")
        check((os.path.getsize(db), os.path.getsize(db + "-wal")) == sizes, "database and WAL did not grow", sizes)
    finally:
        conn.close()


@test
def writes_answer_503_unavailable_with_retry_after_when_the_database_stays_locked(relay):
    ch = fresh_channel()
    publish_one(relay, ch, name="q", mode="queue")
    results = {}

    def send(name, path, body):
        t = time.monotonic()
        results[name] = (relay.post(path, body), time.monotonic() - t)

    with WriteLock(relay.env["CMDRELAY_DB"]):
        ts = [threading.Thread(target=send, args=a) for a in (
            ("publish", "/v1/channels/%s/commands" % ch, {"name": "x"}),
            ("claim", "/v1/channels/%s/claims" % ch, {"consumer": "w"}),
            ("new consumer's poll", "/v1/channels/%s/poll" % ch, {"consumer": "newcomer"}))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    for name, (r, took) in results.items():
        error(r, 503, "unavailable")
        check(r.header("Retry-After") is not None and int(r.header("Retry-After")) >= 1, "Retry-After", name, r.headers)
        check(4.0 <= took < 10, "after the busy timeout (5 s)", name, took)
    check(count_rows(relay, ch) == 1, "nothing stored")
    check(relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w"}).json["commands"][0]["attempts"] == 1,
          "not leased before")
    publish_one(relay, ch, name="after-the-lock")


if __name__ == "__main__":
    run(lambda: Relay(env={"CMDRELAY_CHANNEL_LIMIT": str(CHANNEL_LIMIT)}))
