#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#
# bench/run.sh: what bpf-threadwatch costs the workloads it watches, as RATIOS measured side
# by side in one run (traced / untraced, and the same for libbpf-tools offcputime and runqlat,
# strace and bpftrace).
#
#   pipe       perf bench sched pipe -T: two threads ping-pong through pipes, a context-switch
#              storm, the worst case for a sched_switch tracer. Time from perf's "Total time".
#   storm      bench/storm.c: 50,000 threads created and joined, 64 alive at once. Time printed
#              by the program around its create/join loop.
#   pingpong   bench/pingpong.c: two threads of one process pass 1 byte back and forth through
#              two pipes with read()/write(), pinned to one CPU like pipe: 4 syscalls and 2
#              context switches a loop, the worst case for a syscall tracer. Time per loop
#              printed by the program around its loop (CLOCK_MONOTONIC).
#   getpid     bench/sysloop.c getpid: one thread calling getpid() in a loop, pinned like
#              pingpong: a syscall the agent does not time, so what the syscall hooks cost a call
#              nobody asked about (raw sys_enter/sys_exit run for it; per-syscall tracepoints of
#              the timed calls do not). Time per call printed by the program around its loop.
#   readzero   bench/sysloop.c read: the same with a 1-byte read() of /dev/zero, a timed call
#              that never sleeps: what the hooks cost a timed call, without pingpong's context
#              switches and wake-ups around it.
#   neighbour  two pingpong processes at once, A and B, each pinned to a CPU of its own
#              (A to the second-to-last CPU, B to the last). The tracer watches A only (-p A);
#              the time is B's: what tracing one process costs the untraced process next to
#              it (sys_enter/sys_exit and sched programs run for every task and filter out
#              B). Each on its own CPU, because on a 2-CPU machine two unpinned ping-pongs
#              fight over the CPUs (migrations, cross-CPU wake-ups) and that noise swamps a
#              1% effect; the tracer itself stays unpinned, so a tracer that burns CPU
#              (strace) takes it from the neighbour, as it would on a full machine. A runs
#              until B is done, then is killed.
#   nginx      a real service: Debian's nginx (worker_processes 2, access_log off, one static
#              file of 600 bytes, listening on 127.0.0.1:<free port>, its own prefix, config,
#              pid and temp dirs under this run's mktemp dir, run as root in the foreground
#              with `daemon off;`, started once for the benchmark and stopped at its end) under
#              Debian's wrk on loopback: `wrk -t2 -c$BENCH_NGINX_C -d${NGINX_S}s` per run
#              (-N, default 10 s, quick 5; 32 connections), each after an unmeasured 1 s wrk
#              warm-up with the tracer attached (and one 1 s warm-up at start). The listening
#              socket has `reuseport` (the kernel spreads connections evenly over the two
#              workers instead of the first to wake taking most of them); both workers are
#              pinned to the last CPU and wrk to the others, so no busy thread moves (the
#              tracer is not pinned). BENCH_NGINX_PIN=auto pins the workers one per CPU and
#              leaves wrk unpinned, =none pins nothing, BENCH_NGINX_REUSEPORT=0 drops reuseport,
#              BENCH_NGINX_CFGS="base tw_p" runs only those configurations. Result:
#              requests/s (wrk's requests / its own duration) and the ratio to base; and the
#              CPU time per request of nginx + wrk + the tracer (utime + stime from
#              /proc/PID/stat, wrk's from /usr/bin/time), whose ratio to base is the loss on a
#              machine they saturate, and which other load on the machine moves much less
#              than requests/s; plus the tracer's own CPU as a share of one core.
#              A run fails if wrk reports a socket error or a non-2xx/3xx response, or nginx
#              dies. tw_p/tw_pns name the master and both workers with -p (or -p MASTER
#              --children once the agent's --help has --children).
#   daemon     fleet mode's own cost on a busy node (only with -b daemon): bench/idlers.c keeps
#              $BENCH_DAEMON_PROCS processes x $BENCH_DAEMON_THREADS threads (1,000 x 10 =
#              10,000) alive, each thread waking every 1-10 s ($BENCH_DAEMON_SLEEP_MS) for a
#              few syscalls, 1% of them replaced every second. Then `bpf-threadwatch daemon --listen 127.0.0.1:<free
#              port>` (dm: without syscall timing, dm_sc: --syscalls) is scraped with curl once
#              a second for -D seconds (default 60, quick 20) after a warm-up of
#              $DAEMON_WARMUP_S s (the /proc seed of 10,000 threads is start-up, not the steady
#              state); and the same two once every 15 s (dm15, dm_sc15: Prometheus' usual
#              interval), over -D rounded up to whole intervals, interleaved with the others
#              in the same run ($BENCH_DAEMON_SCRAPE_S, default 1,15: the scrape intervals in
#              seconds). Measured over that window: the daemon's CPU time (utime + stime of
#              /proc/PID/stat, all its threads) as a share of one core, its peak RSS (VmHWM),
#              its wake-ups (voluntary context switches of all its threads) per second,
#              the /metrics body (series, bytes), threadwatch_agent_render_seconds, its
#              renderings and map reads (threadwatch_agent_{renders,refreshes}_total), and the
#              BPF programs' run time per second from the daemon's own
#              threadwatch_agent_bpf_run_seconds_total: kernel time spent in the context of
#              every thread on the node, NOT the daemon's CPU, listed separately. A run fails
#              unless every scrape answers 200, threadwatch_agent_threads stays >= P x T and
#              the daemon exits 0 on SIGTERM.
#
# Configurations, interleaved within each repetition (the starting one rotates) to cancel drift:
#   base    untraced
#   tw_p    bpf-threadwatch -p <workload PID>: as the agent defaults (pipe, storm); with syscall
#           timing on, + $TW_SYSCALL_FLAG while it is opt-in (pingpong, neighbour)
#   tw_psc  bpf-threadwatch -p <workload PID> --syscalls (pipe, while syscall timing is opt-in)
#   tw_pns  bpf-threadwatch -p <workload PID> without syscall timing (--no-syscalls once it is
#           on by default; pipe then, pingpong, neighbour): splits scheduler and syscall costs
#   tw_sys  bpf-threadwatch (system-wide)
#   oc_p    offcputime -p <workload PID>   (libbpf-tools, pipe only)
#   oc_sys  offcputime (system-wide)       (pipe only)
#   rq      runqlat (system-wide)          (pipe, nginx)
#   strace  strace -f -qq -o /dev/null -p <PID>: every thread (pingpong/neighbour), run with
#           1/$STRACE_DIV of the loops (it is ~20x slower): its ratio is per loop
#   floor   bpftrace bench/floor.bt <PID>: only counts PID's syscalls on the same raw
#           tracepoints: the price of having syscall tracepoints on at all (nginx: its three
#           PIDs)
#   empty   build/bench/floorload: EMPTY programs (return 0, bench/floor.bpf.c) on every hook
#           the agent uses, same flavour (tp_btf, else raw_tp), system-wide (pipe, pingpong,
#           neighbour, nginx): the physical floor of the hooks; the tables print each bpf-threadwatch
#           configuration as "floor + X", X being what our programs' bodies and filters add
#   empty_ns  the same without sys_enter/sys_exit (floorload -S): the floor under tw_pns
#           (and under tw_p of an agent whose syscall timing is opt-in)
#   empty_sched  the same without any syscall tracepoint, the clone ones too (floorload -N): no
#           task's syscalls take the traced slow path, which any syscall tracepoint turns on
#           for all of them (pingpong, getpid, neighbour)
#   empty_pst  the same with empty programs on the per-syscall tracepoints of the agent's timed
#           calls (syscalls/sys_enter_read, sys_exit_read... floorload -P) instead of
#           sys_enter/sys_exit: what that hook architecture costs (pingpong, getpid,
#           neighbour, nginx), against empty (raw) and empty_ns (none)
#   bt      bpftrace bench/syscalls.bt <PID>: the same per-thread read/write latency
#           histograms in bpftrace (pingpong/neighbour; x86_64 only)
# Every workload starts stopped (SIGSTOP) and is continued once its tracer is attached, so the
# timed part is fully traced and -p always has a PID. Every bpf-threadwatch run must exit 0 and
# print its final report, or the run counts as failed and the script exits 1.
#
# Then, with kernel.bpf_stats_enabled=1 (restored afterwards), one traced run of each workload
# gives run_cnt and run_time_ns per BPF program: where the time goes. The empty programs are
# attached in that same run (with or without the syscall pair, as the agent), so every program
# is printed as our ns/event, the empty program's ns/event on the same hook, and the difference.
#
# Usage: bench/run.sh [-q] [-n REPS] [-l LOOPS] [-L LOOPS] [-G LOOPS] [-s THREADS] [-D SECONDS]
#                     [-b BENCHES] [-N SECONDS]
#   -q  quick mode (~5 minutes): 2 repetitions, ~1.2 s pipe runs,   (or BENCH_QUICK=1)
#       ~1 s pingpong runs
#   -n  repetitions per configuration (default 5, quick 2)          (or BENCH_REPS)
#   -l  perf bench sched pipe loops (default: calibrated to ~2.5 s) (or BENCH_LOOPS)
#   -L  pingpong loops (default: calibrated to ~2 s, quick ~1 s)    (or BENCH_PP_LOOPS)
#   -G  getpid loops (default: calibrated to ~1 s, quick ~0.5 s)    (or BENCH_GP_LOOPS)
#       (readzero: BENCH_RZ_LOOPS, calibrated the same way)
#   -s  storm threads (default 50000)                               (or BENCH_STORM_THREADS)
#   -D  daemon: seconds of scraping per run (default 60, quick 20;  (or BENCH_DAEMON_S)
#       rounded up to whole scrape intervals)
#   -N  nginx: seconds of wrk per run (default 10, quick 5)         (or BENCH_NGINX_S)
#   -b  comma-separated benchmarks to run, default all but daemon:  (or BENCH_ONLY)
#       pipe,storm,pingpong,getpid,readzero,neighbour,nginx; daemon (~5 min quick, ~20 min
#       full) only when named
# daemon: BENCH_DAEMON_SCRAPE_S (1,15): the scrape intervals, seconds, each one configuration
# pair (dm, dm_sc for 1; dm15, dm_sc15 for 15), interleaved in the same run.
# daemon's node: BENCH_DAEMON_PROCS (1000) processes x BENCH_DAEMON_THREADS (10) threads,
# BENCH_DAEMON_CHURN (1) % of the threads replaced a second, each thread asleep for
# BENCH_DAEMON_SLEEP_MS (1000-10000: MIN-MAX, random) between wake-ups.
# BENCH_QUIET=1: before each measured run, wait until the machine is quiet (no other process
# holds BPF links, the CPUs >= 90% idle over 1 s), at most BENCH_QUIET_MAX_S (300) s: on a
# machine shared with tests and other benchmarks, what they do is otherwise measured too.
# BENCH_CFGS="base empty ...": only these configurations of pipe, storm, pingpong, getpid and
# neighbour (BENCH_NGINX_CFGS for nginx).
# Environment: TW=path/to/bpf-threadwatch (default build/bpf-threadwatch);
# TW_SYSCALL_FLAG / TW_NOSYSCALL_FLAG: what turns syscall timing on / off with -p (default,
# from the agent's --help: nothing / --no-syscalls when it has --no-syscalls, else
# --syscalls / nothing). BENCH_PIN=0: no pinning at all.
# Writes bench/results/<UTC stamp>.md (+ raw .tsv and profile .json) and prints the table.
# Installs nothing: missing perf/offcputime/runqlat/strace/bpftrace are reported and their
# columns skipped (`make deps` installs the first three), missing nginx/wrk the nginx
# benchmark (`make deps` installs both); so is the empty floor when `make`
# has not built build/bench/floorload and build/bench/floor.bpf.o.
set -euo pipefail

