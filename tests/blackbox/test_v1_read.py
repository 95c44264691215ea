"""v1: reading a channel's broadcast commands with a cursor, targets,
expiry, and the read's own long poll, through nginx."""

import threading
import time

from harness import Relay, check, run, test, wait_for
from v1util import error, fresh_channel, publish, publish_one


def read(relay, channel, query=""):
    r = relay.get("/v1/channels/%s/commands%s" % (channel, query))
    check(r.status == 200, "read answers 200", r)
    check(set(r.json) == {"commands", "cursor"}, "read answer fields", r.json)
    return r.json


@test
def read_returns_broadcast_commands_after_the_cursor_oldest_first(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    r = read(relay, ch)
    check(r["commands"] == got, "all three, oldest first", r)
    check(r["cursor"] == got[-1]["id"], "cursor is the last id", r)
    r = read(relay, ch, "?after=%d" % got[0]["id"])
    check([c["name"] for c in r["commands"]] == ["b", "c"], "after the first", r)
    r = read(relay, ch, "?after=%d" % got[-1]["id"])
    check(r == {"commands": [], "cursor": got[-1]["id"]}, "nothing after the last: same cursor", r)


@test
def read_of_a_channel_never_used_is_empty_with_cursor_0(relay):
    r = read(relay, fresh_channel("never"))
    check(r == {"commands": [], "cursor": 0}, "empty, cursor 0", r)


@test
def read_never_returns_queue_commands(relay):
    ch = fresh_channel()
    publish_one(relay, ch, name="q", mode="queue")
    b = publish_one(relay, ch, name="b")
    r = read(relay, ch)
    check([c["id"] for c in r["commands"]] == [b["id"]], "only the broadcast command", r)


@test
def read_limit_pages_through_with_the_cursor(relay):
    ch = fresh_channel()
    ids = [c["id"] for c in publish(relay, ch, [{"name": "n%d" % i} for i in range(5)])]
    seen, after = [], 0
    for _ in range(4):
        r = read(relay, ch, "?limit=2&after=%d" % after)
        check(len(r["commands"]) <= 2, "at most limit", r)
        seen += [c["id"] for c in r["commands"]]
        after = r["cursor"]
    check(seen == ids, "every command once, in order", seen, ids)
    check(len(read(relay, ch, "?limit=100")["commands"]) == 5, "limit=100 allowed")


@test
def read_limit_defaults_to_100(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "n%d" % i} for i in range(100)])
    publish(relay, ch, [{"name": "m%d" % i} for i in range(5)])
    r = read(relay, ch)
    check(len(r["commands"]) == 100 and r["commands"][-1]["name"] == "n99", "first 100", len(r["commands"]))
    check(len(read(relay, ch, "?after=%d" % r["cursor"])["commands"]) == 5, "the rest after the cursor")


@test
def read_limit_0_returns_no_commands_and_a_cursor_from_now_on(relay):
    ch = fresh_channel()
    old = publish(relay, ch, [{"name": "old1"}, {"name": "old2"}])
    r = read(relay, ch, "?limit=0")
    check(r["commands"] == [] and r["cursor"] >= old[-1]["id"], "no commands, cursor past the old ones", r, old)
    new = publish_one(relay, ch, name="new")
    r2 = read(relay, ch, "?after=%d" % r["cursor"])
    check([c["name"] for c in r2["commands"]] == ["new"] and r2["cursor"] == new["id"], "only the new one", r2)


@test
def a_cursor_beyond_the_newest_id_is_lowered_to_it(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch)
    r = read(relay, ch, "?after=%d" % (c["id"] + 1000))
    check(r == {"commands": [], "cursor": c["id"]}, "the newest id ever handed out", r, c)
    d = publish_one(relay, ch, name="next")
    check([x["id"] for x in read(relay, ch, "?after=%d" % r["cursor"])["commands"]] == [d["id"]], "then what is new")


@test
def read_with_a_consumer_sees_its_targeted_commands_and_untargeted_ones(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "all"}, {"name": "for-a", "target": "srv-a"}, {"name": "for-b", "target": "srv-b"}])
    names = lambda q: [c["name"] for c in read(relay, ch, q)["commands"]]  # noqa: E731
    check(names("?consumer=srv-a") == ["all", "for-a"], "srv-a", names("?consumer=srv-a"))
    check(names("?consumer=srv-b") == ["all", "for-b"], "srv-b", names("?consumer=srv-b"))
    check(names("") == ["all"], "nobody in particular sees no targeted command", names(""))
    check(names("?consumer=srv-c") == ["all"], "srv-c", names("?consumer=srv-c"))


@test
def expired_commands_are_never_delivered_and_are_swept_away(relay):
    ch = fresh_channel()
    short = publish_one(relay, ch, name="short", ttl=1)
    long_ = publish_one(relay, ch, name="long", ttl=60)
    check([c["name"] for c in read(relay, ch)["commands"]] == ["short", "long"], "both while live")
    time.sleep(1.1)
    r = read(relay, ch)
    check([c["name"] for c in r["commands"]] == ["long"], "the expired one is not delivered", r)
    check(relay.post("/v1/channels/%s/poll" % ch, {"consumer": "p1"}).json["commands"] == [long_], "nor polled")

    # Sweeping happens beside publishes (at most once a second per process).
    def swept():
        publish_one(relay, fresh_channel("sweep-trigger"))
        return relay.sql("SELECT count(*) FROM commands WHERE id = %d" % short["id"]).strip() == "0"
    wait_for(swept, timeout=5, what="the expired command to be swept")
    check(relay.sql("SELECT count(*) FROM commands WHERE id = %d" % long_["id"]).strip() == "1", "live one kept")
    check(relay.get("/v1/channels/%s/commands/%d" % (ch, short["id"])).status == 404, "gone")


