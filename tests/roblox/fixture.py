"""Shared by the Roblox tests: the relay behind nginx with a control server that
lets a scenario restart the relay or make nginx answer polls with 429, mid-loop,
and where the Lua side lives."""

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))

from harness import BIN, SRCDIR, Relay, free_port  # noqa: E402

LUA = shutil.which("lua5.1") or "/usr/bin/lua5.1"
MODULE = os.path.join(SRCDIR, "clients", "roblox", "CommandRelay.lua")
SCENARIOS = os.path.join(HERE, "scenarios.lua")
RETRY_AFTER_S = 2

# While the throttle file exists nginx answers polls (only polls, so producers
# still get through) with 429 and Retry-After, as a rate limit in front of the relay would.
THROTTLE = """
            default_type application/json;
            set $throttle "";
            if (-f {flag}) {{ set $throttle "on"; }}
            if ($request_uri ~ "/poll$") {{ set $throttle "${{throttle}}-poll"; }}
            if ($throttle = "on-poll") {{
                add_header Retry-After {retry_after} always;
                return 429 '{{"error":{{"code":"rate_limited","message":"slow down"}}}}';
            }}
"""


class Control(http.server.BaseHTTPRequestHandler):
    """POST /restart?signal=TERM|KILL&down=SECONDS, /throttle/on, /throttle/off."""

    fixture = None

    def do_POST(self):
        fx = self.fixture
        path, _, query = self.path.partition("?")
        args = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path == "/restart":
            sig = signal.SIGKILL if args.get("signal") == "KILL" else signal.SIGTERM
            fx.relay.stop_relay(sig)
            time.sleep(float(args.get("down", "0")))
            fx.relay.start_relay()
        elif path == "/throttle/on":
            open(fx.flag, "w").close()
        elif path == "/throttle/off":
            if os.path.exists(fx.flag):
                os.unlink(fx.flag)
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


class Fixture:
    def __init__(self):
        self.relay = Relay()
        self.flag = os.path.join(self.relay.dir, "throttle")
        self.relay.nginx_extra = THROTTLE.format(flag=self.flag, retry_after=RETRY_AFTER_S)
        self.key = ""
        self.control = None

    def __enter__(self):
        self.relay.__enter__()
        self.key = make_key(self.relay)
        Control.fixture = self
        self.control = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Control)
        threading.Thread(target=self.control.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        if self.control is not None:
            self.control.shutdown()
            self.control.server_close()
        self.relay.__exit__(*exc)

    def env(self):
        env = dict(os.environ)
        env.update({
            "CMDRELAY_URL": "http://127.0.0.1:%d" % self.relay.port,
            "CMDRELAY_KEY": self.key,
            "CMDRELAY_CONTROL": "http://127.0.0.1:%d" % self.control.server_address[1],
            "CMDRELAY_MODULE": MODULE,
            "CMDRELAY_RETRY_AFTER": str(RETRY_AFTER_S),
        })
        return env


def make_key(relay):
    """A key that may consume and publish, when this relay has keys; else none."""
    out = subprocess.run([BIN, "--db", relay.env["CMDRELAY_DB"], "key", "create", "--scope", "consume",
                          "--scope", "publish", "--label", "roblox-tests"],
                         env=relay.env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stdout.write("# no `cmdrelay key create`: running without a key\n")
        return ""
    return out.stdout.strip()


def lua_available():
    return os.path.exists(LUA) and subprocess.run([LUA, "-e", "require('socket') require('cjson')"]).returncode == 0
