#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# Regenerate vmlinux/<arch>/vmlinux.h from a kernel's BTF.
#   vmlinux/gen.sh [BTF_FILE] [ARCH]
# BTF_FILE defaults to the running kernel's /sys/kernel/btf/vmlinux, ARCH to x86.
# CO-RE relocations make the header valid for other kernels: it only has to
# contain every type and field the BPF programs name.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-x86}
here=$(cd "$(dirname "$0")" && pwd)
[ -r "$btf" ] || { echo "gen.sh: cannot read BTF '$btf' (kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "gen.sh: bpftool not found: run 'make deps'" >&2; exit 1; }
mkdir -p "$here/$arch"
bpftool btf dump file "$btf" format c >"$here/$arch/vmlinux.h.tmp"
mv "$here/$arch/vmlinux.h.tmp" "$here/$arch/vmlinux.h"
echo "wrote $here/$arch/vmlinux.h from $btf ($(uname -r), $(bpftool version | head -1))"
