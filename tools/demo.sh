#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# The main job on a fresh machine: trace the bundled demo workload from its first thread.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (sudo make demo): loading BPF needs CAP_BPF and CAP_PERFMON" >&2
	exit 1
fi
echo "demo: tracing tests/workloads/demo_pool.py (a 16-worker pool blocked on a slow backend,"
echo "      200 thread-per-request threads, one CPU hog, an asyncio loop that stalls),"
echo "      folded by thread name"
exec build/bpf-threadwatch --by comm -- /usr/bin/python3 tests/workloads/demo_pool.py
