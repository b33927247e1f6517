#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# Install every Debian package bpf-threadwatch needs to build, test and benchmark.
# Idempotent: installs only what is missing, so a second run is a no-op.
set -euo pipefail

PKGS=(
	# build
	clang llvm make gcc libc6-dev pkg-config libbpf-dev libelf-dev zlib1g-dev bpftool
	libclang-rt-14-dev libmicrohttpd-dev libdw-dev
	# pprof output: protobuf-c and Google's profile.proto as Debian ships it
	protobuf-c-compiler libprotobuf-c-dev golang-github-google-pprof-dev
	# tests
	python3 python3-pytest python3-yaml strace util-linux libcap2-bin procps
	# fleet mode tests: promtool and a real Prometheus server; systemd-analyze
	prometheus systemd
	# kernel matrix (tests/vm)
	qemu-system-x86 busybox-static cpio
	# lint and format
	clang-format clang-tidy cppcheck
	# reference tools for cross-checks and benchmarks; where the agent's memory goes
	libbpf-tools bpftrace linux-perf heaptrack
	# a real JIT runtime for the perf-map test (tests/e2e/test_node.py)
	nodejs
	# a real pprof reader for the --pprof tests (go tool pprof)
	golang-go
	# a real service to benchmark against (bench/run.sh -b nginx)
	nginx wrk
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root (sudo make deps)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages that ship a service (nginx, prometheus) must not start it: the benchmarks and
# tests start their own on loopback. policy-rc.d answering 101 is Debian's way to say so.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=/usr/sbin/policy-rc.d
fi
trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
