"""The command line: help and version, init, where the database path comes
from, start-up errors, stopping `serve` with a signal, and migration of a
database made by an older schema version."""

import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

from harness import (BIN, SANITIZER_REPORT, SRCDIR, Failure, Relay, check, free_port, port_open, run, sqlite3_cli, test,
                     wait_for)

TUTORIAL = {"CMDRELAY_TUTORIAL_OPEN": "1"}


def cmdrelay(*args, env=None, preexec_fn=None, binary=BIN, timeout=30):
    """Runs the binary with args and a clean environment plus env; stdin is
    /dev/null, so it is neither a FastCGI socket nor a CGI request."""
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
    e.update(env or {})
    p = subprocess.run([binary] + list(args), env=e, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, preexec_fn=preexec_fn)
    check(not SANITIZER_REPORT.search(p.stderr), "sanitizer report", p.stderr[:3000])
    return p


def one_line_error(p, status, *words):
    """Checks a start-up failure: the exit status, nothing on stdout, and one
    line on stderr that starts with "cmdrelay: " and holds every word."""
    check(p.returncode == status, "exit status %d" % status, p.returncode, p.stderr)
    check(p.stdout == "", "nothing on stdout", p.stdout)
    lines = p.stderr.splitlines()
    check(len(lines) == 1 and lines[0].startswith("cmdrelay: "), "one line on stderr", p.stderr)
    for w in words:
        check(w in lines[0], "the line says %r" % w, lines[0])
    return lines[0]


