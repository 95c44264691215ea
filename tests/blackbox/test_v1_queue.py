"""v1: queue delivery under leases, acknowledgements with results, dead
letters, and concurrent claims from several relay processes (spawn-fcgi
with 4 processes behind nginx)."""

import collections
import threading
import time

from harness import Relay, check, run, test
from v1util import check_command, error, fresh_channel, ms, publish, publish_one

TOKEN_CHARS = set("0123456789abcdef")


def claim(relay, channel, expect=200, **body):
    body.setdefault("consumer", "worker-1")
    r = relay.post("/v1/channels/%s/claims" % channel, body)
    check(r.status == expect, "claim answers %d" % expect, r)
    if expect != 200:
        return r
    check(set(r.json) == {"commands"}, "claim answer fields", r.json)
    for c in r.json["commands"]:
        check_command(c, mode="queue", state="leased")
        check(set(c["lease"]) == {"token", "expires_at"}, "lease fields", c)
    return r.json["commands"]


def ack(relay, channel, cid, expect=200, **body):
    body.setdefault("consumer", "worker-1")
    r = relay.post("/v1/channels/%s/commands/%d/ack" % (channel, cid), body)
    check(r.status == expect, "ack answers %d" % expect, r)
    return r


def get(relay, channel, cid):
    r = relay.get("/v1/channels/%s/commands/%d" % (channel, cid))
    check(r.status == 200, "get", r)
    return r.json["command"]


@test
def the_relay_runs_as_four_processes(relay):
    check(len(relay.relay_pids()) == 4, "spawn-fcgi started 4 processes", relay.relay_pids())


@test
def claim_leases_queue_commands_oldest_first_with_a_token(relay):
    ch = fresh_channel()
    pub = publish(relay, ch, [{"name": "q%d" % i, "mode": "queue", "data": i} for i in range(3)])
    before = int(time.time() * 1000)
    got = claim(relay, ch, consumer="srv-1", lease=60)
    check([c["id"] for c in got] == [c["id"] for c in pub], "all three, oldest first", got)
    for c in got:
        check(c["attempts"] == 1, "attempts 1", c)
        check(len(c["lease"]["token"]) >= 16 and set(c["lease"]["token"]) <= TOKEN_CHARS, "token", c)
        check(abs(ms(c["lease"]["expires_at"]) - (before + 60000)) < 5000, "lease runs 60 s", c, before)
    check(len({c["lease"]["token"] for c in got}) == 3, "a token per lease")
    check(get(relay, ch, got[0]["id"])["state"] == "leased", "stored as leased")


@test
def claim_max_defaults_to_10_and_caps_the_count(relay):
    ch = fresh_channel()
    publish(relay, ch, [{"name": "q%d" % i, "mode": "queue"} for i in range(15)])
    check(len(claim(relay, ch, max=2)) == 2, "max 2")
    check(len(claim(relay, ch)) == 10, "default 10")
    check(len(claim(relay, ch, max=100)) == 3, "the remaining 3")


