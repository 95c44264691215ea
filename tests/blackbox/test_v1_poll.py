"""v1: the poll a game server makes in a loop -- acknowledgements, the
remembered cursor (at least once), claims, poll_after_ms and presence."""

from harness import Relay, check, run, test
from v1util import check_command, error, fresh_channel, ms, publish, publish_one

POLL_FIELDS = {"acked", "commands", "claims", "cursor", "poll_after_ms"}


def poll(relay, channel, consumer="srv-1", **body):
    body["consumer"] = consumer
    r = relay.post("/v1/channels/%s/poll" % channel, body)
    check(r.status == 200, "poll answers 200", r)
    check(set(r.json) == POLL_FIELDS, "poll answer fields", r.json)
    for c in r.json["commands"]:
        check_command(c, mode="broadcast")
    for c in r.json["claims"]:
        check_command(c, mode="queue", state="leased")
        check(set(c["lease"]) == {"token", "expires_at"}, "lease", c)
    return r.json


def names(cmds):
    return [c["name"] for c in cmds]


@test
def poll_answers_acked_commands_claims_cursor_and_poll_after_ms(relay):
    ch = fresh_channel()
    a = publish_one(relay, ch, name="a")
    r = poll(relay, ch)
    check(r["acked"] == [] and r["commands"] == [a] and r["claims"] == [] and r["cursor"] == a["id"], "shape", r)
    check(isinstance(r["poll_after_ms"], int) and r["poll_after_ms"] >= 0, "poll_after_ms", r)


@test
def a_cursor_beyond_the_newest_id_is_lowered_to_it_and_remembered_so(relay):
    # As a restored backup would leave a game server: its cursor from before
    # is past every id the database has handed out.
    ch = fresh_channel()
    c = publish_one(relay, ch)
    r = poll(relay, ch, consumer="srv-ahead", after=c["id"] + 1000)
    check(r["commands"] == [] and r["cursor"] == c["id"], "the newest id ever handed out", r, c)
    d = publish_one(relay, ch, name="next")
    r = poll(relay, ch, consumer="srv-ahead")
    check(names(r["commands"]) == ["next"] and r["cursor"] == d["id"], "the remembered cursor was the lowered one", r)
    r = poll(relay, ch, consumer="srv-new-and-ahead", after=d["id"] + 5)
    check(r["cursor"] == d["id"] and r["commands"] == [], "a new consumer's too", r)


@test
def a_consumer_never_seen_starts_at_the_oldest_live_command(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "gone", "ttl": 1}])
    old = publish(relay, ch, [{"name": "old1"}, {"name": "old2"}])
    import time
    time.sleep(1.1)
    r = poll(relay, ch, consumer="newcomer")
    check(names(r["commands"]) == ["old1", "old2"] and r["cursor"] == old[-1]["id"], "from the oldest live", r)


@test
def a_poll_without_after_resumes_from_the_last_after_sent(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "a"}, {"name": "b"}])
    first = poll(relay, ch, consumer="s")
    check(names(first["commands"]) == ["a", "b"], "a and b", first)
    # The answer was lost: polling again without after hands the same out again.
    again = poll(relay, ch, consumer="s")
    check(again["commands"] == first["commands"] and again["cursor"] == first["cursor"], "at least once", again)
    # Confirming the cursor: nothing more, and it is remembered.
    confirmed = poll(relay, ch, consumer="s", after=first["cursor"])
    check(confirmed["commands"] == [] and confirmed["cursor"] == first["cursor"], "confirmed", confirmed)
    check(poll(relay, ch, consumer="s")["commands"] == [], "remembered without after")
    publish_one(relay, ch, name="c")
    nxt = poll(relay, ch, consumer="s")
    check(names(nxt["commands"]) == ["c"], "only what is new", nxt)
    check(names(poll(relay, ch, consumer="other")["commands"]) == ["a", "b", "c"], "cursors are per consumer")


@test
def a_poll_with_an_older_after_goes_back_to_it(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    poll(relay, ch, consumer="s", after=got[-1]["id"])
    r = poll(relay, ch, consumer="s", after=got[0]["id"])
    check(names(r["commands"]) == ["b", "c"], "after is the client's to give", r)
    check(names(poll(relay, ch, consumer="s")["commands"]) == ["b", "c"], "and it is what is remembered")


@test
def poll_returns_at_most_100_commands_and_the_cursor_continues(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "n%d" % i} for i in range(100)])
    publish(relay, ch, [{"name": "m%d" % i} for i in range(3)])
    r = poll(relay, ch, consumer="s")
    check(len(r["commands"]) == 100 and r["poll_after_ms"] == 0, "100, come back at once", len(r["commands"]), r["poll_after_ms"])
    r2 = poll(relay, ch, consumer="s", after=r["cursor"])
    check(names(r2["commands"]) == ["m0", "m1", "m2"], "the rest", r2)


