"""Crash safety (issue 8): publishers, broadcast consumers and queue claimers
work through nginx while the relay's processes are killed with SIGKILL at
random moments and restarted; then nothing acknowledged may be missing.

The relay runs the way systemd socket activation or spawn-fcgi runs it:
several processes share one listening socket (held here, so a process that
dies is replaced at once and nginx's requests wait in the backlog while
none is up).  Now and then every process is killed at once.

Checks, after the kills stop and the clients drain what is left:
  - every command whose publish was answered 2xx is in the store, intact,
    or was delivered; every broadcast one reached every consumer;
  - no queue command was leased to two claimers at once (each lease's grant
    time is its expires_at minus the lease length asked for: the next lease
    of a command may only be granted at or after the previous one expired);
  - no acknowledged ack was undone: a queue command whose ack was answered
    200 is done, with that lease's token and that result; a broadcast ack
    the poll reported is in the acks table;
  - PRAGMA integrity_check is ok, and the relay still serves.
The counts go out as TAP comments.  The short run (make check) lasts about
20 s with 20 kills or more; CMDRELAY_LONG=1 runs 300 s (CMDRELAY_KILL_SECONDS
sets any length)."""

import datetime
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time

from harness import BIN, Relay, check, http_request, pid_alive, run, test, wait_for

QUEUE = "kill-q"
BROADCAST = "kill-b"
LEASE_S = 2
PROCESSES = 3
SECONDS = float(os.environ.get("CMDRELAY_KILL_SECONDS") or (300 if os.environ.get("CMDRELAY_LONG") else 20))
MIN_KILLS = 20

stats = {"published": 0, "published_queue": 0, "published_broadcast": 0, "publish_unknown": 0, "acknowledged": 0,
         "broadcast_acked": 0, "claims": 0, "kills": 0, "kill_all": 0, "restarts": 0, "http_errors": 0,
         "lost": 0, "double_leased": 0, "acks_undone": 0}
published = {}          # id -> (channel, name, data) of every publish answered 2xx
leases = {}             # id -> [(grant_ms, expires_ms, token, consumer)]
acked = {}              # queue id -> (token, result, consumer) of every ack answered 200
delivered = {}          # consumer -> set of broadcast ids it received
broadcast_acks = set()  # (id, consumer) the poll reported as acked
problems = []
lock = threading.Lock()