@test
def a_leased_command_is_not_claimed_again_while_its_lease_runs(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    check(len(claim(relay, ch, consumer="a")) == 1, "a gets it")
    check(claim(relay, ch, consumer="b") == [], "b gets nothing")
    check(claim(relay, ch, consumer="a") == [], "nor a again")


@test
def claim_of_an_empty_or_broadcast_only_channel_is_an_empty_list(relay):
    check(claim(relay, fresh_channel("never")) == [], "never used")
    ch = fresh_channel()
    publish_one(relay, ch, mode="broadcast")
    check(claim(relay, ch) == [], "broadcast commands are never claimed")


@test
def a_targeted_queue_command_is_claimable_by_its_target_only(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, mode="queue", target="srv-b")
    check(claim(relay, ch, consumer="srv-a") == [], "not srv-a")
    got = claim(relay, ch, consumer="srv-b")
    check([x["id"] for x in got] == [c["id"]], "srv-b", got)


@test
def ack_with_the_lease_marks_the_command_done_with_its_result(relay):
    ch = fresh_channel()
    pub = publish_one(relay, ch, mode="queue", data={"player": 7})
    got = claim(relay, ch, consumer="srv-1")[0]
    r = ack(relay, ch, pub["id"], consumer="srv-1", lease=got["lease"]["token"], result={"ok": True, "coins": 5})
    check(set(r.json) == {"command"}, "ack answer", r)
    check_command(r.json["command"], id=pub["id"], state="done", result={"ok": True, "coins": 5}, attempts=1)
    cmd = get(relay, ch, pub["id"])
    check(cmd["state"] == "done" and cmd["result"] == {"ok": True, "coins": 5}, "stored", cmd)
    check(len(cmd["acks"]) == 1 and cmd["acks"][0]["consumer"] == "srv-1" and
          cmd["acks"][0]["result"] == {"ok": True, "coins": 5}, "ack recorded", cmd)
    ms(cmd["acks"][0]["acked_at"])
    check(claim(relay, ch, consumer="srv-2") == [], "a done command is never claimed")


@test
def ack_again_with_the_same_lease_is_harmless(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    got = claim(relay, ch)[0]
    first = ack(relay, ch, got["id"], lease=got["lease"]["token"], result=1).json
    again = ack(relay, ch, got["id"], lease=got["lease"]["token"], result=2).json
    check(again == first, "same answer, result unchanged", first, again)


@test
def ack_of_a_queue_command_without_its_lease_is_400(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    got = claim(relay, ch)[0]
    error(ack(relay, ch, got["id"], expect=400), 400, "invalid_request", "lease")
    check(get(relay, ch, got["id"])["state"] == "leased", "still leased")


@test
def ack_with_a_token_that_is_not_the_current_lease_is_409_lease_expired(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    got = claim(relay, ch)[0]
    error(ack(relay, ch, got["id"], expect=409, lease="0" * 32), 409, "lease_expired")
    check(get(relay, ch, got["id"])["state"] == "leased", "still leased")


@test
def ack_of_an_unknown_command_is_404(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, mode="queue")
    error(ack(relay, ch, c["id"] + 100000, expect=404, lease="x"), 404, "not_found")
    error(ack(relay, fresh_channel(), c["id"], expect=404, lease="x"), 404, "not_found")
    r = relay.post("/v1/channels/%s/commands/abc/ack" % ch, {"consumer": "w"})
    error(r, 404, "not_found")


@test
def an_expired_lease_makes_the_command_claimable_again_counting_attempts(relay):
    ch = fresh_channel()
    pub = publish_one(relay, ch, mode="queue", max_attempts=5)
    first = claim(relay, ch, consumer="slow", lease=1)[0]
    check(claim(relay, ch, consumer="fast") == [], "not while leased")
    time.sleep(1.1)
    check(get(relay, ch, pub["id"])["state"] == "pending", "reads as pending once the lease ran out")
    second = claim(relay, ch, consumer="fast", lease=30)
    check(len(second) == 1 and second[0]["id"] == pub["id"] and second[0]["attempts"] == 2, "redelivered", second)
    check(second[0]["lease"]["token"] != first["lease"]["token"], "a new token")
    error(ack(relay, ch, pub["id"], expect=409, consumer="slow", lease=first["lease"]["token"]), 409, "lease_expired")
    r = ack(relay, ch, pub["id"], consumer="fast", lease=second[0]["lease"]["token"], result="done by fast")
    check(r.json["command"]["state"] == "done" and r.json["command"]["attempts"] == 2, "done after 2 attempts", r)


@test
def a_command_is_dead_after_max_attempts_and_no_longer_handed_out(relay):
    ch = fresh_channel()
    pub = publish_one(relay, ch, mode="queue", max_attempts=2)
    for attempt in (1, 2):
        got = claim(relay, ch, consumer="crashy", lease=1)
        check(len(got) == 1 and got[0]["attempts"] == attempt, "attempt %d" % attempt, got)
        time.sleep(1.1)
    check(get(relay, ch, pub["id"])["state"] == "dead", "dead", get(relay, ch, pub["id"]))
    check(claim(relay, ch, consumer="other") == [], "never handed out again")
    depth = [c for c in relay.get("/v1/channels").json["channels"] if c["name"] == ch]
    check(depth and depth[0]["dead"] == 1 and depth[0]["pending"] == 0, "counted dead", depth)


@test
def the_sweep_stores_a_dead_letter_as_dead_and_keeps_it(relay):
    ch = fresh_channel()
    pub = publish_one(relay, ch, mode="queue", max_attempts=1)
    check(len(claim(relay, ch, consumer="crashy", lease=1)) == 1, "leased once")
    time.sleep(1.2)
    # A publish sweeps (at most once a second per process).
    time.sleep(1.0)
    publish_one(relay, fresh_channel())
    row = relay.sql("SELECT state, finished_at IS NOT NULL FROM commands WHERE id = %d" % pub["id"]).strip()
    check(row == "dead|1", "stored as dead, kept for the retention period", row)
    check(get(relay, ch, pub["id"])["state"] == "dead", "still readable as dead")


@test
def broadcast_ack_records_each_consumer_once_and_again_is_harmless(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, name="announce")
    r = ack(relay, ch, c["id"], consumer="srv-a", result={"shown": 3})
    check_command(r.json["command"], id=c["id"], mode="broadcast", state="pending")
    ack(relay, ch, c["id"], consumer="srv-a", result={"shown": 999})
    ack(relay, ch, c["id"], consumer="srv-b")
    acks = get(relay, ch, c["id"])["acks"]
    check(sorted((a["consumer"], a["result"]) for a in acks) == [("srv-a", {"shown": 3}), ("srv-b", None)],
          "one ack per consumer, the first result kept", acks)


@test
def claim_body_is_checked(relay):
    ch = fresh_channel()
    url = "/v1/channels/%s/claims" % ch
    for body, named in (({}, "consumer"), ({"consumer": ""}, "consumer"), ({"consumer": "a b"}, "consumer"),
                        ({"consumer": "c" * 129}, "consumer"), ({"consumer": 5}, "consumer"),
                        ({"consumer": "w", "max": 0}, "max"), ({"consumer": "w", "max": 101}, "max"),
                        ({"consumer": "w", "max": "3"}, "max"), ({"consumer": "w", "max": 1.5}, "max"),
                        ({"consumer": "w", "lease": 0}, "lease"), ({"consumer": "w", "lease": 3601}, "lease"),
                        ({"consumer": "w", "wait": 26}, "wait"), ({"consumer": "w", "wait": -1}, "wait"),
                        ({"consumer": "w", "leases": 5}, "leases")):
        error(relay.post(url, body), 400, "invalid_request", named)
    error(relay.post(url, raw=b"", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    claim(relay, ch, consumer="c" * 128, max=100, lease=3600, wait=0)


@test
def ack_body_is_checked(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue")
    got = claim(relay, ch)[0]
    url = "/v1/channels/%s/commands/%d/ack" % (ch, got["id"])
    for body, named in (({}, "consumer"), ({"consumer": "w", "lease": 5}, "lease"),
                        ({"consumer": "w", "lease": got["lease"]["token"], "reslt": 1}, "reslt"),
                        ({"consumer": "w", "lease": got["lease"]["token"], "result": "x" * 16384}, "result")):
        error(relay.post(url, body), 400, "invalid_request", named)
    check(get(relay, ch, got["id"])["state"] == "leased", "nothing applied")
    ack(relay, ch, got["id"], lease=got["lease"]["token"], result="x" * (16384 - 2))


@test
def concurrent_claims_from_four_processes_never_double_lease(relay):
    ch = fresh_channel("race")
    n, lease_s, threads = 300, 3, 24
    for i in range(0, n, 100):
        publish(relay, ch, [{"name": "job%d" % j, "mode": "queue", "max_attempts": 10} for j in range(i, i + 100)])
    leases = collections.defaultdict(list)   # id -> [(lease expires_at ms, token, consumer)]
    lock = threading.Lock()
    problems = []

    def worker(w, until):
        empty = 0
        while empty < 2 and time.monotonic() < until:
            r = relay.post("/v1/channels/%s/claims" % ch, {"consumer": "w%d" % w, "max": 5, "lease": lease_s})
            if r.status != 200:
                problems.append(r)
                return
            got = r.json["commands"]
            empty = empty + 1 if not got else 0
            with lock:
                for c in got:
                    leases[c["id"]].append((ms(c["lease"]["expires_at"]), c["lease"]["token"], "w%d" % w))

    def round_of_claims():
        ts = [threading.Thread(target=worker, args=(w, time.monotonic() + 30)) for w in range(threads)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.monotonic() - t0

    took1 = round_of_claims()
    check(not problems, "every claim answered 200", problems[:3])
    check(len(leases) == n, "every command leased", len(leases))
    time.sleep(lease_s + 0.2)
    took2 = round_of_claims()
    check(not problems, "every claim answered 200", problems[:3])
    print("# %d commands, %d threads x 2 rounds over 4 processes: %.2f s and %.2f s" % (n, threads, took1, took2))
    tokens = set()
    for cid, ls in leases.items():
        ls.sort()
        # A lease starts lease_s before it expires: no two leases of one command may overlap.
        for a, b in zip(ls, ls[1:]):
            check(b[0] - lease_s * 1000 >= a[0], "command %d leased twice at once" % cid, ls)
        tokens.update(t for _, t, _ in ls)
        if took1 < lease_s and took2 < lease_s:
            check(len(ls) == 2, "command %d leased once per lease period" % cid, ls)
    check(len(tokens) == sum(len(ls) for ls in leases.values()), "every lease has its own token")
    stored = relay.sql("SELECT id, attempts, lease_token, lease_consumer FROM commands WHERE channel = '%s'" % ch)
    for line in stored.split():
        cid, attempts, token, consumer = line.split("|")
        last = leases[int(cid)][-1]
        check(int(attempts) == len(leases[int(cid)]) and token == last[1] and consumer == last[2],
              "the store agrees with what was handed out", line, leases[int(cid)])
    # Everybody acks what they hold now: each command is done exactly once.
    for cid, ls in leases.items():
        ack(relay, ch, cid, consumer=ls[-1][2], lease=ls[-1][1])
    check(relay.sql("SELECT count(*) FROM commands WHERE channel = '%s' AND state = 'done'" % ch).strip() == str(n),
          "all done")


if __name__ == "__main__":
    run(lambda: Relay(launcher="spawn-fcgi", processes=4))
