#!/usr/bin/env bash
# tests/vm/run-matrix.sh [LINES...]
#
# Kernel matrix: for each kernel line (default: every line of
# tests/vm/kernels.list, i.e. 6.1 6.12) fetch Debian's kernel package, boot it
# under qemu (TCG, no KVM needed) with a busybox initramfs holding the tool
# and its test workloads, run the end-to-end check inside the guest and check
# its JSON report on the host.  Prints one line per kernel, e.g.
#   vm 6.1.0-56-cloud-amd64: PASS (attach auto=tp_btf, raw_tp ok)
# and finally "N passed, N failed" alone on a line.  Exit status is non-zero
# if any kernel failed.
#
# Debian packages needed on the host (for `make deps`):
#   qemu-system-x86 (qemu-system-x86_64 and /usr/share/qemu/qboot.rom)
#   busybox-static cpio gzip file libc-bin (ldd) python3 (/usr/bin/python3,
#   stdlib only) coreutils (timeout) util-linux (flock) apt dpkg
#
# Build outputs used (relative to the repo root, BUILD=${BUILD:-build}):
#   $BUILD/bpf-threadwatch   the tool (dynamically linked is fine: its ldd
#                            libraries are copied into the initramfs)
#   $BUILD/tests/blockers    workload: `blockers N MS`
#   $BUILD/tests/*           every other executable there is copied too
# and, for the Python frames cases, Debian 12's CPython 3.11 (/usr/bin/python3.11, the
# package python3.11-minimal that python3 depends on) with the workloads
# tests/workloads/pyframes_pool.py and pystall.py.
#
# Environment knobs:
#   BUILD            build directory, relative to the repo root (default build)
#   TW_VM_CHECK      auto (default: real check if tool + workload are built,
#                    else stand-in) | real (fail if not built) | standin
#   TW_VM_MODES      attach modes to run (default auto,raw_tp)
#   TW_VM_N TW_VM_MS workload arguments (default 4 200)
#   TW_VM_PYTHON     CPython to pack (default /usr/bin/python3.11; none: no Python
#                    cases, said on the summary line)
#   TW_VM_TIMEOUT    hard limit per VM boot in seconds (default 600)
#   TW_VM_SMP        guest CPUs (default 2)   TW_VM_MEM  MiB (default 1024)
#   TW_VM_APPEND     extra kernel command line
#   TW_VM_CACHE      kernel cache (default /var/cache/bpf-threadwatch/vm)
#   TW_VM_OUT        where logs and the initramfs go (default a new /tmp dir)
#   TW_VM_VERBOSE=1  print every guest console, not only failing ones
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$REPO/$BUILD
KLIST=${TW_VM_KERNELS:-$here/kernels.list}
CHECK=${TW_VM_CHECK:-auto}
MODES=${TW_VM_MODES:-auto,raw_tp}
N=${TW_VM_N:-4}
MS=${TW_VM_MS:-200}
TIMEOUT=${TW_VM_TIMEOUT:-600}
SMP=${TW_VM_SMP:-2}
MEM=${TW_VM_MEM:-1024}
QBOOT=/usr/share/qemu/qboot.rom
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

die() { echo "run-matrix: ERROR: $*" >&2; exit 1; }
note() { echo "run-matrix: $*" >&2; }

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; install the Debian package qemu-system-x86"
command -v timeout >/dev/null || die "timeout not found; install coreutils"
[[ -n $PY ]] || die "python3 not found; install the Debian package python3"
bios=()
if [[ -f $QBOOT ]]; then bios=(-bios "$QBOOT"); else note "warning: $QBOOT missing (qemu-system-x86 too old?), using the default BIOS (slower boot)"; fi