@test
def poll_claims_queue_commands_only_when_asked(relay):
    ch = fresh_channel()
    pub = publish(relay, ch, [{"name": "b"}, {"name": "q1", "mode": "queue"}, {"name": "q2", "mode": "queue"},
                              {"name": "q3", "mode": "queue"}])
    r = poll(relay, ch, consumer="s")
    check(names(r["commands"]) == ["b"] and r["claims"] == [], "claim defaults to 0", r)
    r = poll(relay, ch, consumer="s", claim=2, lease=60)
    check(names(r["claims"]) == ["q1", "q2"], "two claimed, oldest first", r)
    for c in r["claims"]:
        check(c["attempts"] == 1 and abs(ms(c["lease"]["expires_at"]) - ms(pub[0]["created_at"]) - 60000) < 5000,
              "leased for 60 s", c)
    r2 = poll(relay, ch, consumer="other", claim=10)
    check(names(r2["claims"]) == ["q3"], "the others are leased", r2)


@test
def poll_acks_the_previous_batch_before_receiving_the_next(relay):
    ch = fresh_channel()
    bc = publish_one(relay, ch, name="announce")
    publish_one(relay, ch, name="job", mode="queue")
    r = poll(relay, ch, consumer="s", claim=1)
    job = r["claims"][0]
    r2 = poll(relay, ch, consumer="s", after=r["cursor"], claim=1,
              acks=[{"id": job["id"], "lease": job["lease"]["token"], "result": {"ok": 1}},
                    {"id": bc["id"], "result": "seen"}])
    check(sorted(r2["acked"]) == sorted([job["id"], bc["id"]]), "both acked", r2)
    check(r2["claims"] == [] and r2["commands"] == [], "nothing new", r2)
    got = relay.get("/v1/channels/%s/commands/%d" % (ch, job["id"])).json["command"]
    check(got["state"] == "done" and got["result"] == {"ok": 1}, "queue command done with result", got)
    got = relay.get("/v1/channels/%s/commands/%d" % (ch, bc["id"])).json["command"]
    check([(a["consumer"], a["result"]) for a in got["acks"]] == [("s", "seen")], "broadcast ack recorded", got)


@test
def poll_acks_that_no_longer_apply_are_left_out_of_acked(relay):
    ch = fresh_channel()
    publish_one(relay, ch, name="job", mode="queue")
    job = poll(relay, ch, consumer="s", claim=1)["claims"][0]
    r = poll(relay, ch, consumer="s", acks=[{"id": job["id"] + 100000}, {"id": job["id"], "lease": "f" * 32},
                                           {"id": job["id"]}])
    check(r["acked"] == [], "unknown id, wrong lease and missing lease are not acked", r)
    got = relay.get("/v1/channels/%s/commands/%d" % (ch, job["id"])).json["command"]
    check(got["state"] == "leased", "still leased", got)


@test
def poll_after_ms_is_0_when_something_came_and_positive_when_nothing_did(relay):
    ch = fresh_channel()
    idle = poll(relay, ch, consumer="s")
    check(idle["commands"] == [] and idle["poll_after_ms"] > 0, "nothing: come back later", idle)
    publish_one(relay, ch)
    busy = poll(relay, ch, consumer="s")
    check(len(busy["commands"]) == 1 and busy["poll_after_ms"] == 0, "something: come back at once", busy)
    held = poll(relay, ch, consumer="s", after=busy["cursor"], wait=1)
    check(held["commands"] == [] and held["poll_after_ms"] == 0, "a long poll that ran out: poll again at once", held)


@test
def poll_delivers_targeted_broadcasts_to_their_target_only(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "all"}, {"name": "for-a", "target": "a"}, {"name": "for-b", "target": "b"}])
    check(names(poll(relay, ch, consumer="a")["commands"]) == ["all", "for-a"], "a")
    check(names(poll(relay, ch, consumer="b")["commands"]) == ["all", "for-b"], "b")
    check(names(poll(relay, ch, consumer="c")["commands"]) == ["all"], "c")


@test
def poll_registers_presence_with_the_confirmed_cursor(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch)
    poll(relay, ch, consumer="job-1234")
    poll(relay, ch, consumer="job-1234", after=c["id"])
    r = relay.get("/v1/channels/%s/consumers" % ch)
    check(r.status == 200 and set(r.json) == {"consumers"}, "consumers", r)
    cons = r.json["consumers"]
    check(len(cons) == 1 and set(cons[0]) == {"consumer", "first_seen", "last_seen", "cursor"}, "one consumer", cons)
    check(cons[0]["consumer"] == "job-1234" and cons[0]["cursor"] == c["id"], "its cursor", cons)
    check(ms(cons[0]["first_seen"]) <= ms(cons[0]["last_seen"]), "first_seen <= last_seen", cons)


