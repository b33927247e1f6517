#!/bin/sh
# In-guest check of the kernel matrix (busybox sh), run by /init.
# Exit 0 = pass.  Append short key=value facts to /tmp/tw-summary; they end up
# on the TW-VM-RESULT marker line.  Detailed JSON validation happens on the
# host (tests/vm/check-report.py), which reads the blocks printed between
#   TW-VM-JSON-BEGIN mode=<mode> rc=<rc>   ...   TW-VM-JSON-END mode=<mode>
#
# Knobs (kernel command line tw.KEY=VALUE -> env TW_KEY):
#   TW_CHECK    real | standin | auto (real when the tool and workload exist)
#   TW_MODES    comma-separated --attach-mode values (default auto,raw_tp)
#   TW_N TW_MS  workload arguments: blockers N MS (default 4 200)
#   TW_TIMEOUT  seconds allowed for one tool run (default 90; keep
#               modes x TW_TIMEOUT + boot under the host's TW_VM_TIMEOUT)
#   TW_TOOLARGS extra tool arguments, comma-separated (e.g. -v)
#   TW_VERBOSE_RERUN  1 (default): after a failed run, rerun it with -v and
#               print the tail of its stderr (libbpf + verifier log)
#   TW_TOOL TW_WORKLOAD  guest paths of the binaries
TOOL=${TW_TOOL:-/tw/bin/bpf-threadwatch}
WORKLOAD=${TW_WORKLOAD:-/tw/bin/blockers}
CHECK=${TW_CHECK:-auto}
MODES=$(echo "${TW_MODES:-auto,raw_tp}" | tr ',' ' ')
# Extra tool arguments, comma-separated on the kernel command line
# (tw.toolargs=-v or tw.toolargs=--top,0).
TOOLARGS=$(echo "${TW_TOOLARGS:-}" | tr ',' ' ')
N=${TW_N:-4}
MS=${TW_MS:-200}
T=${TW_TIMEOUT:-90}

fail=0
say() { echo "tw-check: $*"; }
fact() { echo "$*" >>/tmp/tw-summary; }
bad() { say "FAIL: $*"; fail=1; }

# --- kernel prerequisites (always checked) ----------------------------------
if [ -r /sys/kernel/btf/vmlinux ]; then
	btf=$(wc -c </sys/kernel/btf/vmlinux)
	say "BTF: /sys/kernel/btf/vmlinux is $btf bytes"
	[ "$btf" -gt 0 ] || bad "/sys/kernel/btf/vmlinux is empty"
else
	bad "no /sys/kernel/btf/vmlinux (kernel without CONFIG_DEBUG_INFO_BTF?)"
fi
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || bad "bpffs is not mounted on /sys/fs/bpf"
for ev in sched/sched_switch sched/sched_wakeup sched/sched_process_fork sched/sched_process_exit; do
	[ -d /sys/kernel/tracing/events/$ev ] || bad "tracefs has no events/$ev"
done
for ev in syscalls/sys_enter_clone syscalls/sys_exit_clone syscalls/sys_enter_clone3 syscalls/sys_exit_clone3; do
	[ -d /sys/kernel/tracing/events/$ev ] || say "note: tracefs has no events/$ev"
done

if [ "$CHECK" = auto ]; then
	if [ -x "$TOOL" ] && [ -x "$WORKLOAD" ]; then CHECK=real; else CHECK=standin; fi
fi

# --- stand-in check: proves boot, mounts and markers without the tool -------
if [ "$CHECK" = standin ]; then
	say "stand-in check (tool or workload not in the image)"
	fact "check=standin btf_bytes=${btf:-0}"
	exit $fail
fi

