"""Web servers started from the configuration files shipped in deploy/, for
the deployment tests (test_deploy_*.py): nginx with the relay behind it
(cmdrelay serve, spawn-fcgi, or systemd-style socket activation), and
Apache httpd with mod_fcgid or plain CGI through the shipped .htaccess.

The shipped files are used as they are; only machine-specific strings
(paths, ports, host names) are replaced, by render(), which fails when a
string it was told to replace is no longer in the file -- so a change to a
shipped file that the tests no longer match cannot pass unnoticed.

Each launcher works in its own temporary directory, on a free loopback
port, and stops exactly the processes it started.  The black-box scenario
that every deployment must pass is scenario() at the end."""

import glob
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import (APACHE, APACHE_MODULES, BIN, NGINX, SANITIZER_REPORT, SRCDIR, Failure, Relay, Response, check,
                     free_port, http_request, pid_alive, port_open, wait_for)

DEPLOY = os.path.join(SRCDIR, "deploy")
SYSTEMD_SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"

# The uid and gid a server started as root drops to (nobody / nogroup).
NOBODY = 65534


def deploy_file(relpath):
    return os.path.join(DEPLOY, relpath)


def render(relpath, dest, replace=(), drop_lines=()):
    """Copies deploy/relpath to dest, replacing each (old, new) pair of
    replace and removing the lines that match a regex of drop_lines; each
    must occur in the shipped file.  Returns the rendered text."""
    with open(deploy_file(relpath)) as f:
        text = f.read()
    for old, new in replace:
        check(old in text, "deploy/%s no longer contains %r: update the test" % (relpath, old))
        text = text.replace(old, new)
    for pattern in drop_lines:
        rx = re.compile(pattern, re.M)
        check(rx.search(text), "deploy/%s has no line matching %r: update the test" % (relpath, pattern))
        text = rx.sub("", text)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        f.write(text)
    return text


def unit_values(relpath, key):
    """The values of key= in a shipped systemd unit, in order."""
    values = []
    with open(deploy_file(relpath)) as f:
        for line in f:
            name, eq, value = line.strip().partition("=")
            if eq and name == key:
                values.append(value)
    return values


def server_user():
    """(uid, gid) a web server started by the tests serves as: the invoking
    user's, or nobody's when that is root (Apache refuses to serve as root)."""
    if os.geteuid() == 0:
        return NOBODY, NOBODY
    return os.geteuid(), os.getegid()


def open_up(path, uid, gid):
    """Hands a directory tree of the test's own to the server's user (when
    the tests run as root; otherwise the server runs as the tests' user)."""
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(path):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.lchown(name, uid, gid)


