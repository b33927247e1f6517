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
# With TW_VM_PYTHON=/usr/bin/python3.11 (a CPython 3 on the host, e.g. Debian's
# python3.11-minimal) also:
#   the interpreter at its host path, its stdlib (sysconfig's stdlib dir, with
#   the byte-compiled __pycache__ the package installed, mtimes kept so they stay
#   valid) minus what no workload imports (TW_VM_PY_PRUNE), its lib-dynload
#   extension modules minus tests and those that need more libraries
#   (TW_VM_PY_DYNLOAD_PRUNE), and the ldd libraries of the interpreter and of
#   every module kept
#   TW_VM_PY_FILES (space-separated) -> /tw/py/<basename>  (the Python workloads)
#   /tw/python      the interpreter's guest path (the guest check runs the
#                   Python cases when this exists)
#
# Debian packages needed on the host (for `make deps`):
#   busybox-static (static /bin/busybox), cpio, gzip, libc-bin (ldd), file
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX=${TW_VM_BUSYBOX:-/bin/busybox}
INIT=${TW_VM_INIT:-$here/guest-init.sh}
CHECK=${TW_VM_CHECK_SCRIPT:-$here/guest-check.sh}
PYTHON=${TW_VM_PYTHON:-}
PY_FILES=${TW_VM_PY_FILES:-}
# What no Python workload imports is not packed (the initramfs is unpacked under TCG at every
# boot: each MB costs). Stdlib entries, relative to its dir (a file's __pycache__/*.pyc go
# with it): tests, GUI, packaging, docs, mail/web/XML, the static libpython (config-*: 25 MB).
PY_PRUNE=${TW_VM_PY_PRUNE:-test idlelib tkinter turtledemo ensurepip pydoc_data lib2to3 distutils
	config-3.* site-packages dist-packages venv email xml xmlrpc http html wsgiref urllib
	unittest multiprocessing sqlite3 dbm curses ctypes turtle.py pydoc.py _pydecimal.py
	mailbox.py doctest.py}
# lib-dynload extension modules not packed (patterns): CPython's own tests, the CJK codecs
# and every module that would bring a library along (libcrypto, libsqlite3, libdb, krb5,
# ncurses, readline, libffi); without _ssl, asyncio runs without ssl as it is written to
PY_DYNLOAD_PRUNE=${TW_VM_PY_DYNLOAD_PRUNE:-_test* _ctypes* _xx* xxlimited* _codecs_* _multibytecodec
	_ssl _hashlib _sqlite3 _dbm nis readline _curses* _crypt ossaudiodev audioop _lsprof _tkinter}

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

# A dynamic ELF file's libraries and loader, at their host paths.
copy_elf_libs() {
	local src=$1 ldd_out lib interp
	file -L "$src" | grep -q 'ELF.*dynamically linked' || return 0
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
	if [[ -n $interp && -e $interp ]]; then copy_host_path "$interp"; fi
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
	copy_elf_libs "$src"
done

# --- CPython, for the Python frames checks ------------------------------------
if [[ -n $PYTHON ]]; then
	[[ -x $PYTHON && $PYTHON == /* ]] || die "TW_VM_PYTHON=$PYTHON is not an executable absolute path"
	pyinfo=$("$PYTHON" -I -S -c 'import sys, sysconfig
print(sysconfig.get_path("stdlib"))
print(sysconfig.get_config_var("DESTSHARED") or "")
print("%d.%d" % sys.version_info[:2])') || die "$PYTHON does not run on the host"
	{ read -r pystd; read -r pydyn; read -r pyver; } <<<"$pyinfo"
	[[ -f $pystd/os.py ]] || die "$PYTHON: no stdlib at '$pystd' (no os.py there)"
	mkdir -p "$root$(dirname "$PYTHON")"
	cp -L "$PYTHON" "$root$PYTHON"
	copy_elf_libs "$PYTHON"
	# the prune lists hold patterns for tar and [[ ]]: split them, never glob them here
	read -r -d '' -a prune <<<"$PY_PRUNE" || true
	read -r -d '' -a dynprune <<<"$PY_DYNLOAD_PRUNE" || true
	excl=()
	for x in "${prune[@]}"; do
		excl+=(--exclude="./$x")
		[[ $x != *.py ]] || excl+=(--exclude="./__pycache__/${x%.py}.*")
	done
	# lib-dynload is copied below (module by module); tar keeps the sources' mtimes, which
	# each __pycache__/*.pyc records and is checked against at import
	mkdir -p "$root$pystd"
	tar -C "$pystd" "${excl[@]}" --exclude=./lib-dynload -cf - . | tar -C "$root$pystd" -xf - ||
		die "copying the stdlib $pystd failed"
	if [[ -n $pydyn && -d $pydyn ]]; then
		mkdir -p "$root$pydyn"
		for so in "$pydyn"/*.so; do
			mod=$(basename "$so")
			mod=${mod%%.*}
			skip=0
			for x in "${dynprune[@]}"; do
				# shellcheck disable=SC2053 # x is a glob on purpose
				[[ $mod == $x ]] && skip=1
			done
			[[ $skip == 0 ]] || continue
			cp -p "$so" "$root$pydyn/"
			copy_elf_libs "$so"
		done
	fi
	mkdir -p "$root/tw/py"
	for f in $PY_FILES; do
		[[ -f $f ]] || die "Python workload $f not found"
		cp "$f" "$root/tw/py/"
	done
	echo "$PYTHON" >"$root/tw/python"
	echo "mkinitramfs: packed CPython $pyver ($PYTHON, stdlib $pystd: $(du -sh "$root$pystd" | cut -f1))" >&2
fi

printf '%s\n' "${!libdirs[@]}" | sort | tr '\n' ':' | sed 's/:$//' >"$root/tw/ld-path"

mkdir -p "$(dirname "$out")"
tmpout="$out.tmp.$$"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 >"$tmpout") ||
	die "cpio/gzip failed writing $out"
mv "$tmpout" "$out"
echo "mkinitramfs: wrote $out ($(du -h "$out" | cut -f1))" >&2