@test
def read_query_parameters_are_checked(relay):
    ch = fresh_channel()
    for q, named in (("limit=101", "limit"), ("limit=-1", "limit"), ("limit=1.5", "limit"), ("limit=", "limit"),
                     ("after=-1", "after"), ("after=abc", "after"), ("after=9007199254740993", "after"),
                     ("after=1e2", "after"), ("wait=26", "wait"), ("wait=-1", "wait"), ("wait=0.5", "wait"),
                     ("consumer=", "consumer"), ("consumer=a%20b", "consumer"), ("consumer=" + "c" * 129, "consumer"),
                     ("afterr=3", "afterr"), ("limit=1&colour=red", "colour")):
        error(relay.get("/v1/channels/%s/commands?%s" % (ch, q)), 400, "invalid_request", named)
    read(relay, ch, "?after=9007199254740992&limit=1&wait=0&consumer=" + "c" * 128)


@test
def read_wait_answers_at_once_when_commands_are_there(relay):
    ch = fresh_channel()
    publish_one(relay, ch)
    t = time.monotonic()
    r = read(relay, ch, "?wait=10")
    check(len(r["commands"]) == 1 and time.monotonic() - t < 1, "not held", r)


@test
def read_wait_runs_out_with_an_empty_list_and_the_same_cursor(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch)
    t = time.monotonic()
    r = read(relay, ch, "?wait=1&after=%d" % c["id"])
    took = time.monotonic() - t
    check(r == {"commands": [], "cursor": c["id"]}, "empty, same cursor", r)
    check(0.95 <= took < 2.0, "held about 1 s", took)


@test
def concurrent_publishes_never_make_a_cursor_skip_a_command(relay):
    ch = fresh_channel()
    writers, each = 8, 25
    published, seen, errors = [], [], []
    done = threading.Event()

    def writer(w):
        for i in range(each):
            r = relay.post("/v1/channels/%s/commands" % ch, {"name": "w%d-%d" % (w, i)})
            if r.status != 201:
                errors.append(r)
            else:
                published.append(r.json["commands"][0]["id"])

    def reader():
        after = 0
        while True:
            finished = done.is_set()
            r = relay.get("/v1/channels/%s/commands?after=%d" % (ch, after))
            if r.status != 200:
                errors.append(r)
                return
            seen.extend(c["id"] for c in r.json["commands"])
            after = r.json["cursor"]
            if finished and not r.json["commands"]:
                return

    rt = threading.Thread(target=reader)
    rt.start()
    ws = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    done.set()
    rt.join()
    check(not errors, "every request answered", errors[:3])
    check(len(published) == writers * each, "all published")
    check(seen == sorted(published), "the reader saw every command once, in id order", len(seen), len(published))


@test
def listed_commands_keep_large_payloads_and_names_that_need_escaping(relay):
    ch = fresh_channel()
    big = {"blob": "\u00e9" * 5000, "n": list(range(500)), "quote": "a\"b"}
    r = relay.post("/v1/channels/%s/commands" % ch, [{"name": 'a"b\\c\u2603', "data": big, "key": 'k"1\\'},
                                                      {"name": "small"}])
    check(r.status == 201 and r.json["commands"][0]["data"] == big, "published", r)
    got = relay.get("/v1/channels/%s/commands?after=0" % ch).json["commands"]
    check(got[0]["data"] == big and got[0]["name"] == 'a"b\\c\u2603' and got[0]["key"] == 'k"1\\', "read back", got[0])
    check(got[1]["name"] == "small" and got[1]["data"] is None, "the next one intact", got[1])


@test
def a_listed_command_is_the_same_as_the_command_on_its_own(relay):
    # Lists are written as text (command_json.c) and a single command as a
    # json-c object: the two must not drift apart, escapes and nulls included.
    ch = fresh_channel()
    published = publish(relay, ch, [
        {"name": 'say "hi" \\ \u2603 /', "key": 'k"1\\', "data": {"a": [1, None]}, "target": "srv-1"},
        {"name": "plain", "ttl": 60}])
    listed = relay.get("/v1/channels/%s/commands?after=0&consumer=srv-1" % ch).json["commands"]
    check(listed == published, "a read lists what the publish answered", listed, published)
    for c in listed:
        alone = relay.get("/v1/channels/%s/commands/%d" % (ch, c["id"])).json["command"]
        check(alone.pop("acks") == [], "no acks yet", alone)
        check(alone == c, "GET of the one command shows it as the list does", alone, c)


@test
def an_id_is_never_handed_out_twice_even_after_the_newest_command_is_cancelled(relay):
    ch = fresh_channel()
    first = publish_one(relay, ch, name="first")
    r = relay.delete("/v1/channels/%s/commands/%d" % (ch, first["id"]))
    check(r.status == 200, "cancelled", r)
    second = publish_one(relay, ch, name="second")
    # A consumer whose cursor is first's id must still receive second.
    check(second["id"] > first["id"], "a new id", first["id"], second["id"])
    got = relay.get("/v1/channels/%s/commands?after=%d" % (ch, first["id"])).json["commands"]
    check([c["name"] for c in got] == ["second"], "delivered after the cancelled one's cursor", got)


if __name__ == "__main__":
    run(lambda: Relay())
