"""No leaks over a thousand requests (issue 8): `cmdrelay serve` runs under
valgrind's memcheck behind nginx, serves about 1000 mixed requests (every
endpoint, good and bad, long polls and waking ones, queue leases and acks),
then stops on SIGTERM; valgrind must report no error and no definite or
indirect leak.  Skipped without valgrind, and for a sanitizer build (the two
cannot run together; CI's sanitizer stage checks leaks with LeakSanitizer)."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from harness import BIN, Relay, check, run, test

VALGRIND = shutil.which("valgrind")
REQUESTS = 1000


def sanitized():
    """True for a binary built with a sanitizer (gcc links its runtime
    dynamically, so look for the hooks the compiler emits)."""
    with open(BIN, "rb") as f:
        data = f.read()
    return any(sign in data for sign in (b"__asan_init", b"__ubsan_handle", b"__tsan_init", b"__msan_init"))


SKIP = ("valgrind is not installed (Debian package: valgrind)" if VALGRIND is None else
        "a sanitizer build: valgrind cannot run it" if sanitized() else None)


class UnderValgrind(Relay):
    def start_relay(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.vg_log = os.path.join(self.dir, "valgrind.log")
        self.relay = subprocess.Popen(
            [VALGRIND, "--tool=memcheck", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
             "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--log-file=" + self.vg_log,
             BIN, "serve", "--listen", self.sock, "--threads", "4", "--socket-mode", "0666"],
            env=self.env, stdout=self.relay_log, stderr=self.relay_log)
        started = time.monotonic()
        while not os.path.exists(self.sock):
            check(self.relay.poll() is None and time.monotonic() - started < 60, "the relay starts under valgrind")
            time.sleep(0.1)


results = {}


def workload(relay):
    """About REQUESTS requests touching every endpoint and most error paths."""
    statuses = {}
    n = 0

    def note(r):
        nonlocal n
        n += 1
        statuses[r.status] = statuses.get(r.status, 0) + 1
        check(r.status < 500, "no 5xx", r)
        return r

    ch = "/v1/channels/vg"
    while n < REQUESTS:
        i = n
        pub = note(relay.post(ch + "/commands", [{"name": "b%d" % i, "data": {"i": i, "s": "x" * (i % 300)}},
                                                 {"name": "q%d" % i, "mode": "queue", "key": "k%d" % (i % 7)}]))
        ids = [c["id"] for c in pub.json["commands"]]
        note(relay.get(ch + "/commands?after=%d&limit=5&consumer=c1" % max(0, ids[0] - 3)))
        note(relay.get(ch + "/commands/%d" % ids[0]))
        claim = note(relay.post(ch + "/claims", {"consumer": "w1", "max": 2, "lease": 30}))
        for c in claim.json["commands"]:
            note(relay.post(ch + "/commands/%d/ack" % c["id"], {"consumer": "w1", "lease": c["lease"]["token"],
                                                               "result": {"ok": True, "i": i}}))
        poll = note(relay.post(ch + "/poll", {"consumer": "c2", "claim": 1, "lease": 5,
                                              "acks": [{"id": ids[0], "result": [i]}]}))
        for c in poll.json["claims"]:
            note(relay.post(ch + "/poll", {"consumer": "c2", "acks": [{"id": c["id"], "lease": c["lease"]["token"]}]}))
        note(relay.post(ch + "/commands/%d/ack" % ids[0], {"consumer": "c3"}))
        if i % 5 == 0:
            note(relay.delete(ch + "/commands/%d" % ids[-1]))
            note(relay.get("/v1/channels"))
            note(relay.get(ch + "/consumers"))
            note(relay.get("/metrics"))
            note(relay.get("/v1/health"))
        if i % 7 == 0:
            # Bad input: each error path allocates and frees its own way.
            note(relay.post(ch + "/commands", {"name": "", "ttl": "x"}))
            note(relay.request("POST", ch + "/commands", raw=b'{"name":"a","data":[' + b"[" * 40 + b"]}",
                               headers={"Content-Type": "application/json"}))
            note(relay.get(ch + "/commands?after=-1"))
            note(relay.get("/v1/nothing"))
            note(relay.request("PUT", ch + "/commands", body={"name": "x"}))
            note(relay.post(ch + "/commands/%d/ack" % ids[1], {"consumer": "w9", "lease": "0" * 32}))
            note(relay.get(ch + "/commands", auth=None))
        if i % 25 == 0:
            # A long poll that a publish wakes, and one that runs out.
            woken = {}
            t = threading.Thread(target=lambda: woken.setdefault("r", relay.get(
                "/v1/channels/vg-wait/commands?wait=5&after=%d" % ids[-1])))
            t.start()
            time.sleep(0.3)
            note(relay.post("/v1/channels/vg-wait/commands", {"name": "wake"}))
            t.join()
            note(woken["r"])
            note(relay.post(ch + "/claims", {"consumer": "w2", "wait": 1}))
    results["statuses"] = statuses
    results["requests"] = n


@test
def a_thousand_mixed_requests_under_valgrind_leak_nothing():
    if SKIP:
        return
    relay = UnderValgrind()
    relay.start()
    try:
        workload(relay)
        relay.stop_nginx()
        relay.relay.send_signal(signal.SIGTERM)
        code = relay.relay.wait(timeout=120)
        relay.relay = None
        with open(relay.vg_log) as f:
            log = f.read()
        summary = re.findall(r"(definitely|indirectly|possibly) lost: ([\d,]+) bytes", log)
        errors = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        print("# %d requests (%s); valgrind: exit %d, %s errors, %s" % (
            results["requests"], json.dumps(results["statuses"], sort_keys=True), code,
            errors.group(1) if errors else "?", ", ".join("%s lost %s bytes" % s for s in summary) or "no leaks found"))
        check(code == 0, "valgrind exits 0 (no error, no definite or indirect leak)", log[-4000:])
        check(errors is not None and errors.group(1) == "0", "ERROR SUMMARY: 0 errors", log[-4000:])
    finally:
        relay.stop()


if SKIP:
    a_thousand_mixed_requests_under_valgrind_leak_nothing.__name__ += " # SKIP " + SKIP

if __name__ == "__main__":
    run()
