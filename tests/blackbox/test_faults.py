"""Resource faults (issue 8): a full disk, a file system gone read-only, a
deleted database directory, a database locked by another program, and
clients that are slow or hang up.  Each gets clear 503s (code unavailable,
Retry-After) and a log line, never a crash, and the relay recovers when the
cause goes; what it held for a departed client it gives back.

The disk faults need root to mount file systems: a small tmpfs (full disk,
read-only at start) and an ext4 image on a loop device, whose kernel
trigger_fs_error makes it read-only under the running relay the way a disk
error does.  Where mounting is impossible the test says "# SKIP" and why."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import BIN, Relay, check, run, test, wait_for
from v1util import WriteLock


# --- what this machine allows --------------------------------------------------------

def _probe(cmds):
    d = tempfile.mkdtemp(prefix="cmdrelay-probe-")
    try:
        for c in cmds(d):
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode != 0:
                return "%s: %s" % (" ".join(c[:3]), (r.stderr or r.stdout).strip()[:120])
        return None
    except OSError as e:
        return str(e)
    finally:
        subprocess.run(["umount", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


NO_TMPFS = _probe(lambda d: [["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], ["umount", d]])


def _probe_ext4():
    if shutil.which("mkfs.ext4") is None or shutil.which("e2fsck") is None:
        return "mkfs.ext4 or e2fsck missing (Debian package: e2fsprogs)"
    img = tempfile.mktemp(prefix="cmdrelay-probe-", suffix=".img")
    try:
        subprocess.run(["truncate", "-s", "4M", img], check=True)
        why = _probe(lambda d: [["mkfs.ext4", "-q", "-F", img], ["mount", "-o", "loop", img, d]])
        if why is None and not any(os.path.exists("/sys/fs/ext4/%s/trigger_fs_error" % n)
                                   for n in os.listdir("/sys/fs/ext4")):
            why = "this kernel has no /sys/fs/ext4/*/trigger_fs_error"
        return why
    finally:
        os.unlink(img)


NO_EXT4 = _probe_ext4()


def skippable(reason):
    """Registers the test, or in its place a TAP line that says why it was skipped."""
    def wrap(fn):
        if reason is None:
            return test(fn)

        def skipped(relay):
            pass
        skipped.__name__ = "%s # SKIP %s" % (fn.__name__, reason)
        return test(skipped)
    return wrap


def mount(*args):
    subprocess.run(["mount"] + list(args), check=True, capture_output=True)


def umount(path, lazy=False):
    subprocess.run(["umount"] + (["-l"] if lazy else []) + [path], capture_output=True)


def publish(relay, name, data=None, channel="faults"):
    return relay.post("/v1/channels/%s/commands" % channel, {"name": name, "data": data})


def unavailable(r, *words):
    """A 503 as every client is promised one: code unavailable and Retry-After."""
    check(r.status == 503, "503", r)
    check(r.error_code() == "unavailable", "code unavailable", r)
    check((r.header("Retry-After") or "").isdigit(), "Retry-After", r.headers)
    for w in words:
        check(w in r.json["error"]["message"], "message says %r" % w, r)


def names(relay, channel="faults"):
    r = relay.get("/v1/channels/%s/commands" % channel)
    check(r.status == 200, "read", r)
    return [c["name"] for c in r.json["commands"]]


def eventually(fn, timeout=10.0, what="recovery"):
    """Calls fn until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            check(v, "%s within %.0f s" % (what, timeout))
            return v
        time.sleep(0.2)


def no_crash(relay):
    check(relay.relay is not None and relay.relay.poll() is None, "the relay is still running")
    log = relay.log_text()
    for sign in ("Sanitizer", "runtime error", "Segmentation", "Aborted", "core dumped"):
        check(sign not in log, "no %r in the relay's log" % sign, log[-1500:])


def integrity(db):
    out = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, text=True)
    check(out.stdout.strip() == "ok", "integrity_check", out.stdout, out.stderr)


# --- disks -----------------------------------------------------------------------------