ARGS="$*"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TW=${TW:-$ROOT/build/bpf-threadwatch}
QUICK=${BENCH_QUICK:-0}
REPS=${BENCH_REPS:-}
LOOPS=${BENCH_LOOPS:-}
PP_LOOPS=${BENCH_PP_LOOPS:-}
GP_LOOPS=${BENCH_GP_LOOPS:-}
RZ_LOOPS=${BENCH_RZ_LOOPS:-}
ONLY=${BENCH_ONLY:-pipe,storm,pingpong,getpid,readzero,neighbour,nginx}
STORM_THREADS=${BENCH_STORM_THREADS:-50000}
STORM_WINDOW=64
CALIB_LOOPS=20000
PP_CALIB_LOOPS=20000
GP_CALIB_LOOPS=200000
STRACE_DIV=20 # strace runs 1/20 of the pingpong loops: it is ~20x slower per loop
DAEMON_S=${BENCH_DAEMON_S:-}
NGINX_S=${BENCH_NGINX_S:-}
NGINX_C=${BENCH_NGINX_C:-32} # wrk's connections
NGINX_WRK=(-t2 -c"$NGINX_C") # wrk's threads and connections
NGINX_WARM_S=1               # an unmeasured wrk run before each measured one
# nginx's workers one per CPU (auto), both on the last CPU and wrk on the others (split), or
# left to the scheduler (none); reuseport or not; which configurations (default: all there are)
NGINX_PIN=${BENCH_NGINX_PIN:-split}
NGINX_REUSEPORT=${BENCH_NGINX_REUSEPORT:-1}
NGINX_CFGS=${BENCH_NGINX_CFGS:-}
NGINX_TIMEOUT_S=30     # the most a wrk run may take beyond its -d
NGINX_LOSS_TARGET_PCT=5    # issue 10: requests/s lost with the default -p
NGINX_CHEAP_TARGET_PCT=1   # ... and in a documented cheaper mode (tw_pns, for now)
DAEMON_PROCS=${BENCH_DAEMON_PROCS:-1000}
DAEMON_THREADS=${BENCH_DAEMON_THREADS:-10}
DAEMON_CHURN=${BENCH_DAEMON_CHURN:-1}
DAEMON_SLEEP_MS=${BENCH_DAEMON_SLEEP_MS:-1000-10000}
DAEMON_WARMUP_S=3 # after the first scrape that shows every idler: the seed's aftermath settles
DAEMON_CPU_TARGET_PCT=0.5    # issue 10: without --syscalls, at every scrape interval
DAEMON_CPU_TARGET_SC_PCT=1   # ... and with --syscalls
DAEMON_RSS_TARGET_MB=30
# Both pipe threads on one CPU: unpinned, the pair flips between sharing a CPU (2 switches a
# loop) and spreading over two (4 switches and 2 IPI wake-ups a loop), and run time doubles or
# halves from one run to the next. BENCH_PIN=0 leaves it unpinned.
PIN=()
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null; then
	PIN=(taskset -c "$(($(nproc) - 1))")
fi
# neighbour: A (traced) and B (measured) each on a CPU of their own, B on the same CPU as the
# pingpong runs (see the header); with one CPU they share it
PIN_A=() PIN_B=()
if [ ${#PIN[@]} -gt 0 ]; then
	PIN_A=(taskset -c "$(($(nproc) > 1 ? $(nproc) - 2 : 0))")
	PIN_B=("${PIN[@]}")
fi
CLK_TCK=$(getconf CLK_TCK)
QUIET=${BENCH_QUIET:-0}
QUIET_MAX_S=${BENCH_QUIET_MAX_S:-300}
QUIET_BUSY_PCT=10 # busier than this, someone else is running
QUIET_WAITS=0 QUIET_WAITED_S=0 QUIET_GAVEUP=0
CFGS_ONLY=${BENCH_CFGS:-}
SETTLE_S=0.2 # after a libbpf-tool shows its first bpf_link: the rest attach within microseconds
EXIT_TIMEOUT_S=30

usage() {
	sed -n '/^# Usage:/,/^# Installs/p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while getopts "qn:l:L:G:s:D:N:b:h" opt; do
	case $opt in
	q) QUICK=1 ;;
	n) REPS=$OPTARG ;;
	l) LOOPS=$OPTARG ;;
	L) PP_LOOPS=$OPTARG ;;
	G) GP_LOOPS=$OPTARG ;;
	b) ONLY=$OPTARG ;;
	s) STORM_THREADS=$OPTARG ;;
	D) DAEMON_S=$OPTARG ;;
	N) NGINX_S=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
for v in REPS LOOPS PP_LOOPS GP_LOOPS RZ_LOOPS STORM_THREADS DAEMON_S NGINX_S NGINX_C QUIET_MAX_S DAEMON_PROCS \
	DAEMON_THREADS; do
	val=${!v}
	if [ -n "$val" ] && ! [[ $val =~ ^[1-9][0-9]*$ ]]; then
		echo "bench: $v must be a positive integer, not '$val'" >&2
		exit 2
	fi
done
for b in ${ONLY//,/ }; do
	case $b in
	pipe | storm | pingpong | getpid | readzero | neighbour | nginx | daemon) ;;
	*)
		echo "bench: unknown benchmark '$b' in -b (pipe,storm,pingpong,getpid,readzero,neighbour,nginx,daemon)" >&2
		exit 2
		;;
	esac
done
# wanted BENCH: is BENCH in -b?
wanted() {
	[[ ",$ONLY," == *",$1,"* ]]
}
if [ "$QUICK" = 1 ]; then
	REPS=${REPS:-2}
	PIPE_TARGET_S=1.2
	PP_TARGET_S=1.0
	GP_TARGET_S=0.5
	NGINX_S=${NGINX_S:-5}
	DAEMON_S=${DAEMON_S:-20}
	MODE=quick
else
	REPS=${REPS:-5}
	PIPE_TARGET_S=2.5
	PP_TARGET_S=2.0
	GP_TARGET_S=1.0
	NGINX_S=${NGINX_S:-10}
	DAEMON_S=${DAEMON_S:-60}
	MODE=full
fi

die() {
	echo "bench: $*" >&2
	exit 1
}
case $NGINX_PIN in
auto | none) ;;
split) [ "$(nproc)" -ge 2 ] || die "BENCH_NGINX_PIN=split needs 2 CPUs or more" ;;
*) die "BENCH_NGINX_PIN must be auto, split or none, not '$NGINX_PIN'" ;;
esac
# wrk's CPUs: all but the last with split (nginx has the last one), else all
WRK_PIN=()
[ "$NGINX_PIN" = split ] && WRK_PIN=(taskset -c "0-$(($(nproc) - 2))")
case $NGINX_REUSEPORT in 0 | 1) ;; *) die "BENCH_NGINX_REUSEPORT must be 0 or 1" ;; esac
if ! [[ $DAEMON_CHURN =~ ^[0-9]+$ ]] || [ "$DAEMON_CHURN" -gt 100 ]; then
	die "BENCH_DAEMON_CHURN must be a percentage 0-100, not '$DAEMON_CHURN'"
fi
if ! [[ $DAEMON_SLEEP_MS =~ ^[1-9][0-9]*-[1-9][0-9]*$ ]] ||
	[ "${DAEMON_SLEEP_MS%-*}" -gt "${DAEMON_SLEEP_MS#*-}" ]; then
	die "BENCH_DAEMON_SLEEP_MS must be MIN-MAX milliseconds, not '$DAEMON_SLEEP_MS'"
fi

[ "$(id -u)" = 0 ] || die "needs root (BPF tracing): run it with sudo"
[ -x "$TW" ] || die "no $TW: build it with 'make' first"
command -v gcc >/dev/null || die "gcc is missing: 'make deps' installs it"
PY=/usr/bin/python3
[ -x $PY ] || die "$PY is missing: 'make deps' installs it"

HAVE_PERF=0 HAVE_OC=0 HAVE_RQ=0 HAVE_TIME=0
command -v perf >/dev/null && perf bench sched pipe -l 1 >/dev/null 2>&1 && HAVE_PERF=1
OFFCPUTIME=$(command -v offcputime || true)
[ -z "$OFFCPUTIME" ] && [ -x /usr/sbin/offcputime ] && OFFCPUTIME=/usr/sbin/offcputime
[ -n "$OFFCPUTIME" ] && HAVE_OC=1
RUNQLAT=$(command -v runqlat || true)
[ -z "$RUNQLAT" ] && [ -x /usr/sbin/runqlat ] && RUNQLAT=/usr/sbin/runqlat
[ -n "$RUNQLAT" ] && HAVE_RQ=1
[ -x /usr/bin/time ] && HAVE_TIME=1
HAVE_STRACE=0 HAVE_BT=0 HAVE_EMPTY=0
FLOORLOAD=$ROOT/build/bench/floorload
FLOOR_OBJ=$ROOT/build/bench/floor.bpf.o
[ -x "$FLOORLOAD" ] && [ -s "$FLOOR_OBJ" ] && HAVE_EMPTY=1
command -v strace >/dev/null && HAVE_STRACE=1
# syscalls.bt has x86_64 syscall numbers
command -v bpftrace >/dev/null && [ "$(uname -m)" = x86_64 ] && HAVE_BT=1
# Syscall timing with -p: opt-in with --syscalls in older agents, on by default (off with
# --no-syscalls) in newer ones; told apart by --help. SC_ARGS turn it on with -p, NOSC_ARGS
# keep it off (config tw_pns, to split the cost between the scheduler and the syscall
# programs); TW_SYSCALL_FLAG and TW_NOSYSCALL_FLAG override them.
TW_HELP=$("$TW" --help 2>&1 || true)
has_opt() {
	grep -Eq -- "(^|[ ,])$1([ =]|\$)" <<<"$TW_HELP"
}
SC_DEFAULT=0
if has_opt --no-syscalls; then
	SC_DEFAULT=1 SC_FLAG_AUTO='' NOSC_FLAG_AUTO=--no-syscalls
elif has_opt --syscalls; then
	SC_FLAG_AUTO=--syscalls NOSC_FLAG_AUTO=
else
	SC_FLAG_AUTO='' NOSC_FLAG_AUTO=''