def stop_process(p, what, problems, timeout=15):
    """Sends SIGTERM to a Popen we started and waits; kills it (and says so) if it lingers."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        problems.append("%s did not stop within %d s of SIGTERM" % (what, timeout))


def processes_running(exe):
    """Pids of the processes whose executable is exe (a copy of the relay in
    a test's own temporary directory, so only processes that test started)."""
    pids = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            if os.readlink(d + "/exe") == exe and pid_alive(int(d[6:])):
                pids.append(int(d[6:]))
        except OSError:
            pass
    return pids


# --- keys ----------------------------------------------------------------------

def init_db(db, env=None):
    subprocess.run([BIN, "--db", db, "init"], env=env, check=True, stdout=subprocess.DEVNULL)


def make_keys(db):
    """Creates a publish key and a consume key with `cmdrelay key create`;
    returns {"publish": token, "consume": token}, or None when this build
    of the relay has no keys yet (then the relay opens every endpoint)."""
    keys = {}
    for scope in ("publish", "consume"):
        p = subprocess.run([BIN, "--db", db, "key", "create", "--scope", scope, "--label", "deploy-test-" + scope],
                           capture_output=True, text=True)
        if p.returncode != 0 and "unknown command" in p.stderr:
            return None
        check(p.returncode == 0 and p.stdout.strip(), "key create --scope " + scope, p.stdout, p.stderr)
        keys[scope] = p.stdout.strip()
    return keys


# --- nginx -----------------------------------------------------------------------

NGINX_MAIN = """# The tests' stand-in for Debian's /etc/nginx/nginx.conf: it includes the
# shipped files from conf.d/, snippets/ and sites-enabled/ the same way.
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi_temp;
    proxy_temp_path {dir}/proxy_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    include {etc}/conf.d/*.conf;
    include {etc}/sites-enabled/*;
}}
"""


class ShippedNginx(Relay):
    """harness.Relay with nginx configured from deploy/nginx as shipped:
    site "cmdrelay" (the relay at the root) or "cmdrelay-prefix" (under
    /relay/, next to a static root).  launcher: "serve", "spawn-fcgi", or
    "systemd" (deploy/systemd's units, run with systemd-socket-activate:
    the listening socket on fd 0, as StandardInput=socket gives it).
    Requests take paths relative to the relay; the prefix is added."""

    def __init__(self, site="cmdrelay", launcher="serve", tls=False, **kw):
        if launcher == "systemd":
            kw.setdefault("init", False)  # the unit does not run `cmdrelay init` either
        super().__init__(launcher="serve" if launcher == "systemd" else launcher, **kw)
        self.site = site
        self.systemd = launcher == "systemd"
        self.prefix = "/relay" if site == "cmdrelay-prefix" else ""
        self.tls = tls
        self.etc = os.path.join(self.dir, "etc")
        self.htdocs = os.path.join(self.dir, "htdocs")

    def start_relay(self):
        if not self.systemd:
            return super().start_relay()
        # What systemd does with cmdrelay.socket and cmdrelay.service: listen
        # on ListenStream=, and at the first connection run ExecStart= with
        # the unit's Environment= and the listening socket as stdin.
        check(unit_values("systemd/cmdrelay.socket", "ListenStream") == ["/run/cmdrelay/cmdrelay.sock"],
              "cmdrelay.socket's ListenStream changed: update the test")
        check(unit_values("systemd/cmdrelay.service", "StandardInput") == ["socket"],
              "cmdrelay.service must hand the socket over as standard input")
        exec_start = unit_values("systemd/cmdrelay.service", "ExecStart")
        check(exec_start == ["/usr/local/bin/cmdrelay"], "cmdrelay.service's ExecStart changed", exec_start)
        cmd = [SYSTEMD_SOCKET_ACTIVATE, "--inetd", "-l", self.sock]
        for assignment in unit_values("systemd/cmdrelay.service", "Environment"):
            name, _, value = assignment.partition("=")
            if name == "CMDRELAY_DB":
                check(value == "/var/lib/cmdrelay/cmdrelay.db", "the unit's database is the default path", value)
                value = self.env["CMDRELAY_DB"]
            cmd += ["-E", "%s=%s" % (name, value)]
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                cmd += ["-E", "%s=%s" % (name, os.environ[name])]
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        # systemd-socket-activate execs the relay in place: this pid is the relay's.
        self.relay = subprocess.Popen(cmd + [BIN], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                      stdin=subprocess.DEVNULL, stdout=self.relay_log, stderr=self.relay_log)
        wait_for(lambda: os.path.exists(self.sock), what="the activation socket")

    def start_nginx(self):
        self.port = free_port()
        os.makedirs(os.path.join(self.etc, "sites-enabled"), exist_ok=True)
        os.makedirs(self.htdocs, exist_ok=True)
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(self.etc, "fastcgi_params"))
        render("nginx/conf.d/cmdrelay-limits.conf", os.path.join(self.etc, "conf.d", "cmdrelay-limits.conf"))
        render("nginx/snippets/cmdrelay-server.conf", os.path.join(self.etc, "snippets", "cmdrelay-server.conf"))
        render("nginx/snippets/cmdrelay-fastcgi.conf", os.path.join(self.etc, "snippets", "cmdrelay-fastcgi.conf"),
               replace=[("unix:/run/cmdrelay/cmdrelay.sock;", "unix:%s;" % self.sock)])
        replace = [("listen 80;", "listen 127.0.0.1:%d;" % self.port), ("listen [::]:80;", "")]
        if self.site == "cmdrelay":
            replace += [("/var/log/nginx/cmdrelay.access.log", os.path.join(self.dir, "access.log")),
                        ("/var/log/nginx/cmdrelay.error.log", os.path.join(self.dir, "nginx-error.log"))]
            if self.tls:
                replace += self._tls_lines()
        else:
            replace += [("root /var/www/html;", "root %s;" % self.htdocs)]
        render("nginx/sites-available/" + self.site, os.path.join(self.etc, "sites-enabled", self.site),
               replace=replace)
        conf = os.path.join(self.etc, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_MAIN.format(dir=self.dir, etc=self.etc,
                                      user="user root;" if os.geteuid() == 0 else ""))
        test = subprocess.run([NGINX, "-t", "-q", "-p", self.dir, "-c", conf], capture_output=True, text=True)
        check(test.returncode == 0, "nginx -t on the shipped configuration", test.stderr)
        self.nginx = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf, "-g", "daemon off;"],
                                      stdout=self.relay_log, stderr=self.relay_log)
        wait_for(lambda: self.nginx.poll() is not None or port_open(self.port), what="nginx to listen")
        check(self.nginx.poll() is None, "nginx exited at start", self.log_text()[-2000:])

    def _tls_lines(self):
        """Uncomments the site's TLS lines, with a self-signed certificate,
        and turns its plain listen lines into comments."""
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=relay.example.com", "-keyout", key, "-out", cert], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.tls_port = free_port()
        return [("#listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % self.tls_port),
                ("#listen [::]:443 ssl http2;", ""),
                ("#ssl_certificate     /etc/letsencrypt/live/relay.example.com/fullchain.pem;",
                 "ssl_certificate %s;" % cert),
                ("#ssl_certificate_key /etc/letsencrypt/live/relay.example.com/privkey.pem;",
                 "ssl_certificate_key %s;" % key),
                ("#ssl_protocols       TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.2 TLSv1.3;"),
                ("#ssl_session_cache   shared:cmdrelay_tls:10m;", "ssl_session_cache shared:cmdrelay_tls:10m;"),
                ("#ssl_session_timeout 1d;", "ssl_session_timeout 1d;"),
                ('#add_header Strict-Transport-Security "max-age=63072000" always;',
                 'add_header Strict-Transport-Security "max-age=63072000" always;')]

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        return http_request(self.port, method, self.prefix + path, body, headers, raw, timeout)

    def nginx_error_log(self):
        try:
            with open(os.path.join(self.dir, "nginx-error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# --- Apache httpd --------------------------------------------------------------------

APACHE_MAIN = """# The tests' stand-in for Debian's /etc/apache2/apache2.conf: only the
# modules needed, everything in this directory, then the shipped file.
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {dir}/httpd.pid
DefaultRuntimeDir {dir}/run
Mutex file:{dir}/run
ErrorLog {dir}/error.log
LogLevel warn
Timeout 60
LogFormat "%h %l %u %t %r %>s %O" combined
User #{uid}
Group #{gid}
StartServers 2
MinSpareServers 2
MaxSpareServers 4
{modules}
<IfModule mime_module>
    TypesConfig /dev/null
</IfModule>
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>
DocumentRoot {dir}/htdocs
{extra}
"""


class Apache:
    """Apache httpd (prefork) on a free loopback port, configured in a
    temporary directory; conf_files maps a shipped file (relative to
    deploy/) to the replacements render() makes, and each rendered file is
    Included.  Runs in the foreground (-D FOREGROUND); stop() ends that
    process, which ends its children and the FastCGI processes mod_fcgid
    started, then checks that no copy of the relay is left running."""

    def __init__(self, modules, prefix="", extra=""):
        self.modules = modules
        self.prefix = prefix
        self.extra = extra
        self.dir = tempfile.mkdtemp(prefix="cmdrelay-httpd-")
        os.chmod(self.dir, 0o755)
        self.htdocs = os.path.join(self.dir, "htdocs")
        self.data = os.path.join(self.dir, "data")  # the database's directory, outside the DocumentRoot
        self.db = os.path.join(self.data, "cmdrelay.db")
        self.uid, self.gid = server_user()
        for d in (self.htdocs, self.data, os.path.join(self.dir, "run"), os.path.join(self.dir, "logs")):
            os.makedirs(d)
            os.chmod(d, 0o755)
        self.port = free_port()
        self.httpd = None
        self.log = None
        self.includes = []
        self.binary = None  # the relay copy this server runs

    def install_binary(self, path):
        """Copies the relay to path (inside this server's directory)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(BIN, path)
        os.chmod(path, 0o755)
        self.binary = path

    def include(self, relpath, replace=(), drop_lines=()):
        dest = os.path.join(self.dir, "conf", os.path.basename(relpath))
        render(relpath, dest, replace, drop_lines)
        self.includes.append(dest)

    def start(self):
        check(self.httpd is None, "Apache is already running")
        open_up(self.data, self.uid, self.gid)
        modules = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in self.modules)
        conf = os.path.join(self.dir, "httpd.conf")
        with open(conf, "w") as f:
            f.write(APACHE_MAIN.format(dir=self.dir, port=self.port, uid=self.uid, gid=self.gid, modules=modules,
                                       extra=self.extra))
            for inc in self.includes:
                f.write("Include %s\n" % inc)
        test = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True, text=True)
        check(test.returncode == 0, "apache2 -t on the shipped configuration", test.stderr)
        self.log = open(os.path.join(self.dir, "httpd.out"), "ab")
        # Its own session: on stopping, Apache signals its whole process group.
        self.httpd = subprocess.Popen([APACHE, "-D", "FOREGROUND", "-f", conf], stdout=self.log, stderr=self.log,
                                      start_new_session=True)
        wait_for(lambda: self.httpd.poll() is not None or port_open(self.port), what="Apache to listen")
        check(self.httpd.poll() is None, "Apache exited at start", self.error_log()[-3000:])

    def stop(self):
        problems = []
        stop_process(self.httpd, "Apache", problems)
        self.httpd = None
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.binary is not None:
            # mod_fcgid ends its processes when Apache stops; give them a moment.
            try:
                wait_for(lambda: not processes_running(self.binary), timeout=10, what="relay processes to exit")
            except AssertionError:
                left = processes_running(self.binary)
                for pid in left:
                    os.kill(pid, signal.SIGKILL)
                problems.append("relay processes %s outlived Apache" % left)
        report = SANITIZER_REPORT.search(self.error_log())
        if report:
            problems.append("sanitizer report in Apache's error log: " + self.error_log()[report.start():][:1500])
        if os.environ.get("CMDRELAY_KEEP_TMP"):
            sys.stdout.write("# kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise Failure("; ".join(problems))

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            try:
                self.stop()
            except Failure:
                pass
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def error_log(self):
        text = ""
        for name in ("error.log", "httpd.out"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return text

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        return http_request(self.port, method, self.prefix + path, body, headers, raw, timeout)


SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
FCGID_MODULES = ["mpm_prefork", "authz_core", "alias", "fcgid"]
# mod_version and mod_unixd are built into Debian's apache2.
CGI_MODULES = ["mpm_prefork", "authz_core", "mime", "cgi", "env", "rewrite"]


def apache_fcgid(site="cmdrelay.conf", prefix="/relay"):
    """Apache + mod_fcgid from deploy/apache/SITE: cmdrelay.conf (the relay
    at the root of a virtual host) or cmdrelay-prefix.conf (under prefix,
    which replaces the shipped /relay)."""
    a = Apache(FCGID_MODULES)
    a.extra = "FcgidIPCDir %s/fcgid\nFcgidProcessTableFile %s/fcgid/shm\n" % (a.dir, a.dir)
    os.makedirs(os.path.join(a.dir, "fcgid"))
    open_up(os.path.join(a.dir, "fcgid"), a.uid, a.gid)
    libdir = os.path.join(a.dir, "lib", "cmdrelay")
    a.install_binary(os.path.join(libdir, "cmdrelay"))
    replace = [("/usr/local/lib/cmdrelay", libdir),
               ("InitialEnv CMDRELAY_DB=/var/lib/cmdrelay/cmdrelay.db",
                "InitialEnv CMDRELAY_DB=%s %s" % (a.db, " ".join(
                    "InitialEnv %s=%s" % (k, os.environ[k]) for k in SANITIZER_ENV if k in os.environ)))]
    if site == "cmdrelay.conf":
        replace += [("<VirtualHost *:80>", "<VirtualHost *:%d>" % a.port),
                    ("${APACHE_LOG_DIR}", os.path.join(a.dir, "logs"))]
    else:
        replace += [("Alias /relay ", "Alias %s " % prefix), ("<Location /relay>", "<Location %s>" % prefix)]
        a.prefix = prefix
    a.include("apache/" + site, replace)
    return a


def apache_htaccess(without_cgipassauth=False, copy_before_redirect_only=False):
    """Apache + mod_cgi serving htdocs/relay/ as a shared host would
    (AllowOverride All), with the shipped .htaccess and the relay copied
    there as cmdrelay.cgi.  without_cgipassauth drops the CGIPassAuth
    block, as on hosts that do not allow it, leaving the rewrite fallback.
    copy_before_redirect_only makes that fallback copy the header before
    the internal redirect only (as a rule in a parent folder would), so
    that the relay gets it as REDIRECT_HTTP_AUTHORIZATION."""
    passenv = "".join("PassEnv %s\n" % k for k in SANITIZER_ENV if k in os.environ)
    a = Apache(CGI_MODULES, prefix="/relay")
    a.extra = "<Directory %s>\n    AllowOverride All\n    Require all granted\n</Directory>\n%s" % (a.htdocs, passenv)
    folder = os.path.join(a.htdocs, "relay")
    os.makedirs(folder)
    os.chmod(folder, 0o755)
    a.install_binary(os.path.join(folder, "cmdrelay.cgi"))
    drop = [r"^<IfModule mod_version\.c>\n(.*\n){3}</IfModule>\n"] if without_cgipassauth else []
    replace = [("/home/USER/cmdrelay-data/cmdrelay.db", a.db)]
    if copy_before_redirect_only:
        replace.append(("RewriteCond %{HTTP:Authorization} .\n",
                        "RewriteCond %{HTTP:Authorization} .\n    RewriteCond %{ENV:REDIRECT_STATUS} ^$\n"))
    render("shared-hosting/.htaccess", os.path.join(folder, ".htaccess"), replace=replace, drop_lines=drop)
    return a


# --- the scenario ------------------------------------------------------------------

class Keys:
    """The headers a scenario sends: real keys when the relay has them."""

    def __init__(self, tokens):
        self.tokens = tokens

    def bearer(self, scope):
        return {"Authorization": "Bearer " + self.tokens[scope]} if self.tokens else {}

    def api_key(self, scope):
        return {"X-Api-Key": self.tokens[scope]} if self.tokens else {}


def scenario(server, tokens, channel="game-1"):
    """The black-box scenario every deployment passes: health; a key, sent
    both ways, reaching the relay; publish, poll, ack and read back; a short
    long poll; the tutorial's endpoints; one decoding of path and query."""
    k = Keys(tokens)
    base = "/v1/channels/" + channel

    r = server.request("GET", "/v1/health")
    check(r.status == 200 and r.json and r.json.get("status") == "ok", "GET /v1/health", r)

    if tokens:
        r = server.request("POST", base + "/commands", {"name": "nokey"})
        check(r.status == 401 and r.error_code() == "unauthorized", "publish without a key is refused", r)
        check(r.header("WWW-Authenticate") is not None, "401 asks for a Bearer token", r.headers)
        r = server.request("POST", base + "/commands", {"name": "wrongkey"}, headers=k.bearer("consume"))
        check(r.status == 403, "a consume key cannot publish (so the Authorization header arrived)", r)

    r = server.request("POST", base + "/commands", {"name": "kick", "data": {"player": "Player1"}, "mode": "queue"},
                       headers=k.bearer("publish"))
    check(r.status == 201, "publish a queue command with Authorization: Bearer", r)
    kick = r.json["commands"][0]["id"]
    r = server.request("POST", base + "/commands", {"name": "say", "data": "h\u00e9llo \u2603"},
                       headers=k.api_key("publish"))
    check(r.status == 201, "publish a broadcast command with X-Api-Key", r)
    say = r.json["commands"][0]["id"]

    r = server.request("POST", base + "/poll", {"consumer": "server-1", "claim": 5}, headers=k.bearer("consume"))
    check(r.status == 200, "poll", r)
    check([c["id"] for c in r.json["claims"]] == [kick], "the queue command is claimed", r.json)
    check([c["id"] for c in r.json["commands"]] == [say], "the broadcast command is delivered", r.json)
    check(r.json["commands"][0]["data"] == "h\u00e9llo \u2603", "Unicode survives", r.json)
    lease = r.json["claims"][0]["lease"]["token"]
    cursor = r.json["cursor"]

    r = server.request("POST", "%s/commands/%d/ack" % (base, kick),
                       {"consumer": "server-1", "lease": lease, "result": {"kicked": True}},
                       headers=k.api_key("consume"))
    check(r.status == 200, "ack with the lease and a result", r)
    # The channel's name percent-encoded in the path: decoded by the server or the relay, once.
    r = server.request("GET", "/v1/channels/%s/commands/%d" % (channel.replace("-", "%2D"), kick),
                       headers=k.bearer("publish"))
    check(r.status == 200, "read the command back (channel name percent-encoded)", r)
    check(r.json["command"]["state"] == "done" and r.json["command"]["result"] == {"kicked": True},
          "the command is done, with its result", r.json)

    started = time.monotonic()
    r = server.request("POST", base + "/poll", {"consumer": "server-1", "after": cursor, "wait": 1},
                       headers=k.bearer("consume"))
    check(r.status == 200 and r.json["commands"] == [], "a long poll with nothing new", r)
    check(time.monotonic() - started >= 0.9, "the long poll waited", time.monotonic() - started)

    r = server.request("POST", "/PostCommand", {"kick": "Player1"}, headers=k.bearer("publish"))
    check(r.status == 201 and r.json == {"Server": "HTTP 201: Created"}, "POST /PostCommand", r)
    r = server.request("GET", "/GetCommands", headers=k.bearer("consume"))
    check(r.status == 200 and r.json["Server"] == "HTTP 200: OK" and r.json["Data"].get("kick") == "Player1",
          "GET /GetCommands", r)
    r = server.request("GET", "/GetCommands?ignored=1", headers=k.api_key("consume"))
    check(r.status == 200, "GET /GetCommands ignores a query string", r)
    r = server.request("DELETE", "/DeleteCommands", ["kick"], headers=k.bearer("consume"))
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK"}, "DELETE /DeleteCommands", r)
    r = server.request("GET", "/GetCommands", headers=k.bearer("consume"))
    check("kick" not in r.json["Data"], "the command is gone", r)

    # Decoded exactly once: %2525 is "%25" to the relay, never "%".
    r = server.request("GET", "/v1/x%2525y")
    check(r.status == 404, "an unknown path", r)
    check("/v1/x%25y" in r.json["error"]["message"], "the path is decoded once", r.json)
    r = server.request("GET", base + "/commands?x%2525y=1", headers=k.bearer("consume"))
    check(r.status == 400 and "x%25y" in r.json["error"]["message"], "the query string is decoded once", r)


def hammer(port, path, headers, count):
    """Sends count GETs on one kept-alive connection as fast as it can;
    returns the responses (a new connection when the server closes one)."""
    out = []
    conn = None
    try:
        for _ in range(count):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            out.append(Response(r.status, r.getheaders(), r.read()))
            if r.will_close:
                conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()
    return out
