"""Several relay processes and threads on one database: spawn-fcgi with four
processes behind nginx, and `serve --threads` beside them."""

import os
import subprocess
import threading

from harness import BIN, SRCDIR, Relay, check, pid_alive, run, test

TUTORIAL = {"CMDRELAY_TUTORIAL_OPEN": "1"}
PROCESSES = 4


def stored(relay):
    r = relay.get("/GetCommands")
    check(r.status == 200, "GetCommands", r)
    return r.json["Data"]


def reset(relay):
    names = list(stored(relay))
    if names:
        check(relay.delete("/DeleteCommands", names).status == 200, "clearing")


def in_threads(count, fn):
    """Runs fn(i) in count threads at once; returns their results in order,
    re-raising the first exception any of them raised."""
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def body(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def processes_with_database_open(relay):
    """The relay processes holding a connection to the database (the pool
    keeps one open after a request), i.e. those that served a request."""
    db = os.path.realpath(relay.env["CMDRELAY_DB"])
    serving = 0
    for pid in relay.relay_pids():
        fds = "/proc/%d/fd" % pid
        try:
            targets = [os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)]
        except OSError:
            continue
        serving += db in targets
    return serving


@test
def spawn_fcgi_starts_four_relay_processes(relay):
    pids = relay.relay_pids()
    check(len(pids) == PROCESSES and len(set(pids)) == PROCESSES, "four pids", pids)
    for pid in pids:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            check(f.read().split(b"\0")[0] == BIN.encode(), "pid %d runs cmdrelay" % pid)


@test
def command_stored_through_one_process_is_seen_by_every_get(relay):
    reset(relay)
    check(relay.post("/PostCommand", {"kick": "Player1"}).status == 201, "stored")
    for i in range(40):
        check(stored(relay) == {"kick": "Player1"}, "GET %d in a row sees it" % i)
    seen = in_threads(16, lambda i: [stored(relay) for _ in range(5)])
    check(all(d == {"kick": "Player1"} for batch in seen for d in batch), "80 concurrent GETs see it", seen)


@test
def requests_are_spread_over_several_processes(relay):
    # Without this the test above would prove nothing about processes.
    in_threads(16, lambda i: [stored(relay) for _ in range(5)])
    serving = processes_with_database_open(relay)
    check(serving >= 2, "at least two of the four processes served requests", serving)


@test
def delete_through_one_process_is_seen_by_every_get(relay):
    reset(relay)
    relay.post("/PostCommand", {"a": 1, "b": 2})
    check(relay.delete("/DeleteCommands", ["a"]).status == 200, "deleted")
    for i in range(40):
        check(stored(relay) == {"b": 2}, "GET %d in a row sees the delete" % i)
    seen = in_threads(16, lambda i: stored(relay))
    check(all(d == {"b": 2} for d in seen), "concurrent GETs see the delete", seen)


@test
def replacement_through_one_process_is_seen_by_every_get(relay):
    reset(relay)
    for n in range(10):
        check(relay.post("/PostCommand", {"round": n}).status == 201, "post %d" % n)
        check(stored(relay) == {"round": n}, "the very next GET sees round %d" % n)


@test
def concurrent_posts_from_many_clients_all_land(relay):
    reset(relay)
    clients, each = 16, 10

    def client(i):
        return [relay.post("/PostCommand", {"c%d_%d" % (i, k): [i, k]}).status for k in range(each)]

    statuses = in_threads(clients, client)
    check(all(s == 201 for batch in statuses for s in batch), "every POST answered 201", statuses)
    data = stored(relay)
    check(data == {"c%d_%d" % (i, k): [i, k] for i in range(clients) for k in range(each)}, "all 160 stored",
          len(data))
    check(relay.sql("SELECT count(*) FROM commands").strip() == str(clients * each), "160 rows")


@test
def concurrent_posts_of_one_name_leave_exactly_one(relay):
    reset(relay)
    statuses = in_threads(16, lambda i: [relay.post("/PostCommand", {"same": i * 100 + k}).status
                                         for k in range(5)])
    check(all(s == 201 for batch in statuses for s in batch), "every POST answered 201", statuses)
    check(relay.sql("SELECT count(*) FROM commands WHERE name = 'same'").strip() == "1", "one row, not several")
    value = stored(relay)["same"]
    check(value in {i * 100 + k for i in range(16) for k in range(5)}, "one of the values sent", value)


