#!/bin/sh
# Builds cmdrelay optimised (unless CMDRELAY_BIN names a binary) and runs the
# benchmark.  Arguments go to bench.py (--duration, --connections, --no-write).
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
for tool in wrk nginx gcc python3; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "bench: installing wrk nginx-light gcc python3" >&2
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y wrk nginx-light gcc python3 libfcgi-dev libc6-dev >/dev/null
fi
if [ -z "$CMDRELAY_BIN" ]; then
	build="$root/build-bench"
	mkdir -p "$build"
	[ -x "$root/configure" ] || (cd "$root" && ./autogen.sh >/dev/null)
	# The shared-hosting build: one static file (a CGI request pays no dynamic linking).
	flags="--enable-static-binary"
	(cd "$build" && { grep -q -- "$flags" config.status 2>/dev/null ||
		{ "$root/configure" $flags CFLAGS="-O2 -g" >/dev/null && rm -f cmdrelay; }; } &&
		make -j"$(nproc)" cmdrelay >/dev/null 2>&1)
	CMDRELAY_BIN="$build/cmdrelay"
fi
export CMDRELAY_BIN
exec python3 "$here/bench.py" "$@"
