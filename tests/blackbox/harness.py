"""Black-box test harness: a real nginx on a free loopback port with cmdrelay
behind it as FastCGI (Relay), cmdrelay run once as a CGI program
(cgi_request), and Apache running it through mod_cgi (ApacheCgi), each in a
temporary directory; each stops exactly what it started.

Each test file registers functions with @test and calls run(); every test is
one TAP line named after the behaviour it checks.  A fixture that fails to
start or to stop cleanly (a relay that exited badly, a sanitizer report in a
log) ends the file with "Bail out!", which make check counts as an error."""

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("CMDRELAY_BIN") or os.path.abspath("cmdrelay")
SRCDIR = os.environ.get("CMDRELAY_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VIEWS_SQL = os.path.join(SRCDIR, "sql", "views.sql")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SPAWN_FCGI = shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"

# What AddressSanitizer, LeakSanitizer and UBSan print when a sanitized build
# (scripts/test.sh) finds a fault; a relay's log must never hold one.
SANITIZER_REPORT = re.compile(r"ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|runtime error:|Sanitizer:DEADLYSIGNAL")


def sqlite3_cli(db, query):
    """Runs a query with the sqlite3 CLI and the operator's views (sql/views.sql)."""
    out = subprocess.run(["sqlite3", "-cmd", ".read " + VIEWS_SQL, db, query], check=True, capture_output=True,
                         text=True)
    return out.stdout


# The default of Relay.request's auth: send the relay's own admin key.
ADMIN_KEY = object()


def create_key(db, scopes, channels=None, expires=None, label=None, env=None):
    """Issues an API key with the CLI (cmdrelay key create) and returns the
    token it prints on stdout.  scopes is a list such as ["publish"]."""
    args = [BIN, "--db", db, "key", "create"]
    for scope in scopes:
        args += ["--scope", scope]
    if channels is not None:
        args += ["--channels", channels]
    if expires is not None:
        args += ["--expires", expires]
    if label is not None:
        args += ["--label", label]
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise Failure("cmdrelay key create failed (%d): %s" % (out.returncode, out.stderr.strip()))
    return out.stdout.strip()


def with_auth(headers, token):
    """headers plus X-Api-Key: token, unless token is None or headers
    already carry a key of their own (Authorization or X-Api-Key)."""
    hdrs = dict(headers or {})
    if token is not None and not any(k.lower() in ("authorization", "x-api-key") for k in hdrs):
        hdrs["X-Api-Key"] = token
    return hdrs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


NGINX_CONF = """
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi_temp;
    proxy_temp_path {dir}/proxy_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    client_max_body_size 1m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_read_timeout 60s;
{extra}
            fastcgi_pass unix:{sock};
        }}
    }}
}}
"""


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def error_code(self):
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.raw[:300])