# --- real check: the tool traces the workload once per attach mode ----------
[ -x "$TOOL" ] || { bad "tool $TOOL missing from the initramfs"; exit 1; }
[ -x "$WORKLOAD" ] || { bad "workload $WORKLOAD missing from the initramfs"; exit 1; }
fact "check=real n=$N ms=$MS"
for mode in $MODES; do
	say "run: $TOOL $TOOLARGS --format json --attach-mode $mode -- $WORKLOAD $N $MS"
	t0=$(cut -d' ' -f1 /proc/uptime)
	# shellcheck disable=SC2086 # TOOLARGS is split on purpose
	timeout "$T" "$TOOL" $TOOLARGS --format json --attach-mode "$mode" -- "$WORKLOAD" "$N" "$MS" \
		>"/tmp/out.$mode" 2>"/tmp/err.$mode"
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	say "mode=$mode rc=$rc (${t0}s -> ${t1}s uptime)"
	echo "TW-VM-STDERR-BEGIN mode=$mode"
	sed 's/^/  | /' "/tmp/err.$mode"
	echo "TW-VM-STDERR-END mode=$mode"
	echo "TW-VM-JSON-BEGIN mode=$mode rc=$rc"
	cat "/tmp/out.$mode"
	echo
	echo "TW-VM-JSON-END mode=$mode"
	attach=$(grep -E '"type" *: *"final"' "/tmp/out.$mode" | tail -n1 |
		sed -n 's/.*"attach" *: *"\([a-z_]*\)".*/\1/p')
	if [ "$rc" -eq 124 ]; then
		bad "mode=$mode: tool timed out after ${T}s"
	elif [ "$rc" -ne 0 ]; then
		bad "mode=$mode: tool exited with rc=$rc"
	fi
	[ -n "$attach" ] || bad "mode=$mode: no final JSON report with an \"attach\" field on stdout"
	fact "$mode=${attach:-none}"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "${TW_VERBOSE_RERUN:-1}" = 1 ]; then
		# Rerun with -v so libbpf's messages (and the verifier log) reach CI.
		say "rerunning mode=$mode with -v for libbpf/verifier diagnostics"
		timeout 30 "$TOOL" -v --format json --attach-mode "$mode" -- "$WORKLOAD" "$N" "$MS" \
			>/dev/null 2>"/tmp/verr.$mode"
		echo "TW-VM-VERBOSE-BEGIN mode=$mode rc=$? (last ${TW_VERBOSE_LINES:-200} lines of stderr)"
		tail -n "${TW_VERBOSE_LINES:-200}" "/tmp/verr.$mode" | sed 's/^/  | /'
		echo "TW-VM-VERBOSE-END mode=$mode"
	fi
done