@test
def presence_is_written_at_most_every_few_seconds_per_consumer(relay):
    ch = fresh_channel()
    poll(relay, ch, consumer="s")
    first = relay.get("/v1/channels/%s/consumers" % ch).json["consumers"][0]
    for _ in range(5):
        poll(relay, ch, consumer="s")
    again = relay.get("/v1/channels/%s/consumers" % ch).json["consumers"][0]
    check(again == first, "idle polls within seconds write nothing", first, again)


@test
def poll_body_is_checked(relay):
    ch = fresh_channel()
    url = "/v1/channels/%s/poll" % ch
    for body, named in (({}, "consumer"), ({"consumer": "a b"}, "consumer"), ({"consumer": "s", "after": -1}, "after"),
                        ({"consumer": "s", "after": "5"}, "after"), ({"consumer": "s", "after": 9007199254740993},
                                                                      "2^53"),
                        ({"consumer": "s", "wait": 26}, "wait"), ({"consumer": "s", "wait": 0.5}, "wait"),
                        ({"consumer": "s", "claim": 101}, "claim"), ({"consumer": "s", "claim": -1}, "claim"),
                        ({"consumer": "s", "lease": 0}, "lease"), ({"consumer": "s", "lease": 3601}, "lease"),
                        ({"consumer": "s", "acks": {"id": 1}}, "acks"), ({"consumer": "s", "acks": 5}, "acks"),
                        ({"consumer": "s", "acks": [{"id": 1}] * 101}, "acks"),
                        ({"consumer": "s", "acks": [{"id": 1}, {"lease": "x"}]}, "acks[1].id"),
                        ({"consumer": "s", "acks": [{"id": 1}, []]}, "acks[1].id"),
                        ({"consumer": "s", "acks": [{"id": 0}]}, "acks[0].id"),
                        ({"consumer": "s", "acks": [{"id": 1.0}]}, "acks[0].id"),
                        ({"consumer": "s", "acks": [{"id": 1, "lease": 7}]}, "acks[0].lease"),
                        ({"consumer": "s", "acks": [{"id": 1, "reslt": 7}]}, "acks[0].reslt"),
                        ({"consumer": "s", "acks": [{"id": 1, "result": "x" * 16384}]}, "acks[0].result"),
                        ({"consumer": "s", "cursor": 3}, "cursor")):
        code = "invalid_json" if named == "2^53" else "invalid_request"
        error(relay.post(url, body), 400, code, named)
    check(relay.get("/v1/channels/%s/consumers" % ch).json["consumers"] == [], "a refused poll leaves no presence")


@test
def an_invalid_ack_in_a_poll_applies_none_of_them(relay):
    ch = fresh_channel()
    publish_one(relay, ch, name="job", mode="queue")
    job = poll(relay, ch, consumer="s", claim=1)["claims"][0]
    r = relay.post("/v1/channels/%s/poll" % ch, {"consumer": "s", "acks": [
        {"id": job["id"], "lease": job["lease"]["token"]}, {"id": "x"}]})
    error(r, 400, "invalid_request", "acks[1].id")
    got = relay.get("/v1/channels/%s/commands/%d" % (ch, job["id"])).json["command"]
    check(got["state"] == "leased", "the valid ack was not applied either", got)


@test
def polls_and_reads_leave_no_read_transaction_open(relay):
    # A poll that does not wait (and a read) look from one snapshot; it must
    # end with the request, or the pooled connection would pin the WAL: a
    # checkpoint could never copy it all, nor start it over.
    ch = fresh_channel()
    a = publish_one(relay, ch, name="a")
    poll(relay, ch, consumer="new-one")           # the presence write ends the snapshot
    r = poll(relay, ch, consumer="new-one")       # a pure read now: the snapshot lasts the request
    check(r["cursor"] == a["id"], "cursor", r)
    got = relay.get("/v1/channels/%s/commands?after=%d" % (ch, a["id"] - 1))
    check(got.status == 200 and names(got.json["commands"]) == ["a"], "read", got)
    busy, log, copied = relay.sql("PRAGMA wal_checkpoint(TRUNCATE)").strip().split("|")
    check(busy == "0", "no reader left in the WAL: a TRUNCATE checkpoint completes", busy, log, copied)


if __name__ == "__main__":
    run(lambda: Relay())