class Relay:
    """nginx + cmdrelay in a temporary directory.

    launcher: "serve" (cmdrelay serve --listen) or "spawn-fcgi" (processes
    copies with fd 0 as the socket)."""

    def __init__(self, launcher="serve", processes=1, threads=8, env=None, nginx_extra="", init=True):
        self.launcher = launcher
        self.init = init
        self.processes = processes
        self.threads = threads
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.dir = tempfile.mkdtemp(prefix="cmdrelay-bb-")
        self.db = os.path.join(self.dir, "relay.db")
        self.env.setdefault("CMDRELAY_DB", self.db)
        self.sock = os.path.join(self.dir, "relay.sock")
        self.port = None
        self.nginx = None
        self.relay = None
        self.nginx_extra = nginx_extra
        self.relay_log = open(os.path.join(self.dir, "relay.log"), "ab")
        self.problems = []
        self.key = None  # an admin key, made at start and sent by request() unless auth= says otherwise

    # --- lifecycle -----------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self.init:
            subprocess.run([BIN, "--db", self.env["CMDRELAY_DB"], "init"], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)
        self.start_relay()
        self.start_admin_key()
        self.start_nginx()

    def start_admin_key(self):
        """Issues the admin key that requests send by default.  A binary
        without keys (older than issue 4) leaves self.key None."""
        try:
            self.key = create_key(self.env["CMDRELAY_DB"], ["admin"], label="harness", env=self.env)
        except Failure:
            self.key = None

    def create_key(self, scopes, channels=None, expires=None, label=None):
        """Issues a key for this relay's database; returns the token."""
        return create_key(self.env["CMDRELAY_DB"], scopes, channels, expires, label, env=self.env)

    def start_relay(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        if self.launcher == "serve":
            self.relay = subprocess.Popen(
                [BIN, "serve", "--listen", self.sock, "--threads", str(self.threads), "--socket-mode", "0666"],
                env=self.env, stdout=self.relay_log, stderr=self.relay_log)
        elif self.launcher == "spawn-fcgi":
            pidfile = os.path.join(self.dir, "spawn.pid")
            # spawn-fcgi points its children's stderr at /dev/null; a shell
            # that execs the relay keeps its log lines (and any sanitizer
            # report) in relay.log, under the same pid.
            keep_stderr = "exec %s 2>>%s" % (shlex.quote(BIN), shlex.quote(os.path.join(self.dir, "relay.log")))
            subprocess.run([SPAWN_FCGI, "-s", self.sock, "-M", "0666", "-F", str(self.processes), "-P", pidfile,
                            "--", "/bin/sh", "-c", keep_stderr], env=self.env, check=True, stdout=self.relay_log,
                           stderr=self.relay_log)
            self.relay = None
        else:
            raise ValueError(self.launcher)
        wait_for(lambda: os.path.exists(self.sock), what="the relay's socket")

    def relay_pids(self):
        if self.relay is not None:
            return [self.relay.pid]
        pidfile = os.path.join(self.dir, "spawn.pid")
        if not os.path.exists(pidfile):
            return []
        with open(pidfile) as f:
            return [int(line) for line in f if line.strip()]

    def stop_relay(self, sig=signal.SIGTERM):
        for pid in self.relay_pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if self.relay is not None:
            try:
                self.relay.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
                self.problems.append("the relay did not stop within 15 s of signal %d" % sig)
            if sig in (signal.SIGTERM, signal.SIGINT) and self.relay.returncode != 0:
                self.problems.append("the relay exited with status %d after signal %d" % (self.relay.returncode, sig))
            self.relay = None
        else:
            for pid in self.relay_pids():
                wait_for(lambda: not pid_alive(pid), what="spawn-fcgi child %d to exit" % pid)
            pidfile = os.path.join(self.dir, "spawn.pid")
            if os.path.exists(pidfile):
                os.unlink(pidfile)

    def restart_relay(self):
        self.stop_relay()
        self.start_relay()

    def start_nginx(self):
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port, sock=self.sock, extra=self.nginx_extra,
                                      user="user root;" if os.geteuid() == 0 else ""))
        self.nginx = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf, "-g", "daemon off;"],
                                      stdout=self.relay_log, stderr=self.relay_log)
        wait_for(self._port_open, what="nginx to listen")

    def stop_nginx(self):
        if self.nginx is not None:
            self.nginx.terminate()
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
            self.nginx = None

    def restart_nginx(self):
        self.stop_nginx()
        self.start_nginx()

    def stop(self):
        """Stops what start() started, removes the directory, and raises if
        the relay exited badly or a sanitizer reported anything in its log."""
        self.stop_nginx()
        try:
            self.stop_relay()
        finally:
            self.relay_log.close()
            report = SANITIZER_REPORT.search(self.log_text())
            if report:
                self.problems.append("sanitizer report in the relay's log: " +
                                     self.log_text()[max(0, report.start() - 200):report.start() + 1500])
            if os.environ.get("CMDRELAY_KEEP_TMP"):
                sys.stdout.write("# kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        if self.problems:
            raise Failure("; ".join(self.problems))

    def _port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def log_text(self):
        with open(os.path.join(self.dir, "relay.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    # --- requests ------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30, auth=ADMIN_KEY):
        """Sends one request; body is encoded as JSON unless raw bytes are given.
        auth: a token to send as X-Api-Key, None to send no key, or by default
        the relay's admin key; a key in headers is sent instead of any of them."""
        token = self.key if auth is ADMIN_KEY else auth
        return http_request(self.port, method, path, body, with_auth(headers, token), raw, timeout)

    def auth_headers(self, headers=None):
        """headers plus the admin key, for tests that send requests their own way."""
        return with_auth(headers, self.key)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    def sql(self, query):
        """Runs a query with the sqlite3 CLI, the way an operator would, with
        the readable views of sql/views.sql loaded."""
        return sqlite3_cli(self.env["CMDRELAY_DB"], query)


class CgiResponse(Response):
    """A CGI program's answer: the Status header read as the status, and
    how the process ended."""

    def __init__(self, stdout, stderr, exit_code):
        head, sep, raw = stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, raw = stdout.partition(b"\n\n")
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip(), value.strip()))
        status = 200  # RFC 3875, 6.3.3: no Status header means 200
        for name, value in headers:
            if name.lower() == "status":
                status = int(value.split()[0])
        super().__init__(status, headers, raw if sep else b"")
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")
        self.exit_code = exit_code


def cgi_request(method, path, body=None, raw=None, content_type="application/json", db=None, env=None,
                path_var="PATH_INFO", query="", timeout=30, auth=ADMIN_KEY):
    """Runs cmdrelay once as a CGI program (RFC 3875) with a clean
    environment, the request body on stdin, and parses what it prints.

    auth: a token to send as X-Api-Key (HTTP_X_API_KEY), None for none, or by
    default an admin key of db (issued once per database file); a key set
    in env is sent instead.

    path goes in path_var: PATH_INFO as Apache sets it, DOCUMENT_URI as nginx
    does, or REQUEST_URI (raw, query included).  A sanitizer report on stderr
    or death by a signal fails the test."""
    data = raw
    if body is not None:
        data = json.dumps(body).encode("utf-8")
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": method,
              "QUERY_STRING": query, "SERVER_SOFTWARE": "cmdrelay-tests"})
    if path is not None:
        e[path_var] = path + ("?" + query if path_var == "REQUEST_URI" and query else "")
    if data is not None:
        e["CONTENT_LENGTH"] = str(len(data))
        if content_type is not None:
            e["CONTENT_TYPE"] = content_type
    if db is not None:
        e["CMDRELAY_DB"] = db
    token = admin_key_of(db) if auth is ADMIN_KEY else auth
    if token is not None and not any(k in (env or {}) for k in ("HTTP_AUTHORIZATION", "HTTP_X_API_KEY")):
        e["HTTP_X_API_KEY"] = token
    e.update(env or {})
    p = subprocess.run([BIN], input=data or b"", env=e, capture_output=True, timeout=timeout)
    r = CgiResponse(p.stdout, p.stderr, p.returncode)
    check(not SANITIZER_REPORT.search(r.stderr), "sanitizer report from the CGI process", r.stderr[:3000])
    check(p.returncode >= 0, "the CGI process died of signal %d" % -p.returncode, r.stderr[:3000])
    return r


