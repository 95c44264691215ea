"""The operator's command line (issue 4): cmdrelay key create | list | revoke,
channels, commands and purge -- their output, text and --json, and exit
codes (0 done, 1 failed, 2 wrong usage)."""

import json
import os
import re
import subprocess
import tempfile
import time

from harness import BIN, SANITIZER_REPORT, Relay, check, run, test

TOKEN = re.compile(r"^crk_[A-Za-z0-9_-]{43}$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def cli(relay, *args, env=None):
    """Runs cmdrelay with --db of relay and a clean environment plus env."""
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
    e.update(env or {})
    p = subprocess.run([BIN, "--db", relay.db] + list(args), env=e, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    check(not SANITIZER_REPORT.search(p.stderr), "sanitizer report", p.stderr[:3000])
    return p


def usage_error(p, *words):
    check(p.returncode == 2, "exit status 2", p.returncode, p.stderr)
    check(p.stdout == "", "nothing on stdout", p.stdout)
    check(p.stderr.startswith("cmdrelay: "), "an error on stderr", p.stderr)
    for w in words:
        check(w in p.stderr, "the error says %r" % w, p.stderr)


def keys_json(relay):
    p = cli(relay, "key", "list", "--json")
    check(p.returncode == 0, "key list --json", p.stderr)
    return {k["id"]: k for k in json.loads(p.stdout)["keys"]}


@test
def key_create_prints_the_token_alone_on_stdout_and_details_on_stderr(relay):
    p = cli(relay, "key", "create", "--scope", "publish", "--scope", "consume", "--channels", "game-*, lobby",
            "--label", "discord bot", "--expires", "30d")
    check(p.returncode == 0, "exit 0", p.stderr)
    check(p.stdout.endswith("\n") and TOKEN.match(p.stdout[:-1]), "stdout is the token and a newline", p.stdout)
    token = p.stdout.strip()
    check(token not in p.stderr, "the token is not on stderr")
    m = re.match(r"created key (\d+) \"discord bot\": scopes publish,consume; channels game-\*,lobby; "
                 r"created \S+Z; expires \S+Z\n", p.stderr)
    check(m, "stderr has the id and details", p.stderr)
    key = keys_json(relay)[int(m.group(1))]
    check(key["label"] == "discord bot" and key["scopes"] == ["publish", "consume"], "stored", key)
    check(key["channels"] == "game-*,lobby", "pattern stored without spaces", key)
    days = (time.mktime(time.strptime(key["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) -
            time.mktime(time.strptime(key["created_at"][:19], "%Y-%m-%dT%H:%M:%S"))) / 86400
    check(abs(days - 30) < 0.01, "expires 30 days after it was created", key)


@test
def key_create_json_holds_the_token_and_the_key(relay):
    p = cli(relay, "key", "create", "--scope", "admin", "--json")
    check(p.returncode == 0, "exit 0", p.stderr)
    o = json.loads(p.stdout)
    check(TOKEN.match(o["token"]), "token", o)
    check(o["scopes"] == ["admin"] and o["channels"] == "*" and o["expires_at"] is None and o["revoked"] is False,
          "details", o)
    check(ISO_MS.match(o["created_at"]), "created_at", o)
    check(relay.get("/v1/channels", auth=o["token"]).status == 200, "the token works")


@test
def key_create_defaults_to_every_channel_and_no_expiry(relay):
    p = cli(relay, "key", "create", "--scope", "consume")
    check(p.returncode == 0, "exit 0", p.stderr)
    check("channels *;" in p.stderr and "expires never" in p.stderr, "defaults", p.stderr)


@test
def key_create_refuses_bad_usage_with_exit_2(relay):
    before = len(keys_json(relay))
    usage_error(cli(relay, "key", "create"), "--scope")
    usage_error(cli(relay, "key", "create", "--scope", "owner"), "owner")
    usage_error(cli(relay, "key", "create", "--scope"), "--scope")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--channels", "a,,b"), "--channels")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--channels", "a/b"), "--channels")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--expires", "30"), "--expires")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--expires", "0d"), "--expires")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--expires", "-1d"), "--expires")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--label", "a\nb"), "--label")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--label", "x" * 201), "--label")
    usage_error(cli(relay, "key", "create", "--scope", "publish", "--bogus"), "--bogus")
    check(len(keys_json(relay)) == before, "no key was made")


