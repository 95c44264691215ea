#!/usr/bin/env python3
"""cmdrelay's benchmark.  Builds what it needs, starts nginx, a FastCGI floor
and the relay on loopback in a temporary directory, runs wrk (bounded in
time) against each, prints a table of requests per second and latency as
ratios to the floors measured in this same run, and stops exactly what it
started.  Writes docs/performance.md unless --no-write.

Usage: bench/run.sh [--duration S] [--connections N] [--quick] [--no-write]"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
{user}
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/cbt;
    fastcgi_temp_path {dir}/fct;
    proxy_temp_path {dir}/pt;
    uwsgi_temp_path {dir}/ut;
    scgi_temp_path {dir}/st;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /floor/static {{
            default_type application/json;
            return 200 '{{"commands":[],"cursor":0,"x":null}}';
        }}
        location /floor/fcgi {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{dir}/floor.sock;
        }}
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_read_timeout 60s;
            fastcgi_pass unix:{dir}/relay.sock;
        }}
    }}
}}
"""


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=15, what="it"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit("bench: timed out waiting for " + what)


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="cmdrelay-bench-")
        self.procs = []
        self.port = free_port()
        self.key = ""
        self.bin = args.bin
        self.env = dict(os.environ, CMDRELAY_DB=os.path.join(self.dir, "bench.db"),
                        CMDRELAY_CHANNEL_LIMIT="100000000", CMDRELAY_BENCH_DIR=HERE)
        self.relay = None
        self.floors = []

    # --- processes -------------------------------------------------------

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "procs.log"), "ab"),
                             **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def build(self):
        cc = ["gcc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-Wall"]
        # The C hello twice: as gcc links it by default, and static like the relay's bench build.
        for src, out, libs in (("floor_fcgi.c", "floor_fcgi", ["-lfcgi", "-pthread"]),
                               ("hello_cgi.c", "hello_cgi", []), ("hello_cgi.c", "hello_cgi_static", ["-static"]),
                               ("cgi_spawn.c", "cgi_spawn", [])):
            subprocess.run(cc + [os.path.join(HERE, src), "-o", os.path.join(self.dir, out)] + libs, check=True)

    def start_relay(self, sync="normal"):
        if self.relay is not None:
            self.relay.send_signal(signal.SIGTERM)
            self.relay.wait(timeout=30)
            self.procs.remove(self.relay)
        sock = os.path.join(self.dir, "relay.sock")
        env = dict(self.env, CMDRELAY_SYNC=sync)
        self.relay = self.start([self.bin, "serve", "--listen", sock, "--threads", str(self.args.threads),
                                 "--socket-mode", "0666"], env=env)
        wait_for(lambda: os.path.exists(sock), what="the relay")
        time.sleep(0.2)

    def start_servers(self):
        subprocess.run([self.bin, "init"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.start([os.path.join(self.dir, "floor_fcgi"), os.path.join(self.dir, "floor.sock"),
                    str(self.args.threads)])
        wait_for(lambda: os.path.exists(os.path.join(self.dir, "floor.sock")), what="the floor responder")
        os.chmod(os.path.join(self.dir, "floor.sock"), 0o666)
        self.start_relay()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port,
                                      user="user root;" if os.geteuid() == 0 else ""))
        self.start([NGINX, "-p", self.dir, "-c", conf, "-g", "daemon off;"])
        wait_for(self.port_open, what="nginx")
        # An admin key, when this build has keys.
        r = subprocess.run([self.bin, "key", "create", "--scope", "admin", "--label", "bench"], env=self.env,
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            self.key = r.stdout.strip()
        self.env["CMDRELAY_BENCH_KEY"] = self.key

    def port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    # --- requests --------------------------------------------------------

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("X-Api-Key", self.key)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def prepare(self):
        self.call("POST", "/v1/channels/bench-read/commands",
                  [{"name": "cmd%d" % i, "data": {"player": "Player%d" % i, "n": i}, "ttl": 3600} for i in range(10)])
        self.cursor = self.call("GET", "/v1/channels/bench-poll/commands?limit=0")["cursor"]
        self.call("POST", "/PostCommand", {"tut%d" % i: {"player": "Player%d" % i} for i in range(10)})

    def fill_queue(self, n):
        batch = [{"name": "job", "mode": "queue", "data": {"n": 1}, "ttl": 3600} for _ in range(100)]
        for _ in range(n // 100):
            self.call("POST", "/v1/channels/bench-queue/commands", batch)

    # --- wrk -------------------------------------------------------------

    def paired(self, label, path, script, extra_env=None):
        """Measures a row against the FastCGI floor in alternation: floor, row,
        floor, row...  The machine is shared and its speed drifts within a
        run, so each round's ratio compares two neighbouring wrk runs; the
        row reports the median round."""
        rounds = []
        for _ in range(self.args.rounds):
            floor = self.wrk("floor: libfcgi fixed JSON", "/floor/fcgi", "floor.lua", quiet=True)
            res = self.wrk(label, path, script, extra_env, quiet=True)
            rounds.append((res["rps"] / floor["rps"], res["p99"] / floor["p99"], res, floor))
        rounds.sort(key=lambda r: r[0])
        ratio, p99r, res, floor = rounds[len(rounds) // 2]
        res = dict(res, ratio=ratio, p99_ratio=p99r, floor_rps=floor["rps"], floor_p99=floor["p99"],
                   ratios=[r[0] for r in rounds], non2xx=sum(r[2]["non2xx"] for r in rounds))
        self.floors.extend(r[3] for r in rounds)
        log("  %-44s %9.0f req/s  p99 %6.2f ms  ratio %.2f (rounds %s)  p99 ratio %.2f%s" % (
            label, res["rps"], res["p99"], ratio, " ".join("%.2f" % r for r in res["ratios"]), p99r,
            "  NON-2XX %d" % res["non2xx"] if res["non2xx"] else ""))
        return res

    def wrk(self, label, path, script, extra_env=None, connections=None, quiet=False):
        env = dict(self.env, **(extra_env or {}))
        argv = ["wrk", "-t", "2", "-c", str(connections or self.args.connections), "-d", "%ds" % self.args.duration,
                "--latency", "-s", os.path.join(HERE, "wrk", script), "http://127.0.0.1:%d%s" % (self.port, path)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        res = {"label": label, "rps": rps, "p50": to_ms(pct.get("50")), "p99": to_ms(pct.get("99")),
               "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}
        if quiet:
            return res
        log("  %-44s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s" % (
            label, rps, res["p50"], res["p99"], "  NON-2XX %d" % res["non2xx"] if res["non2xx"] else ""))
        return res

    # --- long polls --------------------------------------------------------

    def longpoll(self, waiters):
        return asyncio.run(self._longpoll(waiters))

    async def _longpoll(self, waiters):
        cursor = self.call("GET", "/v1/channels/bench-lp/commands?limit=0")["cursor"]
        path = "/v1/channels/bench-lp/commands?after=%d&wait=25" % cursor
        head = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (
            path, ("X-Api-Key: %s\r\n" % self.key) if self.key else "")
        arrived = []

        async def waiter():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(head.encode())
            await writer.drain()
            data = await reader.read()
            arrived.append((time.monotonic(), b'"name":"wake"' in data))
            writer.close()

        tasks = [asyncio.create_task(waiter()) for _ in range(waiters)]
        # Wait until the relay holds them all (its thread count grows with them).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.relay_threads() < waiters:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        rss = self.relay_rss_kb()
        cpu0 = self.relay_cpu_ticks()
        t_cpu = time.monotonic()
        await asyncio.sleep(3)
        cpu = (self.relay_cpu_ticks() - cpu0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t_cpu) * 100
        threads = self.relay_threads()
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.call("POST", "/v1/channels/bench-lp/commands", {"name": "wake"}))
        await asyncio.wait(tasks, timeout=30)
        delays = sorted((t - t0) * 1000 for t, ok in arrived if ok)
        return {"waiters": waiters, "held": threads, "delivered": len(delays), "rss_mb": rss / 1024.0, "cpu": cpu,
                "p50": delays[len(delays) // 2] if delays else None,
                "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else None}

    def relay_status(self, field):
        with open("/proc/%d/status" % self.relay.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def relay_threads(self):
        return self.relay_status("Threads")

    def relay_rss_kb(self):
        return self.relay_status("VmRSS")

    def relay_cpu_ticks(self):
        with open("/proc/%d/stat" % self.relay.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    # --- CGI -------------------------------------------------------------

    def cgi(self, n):
        """Each program n times, in rounds that alternate hello, health and
        read; ratios are the median round's (neighbouring runs drift alike)."""
        base = ["GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "CMDRELAY_DB=" + self.env["CMDRELAY_DB"]]
        spawn = os.path.join(self.dir, "cgi_spawn")
        programs = (("hello", os.path.join(self.dir, "hello_cgi"), base),
                    ("hello_static", os.path.join(self.dir, "hello_cgi_static"), base),
                    ("health", self.bin, base + ["PATH_INFO=/v1/health"]),
                    ("read", self.bin, base + ["PATH_INFO=/v1/channels/bench-read/commands",
                                               "QUERY_STRING=after=0&limit=10", "HTTP_X_API_KEY=" + self.key]))
        rounds = []
        for _ in range(self.args.rounds):
            one = {}
            for label, prog, env in programs:
                r = subprocess.run([spawn, str(max(1, n // self.args.rounds)), prog] + env, capture_output=True,
                                   text=True, check=True)
                mean, p99 = map(float, r.stdout.split())
                one[label] = {"mean_us": mean, "p99_us": p99}
            one["ratio"] = {k: one[k]["mean_us"] / one["hello_static"]["mean_us"] for k in ("health", "read")}
            one["ratio_dynamic"] = {k: one[k]["mean_us"] / one["hello"]["mean_us"] for k in ("health", "read")}
            rounds.append(one)
        rounds.sort(key=lambda one: one["ratio"]["read"])
        out = rounds[len(rounds) // 2]
        out["read_ratios"] = [one["ratio"]["read"] for one in rounds]
        return out


def median_floor(floors):
    """The floor run of median requests/s, for the table's floor row."""
    runs = sorted(floors, key=lambda f: f["rps"])
    return dict(runs[len(runs) // 2], label="floor: libfcgi fixed JSON (median of %d runs)" % len(runs))


def to_ms(s):
    if s is None:
        return float("nan")
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("CMDRELAY_BIN"))
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5, help="floor/row alternations per row (the median counts)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=40)
    ap.add_argument("--waiters", type=int, default=1000)
    ap.add_argument("--cgi-runs", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.build()
        b.start_servers()
        b.prepare()
        log("wrk: 2 threads, %d connections, %d s each" % (args.connections, args.duration))
        floor_static = b.wrk("floor: nginx return 200", "/floor/static", "floor.lua")
        reads = [b.paired("GET commands (10 a request)", "/v1/channels/bench-read/commands?after=0&limit=10",
                          "read.lua"),
                 b.paired("POST poll, nothing new", "/v1/channels/bench-poll/poll", "poll.lua",
                          {"CMDRELAY_BENCH_CURSOR": str(b.cursor)}),
                 b.paired("tutorial GET /GetCommands", "/GetCommands", "tutorial_get.lua")]
        pub_normal = b.paired("POST commands, synchronous=NORMAL", "/v1/channels/bench-pub/commands", "publish.lua")
        tut_post = b.paired("tutorial POST /PostCommand", "/PostCommand", "tutorial_post.lua")
        b.fill_queue(args.rounds * 8000 * max(1, args.duration))
        claim = b.paired("POST claims + ack (alternating)", "/", "claim_ack.lua",
                         {"CMDRELAY_BENCH_CHANNEL": "bench-queue"})
        b.start_relay(sync="full")
        pub_full = b.paired("POST commands, synchronous=FULL", "/v1/channels/bench-pub/commands", "publish.lua")
        floor = median_floor(b.floors)
        b.start_relay(sync="normal")
        time.sleep(1)
        idle_rss = b.relay_rss_kb() / 1024.0
        lp = b.longpoll(args.waiters)
        log("  long polls: %r" % lp)
        cgi = b.cgi(args.cgi_runs)
        log("  CGI: %r" % cgi)
    finally:
        b.stop_all()
    report = render(args, floor_static, floor, reads, pub_normal, pub_full, tut_post, claim, lp, cgi, idle_rss)
    print(report)
    if not args.no_write:
        with open(os.path.join(ROOT, "docs", "performance-results.md"), "w") as f:
            f.write(report)
        log("wrote docs/performance-results.md")
    # A run that timed failing requests measured the wrong thing.
    failing = [r["label"] for r in [floor_static] + reads + [pub_normal, tut_post, claim, pub_full] if r["non2xx"]]
    if failing or lp["delivered"] != lp["waiters"]:
        sys.exit("bench: not a valid run: non-2xx answers in %s; %d of %d long polls delivered" % (
            ", ".join(failing) or "no row", lp["delivered"], lp["waiters"]))


def render(args, floor_static, floor, reads, pub_normal, pub_full, tut_post, claim, lp, cgi, idle_rss):
    rows = []

    def row(res, target_rps=None, target_p99=None):
        ratio = res.get("ratio", res["rps"] / floor["rps"])
        p99r = res.get("p99_ratio", res["p99"] / floor["p99"] if floor["p99"] else float("nan"))
        verdict = []
        if target_rps is not None:
            verdict.append("%s >= %.2f" % ("met" if ratio >= target_rps else "MISSED", target_rps))
        if target_p99 is not None:
            verdict.append("p99 %s <= %.1fx" % ("met" if p99r <= target_p99 else "MISSED", target_p99))
        if res["non2xx"]:
            verdict.append("%d non-2xx!" % res["non2xx"])
        rows.append("| %s | %.0f | %.2f | %.2f | %.3f | %.2f | %s |" % (
            res["label"], res["rps"], res["p50"], res["p99"], ratio, p99r, "; ".join(verdict)))

    row(floor_static)
    row(floor)
    for r in reads:
        row(r, 0.85, 1.5)
    row(pub_normal, 0.8)
    row(pub_full, 0.5)
    row(tut_post)
    row(claim)
    cgi_ratio = cgi["ratio"]["read"]
    health_ratio = cgi["ratio"]["health"]
    lp_ok = lp["delivered"] == lp["waiters"] and lp["p99"] is not None and lp["p99"] < 250
    out = [
        "# Benchmark results",
        "",
        "Generated by `bench/run.sh` on %s (%d cores); wrk with 2 threads, %d connections, %d s per wrk run."
        % (time.strftime("%Y-%m-%d"), os.cpu_count(), args.connections, args.duration),
        "Each row ran %d times, each time right after a run of the libfcgi floor; its ratios are those of the"
        % args.rounds,
        "median round (requests/s: higher is better; p99: lower is better), and req/s, p50 and p99 are that",
        "round's.  The floor row shows the median of all floor runs.",
        "",
        "| what | req/s | p50 ms | p99 ms | req/s ratio | p99 ratio | target |",
        "|---|---|---|---|---|---|---|",
    ] + rows + [
        "",
        "## Long polls",
        "",
        "| waiters | held by the relay (threads) | delivered | p50 ms | p99 ms | relay RSS MB | relay CPU while waiting | target |",
        "|---|---|---|---|---|---|---|---|",
        "| %d | %d | %d | %s | %s | %.1f | %.2f%% of a core | %s |" % (
            lp["waiters"], lp["held"], lp["delivered"], fmt(lp["p50"]), fmt(lp["p99"]), lp["rss_mb"], lp["cpu"],
            "; ".join([
                "delivery %s" % ("met" if lp_ok else "MISSED"),
                "RSS %s" % ("met" if lp["rss_mb"] < 150 else "MISSED"),
                "CPU %s" % ("met" if lp["cpu"] < 5 else "MISSED")])),
        "",
        "## CGI (process start, open, answer, exit; %d runs each)" % args.cgi_runs,
        "",
        "In %d rounds alternating the three programs; the median round (by the keyed read's ratio) is shown."
        % args.rounds + " Keyed read ratios of all rounds: %s." % ", ".join("%.2f" % r for r in cgi["read_ratios"]),
        "",
        "The relay is the `--enable-static-binary` build (one file, as for shared hosting), so the target is",
        "judged against the C hello linked statically too; the ratio to the hello as gcc links it by default",
        "is shown beside it.",
        "",
        "| program | mean us | p99 us | ratio to static hello | ratio to default hello |",
        "|---|---|---|---|---|",
        "| C hello CGI, static | %.0f | %.0f | 1.00 | %.2f |" % (
            cgi["hello_static"]["mean_us"], cgi["hello_static"]["p99_us"],
            cgi["hello_static"]["mean_us"] / cgi["hello"]["mean_us"]),
        "| C hello CGI, default (dynamic) | %.0f | %.0f | %.2f | 1.00 |" % (
            cgi["hello"]["mean_us"], cgi["hello"]["p99_us"], cgi["hello"]["mean_us"] / cgi["hello_static"]["mean_us"]),
        "| cmdrelay GET /v1/health | %.0f | %.0f | %.2f | %.2f |" % (
            cgi["health"]["mean_us"], cgi["health"]["p99_us"], health_ratio, cgi["ratio_dynamic"]["health"]),
        "| cmdrelay GET commands with a key | %.0f | %.0f | %.2f (target <= 2: %s) | %.2f |" % (
            cgi["read"]["mean_us"], cgi["read"]["p99_us"], cgi_ratio, "met" if cgi_ratio <= 2 else "MISSED",
            cgi["ratio_dynamic"]["read"]),
        "",
        "## Memory",
        "",
        "Idle relay (`serve --threads %d`) resident memory: %.1f MB (target < 10 MB: %s)." % (
            args.threads, idle_rss, "met" if idle_rss < 10 else "MISSED"),
        "",
    ]
    return "\n".join(out)


def fmt(v):
    return "-" if v is None else "%.1f" % v


if __name__ == "__main__":
    main()