def ms(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


class ProcessPool(Relay):
    """The relay as PROCESSES processes sharing a listening socket that this
    test holds, so that any of them can be killed and replaced."""

    def __init__(self):
        # Broadcast commands stay live for their ttl: a long run would reach
        # the channel limit (a 429 is not what this test is about).
        super().__init__(env={"CMDRELAY_CHANNEL_LIMIT": "100000000"})
        self.listener = None
        self.procs = []

    def start_relay(self):
        if self.listener is None:
            if os.path.exists(self.sock):
                os.unlink(self.sock)
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.sock)
            os.chmod(self.sock, 0o666)
            self.listener.listen(1024)
        while len(self.procs) < PROCESSES:
            self.spawn()

    def spawn(self):
        p = subprocess.Popen([BIN], stdin=self.listener.fileno(), env=self.env, stdout=self.relay_log,
                             stderr=self.relay_log)
        self.procs.append(p)
        return p

    def relay_pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def kill_one(self):
        p = random.choice(self.procs)
        p.kill()
        p.wait()
        self.procs.remove(p)

    def kill_all(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []

    def stop_relay(self, sig=signal.SIGTERM):
        for p in self.procs:
            p.send_signal(sig)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.problems.append("a relay process did not stop within 15 s of signal %d" % sig)
            if sig == signal.SIGTERM and p.returncode != 0:
                self.problems.append("a relay process exited with status %d after SIGTERM" % p.returncode)
        self.procs = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None


def call(relay, method, path, body, timeout=15):
    """One request; returns the answer, or None when it was not answered
    (connection broken, or a 5xx from nginx: the relay died under it)."""
    try:
        r = http_request(relay.port, method, path, body, headers={"X-Api-Key": relay.key}, timeout=timeout)
    except (OSError, http.client.HTTPException):
        with lock:
            stats["http_errors"] += 1
        return None
    if r.status >= 500:
        with lock:
            stats["http_errors"] += 1
        return None
    return r


def publisher(relay, n, stop):
    seq = 0
    rng = random.Random(n)
    while not stop.is_set():
        batch = []
        for _ in range(rng.choice((1, 1, 1, 3))):
            seq += 1
            queue = rng.random() < 0.5
            batch.append({"name": "p%d-%d" % (n, seq), "data": {"pub": n, "seq": seq, "pad": "x" * rng.randint(0, 300)},
                          "mode": "queue" if queue else "broadcast", "ttl": 3600})
        # A batch goes to one channel: queue commands to QUEUE, broadcast ones to BROADCAST.
        for channel, mode in ((QUEUE, "queue"), (BROADCAST, "broadcast")):
            part = [c for c in batch if c["mode"] == mode]
            if not part:
                continue
            r = call(relay, "POST", "/v1/channels/%s/commands" % channel, part if len(part) > 1 else part[0])
            if r is None:
                with lock:
                    stats["publish_unknown"] += len(part)
                continue
            if r.status not in (200, 201):
                problems.append("publish answered %d: %r" % (r.status, r.raw[:300]))
                continue
            with lock:
                for sent, got in zip(part, r.json["commands"]):
                    if got["name"] != sent["name"] or got["data"] != sent["data"]:
                        problems.append("publish answered another command: %r for %r" % (got, sent))
                    published[got["id"]] = (channel, sent["name"], sent["data"])
                    stats["published"] += 1
                    stats["published_" + mode] += 1
        time.sleep(rng.uniform(0, 0.02))


def claimer(relay, n, stop, draining):
    consumer = "w%d" % n
    rng = random.Random(100 + n)
    while not stop.is_set():
        r = call(relay, "POST", "/v1/channels/%s/claims" % QUEUE, {"consumer": consumer, "max": 3, "lease": LEASE_S,
                                                                 "wait": 1})
        if r is None:
            continue
        if r.status != 200:
            problems.append("claim answered %d: %r" % (r.status, r.raw[:300]))
            continue
        for c in r.json["commands"]:
            token, expires = c["lease"]["token"], ms(c["lease"]["expires_at"])
            with lock:
                stats["claims"] += 1
                leases.setdefault(c["id"], []).append((expires - LEASE_S * 1000, expires, token, consumer))
            # Now and then a claimer "crashes" before acking: the lease must run out and go to someone else.
            if not draining.is_set() and rng.random() < 0.15:
                continue
            result = {"by": consumer, "token": token, "n": rng.randint(0, 10 ** 9)}
            a = call(relay, "POST", "/v1/channels/%s/commands/%d/ack" % (QUEUE, c["id"]),
                     {"consumer": consumer, "lease": token, "result": result})
            if a is None or a.status == 409:
                continue
            if a.status != 200:
                problems.append("ack answered %d: %r" % (a.status, a.raw[:300]))
                continue
            with lock:
                if c["id"] in acked and acked[c["id"]][0] != token:
                    problems.append("command %d acknowledged under two leases: %r and %r" % (
                        c["id"], acked[c["id"]], (token, result, consumer)))
                acked[c["id"]] = (token, result, consumer)
                stats["acknowledged"] += 1


def consumer_loop(relay, n, stop):
    consumer = "c%d" % n
    after = None
    to_ack = []
    seen = delivered.setdefault(consumer, set())
    while not stop.is_set():
        body = {"consumer": consumer, "wait": 1}
        if after is not None:
            body["after"] = after
        if to_ack:
            body["acks"] = [{"id": i} for i in to_ack]
        r = call(relay, "POST", "/v1/channels/%s/poll" % BROADCAST, body)
        if r is None:
            continue
        if r.status != 200:
            problems.append("poll answered %d: %r" % (r.status, r.raw[:300]))
            continue
        with lock:
            for i in r.json["acked"]:
                broadcast_acks.add((i, consumer))
                stats["broadcast_acked"] += 1
            for c in r.json["commands"]:
                seen.add(c["id"])
        to_ack = [c["id"] for c in r.json["commands"]]
        after = r.json["cursor"]


def killer(relay, stop_at):
    rng = random.Random(7)
    while time.monotonic() < stop_at:
        time.sleep(rng.uniform(0.2, 0.8))
        if rng.random() < 0.2:
            relay.kill_all()
            stats["kill_all"] += 1
            stats["kills"] += PROCESSES
            time.sleep(rng.uniform(0, 0.3))
        else:
            relay.kill_one()
            stats["kills"] += 1
            time.sleep(rng.uniform(0, 0.1))
        relay.start_relay()
        stats["restarts"] += 1


def scenario(relay):
    stop = threading.Event()
    stop_consumers = threading.Event()
    draining = threading.Event()
    threads = [threading.Thread(target=publisher, args=(relay, i, stop)) for i in range(3)]
    threads += [threading.Thread(target=claimer, args=(relay, i, stop_consumers, draining)) for i in range(3)]
    threads += [threading.Thread(target=consumer_loop, args=(relay, i, stop_consumers)) for i in range(2)]
    for t in threads:
        t.daemon = True
        t.start()
    killer(relay, time.monotonic() + SECONDS)
    stop.set()
    draining.set()
    # Drain with every process up: consumers catch up, claimers finish what is left.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            want = {i for i, p in published.items() if p[0] == BROADCAST}
            caught_up = all(want <= s for s in delivered.values())
        if caught_up and queue_settled(relay):
            break
        time.sleep(0.5)
    stop_consumers.set()
    for t in threads:
        t.join(timeout=30)


def queue_settled(relay):
    """No queue command waits or is held: a lapsed lease with attempts to
    spare waits again; one with none left is dead (written back lazily)."""
    now = int(time.time() * 1000)
    rows = db(relay).execute(
        "SELECT count(*) FROM commands WHERE channel = ? AND (state = 'pending' OR (state = 'leased'"
        " AND (lease_expires_at > ? OR attempts < max_attempts)))", (QUEUE, now)).fetchone()
    return rows[0] == 0


def db(relay):
    return sqlite3.connect("file:%s?mode=ro" % relay.db, uri=True, timeout=10)


@test
def relay_processes_were_killed_at_least_20_times(relay):
    print("# %.0f s of kills: %d processes killed (%d times all at once), %d restarts, %d requests unanswered" % (
        SECONDS, stats["kills"], stats["kill_all"], stats["restarts"], stats["http_errors"]))
    check(stats["kills"] >= MIN_KILLS, "at least %d kills" % MIN_KILLS, stats["kills"])
    check(not problems, "the clients saw nothing wrong", problems[:5])


@test
def every_published_command_is_in_the_store_or_was_delivered(relay):
    conn = db(relay)
    rows = {r[0]: r[1:] for r in conn.execute("SELECT id, channel, name, data FROM commands")}
    everyone = set().union(*delivered.values()) if delivered else set()
    lost = []
    for i, (channel, name, data) in published.items():
        if i in rows:
            check(rows[i][0] == channel and rows[i][1] == name and json.loads(rows[i][2]) == data,
                  "command %d stored intact" % i, rows[i], (channel, name, data))
        elif i not in everyone and i not in acked:
            lost.append(i)
    stats["lost"] = len(lost)
    print("# published (answered 2xx): %d (queue %d, broadcast %d); outcome unknown (no answer): %d; lost: %d" % (
        stats["published"], stats["published_queue"], stats["published_broadcast"], stats["publish_unknown"],
        len(lost)))
    check(stats["published"] > 0, "something was published")
    check(not lost, "no command lost", lost[:20])


@test
def every_broadcast_command_reached_every_consumer(relay):
    want = {i for i, p in published.items() if p[0] == BROADCAST}
    for consumer, seen in sorted(delivered.items()):
        missing = want - seen
        check(not missing, "%s received every broadcast command" % consumer, sorted(missing)[:20])


@test
def no_queue_command_was_leased_to_two_consumers_at_once(relay):
    double = []
    for i, ls in leases.items():
        ls = sorted(ls)
        for a, b in zip(ls, ls[1:]):
            if b[0] < a[1] or a[2] == b[2]:
                double.append((i, a, b))
    stats["double_leased"] = len(double)
    print("# leases handed out: %d to %d commands; double-leased: %d" % (
        sum(len(v) for v in leases.values()), len(leases), len(double)))
    check(not double, "no overlapping leases", double[:5])


@test
def no_acknowledged_ack_was_undone(relay):
    conn = db(relay)
    undone = []
    for i, (token, result, consumer) in acked.items():
        row = conn.execute("SELECT state, lease_token, result FROM commands WHERE id = ?", (i,)).fetchone()
        if row is None or row[0] != "done" or row[1] != token or json.loads(row[2]) != result:
            undone.append((i, row, token, result))
    for i, consumer in broadcast_acks:
        if conn.execute("SELECT 1 FROM acks WHERE command_id = ? AND consumer = ?", (i, consumer)).fetchone() is None:
            undone.append((i, consumer))
    stats["acks_undone"] = len(undone)
    print("# acknowledged: %d queue acks, %d broadcast acks; undone: %d" % (
        len(acked), len(broadcast_acks), len(undone)))
    check(not undone, "every acknowledged ack holds", undone[:5])


@test
def queue_drained_to_done_or_dead(relay):
    conn = db(relay)
    states = dict(conn.execute("SELECT state, count(*) FROM commands WHERE channel = ? GROUP BY state", (QUEUE,)))
    print("# queue commands by final state: %s" % json.dumps(states, sort_keys=True))
    check(queue_settled(relay), "no queue command left pending or leased", states)


@test
def database_integrity_check_is_ok(relay):
    check(db(relay).execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check")


@test
def relay_serves_after_the_last_restart(relay):
    r = http_request(relay.port, "GET", "/v1/health")
    check(r.status == 200, "health", r)
    check(len(relay.relay_pids()) == PROCESSES and all(pid_alive(p) for p in relay.relay_pids()),
          "every process up")


class Fixture:
    def __enter__(self):
        self.relay = ProcessPool()
        self.relay.__enter__()
        wait_for(lambda: http_request(self.relay.port, "GET", "/v1/health").status == 200, what="the relay")
        scenario(self.relay)
        return self.relay

    def __exit__(self, *exc):
        return self.relay.__exit__(*exc)


if __name__ == "__main__":
    run(Fixture)