@test
def key_list_shows_every_key_and_never_a_token(relay):
    tokens = []
    for args in (["--scope", "publish", "--label", "listed-1"], ["--scope", "consume", "--expires", "1h"]):
        p = cli(relay, "key", "create", *args)
        tokens.append(p.stdout.strip())
    text = cli(relay, "key", "list")
    check(text.returncode == 0, "exit 0", text.stderr)
    lines = text.stdout.splitlines()
    check(lines[0].split() == ["ID", "LABEL", "SCOPES", "CHANNELS", "CREATED", "EXPIRES", "LAST", "USED", "REVOKED"],
          "header", lines[0])
    check(any("listed-1" in line and " publish " in line and " never " in line for line in lines), "a row", lines)
    js = cli(relay, "key", "list", "--json")
    for token in tokens:
        check(token not in text.stdout + text.stderr + js.stdout + js.stderr, "no token in the listing")
    for k in json.loads(js.stdout)["keys"]:
        check(set(k) == {"id", "label", "scopes", "channels", "created_at", "expires_at", "last_used_at", "revoked",
                         "revoked_at"}, "fields of a listed key", k)


@test
def key_list_of_a_new_database_says_there_are_none(relay):
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([BIN, "--db", os.path.join(d, "new.db"), "key", "list"], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout == "" and "no keys" in p.stderr, "no keys", p)
        p = subprocess.run([BIN, "--db", os.path.join(d, "new.db"), "key", "list", "--json"], capture_output=True,
                           text=True)
        check(p.returncode == 0 and json.loads(p.stdout) == {"keys": []}, "empty JSON list", p)


@test
def key_revoke_marks_the_key_and_the_relay_refuses_it(relay):
    p = cli(relay, "key", "create", "--scope", "consume", "--json")
    o = json.loads(p.stdout)
    check(relay.get("/v1/channels/c/commands", auth=o["token"]).status == 200, "works before")
    r = cli(relay, "key", "revoke", str(o["id"]))
    check(r.returncode == 0 and r.stdout.startswith("revoked key %d" % o["id"]), "revoked", r)
    k = keys_json(relay)[o["id"]]
    check(k["revoked"] is True and ISO_MS.match(k["revoked_at"]), "listed as revoked", k)
    r = cli(relay, "key", "revoke", str(o["id"]))
    check(r.returncode == 0 and "already revoked" in r.stdout, "revoking again is harmless", r)
    check(keys_json(relay)[o["id"]]["revoked_at"] == k["revoked_at"], "the first revocation time stays")
    r = cli(relay, "key", "revoke", str(o["id"]), "--json")
    check(r.returncode == 0 and json.loads(r.stdout)["revoked"] is True, "--json", r)
    time.sleep(1.1)
    check(relay.get("/v1/channels/c/commands", auth=o["token"]).status == 401, "refused")


@test
def key_revoke_of_an_unknown_id_fails_with_exit_1(relay):
    p = cli(relay, "key", "revoke", "999999")
    check(p.returncode == 1 and p.stdout == "" and "no key 999999" in p.stderr, "exit 1", p)


@test
def key_revoke_refuses_bad_usage_with_exit_2(relay):
    usage_error(cli(relay, "key", "revoke"), "ID")
    usage_error(cli(relay, "key", "revoke", "abc"), "abc")
    usage_error(cli(relay, "key", "revoke", "0"), "0")
    usage_error(cli(relay, "key", "revoke", "1", "2"), "2")


@test
def key_without_a_subcommand_prints_usage_and_exits_2(relay):
    p = cli(relay, "key")
    check(p.returncode == 2 and "usage:" in p.stderr, "exit 2 with usage", p)
    p = cli(relay, "key", "--help")
    check(p.returncode == 0 and "usage:" in p.stdout, "--help exits 0", p)
    usage_error(cli(relay, "key", "rotate"), "rotate")


@test
def key_commands_honour_cmdrelay_db_and_db_after_the_subcommand(relay):
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "env.db")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
        p = subprocess.run([BIN, "key", "create", "--scope", "publish", "--label", "from-env"],
                           env=dict(env, CMDRELAY_DB=db), capture_output=True, text=True)
        check(p.returncode == 0 and os.path.exists(db), "CMDRELAY_DB", p.stderr)
        p = subprocess.run([BIN, "key", "list", "--db", db], env=env, capture_output=True, text=True)
        check(p.returncode == 0 and "from-env" in p.stdout, "--db after the subcommand", p)


@test
def key_commands_on_an_unusable_database_fail_with_exit_1(relay):
    p = subprocess.run([BIN, "--db", "/nonexistent-cmdrelay-dir/x.db", "key", "create", "--scope", "publish"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and p.stdout == "" and "does not exist" in p.stderr, "exit 1, nothing on stdout", p)
    p = subprocess.run([BIN, "--db", "/nonexistent-cmdrelay-dir/x.db", "key", "list"], capture_output=True, text=True)
    check(p.returncode == 1 and "does not exist" in p.stderr, "list: exit 1", p)


@test
def channels_shows_the_depths_of_get_v1_channels(relay):
    relay.post("/v1/channels/cli-a/commands", [{"name": "x"}, {"name": "y", "mode": "queue"}])
    relay.post("/v1/channels/cli-b/commands", {"name": "z", "mode": "queue"})
    relay.post("/v1/channels/cli-b/claims", {"consumer": "s1"})
    p = cli(relay, "channels", "--json")
    check(p.returncode == 0, "exit 0", p.stderr)
    check(json.loads(p.stdout) == relay.get("/v1/channels").json, "--json is GET /v1/channels", p.stdout)
    p = cli(relay, "channels")
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()}
    check(rows["CHANNEL"][:5] == ["CHANNEL", "PENDING", "LEASED", "DONE", "DEAD"], "header", rows)
    check(rows["cli-a"][1:5] == ["2", "0", "0", "0"], "cli-a", rows["cli-a"])
    check(rows["cli-b"][1:6] == ["0", "1", "0", "0", "-"], "cli-b", rows["cli-b"])
    usage_error(cli(relay, "channels", "extra"), "extra")


