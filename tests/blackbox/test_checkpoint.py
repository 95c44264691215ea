"""WAL checkpoints: a long-running relay checkpoints on a thread of its own,
so the database file takes in what was published and the WAL stays bounded."""

import os
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
    for i in range(160):
        r = relay.post("/v1/channels/ckpt2/commands", [{"name": "c", "data": {"blob": "y" * 2000}, "ttl": 600}
                                                        for _ in range(25)])
        check(r.status == 201, "publish %d" % i, r)
    time.sleep(1)
    _, wal_size = sizes(relay)
    # The WAL file is reused from its start after each checkpoint; it should stay
    # within a few times the 1000-page threshold (4 MB in pages of 4 KiB), not hold all 8 MB.
    check(wal_size < 8 * 1024 * 1024, "WAL bounded", wal_size)


if __name__ == "__main__":
    run(lambda: Relay(env={"CMDRELAY_CHANNEL_LIMIT": "100000"}))
