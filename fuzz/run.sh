#!/usr/bin/env bash
# Run libFuzzer targets for a while each and print one line per target.
#
#   fuzz/run.sh SECONDS [NAME...]     (make fuzz FUZZ_SECONDS=N does this)
#
# Each target build-fuzz/fuzz_NAME runs for SECONDS on a fresh copy of its
# seed corpus (fuzz/corpus/NAME -> build-fuzz/corpus/NAME; the repository's
# corpus is never written), crash files go to build-fuzz/artifacts/NAME/,
# the whole output to build-fuzz/logs/NAME.log. Prints
#   NAME  EXECUTIONS execs  EXEC/S exec/s  ok | CRASH-FILE
# and exits 1 if any target crashed (or did not run). Targets run one
# after another: the machine is shared.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${FUZZ_BUILD:-build-fuzz}
seconds=${1:-60}
shift || true
if [ $# -eq 0 ]; then
	set -- $(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_\(.*\)\.c|\1|')
fi

# Extra libFuzzer flags per target: bigger inputs where a whole chunk
# header is the input; a shorter per-input timeout for network targets.
flags_of() {
	case "$1" in
	chunk_header) echo "-max_len=140000 -timeout=10" ;;
	worker_request|master_request) echo "-max_len=8192 -timeout=10" ;;
	*) echo "-max_len=4096 -timeout=10" ;;
	esac
}

failed=0
for name in "$@"; do
	bin=$build/fuzz_$name
	corpus=$build/corpus/$name
	art=$build/artifacts/$name
	log=$build/logs/$name.log
	if [ ! -x "$bin" ]; then
		printf '%-16s not built (%s)\n' "$name" "$bin"
		failed=1
		continue
	fi
	rm -rf "$corpus"
	mkdir -p "$corpus" "$art" "$build/logs"
	if [ -d "fuzz/corpus/$name" ]; then
		cp -r "fuzz/corpus/$name/." "$corpus/"
	fi
	# shellcheck disable=SC2046
	"$bin" "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$art/" $(flags_of "$name") >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
		result=ok
	else
		result=${crash:-"exit status $rc, see $log"}
		failed=1
	fi
	printf '%-16s %10s execs %7s exec/s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$result"
done
exit $failed
