#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# Build the libFuzzer targets (clang, ASan+UBSan) and run each briefly on its corpus.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 10)
# New inputs found are kept in a scratch dir, not in the repo corpus; crashes are saved as
# tests/fuzz/crash-* and fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
out=build/fuzz
mkdir -p "$out"
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -Ibpf -Iuser"
declare -A SRCS=(
	[proc]="user/procfs.c user/parse.c"
	[cli]="user/parse.c"
	[json]="user/json.c"
	[cgroup]="user/cgroup.c user/procfs.c user/parse.c"
	[targets]="user/target.c user/procfs.c user/parse.c"
	[symmap]="user/symmap.c"
	[names]="user/demangle.c user/ksyms.c -lstdc++"
)
targets=(proc cli json cgroup targets symmap names)
# One target: build it, run it on a copy of its corpus, leave its verdict in $out/$t.result.
run_one() {
	local t=$1 scratch execs
	# shellcheck disable=SC2086
	if ! clang $FLAGS "tests/fuzz/fuzz_$t.c" ${SRCS[$t]} -o "$out/fuzz_$t" 2>"$out/$t.build"; then
		{ echo "fuzz $t: FAILED to build"; cat "$out/$t.build"; } >"$out/$t.result"
		return
	fi
	scratch=$(mktemp -d)
	cp tests/fuzz/corpus/$t/* "$scratch/"
	if "$out/fuzz_$t" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
		-artifact_prefix=tests/fuzz/crash-$t- "$scratch" >"$out/$t.log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
		echo "fuzz $t: ok, $execs execs in ${secs}s, corpus $(ls "$scratch" | wc -l) inputs" \
			>"$out/$t.result"
	else
		{ echo "fuzz $t: FAILED (see $out/$t.log and tests/fuzz/crash-$t-*)"
		  tail -30 "$out/$t.log"; } >"$out/$t.result"
	fi
	rm -rf "$scratch"
}
# one target per CPU at once: each still gets SECONDS of a CPU of its own
lanes=$(nproc)
for t in "${targets[@]}"; do
	rm -f "$out/$t.result"
	while [ "$(jobs -rp | wc -l)" -ge "$lanes" ]; do
		wait -n || true
	done
	run_one "$t" &
done
wait
rc=0
for t in "${targets[@]}"; do
	if [ -f "$out/$t.result" ]; then
		cat "$out/$t.result"
		grep -q "^fuzz $t: ok" "$out/$t.result" || rc=1
	else
		echo "fuzz $t: FAILED (no result)"
		rc=1
	fi
done
exit $rc
