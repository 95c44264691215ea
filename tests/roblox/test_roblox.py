"""The Roblox module, unmodified, against the real relay behind nginx.

Each test runs one scenario of tests/roblox/scenarios.lua in its own Lua 5.1
process (stand-ins for game, task and HttpService in tests/roblox/roblox.lua),
against one relay shared by the file (tests/roblox/fixture.py)."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))
sys.path.insert(0, HERE)

from fixture import LUA, SCENARIOS, Fixture, lua_available  # noqa: E402
from harness import check, run, test  # noqa: E402


def scenario(fx, name, timeout=90):
    started = time.monotonic()
    try:
        p = subprocess.run([LUA, SCENARIOS, name], env=fx.env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("scenario %s ran over %d s: %s" % (name, timeout, e.stdout))
    for line in p.stdout.splitlines():
        if line.startswith("note:"):
            sys.stdout.write("# %s: %s\n" % (name, line[5:].strip()))
    if os.environ.get("ROBLOX_VERBOSE"):
        for line in p.stderr.splitlines():
            sys.stdout.write("#   %s\n" % line)
    sys.stdout.write("# %s: %.1f s\n" % (name, time.monotonic() - started))
    sys.stdout.flush()
    check(p.returncode == 0, "scenario " + name, p.stdout[-4000:], p.stderr[-4000:])


@test
def stand_in_behaves_like_roblox_httpservice(fx):
    scenario(fx, "stand_in_behaves_like_roblox_httpservice")


@test
def consumer_defaults_to_job_id_or_a_studio_id(fx):
    scenario(fx, "consumer_defaults_to_job_id_or_a_studio_id")


@test
def broadcast_reaches_three_servers_at_once(fx):
    scenario(fx, "broadcast_reaches_three_servers_at_once")


@test
def queue_command_runs_on_exactly_one_server(fx):
    scenario(fx, "queue_command_runs_on_exactly_one_server")


@test
def handler_error_is_acked_with_its_message(fx):
    scenario(fx, "handler_error_is_acked_with_its_message")


@test
def big_results_and_many_acks_never_stall_the_loop(fx):
    scenario(fx, "big_results_and_many_acks_never_stall_the_loop")


@test
def relay_restart_mid_loop_loses_and_repeats_nothing(fx):
    scenario(fx, "relay_restart_mid_loop_loses_and_repeats_nothing")


@test
def rate_limit_429_and_retry_after_are_respected(fx):
    scenario(fx, "rate_limit_429_and_retry_after_are_respected")


@test
def network_errors_back_off_exponentially_with_jitter(fx):
    scenario(fx, "network_errors_back_off_exponentially_with_jitter")


@test
def budget_share_never_exceeded_in_two_minutes(fx):
    scenario(fx, "budget_share_never_exceeded_in_two_minutes")


@test
def stop_and_bind_to_close_ack_what_was_done(fx):
    scenario(fx, "stop_and_bind_to_close_ack_what_was_done")


if __name__ == "__main__":
    if not lua_available():
        print("1..0 # SKIP lua5.1 with lua-socket and lua-cjson is not installed")
        sys.exit(0)
    run(Fixture)
