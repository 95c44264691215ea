"""v1: channels as a whole (depths), consumers (presence), health and the
Prometheus metrics, through nginx."""

import re
import time

from harness import Relay, check, run, test, wait_for
from v1util import error, fresh_channel, ms, publish, publish_one


def channels(relay):
    r = relay.get("/v1/channels")
    check(r.status == 200 and set(r.json) == {"channels"}, "channels answer", r)
    for c in r.json["channels"]:
        check(set(c) == {"name", "pending", "leased", "done", "dead", "oldest_pending_at"}, "channel fields", c)
    return r.json["channels"]


def depth(relay, ch):
    found = [c for c in channels(relay) if c["name"] == ch]
    return found[0] if found else None


def metrics(relay):
    r = relay.get("/metrics")
    check(r.status == 200, "metrics answer 200", r)
    check(r.header("Content-Type").startswith("text/plain; version=0.0.4"), "Prometheus text format",
          r.header("Content-Type"))
    return r.raw.decode("utf-8")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (\S+)$')


def parse_metrics(text):
    """Parses Prometheus text format 0.0.4 strictly enough to catch a broken
    exposition: returns {family: type} and [(name, {labels}, value)]."""
    types, samples, seen_order = {}, [], []
    check(text.endswith("\n"), "ends with a newline")
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            check(len(line.split(" ", 3)) == 4, "HELP has a name and text", line)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(kind in ("counter", "gauge", "histogram", "summary", "untyped"), "a known type", line)
            check(name not in types, "one TYPE per family", line)
            types[name] = kind
            seen_order.append(name)
            continue
        check(not line.startswith("#") and line.strip() != "", "a sample line", line)
        m = SAMPLE.match(line)
        check(m is not None, "sample syntax", line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        float(value)
        check(name in types and seen_order[-1] == name, "sample follows its own TYPE line, families grouped", line)
        lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
        samples.append((name, lab, float(value)))
    return types, samples


def value(samples, name, **labels):
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


@test
def health_answers_status_version_and_schema_version(relay):
    r = relay.get("/v1/health")
    check(r.status == 200 and set(r.json) == {"status", "version", "schema_version"}, "fields", r)
    check(r.json["status"] == "ok" and isinstance(r.json["version"], str) and r.json["version"], "status, version", r)
    check(isinstance(r.json["schema_version"], int) and r.json["schema_version"] >= 2, "schema_version", r)
    check(relay.sql("PRAGMA user_version").strip() == str(r.json["schema_version"]), "the database's own")


@test
def channels_lists_depths_by_state(relay):
    ch = fresh_channel("depth")
    b = publish(relay, ch, [{"name": "b1"}, {"name": "b2"}])
    publish(relay, ch, [{"name": "q-%d" % i, "mode": "queue"} for i in range(3)])
    publish_one(relay, ch, name="q-dead", mode="queue", max_attempts=1)
    publish_one(relay, ch, name="gone", ttl=1)
    got = relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w", "max": 3}).json["commands"]
    relay.post("/v1/channels/%s/commands/%d/ack" % (ch, got[0]["id"]), {"consumer": "w", "lease": got[0]["lease"]["token"]})
    rest = relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w", "max": 1, "lease": 1}).json["commands"]
    check([c["name"] for c in rest] == ["q-dead"], "the last one leased briefly", rest)
    time.sleep(1.1)
    d = depth(relay, ch)
    # pending: b1, b2 (broadcast, live); leased: q-1, q-2; done: q-0; dead: q-dead; gone expired.
    check(d == {"name": ch, "pending": 2, "leased": 2, "done": 1, "dead": 1, "oldest_pending_at": b[0]["created_at"]},
          "depths", d)


@test
def channels_counts_a_queue_command_waiting_for_a_lease_as_pending(relay):
    ch = fresh_channel("depth")
    q = publish_one(relay, ch, mode="queue")
    check(depth(relay, ch) == {"name": ch, "pending": 1, "leased": 0, "done": 0, "dead": 0,
                               "oldest_pending_at": q["created_at"]}, "pending", depth(relay, ch))


@test
def channels_omits_channels_with_nothing_left_and_lists_by_name(relay):
    ch = fresh_channel("empty")
    c = publish_one(relay, ch)
    relay.delete("/v1/channels/%s/commands/%d" % (ch, c["id"]))
    names = [x["name"] for x in channels(relay)]
    check(ch not in names, "cancelled away", names)
    check(names == sorted(names), "by name", names)
    check(depth(relay, fresh_channel("never")) is None, "never used")


@test
def channels_reports_oldest_pending_at_null_when_nothing_is_pending(relay):
    ch = fresh_channel("depth")
    publish_one(relay, ch, mode="queue")
    relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w"})
    d = depth(relay, ch)
    check(d["pending"] == 0 and d["leased"] == 1 and d["oldest_pending_at"] is None, "null", d)


@test
def consumers_of_an_unused_channel_is_an_empty_list(relay):
    r = relay.get("/v1/channels/%s/consumers" % fresh_channel("never"))
    check(r.status == 200 and r.json == {"consumers": []}, "empty", r)


@test
def consumers_lists_those_that_polled_in_the_last_10_minutes(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch)
    for consumer in ("srv-b", "srv-a", "srv-c"):
        relay.post("/v1/channels/%s/poll" % ch, {"consumer": consumer, "after": c["id"]})
    # srv-c was last seen 11 minutes ago (as an operator could set it).
    relay.sql("UPDATE consumers SET last_seen = last_seen - 660000, first_seen = first_seen - 660000"
              " WHERE channel = '%s' AND consumer = 'srv-c'" % ch)
    cons = relay.get("/v1/channels/%s/consumers" % ch).json["consumers"]
    check([x["consumer"] for x in cons] == ["srv-a", "srv-b"], "present ones, by name", cons)
    now = time.time() * 1000
    for x in cons:
        check(x["cursor"] == c["id"] and abs(ms(x["last_seen"]) - now) < 10000, "cursor and last_seen", x)


@test
def channels_and_consumers_refuse_query_parameters(relay):
    error(relay.get("/v1/channels?limit=5"), 400, "invalid_request", "limit")
    error(relay.get("/v1/channels/x/consumers?since=5"), 400, "invalid_request", "since")
    error(relay.get("/v1/health?verbose=1"), 400, "invalid_request", "verbose")
    error(relay.get("/metrics?x=1"), 400, "invalid_request", "x")


@test
def metrics_are_in_prometheus_text_format_with_the_required_series(relay):
    ch = fresh_channel("metrics")
    publish_one(relay, ch)
    publish_one(relay, ch, mode="queue", max_attempts=1)
    relay.get("/v1/no-such-endpoint")
    types, samples = parse_metrics(metrics(relay))
    for family, kind in (("cmdrelay_requests_total", "counter"), ("cmdrelay_commands_published_total", "counter"),
                         ("cmdrelay_commands_delivered_total", "counter"), ("cmdrelay_commands_acked_total", "counter"),
                         ("cmdrelay_commands_expired_total", "counter"), ("cmdrelay_longpoll_waiters", "gauge"),
                         ("cmdrelay_channel_depth", "gauge")):
        check(types.get(family) == kind, "%s is a %s" % (family, kind), types)
    check(value(samples, "cmdrelay_requests_total", route="commands", status="201") >= 2, "requests by route/status")
    check(value(samples, "cmdrelay_requests_total", route="unknown", status="404") >= 1, "unknown routes counted")
    for state in ("pending", "leased", "done", "dead"):
        check(any(n == "cmdrelay_channel_depth" and lab.get("channel") == ch and lab.get("state") == state
                  for n, lab, _ in samples), "depth of %s" % state)
    check(value(samples, "cmdrelay_channel_depth", channel=ch, state="pending") == 2, "per-channel depth")


@test
def metrics_count_published_delivered_acked_and_dead(relay):
    ch = fresh_channel("metrics")
    before = parse_metrics(metrics(relay))[1]
    publish(relay, ch, [{"name": "a"}, {"name": "b"}, {"name": "q", "mode": "queue", "max_attempts": 1}])
    relay.get("/v1/channels/%s/commands" % ch)                              # delivers 2
    q = relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w", "lease": 1}).json["commands"]   # delivers 1
    relay.post("/v1/channels/%s/commands/%d/ack" % (ch, q[0]["id"] - 1), {"consumer": "w"})       # acks b
    time.sleep(1.1)                                                         # q dies
    after = parse_metrics(metrics(relay))[1]
    for name, grew in (("cmdrelay_commands_published_total", 3), ("cmdrelay_commands_delivered_total", 3),
                       ("cmdrelay_commands_acked_total", 1)):
        check(value(after, name) - value(before, name) == grew, "%s grew by %d" % (name, grew),
              value(before, name), value(after, name))
    check(value(after, "cmdrelay_channel_depth", channel=ch, state="dead") == 1, "dead shown in the depth")


@test
def metrics_count_expired_commands_swept(relay):
    ch = fresh_channel("metrics")
    before = value(parse_metrics(metrics(relay))[1], "cmdrelay_commands_expired_total")
    publish_one(relay, ch, ttl=1)
    time.sleep(1.1)

    def counted():
        publish_one(relay, fresh_channel("sweep-trigger"))
        return value(parse_metrics(metrics(relay))[1], "cmdrelay_commands_expired_total") > before
    wait_for(counted, timeout=5, what="the sweep to count the expired command")


@test
def metrics_show_long_poll_waiters(relay):
    import threading
    ch = fresh_channel("metrics")
    t = threading.Thread(target=lambda: relay.get("/v1/channels/%s/commands?wait=2" % ch))
    t.start()
    wait_for(lambda: value(parse_metrics(metrics(relay))[1], "cmdrelay_longpoll_waiters") == 1, timeout=5,
             what="one waiter shown")
    publish_one(relay, ch)
    t.join()
    check(value(parse_metrics(metrics(relay))[1], "cmdrelay_longpoll_waiters") == 0, "none once answered")


if __name__ == "__main__":
    run(lambda: Relay())
