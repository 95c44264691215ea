"""Black-box test harness: a real nginx on a free loopback port with cmdrelay
behind it as FastCGI, in a temporary directory; stops exactly what it started.

Each test file registers functions with @test and calls run(); every test is
one TAP line named after the behaviour it checks."""

import http.client
import json
import os
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
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SPAWN_FCGI = shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"


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

    def __init__(self, launcher="serve", processes=1, threads=8, env=None, nginx_extra=""):
        self.launcher = launcher
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
        subprocess.run([BIN, "--db", self.env["CMDRELAY_DB"], "init"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.start_relay()
        self.start_nginx()

    def start_relay(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        if self.launcher == "serve":
            self.relay = subprocess.Popen(
                [BIN, "serve", "--listen", self.sock, "--threads", str(self.threads), "--socket-mode", "0666"],
                env=self.env, stdout=self.relay_log, stderr=self.relay_log)
        elif self.launcher == "spawn-fcgi":
            pidfile = os.path.join(self.dir, "spawn.pid")
            subprocess.run([SPAWN_FCGI, "-s", self.sock, "-M", "0666", "-F", str(self.processes), "-P", pidfile,
                            "--", BIN], env=self.env, check=True, stdout=self.relay_log, stderr=self.relay_log)
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
        self.stop_nginx()
        try:
            self.stop_relay()
        finally:
            self.relay_log.close()
            if os.environ.get("CMDRELAY_KEEP_TMP"):
                sys.stdout.write("# kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

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

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        """Sends one request; body is encoded as JSON unless raw bytes are given."""
        hdrs = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    def sql(self, query):
        """Runs a query with the sqlite3 CLI, the way an operator would."""
        out = subprocess.run(["sqlite3", self.env["CMDRELAY_DB"], query], check=True, capture_output=True, text=True)
        return out.stdout


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

    if make_fixture is None:
        run_all(None)
    else:
        with make_fixture() as fixture:
            run_all(fixture)
    sys.exit(1 if failed else 0)
