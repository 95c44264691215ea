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
	libssl-dev sqlite3 nginx-light curl

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
# RESERVED for the API-key issue: create a key for this run here (with the
# relay's key command, against "$db"), keep it in a variable, and add it to
# the curl lines printed below.

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
trap 'echo; echo "==> stopping"; stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# Started as root, nginx's workers run as nobody: they must reach the socket.
chmod 711 "$rundir"
sock=$rundir/cmdrelay.sock

"$relay" --db "$db" serve --listen "$sock" --socket-mode 0666 &
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

"$(command -v nginx || echo /usr/sbin/nginx)" -e stderr -p "$rundir" -c "$rundir/nginx.conf" -g 'daemon off;' &
nginx_pid=$!

url=http://127.0.0.1:$port
for _ in $(seq 100); do
	curl -fs -o /dev/null "$url/v1/health" && break
	if ! kill -0 "$nginx_pid" 2>/dev/null; then
		echo "cmdrelay: nginx did not start (is port $port taken? set CMDRELAY_PORT)" >&2
		exit 1
	fi
	sleep 0.05
done

cat <<EOF

cmdrelay is serving on $url (database: data/cmdrelay.db). Try:

  curl -s -X POST $url/PostCommand -H 'Content-Type: application/json' -d '{"kick": "Player1"}'
  curl -s $url/GetCommands -H 'Content-Type: application/json'
  curl -s -X DELETE $url/DeleteCommands -H 'Content-Type: application/json' -d '["kick"]'

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
