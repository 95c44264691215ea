"""Helpers shared by the v1 API's black-box tests (test_v1_*.py): fresh
channel names, the shape of a command, and a write lock held on the
database by another process, the way a busy operator's sqlite3 would."""

import datetime
import itertools
import os
import re
import subprocess
import sys
import time

from harness import check

COMMAND_FIELDS = {"id", "channel", "name", "data", "mode", "target", "key", "state", "attempts", "created_at",
                  "expires_at", "result"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

_serial = itertools.count(1)


def fresh_channel(prefix="ch"):
    """A channel name no other test of this run uses."""
    return "%s-%d-%d" % (prefix, os.getpid(), next(_serial))


def ms(iso):
    """Unix milliseconds of an ISO-8601 UTC time with milliseconds."""
    check(isinstance(iso, str) and ISO_MS.match(iso), "ISO-8601 UTC with milliseconds", iso)
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def check_command(c, **expect):
    """Checks that c has exactly the fields of a command, well-typed, and the expected values."""
    check(isinstance(c, dict), "a command is an object", c)
    extra = {"acks", "lease"}
    check(COMMAND_FIELDS <= set(c) <= COMMAND_FIELDS | extra, "command fields", sorted(c))
    check(isinstance(c["id"], int) and c["id"] > 0, "id", c)
    check(c["mode"] in ("broadcast", "queue"), "mode", c)
    check(c["state"] in ("pending", "leased", "done", "dead"), "state", c)
    check(isinstance(c["attempts"], int), "attempts", c)
    ms(c["created_at"])
    ms(c["expires_at"])
    for k, v in expect.items():
        check(c[k] == v, "command field %s" % k, c[k], v)
    return c


def publish(relay, channel, body, expect=201):
    r = relay.post("/v1/channels/%s/commands" % channel, body)
    check(r.status == expect, "publish answers %d" % expect, r)
    return r.json["commands"] if expect in (200, 201) else r


def publish_one(relay, channel, **fields):
    fields.setdefault("name", "cmd")
    return publish(relay, channel, fields)[0]


def error(r, status, code, *words):
    """Checks an error answer: status, {"error": {"code", "message"}}, and words in the message."""
    check(r.status == status, "status %d" % status, r)
    check(isinstance(r.json, dict) and set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"},
          "error body shape", r)
    check(r.json["error"]["code"] == code, "error code %s" % code, r)
    for w in words:
        check(w in r.json["error"]["message"], "message names %r" % w, r)
    return r


class WriteLock:
    """Holds SQLite's write lock on db (BEGIN IMMEDIATE) from another
    process until release() or the end of a with block."""

    CODE = ("import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "c.execute('ROLLBACK')\n")

    def __init__(self, db):
        self.db = db
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, self.db], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.strip() == "locked", "the other process holds the write lock", line)
        return self

    def release(self):
        if self.proc is not None:
            try:
                self.proc.stdin.write("\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.proc = None

    def __exit__(self, *exc):
        self.release()


def timed(fn, *args, **kw):
    """Returns (result, seconds taken)."""
    t = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t


def data_version(db):
    """A connection of our own whose PRAGMA data_version moves whenever any
    other connection commits: call it before and after to detect writes."""
    import sqlite3
    conn = sqlite3.connect(db, isolation_level=None)
    return conn, lambda: conn.execute("PRAGMA data_version").fetchone()[0]


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]