def schema_version(db):
    return subprocess.run(["sqlite3", db, "PRAGMA user_version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def schema_of(db):
    return subprocess.run(["sqlite3", db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"],
                          capture_output=True, text=True, check=True).stdout


def latest_schema():
    """The newest migration in sql/ (NNN_name.sql)."""
    return str(max(int(os.path.basename(f).split("_")[0]) for f in glob.glob(os.path.join(SRCDIR, "sql", "[0-9]*_*.sql"))))


def make_schema_1_database(path):
    """A database as cmdrelay at schema version 1 made it, holding one of the
    tutorial's commands."""
    with open(os.path.join(SRCDIR, "sql", "001_commands.sql")) as f:
        schema = f.read()
    subprocess.run(["sqlite3", path], input=schema + "\nPRAGMA user_version = 1;\n"
                   "INSERT INTO commands(channel, name, data, created_at)"
                   " VALUES ('default', 'legacy', '{\"kept\":true}', 1700000000000);\n", text=True, check=True)


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="cmdrelay-cli-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def fastcgi_request(address, params, body=b""):
    """Sends one FastCGI responder request (FastCGI 1.0 spec, section 5) to a
    TCP address and returns what the application wrote to its stdout."""
    def record(rtype, content):
        return struct.pack(">BBHHBx", 1, rtype, 1, len(content), 0) + content

    def pair(name, value):
        name, value = name.encode(), value.encode()
        return bytes([len(name), len(value)]) + name + value  # all shorter than 128 bytes here

    params = dict(params, CONTENT_LENGTH=str(len(body)))
    with socket.create_connection(address, timeout=15) as s:
        s.sendall(record(1, struct.pack(">HB5x", 1, 0)) +                      # BEGIN_REQUEST, responder
                  record(4, b"".join(pair(k, v) for k, v in params.items())) + record(4, b"") +  # PARAMS
                  (record(5, body) if body else b"") + record(5, b""))         # STDIN
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    stdout, i = b"", 0
    while i + 8 <= len(data):
        _, rtype, _, length, padding = struct.unpack(">BBHHB", data[i:i + 7])
        if rtype == 6:                                                         # STDOUT
            stdout += data[i + 8:i + 8 + length]
        elif rtype == 3:                                                       # END_REQUEST
            break
        i += 8 + length + padding
    return stdout


def start_serve(*args, env=None):
    """Starts `cmdrelay ARGS` (a serve command).  Its stdout is not the TAP
    stream's: a relay that outlived a failed test must not hold that pipe."""
    return subprocess.Popen([BIN] + list(args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def stop_serve(proc, sig=signal.SIGTERM):
    """Signals proc and returns its stderr once it has exited; one that does
    not exit within 15 s is killed and fails the test."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=15)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failure("serve did not exit within 15 s of signal %d" % sig)


def socket_count(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


# --- help, version, init -----------------------------------------------------

@test
def help_prints_usage_and_exits_0():
    for arg in ("--help", "-h", "help"):
        p = cmdrelay(arg)
        check(p.returncode == 0 and p.stderr == "", "exit 0 for " + arg, p.returncode, p.stderr)
        for word in ("usage: cmdrelay", "serve --listen ADDR", "--threads", "init", "--db PATH", "--version",
                     "CMDRELAY_DB", "CMDRELAY_BODY_LIMIT"):
            check(word in p.stdout, "help mentions " + word, p.stdout)


@test
def version_prints_the_package_version_and_schema():
    with open(os.path.join(SRCDIR, "configure.ac")) as f:
        version = re.search(r"AC_INIT\(\[cmdrelay\], \[([^]]+)\]", f.read()).group(1)
    p = cmdrelay("--version")
    check(p.returncode == 0, "exit 0", p.stderr)
    check(p.stdout == "cmdrelay %s (schema %s)\n" % (version, latest_schema()), "version line", p.stdout)


@test
def init_creates_the_database_at_the_latest_schema_in_wal_mode():
    with TempDir() as d:
        db = os.path.join(d, "relay.db")
        p = cmdrelay("--db", db, "init")
        check(p.returncode == 0, "exit 0", p.stderr)
        check(p.stdout == "database %s is at schema version %s\n" % (db, latest_schema()), "says so", p.stdout)
        check(schema_version(db) == latest_schema(), "user_version")
        out = subprocess.run(["sqlite3", db, "PRAGMA journal_mode"], capture_output=True, text=True).stdout
        check(out.strip() == "wal", "WAL mode", out)


@test
def init_twice_is_harmless():
    with TempDir() as d:
        db = os.path.join(d, "relay.db")
        first = cmdrelay("--db", db, "init")
        subprocess.run(["sqlite3", db, "INSERT INTO commands(channel, name, data, created_at)"
                        " VALUES ('default', 'x', '1', 0)"], check=True)
        schema = schema_of(db)
        second = cmdrelay("--db", db, "init")
        check(second.returncode == 0 and second.stdout == first.stdout, "same answer", second.stdout, second.stderr)
        check(schema_of(db) == schema, "schema untouched")
        out = subprocess.run(["sqlite3", db, "SELECT name, data FROM commands"], capture_output=True, text=True)
        check(out.stdout == "x|1\n", "data untouched", out.stdout)


# --- where the database is ---------------------------------------------------

@test
def db_option_wins_over_cmdrelay_db():
    with TempDir() as d:
        from_env, from_option = os.path.join(d, "env.db"), os.path.join(d, "option.db")
        p = cmdrelay("--db", from_option, "init", env={"CMDRELAY_DB": from_env})
        check(p.returncode == 0 and from_option in p.stdout, "init used --db", p.stdout, p.stderr)
        check(os.path.exists(from_option) and not os.path.exists(from_env), "only option.db made", os.listdir(d))


@test
def serve_db_option_wins_over_cmdrelay_db():
    with TempDir() as d:
        from_env, from_option = os.path.join(d, "env.db"), os.path.join(d, "option.db")
        sock = os.path.join(d, "s.sock")
        proc = start_serve("serve", "--listen", sock, "--db", from_option, env=dict(os.environ, CMDRELAY_DB=from_env))
        try:
            wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, what="serve to listen")
        finally:
            err = stop_serve(proc)
        check(proc.returncode == 0, "served and stopped", proc.returncode, err)
        check(os.path.exists(from_option) and not os.path.exists(from_env), "only option.db made", os.listdir(d))


@test
def cmdrelay_db_wins_over_the_default():
    with TempDir() as d:
        db = os.path.join(d, "env.db")
        p = cmdrelay("init", env={"CMDRELAY_DB": db})
        check(p.returncode == 0 and p.stdout.startswith("database %s " % db), "init used CMDRELAY_DB", p.stdout,
              p.stderr)
        check(os.path.exists(db), "env.db made")


@test
def default_database_path_is_used_without_db_or_cmdrelay_db():
    helptext = cmdrelay("--help").stdout
    default = re.search(r"default: \$CMDRELAY_DB, else (\S+)\)", helptext).group(1)
    check(os.path.isabs(default), "the documented default is an absolute path", default)
    p = cmdrelay("init", env={"CMDRELAY_DB": ""})
    if os.path.isdir(os.path.dirname(default)):
        # Installed here: init is harmless on it (see init_twice_is_harmless).
        check(p.returncode == 0 and p.stdout.startswith("database %s " % default), "init used the default",
              p.stdout, p.stderr)
    else:
        one_line_error(p, 1, os.path.dirname(default), "does not exist")


# --- start-up errors ---------------------------------------------------------

@test
def missing_database_directory_is_one_clear_line():
    with TempDir() as d:
        missing = os.path.join(d, "no-such-dir")
        db = os.path.join(missing, "relay.db")
        one_line_error(cmdrelay("--db", db, "init"), 1, "database directory", missing, "does not exist")
        one_line_error(cmdrelay("--db", db, "serve", "--listen", os.path.join(d, "s.sock")), 1, missing,
                       "does not exist")
        check(os.listdir(d) == [], "nothing created", os.listdir(d))


@test
def database_directory_that_is_a_file_is_one_clear_line():
    with TempDir() as d:
        not_a_dir = os.path.join(d, "file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        one_line_error(cmdrelay("--db", os.path.join(not_a_dir, "relay.db"), "init"), 1, not_a_dir,
                       "is not a directory")


@test
def unwritable_database_file_is_one_clear_line():
    with TempDir() as d:
        db = os.path.join(d, "relay.db")
        check(cmdrelay("--db", db, "init").returncode == 0, "made")
        os.chmod(db, 0o444)
        binary, demote = BIN, None
        if os.geteuid() == 0:
            # root may write any file: run as nobody, with a copy of the binary nobody may run.
            os.chmod(d, 0o755)
            binary = os.path.join(d, "cmdrelay")
            shutil.copy(BIN, binary)
            os.chmod(binary, 0o755)
            demote = as_nobody
        one_line_error(cmdrelay("--db", db, "init", binary=binary, preexec_fn=demote), 1, db,
                       "not readable and writable")
        one_line_error(cmdrelay("--db", db, "serve", "--listen", os.path.join(d, "s.sock"), binary=binary,
                                preexec_fn=demote), 1, db, "not readable and writable")


@test
def unwritable_database_directory_is_one_clear_line():
    with TempDir() as d:
        sub = os.path.join(d, "ro")
        os.mkdir(sub, 0o555)
        binary, demote = BIN, None
        if os.geteuid() == 0:
            os.chmod(d, 0o755)
            binary = os.path.join(d, "cmdrelay")
            shutil.copy(BIN, binary)
            os.chmod(binary, 0o755)
            demote = as_nobody
        one_line_error(cmdrelay("--db", os.path.join(sub, "relay.db"), "init", binary=binary, preexec_fn=demote),
                       1, sub, "not writable")


@test
def file_that_is_not_a_database_is_one_clear_line():
    with TempDir() as d:
        db = os.path.join(d, "relay.db")
        with open(db, "wb") as f:
            f.write(b"this is not an SQLite database, just some text that is long enough" * 20)
        one_line_error(cmdrelay("--db", db, "init"), 1, db, "not a database")


@test
def database_newer_than_this_build_is_one_clear_line():
    with TempDir() as d:
        db = os.path.join(d, "relay.db")
        subprocess.run(["sqlite3", db, "PRAGMA user_version = 999"], check=True)
        one_line_error(cmdrelay("--db", db, "init"), 1, "999", "newer")


@test
def unknown_option_is_one_line_and_exit_2():
    for args in (["--bogus"], ["-x", "init"], ["--db"], ["--version=2"]):
        one_line_error(cmdrelay(*args), 2, args[0])


@test
def unknown_command_is_one_line_and_exit_2():
    one_line_error(cmdrelay("frobnicate"), 2, "frobnicate")
    one_line_error(cmdrelay("init", "extra"), 2, "extra")


@test
def serve_refuses_bad_options_with_one_line():
    with TempDir() as d:
        db, sock = os.path.join(d, "r.db"), os.path.join(d, "s.sock")
        for args, word in ((["--threads", "0"], "--threads"), (["--threads", "100000"], "--threads"),
                           (["--threads", "four"], "four"), (["--threads", "-1"], "--threads"),
                           (["--socket-mode", "999"], "--socket-mode"), (["--socket-mode", "rw"], "rw"),
                           (["--bogus"], "--bogus"), (["--threads"], "--threads")):
            one_line_error(cmdrelay("--db", db, "serve", "--listen", sock, *args), 2, word)
        check(not os.path.exists(sock), "never listened")


@test
def serve_without_listen_is_refused():
    with TempDir() as d:
        one_line_error(cmdrelay("--db", os.path.join(d, "r.db"), "serve"), 2, "--listen")
        one_line_error(cmdrelay("--db", os.path.join(d, "r.db"), "serve", "--listen"), 2, "--listen")


@test
def serve_on_an_unusable_address_is_one_clear_line():
    with TempDir() as d:
        db = os.path.join(d, "r.db")
        sock = os.path.join(d, "no-such-dir", "s.sock")
        one_line_error(cmdrelay("--db", db, "serve", "--listen", sock), 1, "cannot listen", sock)
        for address in (":99999", ":0", "127.0.0.1:", "no-port", "127.0.0.1:http"):
            one_line_error(cmdrelay("--db", db, "serve", "--listen", address), 1, "cannot listen", address)


@test
def serve_listens_on_a_tcp_port():
    with TempDir() as d:
        db, port = os.path.join(d, "r.db"), free_port()
        proc = start_serve("--db", db, "serve", "--listen", "127.0.0.1:%d" % port)
        try:
            wait_for(lambda: port_open(port) or proc.poll() is not None, what="serve to listen")
            stdout = fastcgi_request(("127.0.0.1", port), {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/v1/health"})
            check(stdout.startswith(b"Status: 200 OK\r\n") and b'"status":"ok"' in stdout, "health over TCP", stdout)
            # The same port again: taken.
            one_line_error(cmdrelay("--db", db, "serve", "--listen", "127.0.0.1:%d" % port), 1, "cannot listen",
                           "in use")
        finally:
            err = stop_serve(proc)
        check(proc.returncode == 0, "stopped cleanly", proc.returncode, err)


@test
def bad_environment_settings_are_one_clear_line():
    for name, value in (("CMDRELAY_BODY_LIMIT", "lots"), ("CMDRELAY_BODY_LIMIT", "100"),
                        ("CMDRELAY_BODY_LIMIT", "99999999999"), ("CMDRELAY_CHANNEL_LIMIT", "0")):
        one_line_error(cmdrelay("init", env={name: value}), 2, name)


@test
def no_command_outside_a_web_server_is_one_clear_line():
    one_line_error(cmdrelay(), 2, "no command")


# --- signals -----------------------------------------------------------------

@test
def serve_exits_0_on_sigterm_and_sigint_when_idle():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with TempDir() as d:
            sock = os.path.join(d, "s.sock")
            proc = start_serve("--db", os.path.join(d, "r.db"), "serve", "--listen", sock)
            wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, what="serve to listen")
            err = stop_serve(proc, sig)
            check(proc.returncode == 0, "exit 0 on signal %d" % sig, proc.returncode, err)
            check("stopped" in err, "logs that it stopped", err)


@test
def serve_stops_on_a_signal_sent_the_moment_it_listens():
    # A stop signal that came after libfcgi's set-up but before the relay
    # waited for it was once swallowed: the relay then ran on, unstoppable.
    with TempDir() as d:
        db, sock = os.path.join(d, "r.db"), os.path.join(d, "s.sock")
        check(cmdrelay("--db", db, "init").returncode == 0, "database made")
        for i in range(20):
            proc = start_serve("--db", db, "serve", "--listen", sock)
            while not os.path.exists(sock) and proc.poll() is None:
                pass
            err = stop_serve(proc, signal.SIGTERM if i % 2 else signal.SIGINT)
            check(proc.returncode == 0, "exit 0, round %d" % i, proc.returncode, err)
            os.unlink(sock)


def finishes_request_in_flight(sig):
    """Holds a request in the relay by sending its body slowly through nginx
    (with request buffering off, nginx passes the body on as it comes), signals
    the relay, and checks that it finishes that request, then exits 0."""
    with Relay(env=TUTORIAL, threads=2, nginx_extra="            fastcgi_request_buffering off;") as relay:
        pid = relay.relay.pid
        idle_sockets = socket_count(pid)
        body = b'{"in_flight": "finished"}'
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=15)
        try:
            s.sendall(b"POST /PostCommand HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body[:10])
            wait_for(lambda: socket_count(pid) > idle_sockets, what="the relay to take the request")
            time.sleep(0.2)
            os.kill(pid, sig)
            time.sleep(0.5)
            check(relay.relay.poll() is None, "still running while a request is in flight",
                  relay.relay.returncode, relay.log_text())
            s.sendall(body[10:])
            reply = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        check(reply.startswith(b"HTTP/1.1 201 "), "the request in flight was answered", reply[:300])
        relay.relay.wait(timeout=15)
        check(relay.relay.returncode == 0, "exit 0", relay.relay.returncode, relay.log_text())
        out = relay.sql("SELECT data FROM commands WHERE name = 'in_flight'")
        check(out == '"finished"\n', "and stored", out)


@test
def sigterm_lets_serve_finish_the_request_in_flight_and_exit_0():
    finishes_request_in_flight(signal.SIGTERM)


@test
def sigint_lets_serve_finish_the_request_in_flight_and_exit_0():
    finishes_request_in_flight(signal.SIGINT)


# --- the database's path from the web server, and migrations -----------------

@test
def database_path_can_come_from_a_fastcgi_param():
    with TempDir() as d:
        other = os.path.join(d, "site.db")
        with Relay(env=TUTORIAL, nginx_extra="            fastcgi_param CMDRELAY_DB %s;" % other) as relay:
            check(relay.post("/PostCommand", {"site": 1}).status == 201, "stored")
            check(relay.get("/GetCommands").json["Data"] == {"site": 1}, "read back")
            check(relay.sql("SELECT count(*) FROM commands") == "0\n", "not in the relay's own database")
        out = subprocess.run(["sqlite3", other, "SELECT name FROM commands"], capture_output=True, text=True)
        check(out.stdout == "site\n", "in the one nginx named", out.stdout, out.stderr)


@test
def old_schema_database_is_migrated_when_serve_starts():
    with TempDir() as d:
        old, fresh = os.path.join(d, "old.db"), os.path.join(d, "fresh.db")
        make_schema_1_database(old)
        check(cmdrelay("--db", fresh, "init").returncode == 0, "fresh database")
        with Relay(env=dict(TUTORIAL, CMDRELAY_DB=old), init=False) as relay:
            r = relay.get("/GetCommands")
            check(r.status == 200 and r.json["Data"] == {"legacy": {"kept": True}}, "the old row is served", r)
            check(relay.post("/PostCommand", {"new": 2}).status == 201, "and new ones are stored")
        check(schema_version(old) == latest_schema(), "at the latest schema")
        check(schema_of(old) == schema_of(fresh), "same schema as a database made new")


@test
def old_schema_database_is_migrated_by_init():
    with TempDir() as d:
        old = os.path.join(d, "old.db")
        make_schema_1_database(old)
        p = cmdrelay("--db", old, "init")
        check(p.returncode == 0 and ("schema version %s" % latest_schema()) in p.stdout, "migrated", p.stdout,
              p.stderr)
        out = sqlite3_cli(old, "SELECT name, data, created_at FROM commands_readable")
        check(out == 'legacy|{"kept":true}|2023-11-14T22:13:20.000Z\n', "row kept, time readable", out)


@test
def schema_4_keeps_rows_the_id_counter_and_the_rules():
    """Migration 4 rebuilds the commands table: every row, the AUTOINCREMENT
    counter (above the highest id when the newest commands were deleted) and
    the CHECK rules must come through, and no view stays in the schema."""
    with TempDir() as d:
        db = os.path.join(d, "old.db")
        make_schema_1_database(db)
        subprocess.run(["sqlite3", db, "INSERT INTO commands(channel, name, created_at) VALUES ('default', 'gone', 1);"
                        " DELETE FROM commands WHERE name = 'gone';"
                        " UPDATE sqlite_sequence SET seq = 41 WHERE name = 'commands';"], check=True)
        p = cmdrelay("--db", db, "init")
        check(p.returncode == 0, "migrated", p.stderr)
        check(sqlite3_cli(db, "SELECT id, name, data FROM commands") == '1|legacy|{"kept":true}\n', "the row is kept")
        check(sqlite3_cli(db, "SELECT seq FROM sqlite_sequence WHERE name = 'commands'") == "41\n",
              "the counter is kept", sqlite3_cli(db, "SELECT * FROM sqlite_sequence"))
        check(sqlite3_cli(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view'") == "0\n", "no stored views")
        for column, value in (("state", "'bogus'"), ("mode", "'fanout'")):
            bad = subprocess.run(["sqlite3", db, "INSERT INTO commands(channel, name, created_at, %s)"
                                  " VALUES ('c', 'n', 1, %s)" % (column, value)], capture_output=True, text=True)
            check(bad.returncode != 0 and "CHECK constraint failed" in bad.stderr, "%s is still checked" % column,
                  bad.stderr)
        with Relay(env=dict(TUTORIAL, CMDRELAY_DB=db), init=False) as relay:
            r = relay.post("/v1/channels/c/commands", {"name": "after"})
            check(r.status == 201 and r.json["commands"][0]["id"] == 42, "the next id follows the counter", r)
            check(relay.sql("SELECT live FROM channel_counts WHERE channel = 'c'") == "1\n", "counted once")


if __name__ == "__main__":
    run()
