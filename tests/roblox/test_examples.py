"""The producer examples in clients/examples/ (curl, Node, Python) against the
relay, with two game servers running the Roblox module (tests/roblox) to ack."""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))
sys.path.insert(0, HERE)

from harness import SRCDIR, check, run, test  # noqa: E402
from fixture import LUA, SCENARIOS, Fixture, lua_available  # noqa: E402

EXAMPLES = os.path.join(SRCDIR, "clients", "examples")
CHANNEL = "examples"


class Game:
    """The fixture plus a Lua process holding two game servers on CHANNEL."""

    def __enter__(self):
        self.fx = Fixture().__enter__()
        env = self.fx.env()
        env["CMDRELAY_CHANNEL"] = CHANNEL
        self.lua = subprocess.Popen([LUA, SCENARIOS, "serve_for_examples"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        line = self.lua.stdout.readline()
        if line.strip() != "ready":
            self.__exit__()
            raise AssertionError("game servers did not start: %r %r" % (line, self.lua.stderr.read()))
        return self

    def __exit__(self, *exc):
        self.lua.terminate()
        self.lua.wait(timeout=10)
        self.fx.__exit__(*exc)

    def example(self, argv, *args, mode="broadcast"):
        env = dict(os.environ, CMDRELAY_URL=self.fx.env()["CMDRELAY_URL"], CMDRELAY_KEY=self.fx.key or "none",
                   CMDRELAY_MODE=mode, CMDRELAY_TIMEOUT="10")
        p = subprocess.run(argv + [CHANNEL] + list(args), env=env, capture_output=True, text=True, timeout=60)
        for line in p.stdout.splitlines():
            sys.stdout.write("#   %s\n" % line)
        return p


def acks_of(out):
    """The ack lines an example printed: consumer, time, result."""
    lines = [line.split("  ", 2) for line in out.splitlines() if line.count("  ") >= 2]
    return [(consumer, json.loads(result)) for consumer, _, result in lines]


def broadcast_and_queue(game, argv):
    p = game.example(argv, "announce", '{"text": "restart in 5"}')
    check(p.returncode == 0, "broadcast acked", p.stdout, p.stderr)
    acks = acks_of(p.stdout)
    check(sorted(r["server"] for _, r in acks) == ["A", "B"], "one ack from each server", acks)
    check(all(r["heard"] == "restart in 5" for _, r in acks), "results printed", acks)
    p = game.example(argv, "reward", '{"player": "Builderman", "coins": 50}', mode="queue")
    check(p.returncode == 0, "queue command done", p.stdout, p.stderr)
    acks = acks_of(p.stdout)
    check(len(acks) == 1 and acks[0][1]["rewarded"] == "Builderman" and acks[0][1]["coins"] == 50,
          "one server ran it", acks)


@test
def curl_example_publishes_and_prints_the_acks(game):
    broadcast_and_queue(game, ["sh", os.path.join(EXAMPLES, "publish.sh")])


@test
def node_example_publishes_and_prints_the_acks(game):
    node = shutil.which("node")
    if node is None or subprocess.run([node, "-e", "if (!globalThis.fetch) process.exit(1)"]).returncode != 0:
        sys.stdout.write("# no Node.js with fetch: skipped\n")
        return
    broadcast_and_queue(game, [node, os.path.join(EXAMPLES, "publish.mjs")])


@test
def python_example_publishes_and_prints_the_acks(game):
    broadcast_and_queue(game, [sys.executable, os.path.join(EXAMPLES, "publish.py")])


@test
def examples_report_a_refused_publish(game):
    runners = [["sh", os.path.join(EXAMPLES, "publish.sh")], [sys.executable, os.path.join(EXAMPLES, "publish.py")]]
    if shutil.which("node"):
        runners.append([shutil.which("node"), os.path.join(EXAMPLES, "publish.mjs")])
    for argv in runners:
        p = game.example(argv, "", "null")
        check(p.returncode != 0 and "invalid_request" in p.stderr, "an empty name is refused loudly", argv, p.stderr)


if __name__ == "__main__":
    if not lua_available():
        print("1..0 # SKIP lua5.1 with lua-socket and lua-cjson is not installed")
        sys.exit(0)
    run(Game)
