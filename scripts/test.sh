#!/bin/bash
# Installs what is missing, builds cmdrelay from scratch and passes every test,
# three times over:
#   1. a -Werror build and `make check`, and the fully static build
#      (--enable-static-binary) with its CGI tests and a short benchmark run;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and `make check`
#      (a sanitizer report anywhere, the relay's log included, fails a test),
#      and a ThreadSanitizer build and `make check` likewise;
#   2b. a clang libFuzzer build: each fuzz target for FUZZ_TIME s (60), and the
#      crash-safety test for CMDRELAY_KILL_SECONDS (120) of SIGKILLs;
#   3. `make distcheck` (the tarball builds, tests and installs on its own).
# The last line is "N passed, N failed", summed over every TAP result of all
# three; a test program that crashed, or a stage that failed without a test
# result to show for it, counts as failed.  Skipped results count as neither
# and are reported on a line of their own.  Exits non-zero on any failure.
#
# Builds go in build/test/ (gcc, static, asan, tsan, fuzz); their test logs stay there.
set -uo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
out=$top/build/test
jobs=$(nproc)

# shellcheck source=scripts/deps.sh
. "$top/scripts/deps.sh"
ensure_packages build-essential autoconf automake libtool pkg-config libfcgi-dev libjson-c-dev libsqlite3-dev \
	libsodium-dev sqlite3 nginx-light spawn-fcgi python3 curl apache2 libapache2-mod-fcgid systemd openssl lua5.1 lua-socket lua-cjson jq \
	clang libclang-rt-14-dev valgrind e2fsprogs file wrk || exit 1

passed=0
failed=0
skipped=0
stage_failures=""
export AM_COLOR_TESTS=no

# Adds the results of the .trs files under $1 (one ":test-result:" line per
# TAP result; ERROR for a test program that crashed or broke its plan).
count_trs() {
	local p f s
	p=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | grep -c '^:test-result: \(PASS\|XFAIL\)')
	f=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)')
	s=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | grep -c '^:test-result: SKIP')
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	echo "    $p passed, $f failed, $s skipped"
	# Show what failed, so that a CI log alone tells why.
	find "$1" -name '*.trs' | while read -r trs; do
		if grep -q '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$trs"; then
			echo "---- ${trs%.trs}.log (last 80 lines)"
			tail -n 80 "${trs%.trs}.log"
		fi
	done
}

# Records a failed stage; it counts as one failure unless failing tests
# already account for it.
stage_failed() {
	local name=$1 results_failed=$2
	stage_failures="$stage_failures $name"
	echo "!!! stage '$name' failed"
	[ "$results_failed" -gt 0 ] || failed=$((failed + 1))
}

# Runs "configure + make + make check" in a fresh directory $1; the rest of
# the arguments go to configure.  From the environment: $skip_tests names
# tests the stage leaves out (valgrind cannot run a sanitized binary),
# $only_tests the tests it runs instead of all, $check_jobs how many at once
# (default $jobs), and $expect_binary what `file` must say of the cmdrelay
# it built.
build_and_check() {
	local name=$1 dir=$out/$1 before=$failed started=$SECONDS
	shift
	echo "==> [$name] configure, build and make check in build/test/$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! (cd "$dir" && "$top/configure" --enable-werror "$@" >configure.log 2>&1); then
		tail -n 30 "$dir/configure.log"
		stage_failed "$name" 0
		return
	fi
	if ! make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1; then
		grep -E 'error|warning' "$dir/build.log" | head -n 40
		stage_failed "$name" 0
		return
	fi
	if [ -n "${expect_binary:-}" ] && ! file -L "$dir/cmdrelay" | grep -q "$expect_binary"; then
		echo "!!! cmdrelay is not $expect_binary: $(file -L "$dir/cmdrelay")"
		stage_failed "$name" 0
		return
	fi
	# A hung test must not hold CI for its whole allowance: timeout signals
	# the whole process group (make, the tests and what they started).
	local tests=${only_tests:-}
	[ -n "$tests" ] ||
		tests=$(make -s -C "$dir" print-tests | tr ' ' '\n' | grep -v -x -F "${skip_tests:-/}" | tr '\n' ' ')
	timeout --kill-after=30 900 make -C "$dir" -j"${check_jobs:-$jobs}" check TESTS="$tests" >"$dir/check.log" 2>&1
	local status=$?
	[ "$status" -ne 124 ] || echo "!!! make check timed out after 900 s"
	count_trs "$dir"
	[ "$status" -eq 0 ] || stage_failed "$name" $((failed - before))
	echo "    ($((SECONDS - started)) s)"
}