fi
TW_SYSCALL_FLAG=${TW_SYSCALL_FLAG-$SC_FLAG_AUTO}
TW_NOSYSCALL_FLAG=${TW_NOSYSCALL_FLAG-$NOSC_FLAG_AUTO}
SC_ARGS=() NOSC_ARGS=()
[ -n "$TW_SYSCALL_FLAG" ] && read -r -a SC_ARGS <<<"$TW_SYSCALL_FLAG"
[ -n "$TW_NOSYSCALL_FLAG" ] && read -r -a NOSC_ARGS <<<"$TW_NOSYSCALL_FLAG"
# tw_pns only when "-p PID" without syscall timing can be asked for
HAVE_NOSC=0
if [ ${#NOSC_ARGS[@]} -gt 0 ] || { [ $SC_DEFAULT = 0 ] && [ ${#SC_ARGS[@]} -gt 0 ]; }; then
	HAVE_NOSC=1
fi
NOTES=()
[ $HAVE_PERF = 1 ] || NOTES+=("perf (linux-perf) not found or not working: the pipe benchmark is skipped")
[ $HAVE_OC = 1 ] || NOTES+=("offcputime (libbpf-tools) not found: its columns are skipped")
[ $HAVE_RQ = 1 ] || NOTES+=("runqlat (libbpf-tools) not found: its column is skipped")
[ $HAVE_EMPTY = 1 ] || NOTES+=("no build/bench/floorload or floor.bpf.o ('make' builds them): the empty-program floor is skipped")
[ $HAVE_TIME = 1 ] || NOTES+=("/usr/bin/time (package time) not found: max RSS read from VmHWM, CPU time not measured")
# daemon: --syscalls turns syscall timing on; the other configuration says --no-syscalls when
# the daemon has it, so the pair stays "without / with" should the default ever change
DM_ARGS=() DM_SC_ARGS=() HAVE_DM_SC=0
if wanted daemon; then
	command -v curl >/dev/null || die "curl is missing: the daemon benchmark scrapes with it"
	DM_HELP=$("$TW" daemon --help 2>&1 || true)
	grep -q -- '--listen' <<<"$DM_HELP" || die "$TW has no 'daemon' with --listen"
	grep -Eq -- '(^|[ ,])--no-syscalls([ =]|$)' <<<"$DM_HELP" && DM_ARGS=(--no-syscalls)
	if grep -Eq -- '(^|[ ,])--syscalls([ =]|$)' <<<"$DM_HELP"; then
		DM_SC_ARGS=(--syscalls) HAVE_DM_SC=1
	else
		NOTES+=("daemon has no --syscalls: only its default configuration is measured")
	fi
fi
HAVE_NGINX=0 HAVE_CHILDREN=0
NGINX_BIN=$(command -v nginx || true)
[ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
WRK=$(command -v wrk || true)
has_opt --children && HAVE_CHILDREN=1
if wanted nginx; then
	if [ -z "$NGINX_BIN" ] || [ -z "$WRK" ]; then
		NOTES+=("nginx benchmark skipped: $([ -z "$NGINX_BIN" ] && echo 'nginx ')$([ -z "$WRK" ] &&
			echo 'wrk ')not found ('make deps' installs Debian's nginx and wrk)")
	else
		HAVE_NGINX=1
	fi
fi
if wanted pingpong || wanted neighbour; then
	[ $HAVE_STRACE = 1 ] || NOTES+=("strace not found: its pingpong/neighbour columns are skipped")
	if [ $HAVE_BT = 0 ]; then
		if command -v bpftrace >/dev/null; then
			NOTES+=("bpftrace: bench/syscalls.bt has x86_64 syscall numbers, this is $(uname -m): its columns are skipped")
		else
			NOTES+=("bpftrace not found: its pingpong/neighbour columns are skipped")
		fi
	fi
	if wanted neighbour && [ "$(nproc)" -lt 2 ]; then
		NOTES+=("neighbour: one CPU only, A and B share it: the neighbour ratio includes their competition")
	fi
fi
for n in "${NOTES[@]}"; do echo "bench: $n" >&2; done

RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS/$STAMP.tsv
PROF=$RESULTS/$STAMP.profile.json
DMJSON=$RESULTS/$STAMP.daemon.json
MD=$RESULTS/$STAMP.md
WORK=$(mktemp -d /tmp/tw-bench.XXXXXX)
STARTED=()
STATS_OLD=
NOISY=0
IDLERS=
NGINX='' NGINX_PIDS=()

cleanup() {
	local p
	# the idlers lead a process group of their own: SIGTERM makes them kill their children;
	# whatever is left of the group after that is killed outright
	if [ -n "$IDLERS" ]; then
		kill -TERM "$IDLERS" 2>/dev/null || true
		wait_gone "$IDLERS" 10 || true
		kill -KILL -- "-$IDLERS" 2>/dev/null || true
	fi
	[ -z "$NGINX" ] || stop_nginx
	for p in "${STARTED[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -CONT "$p" 2>/dev/null || true
			kill -TERM "$p" 2>/dev/null || true
		fi
	done
	for p in "${STARTED[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ -n "$STATS_OLD" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD" || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start "$@" stopped, output to $1; its PID in SPAWNED. The shell stops itself, then execs the
# workload, so the PID (and thread group) seen by -p is the workload's own.
spawn_stopped() {
	local out=$1 state=
	shift
	sh -c 'kill -STOP $$ && exec "$@"' bench-workload "$@" >"$out" 2>&1 &
	SPAWNED=$!
	STARTED+=("$SPAWNED")
	for _ in $(seq 100); do
		state=$(awk '{print $3}' "/proc/$SPAWNED/stat" 2>/dev/null || true)
		[ "$state" = T ] && return 0
		sleep 0.02
	done
	die "workload $* did not stop before its run (state '$state')"
}

# Start bpf-threadwatch, tagged $1, with args "${@:2}". Sets AGENT (the agent's PID, to signal)
# and AGENT_WAIT (the PID to wait for: /usr/bin/time's when it wraps the agent).
start_agent() {
	local tag=$1
	shift
	start_tracer "$tag" "$TW" "$@"
}

# Start command "${@:2}" (a tracer), tagged $1, as start_agent does.
start_tracer() {
	local tag=$1 kids=
	shift
	if [ $HAVE_TIME = 1 ]; then
		/usr/bin/time -f '%M %U %S' -o "$WORK/$tag.time" "$@" \
			>"$WORK/$tag.out" 2>"$WORK/$tag.err" &
		AGENT_WAIT=$!
		STARTED+=("$AGENT_WAIT")
		for _ in $(seq 250); do
			kids=$(cat "/proc/$AGENT_WAIT/task/$AGENT_WAIT/children" 2>/dev/null || true)
			[ -n "$kids" ] && break
			sleep 0.02
		done
		[ -n "$kids" ] || die "${1##*/} did not start under /usr/bin/time"
		AGENT=${kids%% *}
		STARTED+=("$AGENT")
	else
		"$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
		AGENT=$!
		AGENT_WAIT=$AGENT
		STARTED+=("$AGENT")
		# no /usr/bin/time: follow the high-water mark of the resident set instead
		(while [ -r "/proc/$AGENT/status" ]; do
			awk '/^VmHWM:/ {print $2, "-", "-"}' "/proc/$AGENT/status" \
				>"$WORK/$tag.hwm" 2>/dev/null || true
			sleep 0.1
		done) &
		STARTED+=($!)
	fi
}

# Wait until $2 (a process) writes "attached in" to $1, or dies.
wait_attached() {
	local err=$1 pid=$2
	for _ in $(seq 600); do
		grep -q 'attached in' "$err" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# Wait until process $1 is ptrace'd (strace has seized it), or it is gone.
wait_traced() {
	local pid=$1 tp
	for _ in $(seq 500); do
		tp=$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "${tp:-0}" != 0 ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# Wait until $2 (a process) writes a line "$3" to $1, or dies.
wait_line() {
	local out=$1 pid=$2 line=$3
	for _ in $(seq 1000); do
		grep -qx "$line" "$out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# Wait until process $1 holds a bpf_link (a libbpf tool that has attached).
wait_links() {
	local pid=$1 f
	for _ in $(seq 1000); do
		kill -0 "$pid" 2>/dev/null || return 1
		for f in /proc/"$pid"/fd/*; do
			if [ "$(readlink "$f" 2>/dev/null)" = "anon_inode:bpf_link" ]; then
				sleep $SETTLE_S
				return 0
			fi
		done
		sleep 0.02
	done
	return 1
}

# Wait up to $2 seconds for process $1 to end; 1 if it is still there.
wait_gone() {
	local pid=$1 n=$(($2 * 10))
	while [ $n -gt 0 ]; do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# CPU time (user + system, in clock ticks) process $1 has used so far; 0 once it is gone.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Wait for a child of this shell (not in a $(...) subshell: it would not be its child);
# its exit status in REAPED.
reap() {
	REAPED=0
	wait "$1" 2>/dev/null || REAPED=$?
}

# The command of bench $1 under configuration $2 in WL, its operations (loops, threads) in OPS;
# for neighbour, WL is B (measured) and WL_A the traced process A (runs until killed).
workload_cmd() {
	case $1 in
	pipe) OPS=$LOOPS WL=("${PIN[@]}" perf bench sched pipe -T -l "$LOOPS") ;;
	storm) OPS=$STORM_THREADS WL=("$STORM" "$STORM_THREADS" "$STORM_WINDOW") ;;
	pingpong)
		OPS=$PP_LOOPS
		# strace is ~20x slower a loop: fewer loops keep its runs short; compared per loop
		[ "${2:-}" = strace ] && OPS=$(((PP_LOOPS / STRACE_DIV) > 1000 ? PP_LOOPS / STRACE_DIV : 1000))
		WL=("${PIN[@]}" "$PINGPONG" "$OPS")
		;;
	getpid) OPS=$GP_LOOPS WL=("${PIN[@]}" "$SYSLOOP" getpid "$OPS") ;;
	readzero) OPS=$RZ_LOOPS WL=("${PIN[@]}" "$SYSLOOP" read "$OPS") ;;
	neighbour)
		OPS=$PP_LOOPS
		WL=("${PIN_B[@]}" "$PINGPONG" "$OPS")
		WL_A=("${PIN_A[@]}" "$PINGPONG" 0)
		;;
	esac
}

# Seconds the workload reported, from its output file.
workload_seconds() {
	case $1 in
	pipe) awk '/Total time:/ {print $3}' "$2" ;;
	storm) awk '/elapsed_s/ {print $NF}' "$2" ;;
	pingpong | getpid | readzero | neighbour) awk '/elapsed_ns/ {printf "%.6f\n", $4 / 1e9}' "$2" ;;
	esac
}

# One measured run: bench $1, configuration $2, repetition $3. Appends a row to $RAW:
# bench config rep seconds ok attach_s maxrss_kb cpu_s run_cpu_s lost ops note
# cpu_s is the agent's whole life (load, attach, final report included); run_cpu_s is the
# tracer's CPU time while the workload ran (clock ticks of /proc/PID/stat); lost is the agent's
# LOST line, as name=count pairs; ops is the loops (threads) the run did.
run_one() {
	local bench=$1 cfg=$2 rep=$3 tag=$1.$2.$3 wl wla='' tracer=none bypid=0 tool=() extra=()
	local tp='' rc wlrc secs ok=1 attach=- rss=- cpu=- runcpu=- c0=0 lost=- note=- selfexit=1
	case $cfg in
	base) ;;
	tw_p) tracer=tw bypid=1 ;;
	tw_psc) tracer=tw bypid=1 ;;
	tw_sys) tracer=tw ;;
	oc_p) tracer=tool bypid=1 tool=("$OFFCPUTIME") ;;
	oc_sys) tracer=tool tool=("$OFFCPUTIME") ;;
	rq) tracer=tool tool=("$RUNQLAT") ;;
	tw_pns) tracer=tw bypid=1 ;;
	strace) tracer=strace bypid=1 ;;
	bt) tracer=bt bypid=1 ;;
	floor) tracer=floor bypid=1 ;;
	empty) tracer=empty ;;
	empty_ns) tracer=empty extra=(-S) ;;
	empty_pst) tracer=empty extra=(-P) ;;
	empty_sched) tracer=empty extra=(-N) ;;
	esac
	workload_cmd "$bench" "$cfg"
	wait_quiet
	# another tracer on the same hooks slows every configuration: flag the run as noisy
	[ -z "$(foreign_tracers)" ] || NOISY=$((NOISY + 1))
	spawn_stopped "$WORK/$tag.wl" "${WL[@]}"
	wl=$SPAWNED
	# neighbour: the tracer gets A, the time is B's ($wl)
	if [ "$bench" = neighbour ]; then
		spawn_stopped "$WORK/$tag.wla" "${WL_A[@]}"
		wla=$SPAWNED
	fi
	[ $bypid = 1 ] && extra=(-p "${wla:-$wl}")
	[ "$cfg" = tw_psc ] && extra+=("${SC_ARGS[@]}")
	case $bench.$cfg in
	pingpong.tw_p | getpid.tw_p | readzero.tw_p | neighbour.tw_p) extra+=("${SC_ARGS[@]}") ;;
	*.tw_pns) extra+=("${NOSC_ARGS[@]}") ;;
	esac
	case $tracer in
	tw)
		start_agent "$tag" "${extra[@]}"
		tp=$AGENT
		if ! wait_attached "$WORK/$tag.err" "$AGENT"; then
			ok=0 note="agent did not attach: $(tail -n 1 "$WORK/$tag.err" | tr '\t' ' ')"
		fi
		;;
	tool)
		"${tool[@]}" "${extra[@]}" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
		tp=$!
		STARTED+=("$tp")
		AGENT_WAIT=$tp
		wait_links "$tp" || { ok=0 note="${tool[0]##*/} did not attach"; }
		;;
	strace)
		# -f with -p: every thread of the process, and the threads it creates
		start_tracer "$tag" strace -f -qq -o /dev/null "${extra[@]}"
		tp=$AGENT
		wait_traced "${wla:-$wl}" || { ok=0 note="strace did not attach"; }
		;;
	empty)
		start_tracer "$tag" "$FLOORLOAD" "${extra[@]}" "$FLOOR_OBJ"
		tp=$AGENT
		wait_line "$WORK/$tag.out" "$tp" 'attached [0-9]* programs .*' ||
			{ ok=0 note="floorload did not attach: $(tail -n 1 "$WORK/$tag.err")"; }
		;;
	bt | floor)
		# prints "attached" from BEGIN, which runs once every probe is attached
		start_tracer "$tag" bpftrace "$ROOT/bench/$([ "$tracer" = bt ] && echo syscalls ||
			echo floor).bt" "${wla:-$wl}"
		tp=$AGENT
		wait_line "$WORK/$tag.out" "$tp" attached || { ok=0 note="bpftrace did not attach"; }
		;;
	esac
	[ -n "$tp" ] && c0=$(cpu_ticks "$tp")
	if [ -n "$wla" ]; then
		kill -CONT "$wla"
		sleep 0.05 # A in its loop before B starts
	fi
	kill -CONT "$wl"
	reap "$wl"
	wlrc=$REAPED
	if [ -n "$tp" ] && kill -0 "$tp" 2>/dev/null; then
		runcpu=$(awk -v a="$c0" -v b="$(cpu_ticks "$tp")" -v hz="$CLK_TCK" \
			'BEGIN {printf "%.2f", (b - a) / hz}')
	fi
	[ "$wlrc" = 0 ] || { ok=0 note="workload exited $wlrc"; }
	if [ -n "$wla" ]; then
		# A must have run (traced) for all of B's loop
		if ! kill -0 "$wla" 2>/dev/null; then
			ok=0 note="neighbour A ended before B: $(tail -n 1 "$WORK/$tag.wla")"
		fi
		kill -TERM "$wla" 2>/dev/null || true
		reap "$wla"
	fi
	if [ -n "$tp" ]; then
		# bpf-threadwatch -p ends by itself once its target has exited; the others get SIGINT
		if [ "$tracer" = tw ] && [ $bypid = 1 ]; then
			wait_gone "$tp" "$EXIT_TIMEOUT_S" || selfexit=0
		fi
		kill -INT "$tp" 2>/dev/null || true
		wait_gone "$tp" "$EXIT_TIMEOUT_S" || kill -KILL "$tp" 2>/dev/null || true
		reap "$AGENT_WAIT"
		rc=$REAPED
		if [ "$rc" != 0 ]; then
			ok=0 note="tracer exited $rc: $(grep -v '^\s*$' "$WORK/$tag.err" | tail -n 1 | tr '\t' ' ')"
		fi
	fi
	if [ "$tracer" = tw ]; then
		[ $selfexit = 1 ] || { ok=0 note="agent did not exit after its -p target did"; }
		grep -q '^==== final' "$WORK/$tag.out" || { ok=0 note="no final report"; }
		attach=$(sed -n 's/.*attached in \([0-9.]*\) s.*/\1/p' "$WORK/$tag.err" | head -n 1)
		attach=${attach:--}
		lost=$(awk '/^LOST:/ {for (i = 2; i + 1 <= NF; i += 2) if ($(i + 1) ~ /^[0-9]+$/)
			s = s (s ? "," : "") $i "=" $(i + 1)} END {print s ? s : "-"}' "$WORK/$tag.out")
	fi
	if [ -s "$WORK/$tag.time" ]; then
		read -r rss u s < <(grep -E '^[0-9]+ ' "$WORK/$tag.time" | tail -n 1) || true
		cpu=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
	elif [ -s "$WORK/$tag.hwm" ]; then
		read -r rss _ <"$WORK/$tag.hwm"
	fi
	# strace ends with its tracee, too soon for a last look at its CPU time: its whole life's
	[ "$tracer" = strace ] && runcpu=$cpu
	if [ "$tracer" = bt ] && ! grep -q '^@ns\[' "$WORK/$tag.out"; then
		ok=0 note="bpftrace printed no histogram"
	fi
	if [ "$tracer" = floor ] && ! grep -q '^@enter' "$WORK/$tag.out"; then
		ok=0 note="bpftrace floor.bt counted nothing"
	fi
	secs=$(workload_seconds "$bench" "$WORK/$tag.wl")
	[ -n "$secs" ] || { ok=0 secs=- note="workload printed no time"; }
	if [ $ok = 0 ]; then
		echo "bench: FAILED $tag: $note (logs kept in $RESULTS/$STAMP.failed/)" >&2
		mkdir -p "$RESULTS/$STAMP.failed"
		cp "$WORK/$tag".* "$RESULTS/$STAMP.failed/" 2>/dev/null || true
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\n' "$bench" "$cfg" "$rep" \
		"$secs" "$ok" "$attach" "$rss" "$cpu" "$runcpu" "$lost" "$OPS" "$note" >>"$RAW"
	printf '  %-9s %-8s rep %d: %8.3f s%s%s%s\n' "$bench" "$cfg" "$rep" "${secs/-/0}" \
		"$(case $bench in pingpong | getpid | readzero | neighbour) [ "$secs" != - ] &&
			awk -v s="$secs" -v n="$OPS" 'BEGIN {printf " (%.2f us/loop)", s / n * 1e6}' ;; esac)" \
		"$([ "$runcpu" != - ] && echo "  tracer cpu ${runcpu}s")" \
		"$([ "$attach" != - ] && echo ", attach ${attach}s, rss ${rss}kB, lost $lost")"
	rm -f "$WORK/$tag".*
}

# Repetitions of every configuration of bench $1, interleaved: rep r starts at configuration r.
run_bench() {
	local bench=$1 cfgs=() n i r c
	shift
	for c in "$@"; do
		[ -z "$CFGS_ONLY" ] || [[ " $CFGS_ONLY " == *" $c "* ]] && cfgs+=("$c")
	done
	[ ${#cfgs[@]} -gt 0 ] || return 0
	n=${#cfgs[@]}
	for r in $(seq "$REPS"); do
		for i in $(seq 0 $((n - 1))); do
			run_one "$bench" "${cfgs[$(((i + r - 1) % n))]}" "$r"
		done
	done
}

# One traced run with kernel.bpf_stats_enabled=1, following the agent's programs, and the empty
# programs (bench/floor.bpf.c) on the same hooks in the same run, attached first: each hook's
# events run both, so our ns/event and the empty program's are measured on the same events.
profile_one() {
	local bench=$1 cfg=$2 tag=prof.$1.$2 wl extra=() secs rc sampler floor='' fsampler='' frc=0
	local fargs=()
	workload_cmd "$bench"
	spawn_stopped "$WORK/$tag.wl" "${WL[@]}"
	wl=$SPAWNED
	[ "$cfg" = tw_p ] && extra=(-p "$wl")
	[ "$bench" = pingpong ] && extra+=("${SC_ARGS[@]}")
	if [ $HAVE_EMPTY = 1 ]; then
		# the syscall pair only when the agent times syscalls in this run
		if [ $SC_DEFAULT = 0 ] && ! { [ "$bench" = pingpong ] && [ ${#SC_ARGS[@]} -gt 0 ]; }; then
			fargs=(-S)
		fi
		"$FLOORLOAD" "${fargs[@]}" "$FLOOR_OBJ" >"$WORK/$tag.floor.out" 2>"$WORK/$tag.floor.err" &
		floor=$!
		STARTED+=("$floor")
		wait_line "$WORK/$tag.floor.out" "$floor" 'attached [0-9]* programs .*' ||
			die "profile run $tag: floorload did not attach: $(tail -n 1 "$WORK/$tag.floor.err")"
		$PY "$ROOT/bench/progstats.py" "$floor" "$WORK/$tag.floor.json" &
		fsampler=$!
		STARTED+=("$fsampler")
	fi
	start_agent "$tag" "${extra[@]}"
	wait_attached "$WORK/$tag.err" "$AGENT" || die "profile run $tag: agent did not attach"
	$PY "$ROOT/bench/progstats.py" "$AGENT" "$WORK/$tag.json" &
	sampler=$!
	STARTED+=("$sampler")
	sleep 0.3 # the sampler's first look
	kill -CONT "$wl"
	reap "$wl"
	[ "$cfg" = tw_p ] && wait_gone "$AGENT" "$EXIT_TIMEOUT_S"
	# one more sample after the workload, then stop the agent
	sleep 0.15
	kill -INT "$AGENT" 2>/dev/null || true
	wait_gone "$AGENT" "$EXIT_TIMEOUT_S" || die "profile run $tag: agent did not exit"
	reap "$AGENT_WAIT"
	rc=$REAPED
	reap "$sampler"
	[ "$rc" = 0 ] || die "profile run $tag: agent exited $rc"
	if [ -n "$floor" ]; then
		kill -INT "$floor" 2>/dev/null || true
		wait_gone "$floor" "$EXIT_TIMEOUT_S" || die "profile run $tag: floorload did not exit"
		reap "$floor"
		frc=$REAPED
		reap "$fsampler"
		[ "$frc" = 0 ] || die "profile run $tag: floorload exited $frc"
	fi
	secs=$(workload_seconds "$bench" "$WORK/$tag.wl")
	$PY - "$WORK/$tag.json" "$bench" "$cfg" "$secs" "$WORK/$tag.time" "$PROF" \
		"$WORK/$tag.floor.json" "${fargs[*]}" <<-'EOF'
		import json, os, sys
		sample, bench, cfg, secs, timef, prof, floorf, fargs = sys.argv[1:]
		with open(sample) as f:
		    s = json.load(f)
		s.update(bench=bench, cfg=cfg, seconds=float(secs))
		if os.path.exists(floorf):
		    with open(floorf) as f:
		        s.update(empty_progs=json.load(f)["progs"], empty_args=fargs)
		if os.path.exists(timef):
		    rss, u, st = open(timef).read().split()[-3:]
		    s.update(maxrss_kb=int(rss), cpu_s=float(u) + float(st))
		allp = json.load(open(prof)) if os.path.exists(prof) else []
		allp.append(s)
		json.dump(allp, open(prof, "w"), indent=1)
	EOF
	printf '  profile %-9s %-7s %8s s\n' "$bench" "$cfg" "$secs"
}

# One run of bench $1 with kernel.bpf_stats_enabled=1 and no agent: the empty programs on every
# hook (raw sys_enter/sys_exit included) and, in a second floorload, the empty programs on the
# per-syscall tracepoints alone (-O), both sampled: each one's
# ns/run and runs per loop, on the same events. Their bodies are equal (return 0): what differs
# between the two syscall paths lies outside the programs, which the ratio runs measure.
profile_pst() {
	local bench=$1 tag=prof.$1.pst wl secs raw pst rsampler psampler rc p
	workload_cmd "$bench"
	spawn_stopped "$WORK/$tag.wl" "${WL[@]}"
	wl=$SPAWNED
	"$FLOORLOAD" "$FLOOR_OBJ" >"$WORK/$tag.raw.out" 2>"$WORK/$tag.raw.err" &
	raw=$!
	STARTED+=("$raw")
	wait_line "$WORK/$tag.raw.out" "$raw" 'attached [0-9]* programs .*' ||
		die "profile run $tag: floorload did not attach: $(tail -n 1 "$WORK/$tag.raw.err")"
	"$FLOORLOAD" -O "$FLOOR_OBJ" >"$WORK/$tag.pst.out" 2>"$WORK/$tag.pst.err" &
	pst=$!
	STARTED+=("$pst")
	wait_line "$WORK/$tag.pst.out" "$pst" 'attached [0-9]* programs .*' ||
		die "profile run $tag: floorload -O did not attach: $(tail -n 1 "$WORK/$tag.pst.err")"
	$PY "$ROOT/bench/progstats.py" "$raw" "$WORK/$tag.raw.json" &
	rsampler=$!
	STARTED+=("$rsampler")
	$PY "$ROOT/bench/progstats.py" "$pst" "$WORK/$tag.pst.json" &
	psampler=$!
	STARTED+=("$psampler")
	sleep 0.3 # the samplers' first look
	kill -CONT "$wl"
	reap "$wl"
	sleep 0.15
	for p in "$pst" "$raw"; do
		kill -INT "$p" 2>/dev/null || true
		wait_gone "$p" "$EXIT_TIMEOUT_S" || die "profile run $tag: floorload did not exit"
		reap "$p"
		rc=$REAPED
		[ "$rc" = 0 ] || die "profile run $tag: floorload exited $rc"
	done
	reap "$rsampler"
	reap "$psampler"
	secs=$(workload_seconds "$bench" "$WORK/$tag.wl")
	$PY - "$WORK/$tag.pst.json" "$WORK/$tag.raw.json" "$bench" "$secs" "$PROF" <<-'EOF'
		import json, os, sys
		pstf, rawf, bench, secs, prof = sys.argv[1:]
		s = json.load(open(pstf))
		s.update(bench=bench, cfg="empty_pst", kind="pst", seconds=float(secs),
		         empty_progs=json.load(open(rawf))["progs"], empty_args="")
		allp = json.load(open(prof)) if os.path.exists(prof) else []
		allp.append(s)
		json.dump(allp, open(prof, "w"), indent=1)
	EOF
	printf '  profile %-9s %-7s %8s s\n' "$bench" empty_pst "$secs"
}

# The machine's non-idle share of CPU time (%, integer) over the next second (/proc/stat).
busy_pct() {
	local a b
	a=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
	sleep 1
	b=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[1] - x[1]
		printf "%d\n", (t > 0 ? 100 * (t - (y[2] - x[2])) / t : 0)}'
}

# With BENCH_QUIET=1, wait until no other process holds BPF links and the CPUs are idle (our
# own processes are between runs), at most QUIET_MAX_S; counted for the results' header.
wait_quiet() {
	local t0=$EPOCHREALTIME waited=0 d
	[ "$QUIET" = 1 ] || return 0
	# the tracers last: a test may start one while the CPUs are sampled
	while [ "$(busy_pct)" -gt $QUIET_BUSY_PCT ] || [ -n "$(foreign_tracers)" ]; do
		waited=1
		d=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", b - a}')
		if [ "$d" -ge "$QUIET_MAX_S" ]; then
			QUIET_GAVEUP=$((QUIET_GAVEUP + 1))
			break
		fi
		sleep 2
	done
	if [ $waited = 1 ]; then
		QUIET_WAITS=$((QUIET_WAITS + 1))
		QUIET_WAITED_S=$(awk -v w="$QUIET_WAITED_S" -v a="$t0" -v b="$EPOCHREALTIME" \
			'BEGIN {printf "%d", w + b - a}')
	fi
}

# Processes other than ours holding BPF links (other tracers: noise in every configuration).
foreign_tracers() {
	local p
	for p in $(find /proc/[0-9]*/fd -lname 'anon_inode:bpf_link' 2>/dev/null |
		cut -d/ -f3 | sort -un); do
		printf '%s(%s) ' "$(cat "/proc/$p/comm" 2>/dev/null)" "$p"
	done
}

# ---------------------------------------------------------------------------------------------
# daemon benchmark

# Sleep until $EPOCHREALTIME reaches $1 (seconds; no sleep when it has).
sleep_until() {
	local d
	d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN {d = t - n; if (d > 0) printf "%.3f", d}')
	[ -z "$d" ] || sleep "$d"
}

# A TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# /proc/PID/stat of the idlers and each of their children, in IDLERS_STATS.
idlers_stats() {
	local kids=() k
	read -r -a kids <"/proc/$IDLERS/task/$IDLERS/children" || true
	IDLERS_STATS=("/proc/$IDLERS/stat")
	for k in "${kids[@]}"; do IDLERS_STATS+=("/proc/$k/stat"); done
}

# CPU time (clock ticks) of the idlers and all their children so far (their exited threads'
# included: a process's stat adds up all its threads, past and present).
idlers_ticks() {
	idlers_stats
	awk '{s += $14 + $15} END {print s + 0}' "${IDLERS_STATS[@]}" 2>/dev/null || echo 0
}

# Start the node's load, once for the whole daemon benchmark, and wait until all are up.
start_idlers() {
	local n
	"$IDLERS_BIN" "$DAEMON_PROCS" "$DAEMON_THREADS" "$DAEMON_CHURN" "${DAEMON_SLEEP_MS%-*}" \
		"${DAEMON_SLEEP_MS#*-}" \
		>"$WORK/idlers.out" 2>"$WORK/idlers.err" &
	IDLERS=$!
	STARTED+=("$IDLERS")
	for n in $(seq 1800); do
		grep -q '^ready ' "$WORK/idlers.out" 2>/dev/null && break
		kill -0 "$IDLERS" 2>/dev/null || die "idlers died: $(tail -n 1 "$WORK/idlers.err")"
		sleep 0.1
	done
	grep -q '^ready ' "$WORK/idlers.out" || die "idlers did not come up in 180 s"
	IDLERS_READY=$(grep '^ready ' "$WORK/idlers.out")
	idlers_stats
	echo "idlers: $IDLERS_READY; $(awk '{s += $20} END {print s}' "${IDLERS_STATS[@]}")" \
		"threads alive" >&2
}

# curl /metrics into $2 (a body file); prints "HTTP_CODE BYTES SECONDS".
scrape() {
	curl -s -m 5 -o "$2" -w '%{http_code} %{size_download} %{time_total}' "$1" 2>/dev/null ||
		true
}

# Voluntary context switches of all of process $1's threads so far (each ended sleep is one).
vcsw() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^voluntary_ctxt_switches:/ {s += $2} END {print s + 0}'
}

# One run of the daemon, configuration $1 (dm, dm_sc: scraped every second; dm15, dm_sc15:
# every 15 s, and so on for any interval of -S), repetition $2: a record in $DMJSON. The
# window is -D seconds rounded up to whole scrape intervals, a scrape at the start of each.
run_daemon_one() {
	local cfg=$1 rep=$2 tag=daemon.$1.$2 port url args=() ok=1 note=- rc i t0 t1 c0 c1 i0 i1
	local hwm=- rss=- threads=0 code start sdir min=$((DAEMON_PROCS * DAEMON_THREADS)) attach
	local ti0 ti1 every=${1##*[!0-9]} nscr v0 v1
	[ -n "$every" ] || every=1
	nscr=$(((DAEMON_S + every - 1) / every))
	case ${cfg%%[0-9]*} in
	dm) args=("${DM_ARGS[@]}") ;;
	dm_sc) args=("${DM_SC_ARGS[@]}") ;;
	esac
	[ -z "$(foreign_tracers)" ] || NOISY=$((NOISY + 1))
	kill -0 "$IDLERS" 2>/dev/null || die "the idlers died: $(tail -n 1 "$WORK/idlers.err")"
	port=$(free_port)
	url=http://127.0.0.1:$port/metrics
	sdir=$WORK/$tag.scrapes
	mkdir -p "$sdir"
	start_agent "$tag" daemon --listen "127.0.0.1:$port" "${args[@]}"
	if ! wait_attached "$WORK/$tag.err" "$AGENT"; then
		ok=0 note="daemon did not attach: $(tail -n 1 "$WORK/$tag.err" | tr '\t' ' ')"
	else
		# the first rendering that has every idler (the seed from /proc, then a refresh)
		for i in $(seq 300); do
			code=$(scrape "$url" "$sdir/warm.prom")
			if [ "${code%% *}" = 200 ]; then
				threads=$(awk '$1 == "threadwatch_agent_threads" {print $2}' "$sdir/warm.prom")
				[ "${threads:-0}" -ge "$min" ] && break
			fi
			kill -0 "$AGENT" 2>/dev/null || break
			sleep 0.2
		done
		if [ "${threads:-0}" -lt "$min" ]; then
			ok=0 note="daemon never showed $min threads (last: ${threads:-none}, HTTP ${code%% *})"
		fi
	fi
	attach=$(sed -n 's/.*attached in \([0-9.]*\) s.*/\1/p' "$WORK/$tag.err" | head -n 1)
	if [ $ok = 1 ]; then
		sleep "$DAEMON_WARMUP_S"
		# the idlers' ticks take a while to read (a file per process): outside the daemon's
		# window, over a span of their own
		ti0=$EPOCHREALTIME
		i0=$(idlers_ticks)
		c0=$(cpu_ticks "$AGENT")
		v0=$(vcsw "$AGENT")
		t0=$EPOCHREALTIME
		# one scrape every $every s, on time: a slow one does not shift the next
		for i in $(seq 0 $((nscr - 1))); do
			sleep_until "$(awk -v t="$t0" -v i="$i" -v e="$every" \
				'BEGIN {printf "%.6f", t + i * e}')"
			start=$EPOCHREALTIME
			code=$(scrape "$url" "$sdir/$i.prom")
			echo "$i $start ${code:-000 0 0}" >>"$WORK/$tag.codes"
		done
		sleep_until "$(awk -v t="$t0" -v d="$((nscr * every))" 'BEGIN {printf "%.6f", t + d}')"
		c1=$(cpu_ticks "$AGENT")
		v1=$(vcsw "$AGENT")
		t1=$EPOCHREALTIME
		i1=$(idlers_ticks)
		ti1=$EPOCHREALTIME
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT/status" 2>/dev/null || echo -)
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT/status" 2>/dev/null || echo -)
		kill -0 "$AGENT" 2>/dev/null || { ok=0 note="daemon died during the window"; }
		kill -0 "$IDLERS" 2>/dev/null || { ok=0 note="the idlers died during the window"; }
	fi
	kill -TERM "$AGENT" 2>/dev/null || true
	wait_gone "$AGENT" "$EXIT_TIMEOUT_S" || kill -KILL "$AGENT" 2>/dev/null || true
	reap "$AGENT_WAIT"
	rc=$REAPED
	if [ "$rc" != 0 ] && [ $ok = 1 ]; then
		ok=0 note="daemon exited $rc after SIGTERM: $(grep -v '^\s*$' "$WORK/$tag.err" |
			tail -n 1 | tr '\t' ' ')"
	fi
	if [ "$hwm" = - ] && [ -s "$WORK/$tag.time" ]; then
		hwm=$(grep -E '^[0-9]+ ' "$WORK/$tag.time" | tail -n 1 | cut -d' ' -f1)
	fi
	if ! $PY "$ROOT/bench/daemonstats.py" "$DMJSON" "$sdir" "$WORK/$tag.codes" "$min" \
		config="$cfg" rep="$rep" ok="$ok" note="$note" scrapes_wanted="$nscr" \
		scrape_every_s="$every" vcsw="$(awk -v a="${v0:-0}" -v b="${v1:-0}" 'BEGIN {print b - a}')" \
		attach_s="${attach:--}" hwm_kb="$hwm" rss_end_kb="$rss" \
		window_s="$(awk -v a="${t0:-0}" -v b="${t1:-0}" 'BEGIN {printf "%.3f", b - a}')" \
		cpu_s="$(awk -v a="${c0:-0}" -v b="${c1:-0}" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')" \
		idlers_cpu_s="$(awk -v a="${i0:-0}" -v b="${i1:-0}" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')" \
		idlers_window_s="$(awk -v a="${ti0:-0}" -v b="${ti1:-0}" 'BEGIN {printf "%.3f", b - a}')" \
		>"$WORK/$tag.summary"; then
		echo "bench: FAILED $tag (logs kept in $RESULTS/$STAMP.failed/)" >&2
		mkdir -p "$RESULTS/$STAMP.failed"
		cp -r "$WORK/$tag".* "$RESULTS/$STAMP.failed/" 2>/dev/null || true
	fi
	printf '  daemon %-8s rep %d: %s\n' "$cfg" "$rep" "$(cat "$WORK/$tag.summary")"
	rm -rf "$WORK/$tag".*
}

# The daemon benchmark: the idlers up once, then the configurations interleaved: with and
# without --syscalls, each scraped every $DAEMON_SCRAPE_S seconds (1 s: dm, dm_sc; 15 s:
# dm15, dm_sc15...).
run_daemon_bench() {
	local cfgs=() n i r every
	DAEMON_SCRAPE_S=${BENCH_DAEMON_SCRAPE_S:-1,15}
	for every in ${DAEMON_SCRAPE_S//,/ }; do
		[[ $every =~ ^[1-9][0-9]*$ ]] || die "BENCH_DAEMON_SCRAPE_S: '$every' is not whole seconds"
		[ "$every" = 1 ] && every=
		cfgs+=("dm$every")
		[ $HAVE_DM_SC = 1 ] && cfgs+=("dm_sc$every")
	done
	n=${#cfgs[@]}
	echo "daemon: $DAEMON_PROCS processes x $DAEMON_THREADS threads (churn $DAEMON_CHURN%/s," \
		"asleep $DAEMON_SLEEP_MS ms at a time)," \
		"scraped every ${DAEMON_SCRAPE_S//,/ s, every } s for $DAEMON_S s or more: ${cfgs[*]}" >&2
	start_idlers
	for r in $(seq "$REPS"); do
		for i in $(seq 0 $((n - 1))); do
			run_daemon_one "${cfgs[$(((i + r - 1) % n))]}" "$r"
		done
	done
	kill -TERM "$IDLERS" 2>/dev/null || true
	wait_gone "$IDLERS" 10 || kill -KILL -- "-$IDLERS" 2>/dev/null || true
	reap "$IDLERS"
	IDLERS=
}

# ---------------------------------------------------------------------------------------------
# nginx benchmark

# Start nginx for the whole benchmark: master (in the foreground, `daemon off;`) and two workers,
# all under $WORK/nginx, on 127.0.0.1:$NGINX_PORT. Sets NGINX (the master's PID), NGINX_PIDS
# (master and workers) and NGINX_URL.
start_nginx() {
	local d=$WORK/nginx kids=() i
	mkdir -p "$d/html" "$d/tmp"
	# ~600 bytes, the size of a small static page
	{
		printf '<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n'
		for i in $(seq 7); do
			printf '<p>bpf-threadwatch nginx benchmark, line %d of a small static page.</p>\n' "$i"
		done
		printf '</body></html>\n'
	} >"$d/html/index.html"
	NGINX_PAGE_BYTES=$(wc -c <"$d/html/index.html")
	NGINX_PORT=$(free_port)
	NGINX_URL=http://127.0.0.1:$NGINX_PORT/index.html
	# run as root: the workers read files under this run's 0700 mktemp dir
	local affinity='' reuse='' last
	[ "$NGINX_PIN" = auto ] && [ "$(nproc)" -ge 2 ] && affinity='worker_cpu_affinity auto;'
	if [ "$NGINX_PIN" = split ]; then
		# the last CPU, as nginx's bit mask ("10" of 2 CPUs), for each worker
		last=1$(printf "%0$(($(nproc) - 1))d" 0)
		affinity="worker_cpu_affinity $last $last;"
	fi
	[ "$NGINX_REUSEPORT" = 1 ] && reuse=' reuseport'
	cat >"$d/nginx.conf" <<-EOF
		worker_processes 2;
		$affinity
		daemon off;
		master_process on;
		user root;
		pid $d/nginx.pid;
		error_log $d/error.log warn;
		events { worker_connections 512; }
		http {
			access_log off;
			client_body_temp_path $d/tmp/body;
			proxy_temp_path $d/tmp/proxy;
			fastcgi_temp_path $d/tmp/fastcgi;
			uwsgi_temp_path $d/tmp/uwsgi;
			scgi_temp_path $d/tmp/scgi;
			server {
				listen 127.0.0.1:$NGINX_PORT$reuse;
				root $d/html;
			}
		}
	EOF
	"$NGINX_BIN" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >"$d/stdout" 2>&1 &
	NGINX=$!
	STARTED+=("$NGINX")
	for _ in $(seq 250); do
		kill -0 "$NGINX" 2>/dev/null ||
			die "nginx did not start: $(tail -n 1 "$d/stdout" "$d/error.log" 2>/dev/null | tr '\n' ' ')"
		kids=()
		read -r -a kids <"/proc/$NGINX/task/$NGINX/children" || true
		if [ ${#kids[@]} -ge 2 ] && $PY -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)' "$NGINX_URL" 2>/dev/null; then
			break
		fi
		sleep 0.02
	done
	[ ${#kids[@]} -eq 2 ] || die "nginx has ${#kids[@]} worker processes, not 2"
	NGINX_PIDS=("$NGINX" "${kids[@]}")
	STARTED+=("${kids[@]}")
	# one unmeasured run: caches and the page warm, connections' memory allocated
	"${WRK_PIN[@]}" "$WRK" "${NGINX_WRK[@]}" -d1s "$NGINX_URL" >"$d/warmup" 2>&1 ||
		die "wrk's warm-up failed: $(tail -n 1 "$d/warmup")"
	echo "nginx: master $NGINX, workers ${kids[*]}, $NGINX_URL ($NGINX_PAGE_BYTES bytes)" >&2
}

# Stop nginx: SIGTERM (fast shutdown) to the master, then SIGKILL to whatever is left of it
# and its workers.
stop_nginx() {
	local p
	kill -TERM "$NGINX" 2>/dev/null || true
	wait_gone "$NGINX" 10 || true
	for p in "${NGINX_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	reap "$NGINX"
	NGINX=
}

# CPU time (clock ticks) nginx's master and workers have used so far.
nginx_ticks() {
	local p t=0
	for p in "${NGINX_PIDS[@]}"; do t=$((t + $(cpu_ticks "$p"))); done
	echo "$t"
}

# requests and seconds from wrk's "N requests in 5.00s, 4.0MB read" ("1.00m" in minutes,
# "900.00ms" in milliseconds).
wrk_requests() {
	awk '/ requests in / {
		d = $4; sub(/,$/, "", d)
		if (d ~ /ms$/) { sub(/ms$/, "", d); d /= 1000 }
		else if (d ~ /m$/) { sub(/m$/, "", d); d *= 60 }
		else sub(/s$/, "", d)
		printf "%d %.6f\n", $1, d
	}' "$1"
}

# One measured run of nginx under configuration $1, repetition $2: a row in $RAW, whose seconds
# and ops are wrk's duration and completed requests, run_cpu_s the tracer's CPU over the wrk run.
run_nginx_one() {
	local cfg=$1 rep=$2 tag=nginx.$1.$2 tracer=none args=() tp='' ok=1 note=- c0=0 c1 t0 t1
	local rc wrc secs=- reqs=- attach=- rss=- cpu=- runcpu=- lost=- errs p
	local pids n0 n1 svccpu=- loadcpu=- wrkt=()
	pids=$(
		IFS=,
		echo "${NGINX_PIDS[*]}"
	)
	case $cfg in
	base) ;;
	tw_p | tw_pns)
		tracer=tw
		if [ $HAVE_CHILDREN = 1 ]; then
			args=(-p "$NGINX" --children)
		else
			args=(-p "$pids")
		fi
		if [ "$cfg" = tw_p ]; then
			args+=("${SC_ARGS[@]}")
		else
			args+=("${NOSC_ARGS[@]}")
		fi
		;;
	rq) tracer=rq ;;
	floor) tracer=floor ;;
	empty | empty_ns | empty_pst) tracer=empty ;;
	esac
	wait_quiet
	[ -z "$(foreign_tracers)" ] || NOISY=$((NOISY + 1))
	for p in "${NGINX_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || die "nginx process $p is gone: $(tail -n 1 "$WORK/nginx/error.log")"
	done
	case $tracer in
	tw)
		start_agent "$tag" "${args[@]}"
		tp=$AGENT
		wait_attached "$WORK/$tag.err" "$AGENT" ||
			{ ok=0 note="agent did not attach: $(tail -n 1 "$WORK/$tag.err" | tr '\t' ' ')"; }
		;;
	rq)
		"$RUNQLAT" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
		tp=$!
		STARTED+=("$tp")
		AGENT_WAIT=$tp
		wait_links "$tp" || { ok=0 note="runqlat did not attach"; }
		;;
	floor)
		start_tracer "$tag" bpftrace "$ROOT/bench/floor.bt" "${NGINX_PIDS[@]}"
		tp=$AGENT
		wait_line "$WORK/$tag.out" "$tp" attached || { ok=0 note="bpftrace did not attach"; }
		;;
	empty)
		[ "$cfg" = empty_ns ] && args=(-S)
		[ "$cfg" = empty_pst ] && args=(-P)
		start_tracer "$tag" "$FLOORLOAD" "${args[@]}" "$FLOOR_OBJ"
		tp=$AGENT
		wait_line "$WORK/$tag.out" "$tp" 'attached [0-9]* programs .*' ||
			{ ok=0 note="floorload did not attach: $(tail -n 1 "$WORK/$tag.err")"; }
		;;
	esac
	# warm: connections set up and the tracer past its start (seed, first events), unmeasured
	if [ $ok = 1 ]; then
		timeout $((NGINX_WARM_S + NGINX_TIMEOUT_S)) "${WRK_PIN[@]}" "$WRK" "${NGINX_WRK[@]}" \
			-d"${NGINX_WARM_S}s" "$NGINX_URL" >"$WORK/$tag.warm" 2>&1 ||
			{ ok=0 note="wrk's warm-up failed: $(tail -n 1 "$WORK/$tag.warm")"; }
	fi
	[ -n "$tp" ] && c0=$(cpu_ticks "$tp")
	n0=$(nginx_ticks)
	[ $HAVE_TIME = 1 ] && wrkt=(/usr/bin/time -f '%U %S' -o "$WORK/$tag.wrktime")
	t0=$EPOCHREALTIME
	wrc=0
	"${wrkt[@]}" timeout $((NGINX_S + NGINX_TIMEOUT_S)) "${WRK_PIN[@]}" "$WRK" "${NGINX_WRK[@]}" \
		-d"${NGINX_S}s" "$NGINX_URL" >"$WORK/$tag.wl" 2>&1 || wrc=$?
	t1=$EPOCHREALTIME
	n1=$(nginx_ticks)
	if [ -n "$tp" ] && kill -0 "$tp" 2>/dev/null; then
		c1=$(cpu_ticks "$tp")
		runcpu=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
	fi
	svccpu=$(awk -v a="$n0" -v b="$n1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
	if [ -s "$WORK/$tag.wrktime" ]; then
		loadcpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ {printf "%.2f", $1 + $2}' "$WORK/$tag.wrktime")
		loadcpu=${loadcpu:--}
	fi
	[ "$wrc" = 0 ] || { ok=0 note="wrk exited $wrc: $(tail -n 1 "$WORK/$tag.wl")"; }
	read -r reqs secs < <(wrk_requests "$WORK/$tag.wl") || true
	if [ -z "${reqs:-}" ] || [ -z "${secs:-}" ]; then
		ok=0 reqs=- secs=- note="wrk printed no request count"
	fi
	errs=$(grep -E 'Socket errors|Non-2xx' "$WORK/$tag.wl" | tr -s ' \n' ' ' || true)
	[ -z "$errs" ] || { ok=0 note="wrk:${errs% }"; }
	for p in "${NGINX_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || { ok=0 note="nginx process $p died during the run"; }
	done
	if [ -n "$tp" ]; then
		# nginx stays up: every tracer is stopped with SIGINT (the agent prints its final report)
		kill -INT "$tp" 2>/dev/null || true
		wait_gone "$tp" "$EXIT_TIMEOUT_S" || kill -KILL "$tp" 2>/dev/null || true
		reap "$AGENT_WAIT"
		rc=$REAPED
		if [ "$rc" != 0 ]; then
			ok=0 note="tracer exited $rc: $(grep -v '^\s*$' "$WORK/$tag.err" | tail -n 1 | tr '\t' ' ')"
		fi
	fi
	if [ "$tracer" = tw ]; then
		grep -q '^==== final' "$WORK/$tag.out" || { ok=0 note="no final report"; }
		attach=$(sed -n 's/.*attached in \([0-9.]*\) s.*/\1/p' "$WORK/$tag.err" | head -n 1)
		attach=${attach:--}
		lost=$(awk '/^LOST:/ {for (i = 2; i + 1 <= NF; i += 2) if ($(i + 1) ~ /^[0-9]+$/)
			s = s (s ? "," : "") $i "=" $(i + 1)} END {print s ? s : "-"}' "$WORK/$tag.out")
	fi
	if [ "$tracer" = floor ] && ! grep -q '^@enter' "$WORK/$tag.out"; then
		ok=0 note="bpftrace floor.bt counted nothing"
	fi
	if [ -s "$WORK/$tag.time" ]; then
		read -r rss u st < <(grep -E '^[0-9]+ ' "$WORK/$tag.time" | tail -n 1) || true
		cpu=$(awk -v u="$u" -v s="$st" 'BEGIN {printf "%.2f", u + s}')
	elif [ -s "$WORK/$tag.hwm" ]; then
		read -r rss _ <"$WORK/$tag.hwm"
	fi
	# the tracer's share of one core over the wrk run, from wall-clock time (wrk's own duration
	# leaves out its connection set-up)
	[ "$runcpu" = - ] || runcpu=$(awk -v c="$runcpu" -v a="$t0" -v b="$t1" -v s="$secs" \
		'BEGIN {printf "%.2f", c * s / (b - a)}')
	if [ $ok = 0 ]; then
		echo "bench: FAILED $tag: $note (logs kept in $RESULTS/$STAMP.failed/)" >&2
		mkdir -p "$RESULTS/$STAMP.failed"
		cp "$WORK/$tag".* "$RESULTS/$STAMP.failed/" 2>/dev/null || true
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' nginx "$cfg" "$rep" \
		"$secs" "$ok" "$attach" "$rss" "$cpu" "$runcpu" "$lost" "$reqs" "$note" "$svccpu" \
		"$loadcpu" >>"$RAW"
	printf '  nginx     %-8s rep %d: %s%s%s\n' "$cfg" "$rep" \
		"$(awk -v r="$reqs" -v s="$secs" 'BEGIN {if (s + 0 > 0) printf "%10.0f requests/s", r / s;
			else printf "%10s requests/s", "-"}')" \
		"$([ "$runcpu" != - ] && awk -v c="$runcpu" -v s="$secs" \
			'BEGIN {printf "  tracer cpu %.1f%% of a core", c / s * 100}')" \
		"$([ "$attach" != - ] && echo ", attach ${attach}s, rss ${rss}kB, lost $lost")"
	rm -f "$WORK/$tag".*
}

