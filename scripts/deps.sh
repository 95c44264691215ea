# Sourced by run.sh and test.sh: installs the Debian packages that are missing.
# Usage: ensure_packages PACKAGE...

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "cmdrelay: need root (or sudo) to run: $*" >&2
		return 1
	fi
}

package_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_packages() {
	missing=""
	for pkg in "$@"; do
		package_installed "$pkg" || missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	echo "==> installing Debian packages:$missing"
	# Packages such as nginx and apache2 start a system service on port 80
	# when installed.  cmdrelay only needs their binaries, and a service left
	# running (or failing to start on a busy port, which fails the install)
	# is not wanted: a policy-rc.d that answers 101 is Debian's way to say so.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
		as_root chmod 755 "$policy"
	fi
	status=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || status=$?
	if [ "$status" -eq 0 ]; then
		# shellcheck disable=SC2086 # one word per package
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing || status=$?
	fi
	if [ -n "$policy" ]; then
		as_root rm -f "$policy"
		trap - EXIT INT TERM
	fi
	return "$status"
}
