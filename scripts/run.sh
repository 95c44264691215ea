#!/bin/bash
# Installs what is missing, builds cmdrelay, creates its database under
# ./data and serves it behind nginx on http://127.0.0.1:8080, in the
# foreground.  Ctrl-C (or SIGTERM) stops everything it started.
#
#   scripts/run.sh              # port 8080
#   CMDRELAY_PORT=9090 scripts/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
port=${CMDRELAY_PORT:-8080}
build=$top/build
data=$top/data
db=$data/cmdrelay.db

# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"
ensure_packages build-essential autoconf automake libtool pkg-config libfcgi-dev libjson-c-dev libsqlite3-dev \
	libsodium-dev sqlite3 nginx-light curl

# --- build -------------------------------------------------------------------
echo "==> building in build/"
[ -x configure ] || ./autogen.sh
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	(cd "$build" && ../configure --quiet)
fi
make -C "$build" --no-print-directory -j"$(nproc)" >/dev/null
relay=$build/cmdrelay

# --- database ----------------------------------------------------------------
mkdir -p "$data"
"$relay" --db "$db" init

# --- API keys ----------------------------------------------------------------
# On the first run, a publish key (for a bot or a script) and a consume key
# (for game servers).  The database keeps only their SHA-256; the tokens are
# kept in data/quickstart-keys (mode 600) so that later runs can print them
# again.  Delete that file to get new ones (and revoke the old: docs/keys.md).
keys=$data/quickstart-keys
if [ ! -s "$keys" ]; then
	publish_key=$("$relay" --db "$db" key create --scope publish --label "quick start: publish" 2>/dev/null)
	consume_key=$("$relay" --db "$db" key create --scope consume --label "quick start: consume" 2>/dev/null)
	(umask 077 && printf 'publish_key=%s\nconsume_key=%s\n' "$publish_key" "$consume_key" >"$keys")
fi
publish_key=$(sed -n 's/^publish_key=//p' "$keys")
consume_key=$(sed -n 's/^consume_key=//p' "$keys")

# --- serve -------------------------------------------------------------------
relay_pid=""
nginx_pid=""
rundir=$(mktemp -d "${TMPDIR:-/tmp}/cmdrelay-run.XXXXXX")

stop_all() {
	set +e
	trap - INT TERM EXIT
	[ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null
	[ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null
	[ -n "$relay_pid" ] && wait "$relay_pid" 2>/dev/null
	rm -rf "$rundir"
}
trap 'echo; echo "==> stopping"; stop_all; exit 0' INT TERM HUP
trap 'stop_all' EXIT

# Started as root, nginx's workers run as nobody: they must reach the socket.
chmod 711 "$rundir"
sock=$rundir/cmdrelay.sock

# Each in a session of its own: Ctrl-C reaches this script only, which then
# stops them in order (nginx first, then the relay, which finishes what it has).
setsid "$relay" --db "$db" serve --listen "$sock" --socket-mode 0666 &
relay_pid=$!

cat >"$rundir/nginx.conf" <<EOF
worker_processes 1;
pid $rundir/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log /dev/stdout;
    client_body_temp_path $rundir/client_body;
    fastcgi_temp_path $rundir/fastcgi_temp;
    proxy_temp_path $rundir/proxy_temp;
    uwsgi_temp_path $rundir/uwsgi_temp;
    scgi_temp_path $rundir/scgi_temp;
    client_max_body_size 1m;
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$sock;
        }
    }
}
EOF

for _ in $(seq 100); do
	[ -S "$sock" ] && break
	kill -0 "$relay_pid" 2>/dev/null || { echo "cmdrelay: the relay did not start" >&2; exit 1; }
	sleep 0.05
done

setsid "$(command -v nginx || echo /usr/sbin/nginx)" -e stderr -p "$rundir" -c "$rundir/nginx.conf" -g 'daemon off;' &
nginx_pid=$!

url=http://127.0.0.1:$port
for _ in $(seq 100); do
	curl -fs --max-time 2 -o /dev/null "$url/v1/health" && break
	if ! kill -0 "$nginx_pid" 2>/dev/null; then
		echo "cmdrelay: nginx did not start (is port $port taken? set CMDRELAY_PORT)" >&2
		exit 1
	fi
	sleep 0.05
done
if ! curl -fs --max-time 2 -o /dev/null "$url/v1/health"; then
	echo "cmdrelay: $url/v1/health does not answer" >&2
	exit 1
fi

cat <<EOF

cmdrelay is serving on $url (database: data/cmdrelay.db). Try:

  curl -s -X POST $url/PostCommand -H "X-Api-Key: $publish_key" -H 'Content-Type: application/json' -d '{"kick": "Player1"}'
  curl -s $url/GetCommands -H "X-Api-Key: $consume_key"
  curl -s -X DELETE $url/DeleteCommands -H "X-Api-Key: $consume_key" -H 'Content-Type: application/json' -d '["kick"]'

API keys (tokens in data/quickstart-keys; more with: build/cmdrelay --db data/cmdrelay.db key create, see docs/keys.md):
  publish, for a bot or a script:  $publish_key
  consume, for game servers:       $consume_key

Inspect the database with: sqlite3 -header -column data/cmdrelay.db < sql/inspect.sql
Press Ctrl-C to stop.

EOF

# Runs until Ctrl-C, or until one of the two exits by itself (then stop the other).
set +e
wait -n "$relay_pid" "$nginx_pid"
status=$?
echo "cmdrelay: the relay or nginx exited (status $status); stopping" >&2
stop_all
exit 1