# Steal time of the whole machine so far, in clock ticks (/proc/stat, the 8th field of "cpu").
steal_ticks() {
	awk '$1 == "cpu" {print $9; exit}' /proc/stat
}

# The nginx benchmark: nginx up once, then the configurations interleaved.
run_nginx_bench() {
	local cfgs=(base tw_p) n i r
	[ $HAVE_NOSC = 1 ] && cfgs+=(tw_pns)
	if [ $HAVE_EMPTY = 1 ]; then
		cfgs+=(empty)
		[ $HAVE_NOSC = 1 ] && cfgs+=(empty_ns)
		cfgs+=(empty_pst)
	fi
	[ $HAVE_RQ = 1 ] && cfgs+=(rq)
	# bench/floor.bt counts the syscalls of up to three PIDs: master and both workers
	if command -v bpftrace >/dev/null; then
		cfgs+=(floor)
	else
		NOTES+=("bpftrace not found: the nginx floor column is skipped")
	fi
	if [ -n "$NGINX_CFGS" ]; then
		local want=() c
		for c in $NGINX_CFGS; do
			[[ " ${cfgs[*]} " == *" $c "* ]] || die "BENCH_NGINX_CFGS: no configuration '$c' here (${cfgs[*]})"
			want+=("$c")
		done
		cfgs=("${want[@]}")
	fi
	n=${#cfgs[@]}
	start_nginx
	echo "nginx: wrk ${NGINX_WRK[*]} -d${NGINX_S}s per run, tw_p = -p" \
		"$([ $HAVE_CHILDREN = 1 ] && echo 'MASTER --children' || echo 'MASTER,WORKER1,WORKER2')" \
		"${TW_SYSCALL_FLAG:-(syscall timing on by default)}: ${cfgs[*]}" >&2
	NGINX_STEAL0=$(steal_ticks) NGINX_T0=$EPOCHREALTIME
	for r in $(seq "$REPS"); do
		for i in $(seq 0 $((n - 1))); do
			run_nginx_one "${cfgs[$(((i + r - 1) % n))]}" "$r"
		done
	done
	# the share of the machine's CPU time the hypervisor gave to others meanwhile
	NGINX_STEAL_PCT=$(awk -v a="$NGINX_STEAL0" -v b="$(steal_ticks)" -v t0="$NGINX_T0" \
		-v t1="$EPOCHREALTIME" -v hz="$CLK_TCK" -v n="$(nproc)" \
		'BEGIN {printf "%.2f", (b - a) / hz / ((t1 - t0) * n) * 100}')
	stop_nginx
}

# ---------------------------------------------------------------------------------------------
T0=$(date +%s)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- bpf user 2>/dev/null || COMMIT="$COMMIT+uncommitted changes"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
FOREIGN_START=$(foreign_tracers)
# one binary for the whole run, even if someone rebuilds build/ meanwhile (the skeleton is inside)
cp "$TW" "$WORK/bpf-threadwatch"
TW_VERSION=$("$TW" --version 2>/dev/null | head -n 1)
TW=$WORK/bpf-threadwatch
if [ $HAVE_EMPTY = 1 ]; then
	cp "$FLOORLOAD" "$WORK/floorload" && cp "$FLOOR_OBJ" "$WORK/floor.bpf.o"
	FLOORLOAD=$WORK/floorload FLOOR_OBJ=$WORK/floor.bpf.o
fi
STORM=$WORK/storm
gcc -O2 -Wall -Wextra -Werror -pthread "$ROOT/bench/storm.c" -o "$STORM"
PINGPONG=$WORK/pingpong
gcc -O2 -Wall -Wextra -Werror -pthread "$ROOT/bench/pingpong.c" -o "$PINGPONG"
SYSLOOP=$WORK/sysloop
gcc -O2 -Wall -Wextra -Werror "$ROOT/bench/sysloop.c" -o "$SYSLOOP"
IDLERS_BIN=$WORK/idlers
gcc -O2 -Wall -Wextra -Werror -pthread "$ROOT/bench/idlers.c" -o "$IDLERS_BIN"
IDLERS_READY=
printf 'bench\tconfig\trep\tseconds\tok\tattach_s\tmaxrss_kb\tcpu_s\trun_cpu_s\tlost\tops\tnote\tsvc_cpu_s\tload_cpu_s\n' \
	>"$RAW"

echo "bench-threadwatch ($MODE mode, $REPS repetitions), results in $MD" >&2
# Loops of a self-timing workload (it prints "... elapsed_ns N ...") that take about TARGET_S
# seconds, pinned: the median of three runs of CALIB loops, rounded to thousands (at least 1000).
calibrate() {
	local calib=$1 target=$2 what=$3 t loops
	shift 3
	t=$(for _ in 1 2 3; do
		"${PIN[@]}" "$@" "$calib" | awk '/elapsed_ns/ {print $4 / 1e9}'
	done | sort -n | sed -n 2p)
	loops=$(awk -v t="$t" -v c="$calib" -v g="$target" \
		'BEGIN {l = int(c * g / t / 1000 + 0.5) * 1000; print (l < 1000 ? 1000 : l)}')
	echo "calibration: $calib $what in ${t}s -> $loops (~${target}s)" >&2
	echo "$loops"
}

if wanted pipe && [ $HAVE_PERF = 1 ]; then
	if [ -z "$LOOPS" ]; then
		# the median of three short runs: one may catch a quiet or a busy moment
		t=$(for _ in 1 2 3; do
			"${PIN[@]}" perf bench sched pipe -T -l $CALIB_LOOPS | awk '/Total time:/ {print $3}'
		done | sort -n | sed -n 2p)
		LOOPS=$(awk -v t="$t" -v c=$CALIB_LOOPS -v g="$PIPE_TARGET_S" \
			'BEGIN {l = int(c * g / t / 1000 + 0.5) * 1000; print (l < 1000 ? 1000 : l)}')
		echo "calibration: $CALIB_LOOPS loops in ${t}s -> $LOOPS loops (~${PIPE_TARGET_S}s)" >&2
	fi
	# tw_p is plain -p PID, with or without syscall timing as the agent defaults; then the other
	cfgs=(base tw_p)
	if [ $SC_DEFAULT = 1 ]; then
		[ $HAVE_NOSC = 1 ] && cfgs+=(tw_pns)
	elif [ ${#SC_ARGS[@]} -gt 0 ]; then
		cfgs+=(tw_psc)
	fi
	cfgs+=(tw_sys)
	# the floor under them: empty programs on all hooks, and without the syscall pair when a
	# configuration above runs without syscall timing (tw_pns, or tw_p of an opt-in agent)
	if [ $HAVE_EMPTY = 1 ]; then
		cfgs+=(empty)
		{ [ $HAVE_NOSC = 1 ] || [ $SC_DEFAULT = 0 ]; } && cfgs+=(empty_ns)
	fi
	[ $HAVE_OC = 1 ] && cfgs+=(oc_p oc_sys)
	[ $HAVE_RQ = 1 ] && cfgs+=(rq)
	echo "perf bench sched pipe -T -l $LOOPS: ${cfgs[*]}" >&2
	run_bench pipe "${cfgs[@]}"
fi
if wanted storm; then
	echo "storm $STORM_THREADS threads, $STORM_WINDOW alive: base tw_p tw_sys" >&2
	run_bench storm base tw_p tw_sys
fi
if wanted pingpong || wanted neighbour; then
	[ -n "$PP_LOOPS" ] || PP_LOOPS=$(calibrate $PP_CALIB_LOOPS "$PP_TARGET_S" "pingpong loops" \
		"$PINGPONG")
	cfgs=(base tw_p)
	[ $HAVE_NOSC = 1 ] && cfgs+=(tw_pns)
	if [ $HAVE_EMPTY = 1 ]; then
		cfgs+=(empty)
		[ $HAVE_NOSC = 1 ] && cfgs+=(empty_ns)
		cfgs+=(empty_pst empty_sched)
	fi
	[ $HAVE_STRACE = 1 ] && cfgs+=(strace)
	[ $HAVE_BT = 1 ] && cfgs+=(bt floor)
	if wanted pingpong; then
		echo "pingpong $PP_LOOPS loops (strace 1/$STRACE_DIV), tw_p = -p PID" \
			"${TW_SYSCALL_FLAG:-(syscall timing on by default)}: ${cfgs[*]}" >&2
		run_bench pingpong "${cfgs[@]}"
	fi
	if wanted neighbour; then
		echo "neighbour: B ${PIN_B[*]} pingpong $PP_LOOPS next to A ${PIN_A[*]} pingpong," \
			"traced: ${cfgs[*]}" >&2
		run_bench neighbour "${cfgs[@]}"
	fi
fi
for b in getpid readzero; do
	wanted $b || continue
	if [ $b = getpid ] && [ -z "$GP_LOOPS" ]; then
		GP_LOOPS=$(calibrate "$GP_CALIB_LOOPS" "$GP_TARGET_S" "getpid calls" "$SYSLOOP" getpid)
	elif [ $b = readzero ] && [ -z "$RZ_LOOPS" ]; then
		RZ_LOOPS=$(calibrate "$GP_CALIB_LOOPS" "$GP_TARGET_S" "1-byte reads" "$SYSLOOP" read)
	fi
	cfgs=(base tw_p)
	[ $HAVE_NOSC = 1 ] && cfgs+=(tw_pns)
	[ $HAVE_EMPTY = 1 ] && cfgs+=(empty empty_ns empty_pst empty_sched)
	echo "$b $([ $b = getpid ] && echo "$GP_LOOPS" || echo "$RZ_LOOPS") calls, tw_p = -p PID" \
		"${TW_SYSCALL_FLAG:-(syscall timing on by default)}: ${cfgs[*]}" >&2
	run_bench $b "${cfgs[@]}"
done
[ $HAVE_NGINX = 1 ] && run_nginx_bench
wanted daemon && run_daemon_bench

# (the daemon benchmark has its per-program costs from the daemon's own statistics)
if ! wanted pipe && ! wanted storm && ! wanted pingpong && ! wanted getpid && ! wanted readzero
then
	:
elif sysctl -n kernel.bpf_stats_enabled >/dev/null 2>&1; then
	STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1
	echo "per-program cost (kernel.bpf_stats_enabled=1):" >&2
	if wanted pipe && [ $HAVE_PERF = 1 ]; then
		profile_one pipe tw_p
		profile_one pipe tw_sys
	fi
	if wanted storm; then
		profile_one storm tw_p
		profile_one storm tw_sys
	fi
	wanted pingpong && profile_one pingpong tw_p
	if [ $HAVE_EMPTY = 1 ]; then
		wanted pingpong && profile_pst pingpong
		wanted getpid && profile_pst getpid
		wanted readzero && profile_pst readzero
	fi
	sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD"
	STATS_OLD=
else
	NOTES+=("kernel.bpf_stats_enabled is not available: no per-program cost table")
fi

ELAPSED=$(($(date +%s) - T0))
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "host=$(uname -n)"
	echo "kernel=$(uname -r)"
	echo "cpus=$(nproc)"
	echo "cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)"
	echo "agent=$TW_VERSION"
	echo "agent_commit=$COMMIT"
	echo "load=$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "mode=$MODE"
	echo "reps=$REPS"
	echo "loops=${LOOPS:-}"
	echo "pin=${PIN[*]}"
	echo "storm_threads=$STORM_THREADS"
	echo "pp_loops=${PP_LOOPS:-}"
	echo "gp_loops=${GP_LOOPS:-}"
	echo "rz_loops=${RZ_LOOPS:-}"
	echo "strace_div=$STRACE_DIV"
	echo "pin_a=${PIN_A[*]}"
	echo "pin_b=${PIN_B[*]}"
	echo "tw_syscall_flag=$TW_SYSCALL_FLAG"
	echo "tw_nosyscall_flag=${NOSC_ARGS[*]}"
	echo "tw_syscall_default=$SC_DEFAULT"
	echo "benches=$ONLY"
	echo "storm_window=$STORM_WINDOW"
	echo "clk_tck=$CLK_TCK"
	if [ $HAVE_NGINX = 1 ]; then
		echo "nginx_version=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
		echo "wrk_args=${NGINX_WRK[*]} -d${NGINX_S}s"
		echo "nginx_s=$NGINX_S"
		echo "nginx_children=$HAVE_CHILDREN"
		echo "nginx_page_bytes=${NGINX_PAGE_BYTES:-}"
		echo "nginx_pin=$NGINX_PIN"
		echo "wrk_pin=${WRK_PIN[*]}"
		echo "nginx_reuseport=$NGINX_REUSEPORT"
		echo "nginx_warm_s=$NGINX_WARM_S"
		echo "nginx_steal_pct=${NGINX_STEAL_PCT:-}"
		echo "nginx_loss_target_pct=$NGINX_LOSS_TARGET_PCT"
		echo "nginx_cheap_target_pct=$NGINX_CHEAP_TARGET_PCT"
	fi
	if wanted daemon; then
		echo "daemon_procs=$DAEMON_PROCS"
		echo "daemon_threads=$DAEMON_THREADS"
		echo "daemon_churn=$DAEMON_CHURN"
		echo "daemon_sleep_ms=$DAEMON_SLEEP_MS"
		echo "daemon_s=$DAEMON_S"
		echo "daemon_warmup_s=$DAEMON_WARMUP_S"
		echo "daemon_scrape_s=${DAEMON_SCRAPE_S:-}"
		echo "daemon_args=${DM_ARGS[*]}"
		echo "daemon_sc_args=${DM_SC_ARGS[*]}"
		echo "daemon_cpu_target_pct=$DAEMON_CPU_TARGET_PCT"
		echo "daemon_cpu_target_sc_pct=$DAEMON_CPU_TARGET_SC_PCT"
		echo "daemon_rss_target_mb=$DAEMON_RSS_TARGET_MB"
		echo "idlers_ready=$IDLERS_READY"
	fi
	echo "elapsed_s=$ELAPSED"
	echo "command=bench/run.sh${ARGS:+ $ARGS}$([ "$QUICK" = 1 ] && [ -n "${BENCH_QUICK:-}" ] && echo ' (BENCH_QUICK=1)')"
	for n in "${NOTES[@]}"; do echo "note=$n"; done
	if [ "$QUIET" = 1 ]; then
		echo "note=BENCH_QUIET=1: $QUIET_WAITS runs waited for a quiet machine (no other BPF" \
			"tracer, CPUs >= $((100 - QUIET_BUSY_PCT))% idle), ${QUIET_WAITED_S} s in all" \
			"$([ $QUIET_GAVEUP -gt 0 ] && echo "; $QUIET_GAVEUP gave up after ${QUIET_MAX_S} s and ran anyway")"
	fi
	FOREIGN_END=$(foreign_tracers)
	if [ $NOISY -gt 0 ]; then
		echo "note=NOISY: $NOISY of $(($(wc -l <"$RAW") - 1 + $([ -s "$DMJSON" ] &&
			$PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$DMJSON" ||
			echo 0))) measured runs started while another" \
			"process held BPF links (another tracer, e.g. a test run): compare with a quiet run"
	fi
	if [ -n "$FOREIGN_START$FOREIGN_END" ]; then
		echo "note=other processes held BPF links (tracers sharing the hooks, noise): at the" \
			"start: ${FOREIGN_START:-none}; at the end: ${FOREIGN_END:-none}"
	fi
} >"$WORK/meta"
$PY "$ROOT/bench/report.py" "$WORK/meta" "$RAW" "$PROF" "$DMJSON" >"$MD"
cat "$MD"
echo >&2
echo "bench: wrote $MD (raw: $RAW, $PROF$([ -s "$DMJSON" ] && echo ", $DMJSON")) in ${ELAPSED}s" >&2
if awk -F'\t' 'NR > 1 && $5 != 1 {bad = 1} END {exit !bad}' "$RAW" ||
	{ [ -s "$DMJSON" ] && $PY -c 'import json, sys
sys.exit(0 if any(r["ok"] != 1 for r in json.load(open(sys.argv[1]))) else 1)' "$DMJSON"; }; then
	die "some runs FAILED (see the table and $RESULTS/$STAMP.failed/): their numbers are meaningless"
fi
