#!/usr/bin/env bash
# tests/vm/mkinitramfs.sh OUT [BINARY[=GUESTPATH]]...
#
# Build a gzip'ed newc cpio initramfs OUT for the kernel-matrix VMs:
#   /bin/busybox (+ an applet symlink for every busybox applet)
#   /init           <- tests/vm/guest-init.sh (or $TW_VM_INIT)
#   /tw/check.sh    <- tests/vm/guest-check.sh (or $TW_VM_CHECK_SCRIPT)
#   each BINARY     -> GUESTPATH (default /tw/bin/<basename>), and for
#                      dynamically linked ELF files every library `ldd` lists
#                      plus the dynamic loader, at their host paths
#   /tw/ld-path     the library directories (init puts them in LD_LIBRARY_PATH)
#
# Debian packages needed on the host (for `make deps`):
#   busybox-static (static /bin/busybox), cpio, gzip, libc-bin (ldd), file
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX=${TW_VM_BUSYBOX:-/bin/busybox}
INIT=${TW_VM_INIT:-$here/guest-init.sh}
CHECK=${TW_VM_CHECK_SCRIPT:-$here/guest-check.sh}

die() { echo "mkinitramfs: ERROR: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 OUT.cpio.gz [BINARY[=GUESTPATH]]..."
out=$1
shift

for t in cpio gzip ldd file; do
	command -v "$t" >/dev/null || die "'$t' not found; install the Debian packages cpio gzip libc-bin file"
done
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found; install the Debian package busybox-static"
file -L "$BUSYBOX" | grep -q 'statically linked' ||
	die "$BUSYBOX is not statically linked; install busybox-static (not busybox) or set TW_VM_BUSYBOX"
[[ -f $INIT ]] || die "guest init script $INIT not found"
[[ -f $CHECK ]] || die "guest check script $CHECK not found"

root=$(mktemp -d "${TMPDIR:-/tmp}/tw-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,tw/bin,root}
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
# Applet links, e.g. /bin/sh, /sbin/poweroff, /usr/bin/awk.
while read -r applet; do
	[[ -n $applet && $applet != /bin/busybox ]] || continue
	[[ -e $root$applet ]] && continue
	mkdir -p "$root$(dirname "$applet")"
	ln -s /bin/busybox "$root$applet"
done < <("$BUSYBOX" --list-full | sed 's|^|/|; s|^//|/|')
[[ -e $root/bin/sh ]] || ln -s busybox "$root/bin/sh"

# Console device: the kernel opens /dev/console before running /init.
if [[ $(id -u) -eq 0 ]]; then
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
fi

install -m 755 "$INIT" "$root/init"
install -m 755 "$CHECK" "$root/tw/check.sh"

declare -A libdirs=()
copy_host_path() { # copy a host file to the same path in the image (resolving symlinks)
	local p=$1
	[[ -e $root$p ]] && return 0
	mkdir -p "$root$(dirname "$p")"
	cp -L "$p" "$root$p" || die "cannot copy library $p"
	libdirs[$(dirname "$p")]=1
}

for arg in "$@"; do
	src=${arg%%=*}
	if [[ $arg == *=* ]]; then dst=${arg#*=}; else dst=/tw/bin/$(basename "$src"); fi
	[[ -f $src ]] || die "binary $src not found (build it first, e.g. 'make')"
	[[ $dst == /* ]] || die "guest path '$dst' for $src must be absolute"
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
	chmod a+rx "$root$dst"
	# Dynamic ELF: bring along its libraries and loader, keeping their paths.
	if file -L "$src" | grep -q 'ELF.*dynamically linked'; then
		ldd_out=$(ldd "$src" 2>&1) || die "ldd $src failed: $ldd_out"
		if grep -q 'not found' <<<"$ldd_out"; then
			die "ldd $src: missing libraries on the host:
$(grep 'not found' <<<"$ldd_out")
install them (e.g. libbpf1 libelf1 zlib1g) and retry"
		fi
		while read -r lib; do
			copy_host_path "$lib"
		done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u)
		# PT_INTERP, in case ldd printed it through another path.
		interp=$(file -L "$src" | sed -n 's/.*interpreter \([^,]*\),.*/\1/p')
		[[ -n $interp && -e $interp ]] && copy_host_path "$interp"
	fi
done

printf '%s\n' "${!libdirs[@]}" | sort | tr '\n' ':' | sed 's/:$//' >"$root/tw/ld-path"

mkdir -p "$(dirname "$out")"
tmpout="$out.tmp.$$"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >"$tmpout") ||
	die "cpio/gzip failed writing $out"
mv "$tmpout" "$out"
echo "mkinitramfs: wrote $out ($(du -h "$out" | cut -f1))" >&2