@test
def commands_lists_a_channel_by_state(relay):
    cmds = relay.post("/v1/channels/cli-c/commands", [
        {"name": "b1", "data": {"text": "hello"}}, {"name": "q1", "mode": "queue"}, {"name": "q2", "mode": "queue"},
        {"name": "q3", "mode": "queue"}]).json["commands"]
    leased = relay.post("/v1/channels/cli-c/claims", {"consumer": "s1", "max": 2}).json["commands"]
    relay.post("/v1/channels/cli-c/commands/%d/ack" % leased[0]["id"],
               {"consumer": "s1", "lease": leased[0]["lease"]["token"], "result": {"ok": True}})
    p = cli(relay, "commands", "cli-c", "--json")
    check(p.returncode == 0, "exit 0", p.stderr)
    got = json.loads(p.stdout)["commands"]
    check([c["id"] for c in got] == [c["id"] for c in cmds], "every command, oldest first", got)
    check([c["state"] for c in got] == ["pending", "done", "leased", "pending"], "states", got)
    api = relay.get("/v1/channels/cli-c/commands/%d" % cmds[0]["id"]).json["command"]
    check(got[0] == {k: v for k, v in api.items() if k != "acks"}, "the API's command, without acks", got[0], api)
    for state, names in (("pending", ["b1", "q3"]), ("leased", ["q2"]), ("done", ["q1"]), ("dead", [])):
        p = cli(relay, "commands", "cli-c", "--state", state, "--json")
        check([c["name"] for c in json.loads(p.stdout)["commands"]] == names, "--state " + state, p.stdout)
    p = cli(relay, "commands", "cli-c")
    lines = p.stdout.splitlines()
    check(lines[0].split()[:4] == ["ID", "STATE", "MODE", "NAME"] and len(lines) == 5, "a table", p.stdout)
    check('{"text":"hello"}' in lines[1], "the data", lines[1])
    p = cli(relay, "commands", "cli-c", "--limit", "1", "--json")
    check(len(json.loads(p.stdout)["commands"]) == 1, "--limit")
    p = cli(relay, "commands", "never-used")
    check(p.returncode == 0 and p.stdout == "" and "no commands" in p.stderr, "an empty channel", p)


@test
def commands_refuses_bad_usage_with_exit_2(relay):
    usage_error(cli(relay, "commands"), "CHANNEL")
    usage_error(cli(relay, "commands", "bad$name"), "channel name")
    usage_error(cli(relay, "commands", "ok", "--state", "expired"), "--state")
    usage_error(cli(relay, "commands", "ok", "--limit", "0"), "--limit")
    usage_error(cli(relay, "commands", "ok", "other"), "other")


@test
def purge_removes_expired_and_finished_commands_and_says_how_many(relay):
    relay.post("/v1/channels/cli-p/commands", [{"name": "short", "ttl": 1}, {"name": "stays"}])
    q = relay.post("/v1/channels/cli-p/commands", {"name": "job", "mode": "queue"}).json["commands"][0]
    lease = relay.post("/v1/channels/cli-p/claims", {"consumer": "s"}).json["commands"][0]["lease"]["token"]
    relay.post("/v1/channels/cli-p/commands/%d/ack" % q["id"], {"consumer": "s", "lease": lease})
    time.sleep(1.2)
    # The relay sweeps on its own as requests come; none comes now.
    p = cli(relay, "purge", "--json", env={"CMDRELAY_RETENTION": "0"})
    check(p.returncode == 0, "exit 0", p.stderr)
    o = json.loads(p.stdout)
    check(o["expired"] >= 1 and o["finished"] >= 1 and o["retention_s"] == 0, "counts", o)
    names = [c["name"] for c in json.loads(cli(relay, "commands", "cli-p", "--json").stdout)["commands"]]
    check(names == ["stays"], "only the live command is left", names)
    p = cli(relay, "purge")
    check(p.returncode == 0 and re.match(r"removed 0 expired commands and 0 done or dead commands", p.stdout),
          "text", p.stdout)
    usage_error(cli(relay, "purge", "--now"), "--now")


if __name__ == "__main__":
    run(lambda: Relay())