if [[ $# -gt 0 ]]; then
	lines=("$@")
else
	mapfile -t lines < <(awk '!/^#/ && NF {print $1}' "$KLIST")
fi
[[ ${#lines[@]} -gt 0 ]] || die "no kernel lines given and none in $KLIST"

TOOL=$BUILD/bpf-threadwatch
WORKLOAD=$BUILD/tests/blockers
case $CHECK in
auto)
	if [[ -x $TOOL && -x $WORKLOAD ]]; then
		CHECK=real
	else
		CHECK=standin
		{
			echo "run-matrix: WARNING: $TOOL and/or $WORKLOAD not built (run 'make' first)."
			echo "run-matrix: WARNING: running the STAND-IN check only (boot, BTF, tracefs, bpffs);"
			echo "run-matrix: WARNING: set TW_VM_CHECK=real to make a missing build an error."
		} >&2
	fi
	;;
real)
	[[ -x $TOOL ]] || die "$TOOL not found or not executable; build it first (make), or set BUILD=<dir>"
	[[ -x $WORKLOAD ]] || die "$WORKLOAD not found or not executable; build the test workloads first (make)"
	;;
standin) ;;
*) die "TW_VM_CHECK must be auto, real or standin (got '$CHECK')" ;;
esac

# CPython for the Python frames cases (only with the real check)
PYTHON=${TW_VM_PYTHON:-/usr/bin/python3.11}
PY_FILES="$REPO/tests/workloads/pyframes_pool.py $REPO/tests/workloads/pystall.py"
if [[ $CHECK != real || $PYTHON == none ]]; then
	PYTHON=
elif [[ ! -x $PYTHON ]]; then
	[[ -z ${TW_VM_PYTHON:-} && ${TW_VM_CHECK:-auto} == auto ]] ||
		die "$PYTHON not found; install the Debian package python3.11-minimal (or set TW_VM_PYTHON=none)"
	note "WARNING: $PYTHON not found (Debian package python3.11-minimal): no Python frames cases"
	PYTHON=
fi

OUT=${TW_VM_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tw-vm-matrix.XXXXXX")}
mkdir -p "$OUT"
note "check=$CHECK modes=$MODES workload='blockers $N $MS' python=${PYTHON:-none} logs in $OUT"

# --- one initramfs for all kernels -------------------------------------------
bins=()
if [[ $CHECK == real ]]; then
	bins+=("$TOOL")
	while IFS= read -r f; do bins+=("$f"); done < <(find "$BUILD/tests" -maxdepth 1 -type f -perm -u+x | sort)
fi
t0=$(date +%s.%N)
TW_VM_PYTHON=$PYTHON TW_VM_PY_FILES=$PY_FILES "$here/mkinitramfs.sh" "$OUT/initrd.cpio.gz" "${bins[@]}" ||
	die "building the initramfs failed"
note "initramfs: $(stat -c %s "$OUT/initrd.cpio.gz") bytes, built in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s"

# --- boot each kernel --------------------------------------------------------
passed=0
failed=0
summaries=()
for line in "${lines[@]}"; do
	log="$OUT/console-$line.log"
	if ! vmlinuz=$("$here/fetch-kernel.sh" "$line"); then
		summaries+=("vm $line: FAIL (could not fetch the kernel package; see the fetch-kernel error above)")
		failed=$((failed + 1))
		continue
	fi
	kver=$(basename "$vmlinuz")
	kver=${kver#vmlinuz-}
	append="console=ttyS0 panic=-1 loglevel=4 tw.check=$CHECK tw.modes=$MODES tw.n=$N tw.ms=$MS ${TW_VM_APPEND:-}"
	note "booting $kver (line $line, -smp $SMP, timeout ${TIMEOUT}s)"
	t0=$(date +%s.%N)
	set +e
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg,thread=single -m "$MEM" -smp "$SMP" \
		-kernel "$vmlinuz" -initrd "$OUT/initrd.cpio.gz" -append "$append" \
		-nographic -no-reboot "${bios[@]}" </dev/null >"$log" 2>&1
	qrc=$?
	set -e
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
	note "$kver: qemu exited rc=$qrc after ${secs}s"
	set +e
	summary=$("$PY" "$here/check-report.py" --log "$log" --label "$kver" --expect-kernel "$kver" \
		--check "$CHECK" --modes "$MODES" --n "$N" --ms "$MS" --qemu-rc "$qrc" --timeout "$TIMEOUT" \
		--python "${PYTHON:-none}")
	crc=$?
	set -e
	[[ -n $summary ]] || summary="vm $kver: FAIL (check-report.py crashed, rc=$crc)"
	if [[ $crc -eq 0 ]]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	if [[ $crc -ne 0 || ${TW_VM_VERBOSE:-0} == 1 ]]; then
		echo "----- guest console of $kver ($log) -----"
		tr -d '\r' <"$log"
		echo "----- end of guest console of $kver -----"
	fi
	summaries+=("$summary [${secs}s]")
	note "$summary [${secs}s]"
done

echo
echo "=== kernel matrix (check=$CHECK) ==="
printf '%s\n' "${summaries[@]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
