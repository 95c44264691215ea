#!/bin/sh
# Publishes a command to a cmdrelay channel, waits for the game servers' acks and
# prints their results. Needs curl and jq.
#
#   CMDRELAY_URL=https://relay.example.com CMDRELAY_KEY=... \
#       ./publish.sh game-1 announce '{"text": "Server restart in 5 minutes"}'
#
# CMDRELAY_MODE=queue runs it on exactly one server instead of all of them;
# CMDRELAY_TIMEOUT (seconds, default 15) bounds the wait. Exits 0 when every
# expected ack arrived, 2 when the wait ran out first.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 CHANNEL NAME [DATA_JSON]" >&2
	exit 64
fi
: "${CMDRELAY_URL:?set CMDRELAY_URL to the relay, e.g. https://relay.example.com}"
: "${CMDRELAY_KEY:?set CMDRELAY_KEY to a key with the publish scope}"
channel=$1
name=$2
data=${3:-null}
mode=${CMDRELAY_MODE:-broadcast}
timeout=${CMDRELAY_TIMEOUT:-15}
base="${CMDRELAY_URL%/}/v1/channels/$channel"

# The key goes in a header, never in the URL (or a shell history of URLs).
api() {
	curl -sS --fail-with-body -H "Authorization: Bearer $CMDRELAY_KEY" -H "Content-Type: application/json" "$@"
}

body=$(jq -n --arg name "$name" --argjson data "$data" --arg mode "$mode" '{name: $name, data: $data, mode: $mode}')
if ! response=$(api -X POST --data "$body" "$base/commands"); then
	echo "publish failed: $response" >&2
	exit 1
fi
id=$(echo "$response" | jq -r '.commands[0].id')
echo "published $mode command $id ($name) to $channel"

# A queue command is done once; a broadcast is acked by every server polling the
# channel, which is every consumer the relay saw in the last minute.
if [ "$mode" = queue ]; then
	expected=1
else
	expected=$(api "$base/consumers" |
		jq '[.consumers[] | select((.last_seen | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) > (now - 60))] | length')
fi
if [ "$expected" -eq 0 ]; then
	echo "no game server polled $channel in the last minute; nothing to wait for" >&2
	exit 2
fi
echo "waiting up to ${timeout}s for $expected ack(s)"

deadline=$(($(date +%s) + timeout))
while :; do
	command=$(api "$base/commands/$id")
	acked=$(echo "$command" | jq '.command.acks | length')
	state=$(echo "$command" | jq -r '.command.state')
	if [ "$acked" -ge "$expected" ] || [ "$state" = dead ] || [ "$(date +%s)" -ge "$deadline" ]; then
		break
	fi
	sleep 0.5
done

echo "$command" | jq -r '.command.acks[] | "\(.consumer)  \(.acked_at)  \(.result | tojson)"'
echo "$acked of $expected acked; state $state"
[ "$acked" -ge "$expected" ] || exit 2