@test
def concurrent_mixed_requests_never_fail(relay):
    reset(relay)

    def client(i):
        out = []
        for k in range(8):
            out.append(relay.post("/PostCommand", {"m%d" % i: k}).status)
            out.append(relay.get("/GetCommands").status)
            out.append(relay.delete("/DeleteCommands", ["m%d" % ((i + 1) % 12)]).status)
        return out

    statuses = in_threads(12, client)
    check(all(s in (200, 201) for batch in statuses for s in batch), "no 4xx or 5xx under contention", statuses)


@test
def serve_threads_see_every_concurrent_post(relay):
    with Relay(env=TUTORIAL, threads=8) as threaded:
        statuses = in_threads(16, lambda i: [threaded.post("/PostCommand", {"t%d_%d" % (i, k): k}).status
                                             for k in range(8)])
        check(all(s == 201 for batch in statuses for s in batch), "every POST answered 201", statuses)
        check(len(stored(threaded)) == 128, "all 128 stored", len(stored(threaded)))
        seen = in_threads(8, lambda i: len(stored(threaded)))
        check(seen == [128] * 8, "every thread sees all", seen)


@test
def serve_threads_and_spawn_fcgi_processes_share_one_database(relay):
    reset(relay)
    with Relay(env=dict(TUTORIAL, CMDRELAY_DB=relay.env["CMDRELAY_DB"]), threads=4) as other:
        check(other.post("/PostCommand", {"from_serve": 1}).status == 201, "stored through serve")
        check(relay.post("/PostCommand", {"from_spawn": 2}).status == 201, "stored through spawn-fcgi")
        check(stored(relay) == {"from_serve": 1, "from_spawn": 2}, "spawn-fcgi sees both")
        check(stored(other) == {"from_serve": 1, "from_spawn": 2}, "serve sees both")
        other.delete("/DeleteCommands", ["from_spawn"])
        check(stored(relay) == {"from_serve": 1}, "spawn-fcgi sees serve's delete")


def latest_schema():
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split("(schema ")[1].split(")")[0]


@test
def processes_starting_together_on_a_new_database_create_it_once(relay):
    with Relay(env=TUTORIAL, launcher="spawn-fcgi", processes=PROCESSES, init=False) as fresh:
        pids = fresh.relay_pids()
        check(len(pids) == PROCESSES, "four processes started", pids)
        check(fresh.post("/PostCommand", {"x": 1}).status == 201, "it works")
        check(all(pid_alive(pid) for pid in pids), "none of them exited", fresh.log_text())
        check(fresh.sql("PRAGMA user_version").strip() == latest_schema(), "at the latest schema")


@test
def processes_starting_together_on_an_old_database_migrate_it_once(relay):
    # Four processes start at once on a schema-1 database (no `init` first):
    # one migrates, the others wait for it and find it done; a second
    # migration run would fail on tables that already exist.
    db_dir = os.path.dirname(relay.env["CMDRELAY_DB"])
    old = os.path.join(db_dir, "old.db")
    with open(os.path.join(SRCDIR, "sql", "001_commands.sql")) as f:
        schema = f.read()
    subprocess.run(["sqlite3", old], input=schema + "\nPRAGMA user_version = 1;\n"
                   "INSERT INTO commands(channel, name, data, created_at) VALUES ('default', 'legacy', '[1]', 0);\n",
                   text=True, check=True)
    with Relay(env=dict(TUTORIAL, CMDRELAY_DB=old), launcher="spawn-fcgi", processes=PROCESSES,
               init=False) as fresh:
        pids = fresh.relay_pids()
        check(len(pids) == PROCESSES, "four processes started", pids)
        check(stored(fresh) == {"legacy": [1]}, "the old row is served")
        check(all(pid_alive(pid) for pid in pids), "none of them exited", fresh.log_text())
        check(fresh.sql("PRAGMA user_version").strip() == latest_schema(), "at the latest schema")


if __name__ == "__main__":
    run(lambda: Relay(env=TUTORIAL, launcher="spawn-fcgi", processes=PROCESSES))