_admin_keys = {}


def admin_key_of(db):
    """An admin key of the database at db, issued on first use and kept while
    the file stays the same one; None when db is None or no key can be made."""
    if db is None:
        return None
    try:
        ident = (db, os.stat(db).st_ino)
    except OSError:
        ident = None
    if ident is None or ident not in _admin_keys:
        try:
            token = create_key(db, ["admin"], label="harness")
        except Failure:
            return None
        try:
            ident = (db, os.stat(db).st_ino)
        except OSError:
            return token
        _admin_keys[ident] = token
    return _admin_keys[ident]


APACHE_CONF = """
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {dir}/httpd.pid
DefaultRuntimeDir {dir}
Mutex file:{dir}
ErrorLog {dir}/error.log
LogLevel warn
Timeout 60
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule cgi_module {modules}/mod_cgi.so
LoadModule env_module {modules}/mod_env.so
{user}
DocumentRoot {dir}/htdocs
ScriptAlias {prefix} {bin}
<Location {prefix}>
    Require all granted
    CGIPassAuth On
    SetEnv CMDRELAY_DB {db}
{setenv}
{passenv}
</Location>
"""


class ApacheCgi:
    """Apache httpd with mod_cgi on a free loopback port, in a temporary
    directory, running cmdrelay as a plain CGI program under prefix (so
    /relay/GetCommands reaches it with PATH_INFO=/GetCommands).  It runs as
    one process (-X) and stop() ends exactly that process.

    Started as root, Apache serves as nobody: the binary is copied where
    nobody can run it, and the database's directory and file are opened up
    to it (they must be in a temporary directory of the test's own)."""

    def __init__(self, db, prefix="/relay", env=None):
        self.db = db
        self.prefix = prefix
        self.env = env or {}
        self.dir = tempfile.mkdtemp(prefix="cmdrelay-apache-")
        self.port = None
        self.httpd = None
        self.key = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        os.makedirs(os.path.join(self.dir, "htdocs"))
        cgi_bin = os.path.join(self.dir, "cmdrelay")
        shutil.copy(BIN, cgi_bin)
        self.key = admin_key_of(self.db)  # before the files are opened up to nobody below
        user = ""
        if os.geteuid() == 0:
            user = "User #65534\nGroup #65534"
            os.chmod(self.dir, 0o755)
            os.chmod(cgi_bin, 0o755)
            os.chmod(os.path.dirname(os.path.abspath(self.db)), 0o777)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.chmod(self.db + suffix, 0o666)
        passenv = "\n".join("    PassEnv " + k for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
                            if k in os.environ)
        self.port = free_port()
        conf = os.path.join(self.dir, "httpd.conf")
        with open(conf, "w") as f:
            f.write(APACHE_CONF.format(dir=self.dir, port=self.port, modules=APACHE_MODULES, user=user,
                                       prefix=self.prefix, bin=cgi_bin, db=self.db, passenv=passenv,
                                       setenv="\n".join("    SetEnv %s %s" % kv for kv in self.env.items())))
        self.log = open(os.path.join(self.dir, "httpd.out"), "ab")
        self.httpd = subprocess.Popen([APACHE, "-X", "-d", self.dir, "-f", conf], stdout=self.log,
                                      stderr=self.log)
        wait_for(lambda: self.httpd.poll() is not None or port_open(self.port), what="Apache to listen")
        check(self.httpd.poll() is None, "Apache exited at start", self.error_log())

    def stop(self):
        problems = []
        if self.httpd is not None:
            self.httpd.terminate()
            try:
                self.httpd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.httpd.kill()
                self.httpd.wait()
            self.httpd = None
            self.log.close()
            report = SANITIZER_REPORT.search(self.error_log())
            if report:
                problems.append("sanitizer report in Apache's error log: " + self.error_log()[report.start():][:1500])
        if os.environ.get("CMDRELAY_KEEP_TMP"):
            sys.stdout.write("# kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise Failure("; ".join(problems))

    def error_log(self):
        text = ""
        for name in ("error.log", "httpd.out"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return text

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30, auth=ADMIN_KEY):
        token = self.key if auth is ADMIN_KEY else auth
        return http_request(self.port, method, self.prefix + path, body, with_auth(headers, token), raw, timeout)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def http_request(port, method, path, body=None, headers=None, raw=None, timeout=30):
    """Sends one HTTP request to 127.0.0.1:port; body is encoded as JSON
    unless raw bytes are given."""
    hdrs = {}
    data = raw
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


# --- TAP ---------------------------------------------------------------------

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


class Failure(AssertionError):
    pass


def check(cond, message="", *context):
    if not cond:
        raise Failure(message + "".join(" | %r" % (c,) for c in context))


def run(make_fixture=None):
    """Runs every registered test in order and prints TAP.  make_fixture()
    returns a context manager whose value each test receives (one shared
    relay per file keeps the suite fast); None runs tests without one."""
    print("1..%d" % len(_tests), flush=True)
    failed = 0

    def run_all(fixture):
        nonlocal failed
        for i, fn in enumerate(_tests, 1):
            name = fn.__name__
            try:
                fn(fixture) if fixture is not None else fn()
                print("ok %d - %s" % (i, name), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
                failed += 1
                print("not ok %d - %s" % (i, name))
                for line in ("%s: %s" % (type(e).__name__, e)).splitlines() + \
                        traceback.format_exc().splitlines()[-6:]:
                    print("#   " + line)
                sys.stdout.flush()

    try:
        if make_fixture is None:
            run_all(None)
        else:
            with make_fixture() as fixture:
                run_all(fixture)
    except Exception as e:  # noqa: BLE001 - the fixture failed to start or to stop cleanly
        print("Bail out! %s: %s" % (type(e).__name__, str(e).replace("\n", " ")[:2000]), flush=True)
        failed += 1
    sys.exit(1 if failed else 0)
