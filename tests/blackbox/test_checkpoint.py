"""WAL checkpoints: a long-running relay checkpoints on a thread of its own,
so the database file takes in what was published and the WAL stays bounded."""

import os
import sqlite3
import threading
import time

from harness import Relay, check, run, test


def sizes(relay):
    db = relay.env["CMDRELAY_DB"]
    wal = db + "-wal"
    return os.path.getsize(db), os.path.getsize(wal) if os.path.exists(wal) else 0


@test
def published_commands_reach_the_database_file_through_checkpoints(relay):
    before, _ = sizes(relay)
    payload = {"blob": "x" * 2000}
    for i in range(80):
        r = relay.post("/v1/channels/ckpt/commands", [{"name": "c", "data": payload, "ttl": 600} for _ in range(25)])
        check(r.status == 201, "publish %d" % i, r)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sizes(relay)[0] < before + 2_000_000:
        time.sleep(0.1)
    db_size, wal_size = sizes(relay)
    # 2,000 commands of 2 KB: about 4 MB, most of it checkpointed into the file by now.
    check(db_size >= before + 2_000_000, "the database file grew by checkpoints", before, db_size, wal_size)
    print("# database %d bytes, WAL %d bytes after 4 MB of commands" % (db_size, wal_size))


@test
def the_wal_stays_bounded_under_a_steady_stream(relay):
    # Another process reads the file all the while (as a dashboard with
    # sqlite3 would), its read transactions overlapping so that one always
    # holds a snapshot: a PASSIVE checkpoint then never copies the whole WAL,
    # and only a checkpoint that waits for the readers lets it start over.
    stop = threading.Event()
    failures = []

    def overlapping_readers():
        try:
            readers = [sqlite3.connect(relay.env["CMDRELAY_DB"], isolation_level=None) for _ in range(2)]
            for r in readers:
                r.execute("BEGIN")
                r.execute("SELECT max(id) FROM commands").fetchall()
            while not stop.is_set():
                for r in readers:
                    time.sleep(0.01)
                    r.execute("COMMIT")
                    r.execute("BEGIN")
                    r.execute("SELECT max(id) FROM commands").fetchall()
            for r in readers:
                r.execute("COMMIT")
                r.close()
        except sqlite3.Error as e:
            failures.append(e)

    reader = threading.Thread(target=overlapping_readers)
    reader.start()
    largest = 0
    try:
        # 32 MB of commands in requests of 50 KB.
        for i in range(640):
            r = relay.post("/v1/channels/ckpt2/commands", [{"name": "c", "data": {"blob": "y" * 2000}, "ttl": 600}
                                                            for _ in range(25)])
            check(r.status == 201, "publish %d" % i, r)
            largest = max(largest, sizes(relay)[1])
    finally:
        stop.set()
        reader.join()
    check(not failures, "the other process's reads", failures[:1])
    # The WAL file is reused from its start after each restart (at 2000 pages
    # of 4 KiB, 8 MB; 16 MB should one restart give up on the readers); the
    # WAL must not hold all 32 MB, nor the several times that the rewritten
    # pages come to without restarts.
    print("# largest WAL %d bytes while 32 MB of commands were published" % largest)
    check(largest < 20 * 1024 * 1024, "WAL bounded", largest)


if __name__ == "__main__":
    run(lambda: Relay(env={"CMDRELAY_CHANNEL_LIMIT": "100000"}))
