#!/bin/sh
# make fuzz-smoke: runs each fuzz target for a bounded time on its seed
# corpus and prints, per target, the inputs executed and the coverage
# reached (libFuzzer's -print_final_stats). Any crash, leak, timeout or
# out-of-memory fails: the reproducer is kept under $out/artifacts.
#   smoke.sh OUTDIR SECONDS TARGET...   (TARGET: path of a fuzz program)
set -u
out=$1 secs=$2
shift 2
mkdir -p "$out/artifacts" "$out/logs"
status=0
LSAN_OPTIONS=suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
export LSAN_OPTIONS
for prog in "$@"; do
	name=$(basename "$prog")
	corpus=$out/corpus/$name
	log=$out/logs/$name.log
	mkdir -p "$corpus"
	rc=0
	"$prog" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=5 \
	    -max_len=16384 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/$name-" "$corpus" \
	    >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 |
	    sed -n 's/.*\(cov: [0-9]*\) \(ft: [0-9]*\) \(corp: [^ ]*\).*/\1 \2 \3/p')
	units=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "ok - $name: ${execs:-?} executions, ${cov:-cov: ?}, $units inputs"
	else
		echo "FAIL: $name (exit $rc) after ${execs:-?} executions, ${cov:-cov: ?}"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" |
		    head -n 10 | sed 's/^/    /'
		echo "    log: $log"
		status=1
	fi
done
exit "$status"
