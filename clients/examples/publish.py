#!/usr/bin/env python3
"""Publishes a command to a cmdrelay channel, waits for the game servers' acks and
prints their results. Python 3.8 or later, standard library only.

    CMDRELAY_URL=https://relay.example.com CMDRELAY_KEY=... \\
        python3 publish.py game-1 announce '{"text": "Server restart in 5 minutes"}'

CMDRELAY_MODE=queue runs it on exactly one server instead of all of them;
CMDRELAY_TIMEOUT (seconds, default 15) bounds the wait. Exits 0 when every
expected ack arrived, 2 when the wait ran out first."""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone


def main():
    if len(sys.argv) < 3 or not os.environ.get("CMDRELAY_URL") or not os.environ.get("CMDRELAY_KEY"):
        sys.exit("usage: CMDRELAY_URL=... CMDRELAY_KEY=... python3 publish.py CHANNEL NAME [DATA_JSON]")
    channel, name = sys.argv[1], sys.argv[2]
    data = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    mode = os.environ.get("CMDRELAY_MODE", "broadcast")
    timeout = float(os.environ.get("CMDRELAY_TIMEOUT", "15"))
    base = "%s/v1/channels/%s" % (os.environ["CMDRELAY_URL"].rstrip("/"), channel)
    key = os.environ["CMDRELAY_KEY"]

    def api(path, body=None):
        # The key goes in a header, never in the URL.
        request = urllib.request.Request(
            base + path, method="GET" if body is None else "POST",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                error = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):  # an error page from a proxy in front of the relay
                error = {"code": "", "message": text[:200]}
            sys.exit("%d %s: %s" % (e.code, error.get("code"), error.get("message")))

    command_id = api("/commands", {"name": name, "data": data, "mode": mode})["commands"][0]["id"]
    print("published %s command %d (%s) to %s" % (mode, command_id, name, channel))

    # A queue command is done once; a broadcast is acked by every server polling
    # the channel, which is every consumer the relay saw in the last minute.
    expected = 1
    if mode != "queue":
        now = datetime.now(timezone.utc).timestamp()
        expected = sum(1 for c in api("/consumers")["consumers"]
                       if datetime.strptime(c["last_seen"], "%Y-%m-%dT%H:%M:%S.%fZ")
                       .replace(tzinfo=timezone.utc).timestamp() > now - 60)
    if expected == 0:
        print("no game server polled %s in the last minute; nothing to wait for" % channel, file=sys.stderr)
        sys.exit(2)
    print("waiting up to %gs for %d ack(s)" % (timeout, expected))

    deadline = time.monotonic() + timeout
    while True:
        command = api("/commands/%d" % command_id)["command"]
        if len(command["acks"]) >= expected or command["state"] == "dead" or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for ack in command["acks"]:
        print("%s  %s  %s" % (ack["consumer"], ack["acked_at"], json.dumps(ack["result"])))
    print("%d of %d acked; state %s" % (len(command["acks"]), expected, command["state"]))
    sys.exit(0 if len(command["acks"]) >= expected else 2)


if __name__ == "__main__":
    main()