# --- attach-time state: threads asleep since before the trace ----------------
# presleep's threads go to sleep before the tool attaches (read on a pipe nobody
# writes, clock_nanosleep, a loop stuck in read, an idle epoll loop); the tool,
# attached ATTACH_PRE s later, must report them blocked since before the trace
# (the host checks it: TW-VM-ATTACH blocks).
PRESLEEP=${TW_PRESLEEP:-/tw/bin/presleep}
ATTACH_PRE=${TW_ATTACH_PRE:-2}
if [ -x "$PRESLEEP" ]; then
	for mode in $MODES; do
		rm -f /tmp/ctl /tmp/pre.out /tmp/pre.err
		mkfifo /tmp/ctl
		"$PRESLEEP" --out /tmp/pre.out </tmp/ctl 2>/tmp/pre.err &
		wpid=$!
		exec 3>/tmp/ctl # its stdin stays open until we close fd 3
		i=0
		while ! grep -q '"phase":"asleep"' /tmp/pre.err 2>/dev/null && [ $i -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		sleep "$ATTACH_PRE"
		say "attach run: $TOOL --format json --attach-mode $mode -p $wpid -d 2 --blocked-ms 500"
		timeout "$T" "$TOOL" $TOOLARGS --format json --attach-mode "$mode" -p "$wpid" -d 2 \
			--blocked-ms 500 >"/tmp/att.$mode" 2>"/tmp/atterr.$mode"
		rc=$?
		exec 3>&-
		wait "$wpid"
		wrc=$?
		echo "TW-VM-ATTACH-BEGIN mode=$mode rc=$rc wrc=$wrc"
		grep '"phase":"asleep"' /tmp/pre.err
		cat /tmp/pre.out
		cat "/tmp/att.$mode"
		sed 's/^/  | /' "/tmp/atterr.$mode"
		echo
		echo "TW-VM-ATTACH-END mode=$mode"
		[ "$rc" -eq 0 ] || bad "attach mode=$mode: tool exited with rc=$rc"
		[ "$wrc" -eq 0 ] || bad "attach mode=$mode: presleep exited with rc=$wrc"
	done
	fact "attach=checked"
else
	say "note: $PRESLEEP not in the image: attach-time state not checked"
fi
# --- targets (issue 9): the exec and cgroup-move programs load only with --comm and
# --cgroup, so load them too: a blocker exec'd during the run is caught by its comm --------
mkdir -p /sys/fs/cgroup
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup ||
	say "note: mounting cgroup2 failed"
mkdir -p /sys/fs/cgroup/tw-targets
for mode in $MODES; do
	timeout "$T" "$TOOL" --format json --attach-mode "$mode" --comm blockers \
		--cgroup /sys/fs/cgroup/tw-targets -d 3 >"/tmp/tout.$mode" 2>"/tmp/terr.$mode" &
	tpid=$!
	# the workload must start once the tool traces (attach takes over a second under TCG)
	i=0
	while ! grep -q '^Tracing' "/tmp/terr.$mode" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	"$WORKLOAD" 2 100 >/dev/null
	wait $tpid
	rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q '"comm":"blockers"' "/tmp/tout.$mode"; then
		bad "mode=$mode: --comm/--cgroup run rc=$rc, blockers not traced"
		sed 's/^/  | /' "/tmp/terr.$mode"
		timeout 30 "$TOOL" -v --attach-mode "$mode" --comm blockers \
			--cgroup /sys/fs/cgroup/tw-targets -d 1 2>&1 >/dev/null | tail -n 100 |
			sed 's/^/  | /'
	fi
	fact "targets_$mode=rc$rc"
done
rmdir /sys/fs/cgroup/tw-targets 2>/dev/null
# --- the cheap mode (issue 10): without the syscall programs, tp_btf names each block by
# the syscall it slept in, read from the registers at switch out (bpf_task_pt_regs) -----
for mode in $MODES; do
	timeout "$T" "$TOOL" --format json --attach-mode "$mode" --no-syscalls -- "$WORKLOAD" 2 100 \
		>"/tmp/nsout.$mode" 2>"/tmp/nserr.$mode"
	rc=$?
	attach=$(grep -E '"type" *: *"final"' "/tmp/nsout.$mode" | tail -n1 |
		sed -n 's/.*"attach" *: *"\([a-z_]*\)".*/\1/p')
	if [ "$rc" -ne 0 ]; then
		bad "mode=$mode: --no-syscalls run rc=$rc"
		sed 's/^/  | /' "/tmp/nserr.$mode"
		timeout 30 "$TOOL" -v --attach-mode "$mode" --no-syscalls -- "$WORKLOAD" 2 100 \
			2>&1 >/dev/null | tail -n 100 | sed 's/^/  | /'
	elif [ "$attach" = tp_btf ] && ! grep -q '"syscall_mode":"named".*"name":"read"' \
		"/tmp/nsout.$mode"; then
		bad "mode=$mode: --no-syscalls with tp_btf named no read() block"
	fi
	fact "nosys_$mode=rc$rc,${attach:-none}"
done
# --- stalls' stacks (issue 11): the on-CPU part comes from cpu-clock perf events, which a
# guest may lack: then the tool says so on stderr and the stalls keep their blocked stacks
# (the host checks either case: TW-VM-STALL blocks) ------------------------------------------
STALLLOOP=${TW_STALLLOOP:-/tw/bin/stallloop}
if [ -x "$STALLLOOP" ]; then
	for mode in $MODES; do
		timeout "$T" "$TOOL" --format json --attach-mode "$mode" -- "$STALLLOOP" 150 200 \
			>"/tmp/sout.$mode" 2>"/tmp/serr.$mode"
		rc=$?
		echo "TW-VM-STALL-BEGIN mode=$mode rc=$rc"
		cat "/tmp/sout.$mode"
		sed 's/^/  | /' "/tmp/serr.$mode"
		echo
		echo "TW-VM-STALL-END mode=$mode"
		[ "$rc" -eq 0 ] || bad "stall mode=$mode: tool exited with rc=$rc"
	done
	fact "stalls=checked"
else
	say "note: $STALLLOOP not in the image: stalls' stacks not checked"
fi
# --- Python frames (issue 12): CPython 3.11's frames in the stacks, walked in the kernel by
# py_walk() (bpf/pyframes.bpf.h) at the syscall exits and, for a thread asleep since before
# the attach, by the sleepable blocked-now iterator (bpf_copy_from_user_task). The workloads
# are the host's (tests/workloads/*.py); each block holds the workload's own JSON line
# (TW-PY-WL), the tool's report, the --folded lines (TW-PY-FOLDED) and the tool's stderr; the
# host (check-report.py) compares the frames with what the workload read from
# sys._current_frames() ------------------------------------------------------------------------
PYTHON=$(cat /tw/python 2>/dev/null)
py_block() { # case mode rc workload-out tool-out tool-err [folded]; $pt0: the case's start
	say "python case=$1 mode=$2 rc=$3 (${pt0}s -> $(cut -d' ' -f1 /proc/uptime)s uptime)"
	echo "TW-VM-PY-BEGIN case=$1 mode=$2 rc=$3"
	sed 's/^/TW-PY-WL /' "$4" 2>/dev/null
	grep -E '"type" *: *"final"' "$5"
	[ -n "$7" ] && sed 's/^/TW-PY-FOLDED /' "$7" 2>/dev/null
	sed 's/^/  | /' "$6"
	echo
	echo "TW-VM-PY-END case=$1 mode=$2"
	[ "$3" -eq 0 ] && return
	bad "python case=$1 mode=$2: rc=$3"
	if [ "$3" -ne 124 ] && [ "${TW_VERBOSE_RERUN:-1}" = 1 ]; then
		# libbpf's messages and the verifier log, as for the C runs above
		timeout 60 "$TOOL" -v --format json --attach-mode "$2" -- "$PYTHON" -c pass \
			>/dev/null 2>/tmp/pyverr
		echo "TW-VM-VERBOSE-BEGIN mode=$2 case=$1 rc=$? (last ${TW_VERBOSE_LINES:-200} lines of stderr)"
		tail -n "${TW_VERBOSE_LINES:-200}" /tmp/pyverr | sed 's/^/  | /'
		echo "TW-VM-VERBOSE-END mode=$2"
	fi
}
if [ -n "$PYTHON" ] && [ -x "$PYTHON" ]; then
	py0=$(cut -d' ' -f1 /proc/uptime)
	first=${MODES%% *}
	for mode in $MODES; do
		# (1) a ThreadPoolExecutor's workers blocked in socket.recv and on a threading.Lock
		pt0=$(cut -d' ' -f1 /proc/uptime)
		rm -f /tmp/pypool.json /tmp/pypool.folded
		timeout "$T" "$TOOL" --format json --attach-mode "$mode" --folded /tmp/pypool.folded -- \
			"$PYTHON" /tw/py/pyframes_pool.py pool --out /tmp/pypool.json \
			>"/tmp/pyout.$mode" 2>"/tmp/pyerr.$mode"
		py_block pool "$mode" $? /tmp/pypool.json "/tmp/pyout.$mode" "/tmp/pyerr.$mode" \
			/tmp/pypool.folded
		# (2) an asyncio handler in time.sleep(0.3) (a blocked stall) and one computing (on CPU);
		# first mode only: its programs are those of (1) and the perf_event sampler (each tool
		# run costs 3-6 s of loading under TCG)
		if [ "$mode" = "$first" ]; then
			pt0=$(cut -d' ' -f1 /proc/uptime)
			rm -f /tmp/pystall.json
			timeout "$T" "$TOOL" --format json --attach-mode "$mode" -- \
				"$PYTHON" /tw/py/pystall.py --out /tmp/pystall.json \
				>"/tmp/pysout.$mode" 2>"/tmp/pyserr.$mode"
			py_block stall "$mode" $? /tmp/pystall.json "/tmp/pysout.$mode" "/tmp/pyserr.$mode"
		fi
		# (3) a thread blocked in recv since before the attach: its blocked-now row's stack
		pt0=$(cut -d' ' -f1 /proc/uptime)
		rm -f /tmp/pyctl /tmp/pyheld.json /tmp/pyheld.stdout
		mkfifo /tmp/pyctl
		"$PYTHON" /tw/py/pyframes_pool.py pool --wait-stdin --block-ms 100 --spawn 1 \
			--out /tmp/pyheld.json </tmp/pyctl >/tmp/pyheld.stdout 2>/tmp/pyheld.err &
		wpid=$!
		exec 4>/tmp/pyctl # its stdin: EOF (go on) when we close fd 4
		i=0
		while ! grep -q ready /tmp/pyheld.stdout 2>/dev/null && [ $i -lt 600 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		timeout "$T" "$TOOL" --format json --attach-mode "$mode" -p "$wpid" -d 2 \
			--blocked-ms 500 >"/tmp/pyhout.$mode" 2>"/tmp/pyherr.$mode"
		rc=$?
		exec 4>&-
		wait "$wpid"
		wrc=$?
		[ "$wrc" -eq 0 ] || { bad "python case=now mode=$mode: the workload exited rc=$wrc"; cat /tmp/pyheld.err; }
		py_block now "$mode" $rc /tmp/pyheld.json "/tmp/pyhout.$mode" "/tmp/pyherr.$mode"
	done
	py1=$(cut -d' ' -f1 /proc/uptime)
	say "python cases: ${py0}s -> ${py1}s uptime"
	fact "python=checked"
else
	say "note: no CPython in the image (TW_VM_PYTHON unset when it was built): Python frames not checked"
	fact "python=none"
fi
exit $fail
