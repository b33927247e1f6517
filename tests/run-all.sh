#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# Every test of bpf-threadwatch, in order of cost. Run by `make check` and by .ci/run.
# Each stage prints its own result; the last line sums them up as "N passed, N failed".
#   TW_SKIP_VM=1   skip the kernel matrix (qemu) for a quicker local run (never in CI)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
passed=0
failed=0
failures=()

stage() {
	local name=$1
	shift
	echo
	echo "=== $name: $*"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

if [ "${CI:-}" = true ] && [ "$(id -u)" -ne 0 ]; then
	echo "run-all: CI must run as root: the end-to-end tests load real BPF" >&2
	exit 1
fi

echo "kernel: $(uname -r), $(nproc) CPUs; libbpf $(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null)"
stage build make -s all asan build/unit-tests
# unit tests need no privileges: prove it by running them as nobody
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# from a world-readable copy: the checkout may sit below a directory nobody cannot enter
	unitdir=$(mktemp -d /tmp/tw-unit.XXXXXX)
	cp build/unit-tests "$unitdir/" && chmod 755 "$unitdir" "$unitdir/unit-tests"
	stage unit setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		--bounding-set=-all "$unitdir/unit-tests"
	rm -rf "$unitdir"
else
	stage unit build/unit-tests
fi
stage format make -s format-check
stage lint make -s lint
stage fuzz tests/fuzz/run.sh "${TW_FUZZ_SECONDS:-10}"
stage e2e "$PY" -m pytest -q -p no:cacheprovider tests/e2e
# the same tests on the ASan/UBSan build; the Dockerfile replay builds from the sources and
# runs no TW_BIN (25 s of CI's budget for nothing the first run did not check)
stage e2e-asan env TW_BIN=build-asan/bpf-threadwatch \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$PY" -m pytest -q -p no:cacheprovider tests/e2e \
	--deselect tests/e2e/test_deploy.py::test_dockerfile_builder_replay
if [ "${TW_SKIP_VM:-}" = 1 ] && [ "${CI:-}" != true ]; then
	echo "=== vm: skipped (TW_SKIP_VM=1)"
else
	stage vm tests/vm/run-matrix.sh
fi

echo
[ ${#failures[@]} -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