@skippable(NO_TMPFS and "cannot mount a tmpfs: " + NO_TMPFS)
def full_disk_answers_503_keeps_reads_and_resumes_writes(_):
    d = tempfile.mkdtemp(prefix="cmdrelay-full-")
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", d)
    try:
        with Relay(env={"CMDRELAY_DB": os.path.join(d, "relay.db")}) as relay:
            stored = []
            for i in range(5):
                check(publish(relay, "before%d" % i).status == 201, "publish before the disk fills")
                stored.append("before%d" % i)
            try:
                with open(os.path.join(d, "filler"), "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            except OSError:
                pass  # the disk is full
            refused = None
            for i in range(400):
                r = publish(relay, "big%d" % i, "x" * 15000)
                if r.status == 201:
                    stored.append("big%d" % i)
                    continue
                refused = r
                break
            check(refused is not None, "a publish was refused once the disk filled")
            unavailable(refused, "full")
            for i in range(3):
                # What is left of the last pages may still take a small one.
                r = publish(relay, "more%d" % i, "x" * 15000)
                if r.status == 201:
                    stored.append("more%d" % i)
                else:
                    unavailable(r, "full")
            check(names(relay) == stored, "reads keep working and show every stored command")
            check(relay.get("/v1/health").status == 200, "health")
            # The tutorial's POST commits in the same groups, on the same connection.
            tutorial = [relay.post("/PostCommand", {"big%d" % i: "x" * 15000}) for i in range(3)]
            check(any(r.status == 503 for r in tutorial), "the tutorial's POST is refused too",
                  [r.status for r in tutorial])
            for r in tutorial:
                if r.status != 200:
                    unavailable(r, "full")
            log = relay.log_text()
            check("PostCommand failed: disk full (database or disk is full)" in log,
                  "with SQLite's reason", [line for line in log.splitlines() if "PostCommand" in line][-3:])
            check("disk full" in log, "a log line says the disk is full")
            # SQLite's own words, from the connection the publishes commit on
            # (not the request's own, which did not write).
            check("publish failed: disk full (database or disk is full)" in log, "with SQLite's reason",
                  [line for line in log.splitlines() if "failed" in line][-3:])
            os.unlink(os.path.join(d, "filler"))
            eventually(lambda: publish(relay, "after").status == 201, what="writes resume once space is freed")
            check(names(relay) == stored + ["after"], "nothing lost, nothing doubled")
            integrity(os.path.join(d, "relay.db"))
            no_crash(relay)
    finally:
        umount(d)
        shutil.rmtree(d, ignore_errors=True)


@skippable(NO_EXT4 and "cannot mount an ext4 image: " + NO_EXT4)
def disk_gone_read_only_answers_503_keeps_reads_and_recovers(_):
    work = tempfile.mkdtemp(prefix="cmdrelay-ro-")
    d = os.path.join(work, "mnt")
    img, repaired = os.path.join(work, "disk.img"), os.path.join(work, "repaired.img")
    os.makedirs(d)
    subprocess.run(["truncate", "-s", "16M", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
    mount("-o", "loop,errors=remount-ro", img, d)
    try:
        # Every commit synced: what was acknowledged is on the disk when it fails.
        with Relay(env={"CMDRELAY_DB": os.path.join(d, "relay.db"), "CMDRELAY_SYNC": "full"}) as relay:
            for i in range(3):
                check(publish(relay, "before%d" % i).status == 201, "publish before the error")
            dev = [line.split()[0] for line in open("/proc/mounts") if line.split()[1] == d][-1]
            with open("/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev), "w") as f:
                f.write("cmdrelay test_faults: simulated disk error")
            for i in range(3):
                unavailable(publish(relay, "during%d" % i))
            check(names(relay) == ["before0", "before1", "before2"], "reads keep working")
            log = relay.log_text()
            check("read-only" in log or "I/O error" in log, "log lines say why", log[-800:])
            # The operator's repair: the broken file system goes (lazily: the
            # relay still has files open on it), a checked copy comes back.
            umount(d, lazy=True)
            shutil.copy(img, repaired)
            subprocess.run(["e2fsck", "-fy", repaired], capture_output=True)
            mount("-o", "loop,errors=remount-ro", repaired, d)
            eventually(lambda: publish(relay, "after").status == 201, what="writes once the disk is writable")
            check(names(relay) == ["before0", "before1", "before2", "after"], "nothing acknowledged lost")
            integrity(os.path.join(d, "relay.db"))
            no_crash(relay)
    finally:
        umount(d)
        umount(d, lazy=True)
        shutil.rmtree(work, ignore_errors=True)


@skippable(NO_TMPFS and "cannot mount a tmpfs: " + NO_TMPFS)
def read_only_database_at_start_is_refused_with_a_clear_message(_):
    d = tempfile.mkdtemp(prefix="cmdrelay-rostart-")
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", d)
    db = os.path.join(d, "relay.db")
    try:
        subprocess.run([BIN, "--db", db, "init"], check=True, capture_output=True)
        mount("-o", "remount,ro", d)
        sock = os.path.join(tempfile.gettempdir(), "cmdrelay-rostart-%d.sock" % os.getpid())
        p = subprocess.run([BIN, "--db", db, "serve", "--listen", sock], capture_output=True, text=True, timeout=20)
        check(p.returncode == 1, "serve exits with status 1, not a signal", p.returncode, p.stderr)
        check("read-only" in p.stderr, "one clear line says the file system is read-only", p.stderr)
        env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET", PATH_INFO="/v1/health",
                   CMDRELAY_DB=db)
        cgi = subprocess.run([BIN], capture_output=True, text=True, env=env, timeout=20)
        check(cgi.returncode == 0 and cgi.stdout.startswith("Status: 503"), "as CGI: a 503", cgi.stdout[:200])
        check("Retry-After" in cgi.stdout and '"unavailable"' in cgi.stdout, "unavailable with Retry-After",
              cgi.stdout)
        check("read-only" in cgi.stderr, "and a log line saying why", cgi.stderr)
        mount("-o", "remount,rw", d)
        p = subprocess.run([BIN, "--db", db, "init"], capture_output=True, text=True, timeout=20)
        check(p.returncode == 0, "works again once writable", p.stderr)
    finally:
        umount(d)
        shutil.rmtree(d, ignore_errors=True)


@test
def deleted_database_directory_answers_503_and_recovers_from_a_restore(_):
    work = tempfile.mkdtemp(prefix="cmdrelay-deleted-")
    d = os.path.join(work, "data")
    os.makedirs(d)
    db = os.path.join(d, "relay.db")
    try:
        with Relay(env={"CMDRELAY_DB": db}) as relay:
            for i in range(3):
                check(publish(relay, "before%d" % i).status == 201, "publish")
            backup = os.path.join(work, "backup.db")
            subprocess.run(["sqlite3", db, ".backup '%s'" % backup], check=True)
            shutil.rmtree(d)
            # Before the fix these answered 201, into files nobody would open again.
            for i in range(3):
                unavailable(publish(relay, "lost%d" % i))
            unavailable(relay.get("/v1/channels/faults/commands"))
            check("does not exist" in relay.log_text(), "a log line names the missing directory")
            os.makedirs(d)
            shutil.copy(backup, db)
            eventually(lambda: publish(relay, "after").status == 201, what="writes once the database is restored")
            check(names(relay) == ["before0", "before1", "before2", "after"], "the restored commands, and no ghost")
            integrity(db)
            no_crash(relay)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@test
def database_locked_past_the_busy_timeout_answers_503_and_recovers(relay):
    check(publish(relay, "before").status == 201, "publish")
    with WriteLock(relay.db):
        t = time.monotonic()
        r = publish(relay, "blocked")
        waited = time.monotonic() - t
        unavailable(r, "busy")
        check(4.5 <= waited < 12, "answered after the 5 s busy timeout", waited)
        t = time.monotonic()
        check(names(relay) == ["before"], "reads are not blocked")
        check(time.monotonic() - t < 1.0, "and answer at once", time.monotonic() - t)
    check(publish(relay, "after").status == 201, "writes resume when the lock goes")
    check(names(relay) == ["before", "after"], "the refused one was not stored")
    check("database busy" in relay.log_text(), "a log line says the database was busy")
    no_crash(relay)


@test
def writes_queued_behind_a_busy_group_wait_one_busy_timeout_not_two(relay):
    # While another process holds the write lock, the first publish leads a
    # group that waits the 5 s busy timeout; those that come meanwhile queue
    # for the next group.  Each is answered by its own deadline, not by the
    # next group's fresh one (before: up to twice the timeout).
    waits = {}

    def timed(label, delay, call):
        time.sleep(delay)
        t = time.monotonic()
        r = call()
        waits[label] = (r.status, time.monotonic() - t)

    with WriteLock(relay.db):
        threads = [threading.Thread(target=timed, args=("first", 0, lambda: publish(relay, "first"))),
                   threading.Thread(target=timed, args=("publish", 1.0, lambda: publish(relay, "second"))),
                   threading.Thread(target=timed, args=("tutorial", 1.0,
                                                        lambda: relay.post("/PostCommand", {"third": 3})))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    for label, (status, waited) in sorted(waits.items()):
        check(status == 503, "%s: 503 while the lock is held" % label, status)
        check(waited < 7.0, "%s: answered within its own busy timeout" % label, waited)
    check(publish(relay, "after").status == 201, "writes resume when the lock goes")
    no_crash(relay)


# --- clients ---------------------------------------------------------------------------

def counts(relay):
    pid = relay.relay.pid
    with open("/proc/%d/status" % pid) as f:
        threads = int([line for line in f if line.startswith("Threads:")][0].split()[1])
    return threads, len(os.listdir("/proc/%d/fd" % pid))


def baseline(relay):
    """Threads and fds once everything that is started lazily has started
    (the long-poll watcher, pooled connections)."""
    relay.get("/v1/channels/faults/commands?wait=1&after=999999")
    for _ in range(20):
        relay.get("/v1/health")
    return counts(relay)


def settles(relay, base, timeout=15):
    """Waits for the threads to come back to base, and the fds to within what
    the connection pool may keep open (a database and its WAL for each of up
    to one connection a thread) of base."""
    def back():
        t, f = counts(relay)
        return t <= base[0] + 1 and f <= base[1] + 2 * relay.threads + 2
    wait_for(back, timeout=timeout, what="threads and fds %r to come back from %r" % (base, counts(relay)))


def raw_client(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


def post_head(relay, path, length):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nX-Api-Key: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (path, relay.key, length)).encode()


SLOW_NGINX = "            client_body_timeout 1s;\n            fastcgi_request_buffering off;"


@test
def body_slower_than_nginx_timeout_frees_what_the_relay_held(_):
    with Relay(nginx_extra=SLOW_NGINX) as relay:
        base = baseline(relay)
        clients = [raw_client(relay.port, post_head(relay, "/v1/channels/faults/commands", 1000) + b'{"name":"sl')
                   for _ in range(6)]
        time.sleep(3)  # nginx gives up after 1 s of silence
        for c in clients:
            c.close()
        check(relay.get("/v1/health").status == 200, "still serving")
        settles(relay, base)
        check(names(relay) == [], "nothing half-stored")
        no_crash(relay)


@test
def buffered_slow_bodies_hold_no_relay_thread(relay):
    # nginx's default: the body is read whole before the relay hears of it.
    base = baseline(relay)
    clients = [raw_client(relay.port, post_head(relay, "/v1/channels/slow/commands", 1000) + b'{"name":"sl')
               for _ in range(50)]
    try:
        t = time.monotonic()
        check(relay.get("/v1/health").status == 200, "health while 50 bodies trickle in")
        check(time.monotonic() - t < 1.0, "at once", time.monotonic() - t)
        t_, f_ = counts(relay)
        check(t_ <= base[0] + 1, "no thread held for them", (t_, f_), base)
    finally:
        for c in clients:
            c.close()
    no_crash(relay)


@test
def clients_closing_mid_body_free_what_the_relay_held(_):
    with Relay(nginx_extra=SLOW_NGINX) as relay:
        base = baseline(relay)
        for i in range(40):
            c = raw_client(relay.port, post_head(relay, "/v1/channels/faults/commands", 500) + b'{"name":"x' * (i % 5))
            c.close()
        check(relay.get("/v1/health").status == 200, "still serving")
        settles(relay, base)
        check(names(relay) == [], "nothing half-stored")
        no_crash(relay)


@test
def clients_closing_mid_long_poll_free_what_the_relay_held_at_once(relay):
    # The relay looks every LONGPOLL_CHECK_MS whether nginx closed the
    # connection: a departed client's thread comes back long before its wait
    # would have run out, and nothing is claimed for it.
    base = baseline(relay)
    wait = 20
    polls = []
    for i in range(40):
        path = "/v1/channels/quiet/commands?wait=%d&after=999999" % wait if i % 2 else "/v1/channels/quiet/poll"
        if i % 2:
            data = ("GET %s HTTP/1.1\r\nHost: t\r\nX-Api-Key: %s\r\n\r\n" % (path, relay.key)).encode()
        else:
            body = json.dumps({"consumer": "gone-%d" % i, "wait": wait, "claim": 1}).encode()
            data = post_head(relay, path, len(body)) + body
        polls.append(raw_client(relay.port, data))
    time.sleep(0.5)
    held = counts(relay)
    for c in polls:
        c.close()
    t = closed = time.monotonic()
    check(relay.get("/v1/health").status == 200, "still serving")
    check(time.monotonic() - t < 1.0, "at once", time.monotonic() - t)
    settles(relay, base, timeout=5)
    print("# threads/fds: %r at rest, %r with 40 long polls held, back to %r %.2f s after they were abandoned"
          " (their wait was %d s)" % (base, held, counts(relay), time.monotonic() - closed, wait))
    check(relay.sql("SELECT count(*) FROM commands WHERE channel = 'quiet'").strip() == "0", "nothing stored")
    no_crash(relay)


if __name__ == "__main__":
    run(lambda: Relay())
