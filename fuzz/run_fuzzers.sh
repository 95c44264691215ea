#!/bin/sh
# make check's part of the fuzzing (TAP).  Every build replays each target's
# corpus in fuzz/corpus/<target>/ (seeds and every crash ever found).  A
# build configured with --enable-fuzzing (CC=clang) also fuzzes each target
# for FUZZ_TIME seconds (default 20); FUZZ=0 leaves that out, and FUZZ=1 on
# a build without libFuzzer reports those as skipped.  New crashes are kept in
# fuzz-artifacts/ of the build directory: fix them, then copy the input into
# the target's corpus.
srcdir=${CMDRELAY_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
fuzzing=${CMDRELAY_FUZZING:-no}
time=${FUZZ_TIME:-20}
targets="fuzz_request fuzz_json_body fuzz_cli_parsers"
work=$(mktemp -d "${TMPDIR:-/tmp}/cmdrelay-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
n=0
failed=0

# Fuzzing lines only where fuzzing is built, or was asked for (FUZZ=1).
if [ "$fuzzing" = yes ] || [ "${FUZZ:-0}" = 1 ]; then
	echo "1..6"
else
	echo "1..3"
fi
for t in $targets; do
	n=$((n + 1))
	bin=./fuzz/$t
	corpus=$srcdir/fuzz/corpus/$t
	if [ "$fuzzing" = yes ]; then
		set -- -runs=0 "$corpus"
	else
		set -- "$corpus"
	fi
	if "$bin" "$@" >"$work/$t.replay" 2>&1; then
		echo "ok $n - $t replays its corpus ($(ls "$corpus" | wc -l) inputs)"
	else
		echo "not ok $n - $t replays its corpus"
		tail -n 40 "$work/$t.replay" | sed 's/^/# /'
		failed=1
	fi
done
for t in $targets; do
	n=$((n + 1))
	if [ "$fuzzing" != yes ]; then
		[ "${FUZZ:-0}" = 1 ] && echo "ok $n - $t fuzzing # SKIP needs ./configure --enable-fuzzing CC=clang"
		continue
	fi
	if [ "${FUZZ:-1}" = 0 ]; then
		echo "ok $n - $t fuzzing # SKIP FUZZ=0"
		continue
	fi
	# New inputs go to a scratch copy; the committed corpus stays as it is.
	mkdir -p "$work/$t" fuzz-artifacts
	dict=
	[ "$t" != fuzz_cli_parsers ] && dict=-dict=$srcdir/fuzz/fuzz.dict
	if ./fuzz/$t -max_total_time="$time" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix="fuzz-artifacts/$t-" $dict "$work/$t" "$srcdir/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tr -d '\r')
		echo "ok $n - $t fuzzed for ${time}s: ${execs:-?} executions, no crash"
	else
		echo "not ok $n - $t fuzzed for ${time}s: it found a crash (kept in fuzz-artifacts/)"
		grep -a -v -e '^#[0-9]' -e '^INFO:' -e '^    #' "$work/$t.log" | tail -n 40 | sed 's/^/# /'
		failed=1
	fi
done
exit $failed