rm -rf "$out"
mkdir -p "$out"
echo "==> autogen.sh"
if ! ./autogen.sh >"$out/autogen.log" 2>&1; then
	cat "$out/autogen.log"
	stage_failed autogen 0
	echo "$passed passed, $failed failed"
	exit 1
fi

# 1. The build CI ships: every warning an error.
build_and_check gcc

# 1b. The shared-hosting build: one static file, the C library included
# (--enable-static-binary, what docs/deploy and the benchmark use).  Its CGI,
# tutorial and Apache deployment tests run against that binary.
only_tests="tests/blackbox/test_cgi.py tests/blackbox/test_tutorial.py tests/blackbox/test_deploy_apache.py" \
	expect_binary="statically linked" \
	build_and_check static --enable-static-binary

# 1c. The benchmark runs end to end against the static build (bench/run.sh
# with a second a row: its figures mean nothing on a CI machine, but every
# row must be answered 2xx and every long poll delivered).
echo "==> [bench] bench/bench.py, short, against build/test/static/cmdrelay"
started=$SECONDS
if [ -x "$out/static/cmdrelay" ] &&
	CMDRELAY_BIN="$out/static/cmdrelay" timeout 600 python3 bench/bench.py --no-write --duration 1 --rounds 1 \
		--waiters 100 --cgi-runs 30 >"$out/bench.log" 2>&1; then
	passed=$((passed + 1))
	echo "    1 passed, 0 failed, 0 skipped"
else
	tail -n 40 "$out/bench.log"
	stage_failed bench 0
fi
echo "    ($((SECONDS - started)) s)"

# 2. Sanitizers.  Every process the tests start (the relay under nginx,
# spawn-fcgi, Apache, or as CGI) inherits these options; the test harness
# looks for reports in the relay's logs and on stderr.
ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	skip_tests=tests/blackbox/test_valgrind.py \
	build_and_check asan \
	CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"

# 2a. ThreadSanitizer.  Workers, the checkpoint thread, the long-poll
# watcher and the group commit share locks and atomics; a data race reported
# anywhere (the relay's log included) fails a test, as other sanitizers do.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	skip_tests=tests/blackbox/test_valgrind.py \
	build_and_check tsan \
	CFLAGS="-fsanitize=thread -fno-omit-frame-pointer -g -O1"

# 2b. Fuzzing and the long crash-safety run (issue 8): a clang build with
# libFuzzer, ASan and UBSan fuzzes each target for FUZZ_TIME seconds, and
# test_kill.py SIGKILLs relay processes for CMDRELAY_KILL_SECONDS.  Crashes
# are kept in build/test/fuzz/fuzz-artifacts/.
# One at a time: the kill run must not share its cores with a fuzzer.
FUZZ_TIME=${FUZZ_TIME:-60} CMDRELAY_KILL_SECONDS=${CMDRELAY_KILL_SECONDS:-120} \
	only_tests="fuzz/run_fuzzers.sh tests/blackbox/test_kill.py" check_jobs=1 \
	build_and_check fuzz --enable-fuzzing CC=clang CFLAGS="-g -O1"

# 3. The distribution: built, checked, installed and cleaned from the
# tarball alone.  Its own build tree is removed when it passes, so its
# results are read from what it printed.
echo "==> [distcheck] make distcheck"
started=$SECONDS
if [ -f "$out/gcc/Makefile" ]; then
	timeout --kill-after=30 1200 make -C "$out/gcc" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
		>"$out/distcheck.log" 2>&1
	status=$?
	[ "$status" -ne 124 ] || echo "!!! make distcheck timed out after 1200 s"
	p=$(grep -c '^\(PASS\|XFAIL\): ' "$out/distcheck.log")
	f=$(grep -c '^\(FAIL\|XPASS\|ERROR\): ' "$out/distcheck.log")
	s=$(grep -c '^SKIP: ' "$out/distcheck.log")
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	echo "    $p passed, $f failed, $s skipped"
	if [ "$status" -ne 0 ]; then
		tail -n 60 "$out/distcheck.log"
		stage_failed distcheck "$f"
	fi
else
	stage_failed distcheck 0
fi
echo "    ($((SECONDS - started)) s)"

[ "$skipped" -eq 0 ] || echo "$skipped skipped (not counted below)"
if [ -n "$stage_failures" ]; then
	echo "failed stages:$stage_failures (logs in build/test/)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ -z "$stage_failures" ]
