#!/usr/bin/env bash
# tests/vm/fetch-kernel.sh LINE
#
# Resolve the Debian kernel package for a kernel LINE listed in
# tests/vm/kernels.list (e.g. 6.1, 6.12), download it with `apt-get download`
# and unpack it with `dpkg -x` into the VM cache, then print the path of its
# vmlinuz on stdout (nothing else goes to stdout).  Idempotent: an already
# unpacked kernel is reused without downloading again.
#
# Environment:
#   TW_VM_CACHE    cache directory (default /var/cache/bpf-threadwatch/vm);
#                  kept outside the repository on purpose (kernels are ~25 MB)
#   TW_VM_OFFLINE  1 = never touch the network: resolve from the local apt
#                  lists (or, if they know nothing, take the kernel this line
#                  resolved to last time) and use only what is in the cache.
# Without TW_VM_OFFLINE, an unreachable registry is a loud error (exit 2)
# whenever something would have to be downloaded.
#
# Debian packages needed on the host (for `make deps`):
#   apt (apt-get, apt-cache), dpkg (dpkg -x); both are on every Debian system.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${TW_VM_CACHE:-/var/cache/bpf-threadwatch/vm}
KLIST=${TW_VM_KERNELS:-$here/kernels.list}
OFFLINE=${TW_VM_OFFLINE:-0}

die() { echo "fetch-kernel: ERROR: $*" >&2; exit 1; }
note() { echo "fetch-kernel: $*" >&2; }
loud() {
	local hint=""
	[[ -f $CACHE/lines/$line ]] &&
		hint="(TW_VM_OFFLINE=1 would use the kernel cached earlier: $(sed -n 's/^package=//p' "$CACHE/lines/$line") $(sed -n 's/^version=//p' "$CACHE/lines/$line"))"
	{
		echo "########################################################################"
		echo "fetch-kernel: ERROR: $*"
		[[ -z $hint ]] || echo "fetch-kernel: $hint"
		echo "########################################################################"
	} >&2
	exit 2
}

[[ $# -eq 1 ]] || die "usage: $0 LINE   (LINE is one of: $(awk '!/^#/ && NF {printf "%s ", $1}' "$KLIST"))"
line=$1

command -v apt-get >/dev/null || die "apt-get not found: this harness needs a Debian/Ubuntu host (apt + dpkg)"
command -v dpkg >/dev/null || die "dpkg not found: this harness needs a Debian/Ubuntu host (apt + dpkg)"

pkg=$(awk -v l="$line" '!/^#/ && $1 == l {print $2; exit}' "$KLIST")
[[ -n $pkg ]] || die "kernel line '$line' is not in $KLIST; known lines: $(awk '!/^#/ && NF {printf "%s ", $1}' "$KLIST")"

mkdir -p "$CACHE"/debs "$CACHE"/kernels "$CACHE"/lines 2>/dev/null ||
	die "cannot create cache directory $CACHE (run as root, or set TW_VM_CACHE to a writable directory outside the repo)"
[[ -w $CACHE ]] || die "cache directory $CACHE is not writable (set TW_VM_CACHE to a writable directory)"

# Serialise concurrent fetches of the same cache (run-matrix may run in parallel).
exec 9>"$CACHE/.lock"
flock 9

# --- resolve -----------------------------------------------------------------
candidate() { # PKG -> candidate version, empty if apt knows nothing
	apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" {print $2}'
}

updated=0
apt_update() {
	((updated)) && return 0
	[[ $OFFLINE == 1 ]] && return 1
	note "running apt-get update (apt lists do not know what is needed)"
	if ! apt-get update -qq --error-on=any >&2; then
		return 1
	fi
	updated=1
}

# The kernel this line resolved to last time (used only with TW_VM_OFFLINE=1).
cached_line() {
	[[ $OFFLINE == 1 ]] || return 1
	local rec="$CACHE/lines/$line"
	[[ -f $rec ]] || return 1
	local vmlinuz
	vmlinuz=$(sed -n 's/^vmlinuz=//p' "$rec")
	[[ -n $vmlinuz && -f $vmlinuz ]] || return 1
	note "using cached $(sed -n 's/^package=//p' "$rec") $(sed -n 's/^version=//p' "$rec")"
	echo "$vmlinuz"
}

if [[ -z $(candidate "$pkg") ]]; then
	if [[ $OFFLINE == 1 ]]; then
		cached_line && exit 0
		die "TW_VM_OFFLINE=1, apt knows no $pkg and nothing is cached for line $line in $CACHE"
	fi
	if ! apt_update; then
		cached_line && exit 0
		loud "apt-get update failed: Debian's package registry is unreachable, and package $pkg (kernel line $line) is not known to apt nor cached in $CACHE. Check the network / apt sources (/etc/apt/sources.list*) and retry."
	fi
	[[ -n $(candidate "$pkg") ]] ||
		die "apt knows no package $pkg (kernel line $line) even after apt-get update; check the apt sources (e.g. bookworm-security / backports) or fix $KLIST"
fi

# Follow metapackages: while the package depends on another linux-image-*,
# descend into it.  The real image package depends on kmod/linux-base only.
real=$pkg
for _ in 1 2 3 4 5; do
	next=$(apt-cache depends --important "$real" 2>/dev/null |
		sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n1)
	[[ -n $next ]] || break
	real=$next
done
ver=$(candidate "$real")
[[ -n $ver ]] || die "metapackage $pkg resolved to $real, but apt has no candidate version for it"
note "kernel line $line: $pkg -> $real $ver"

# --- cache hit? --------------------------------------------------------------
key="${real}_${ver}"
dest="$CACHE/kernels/$key"
find_vmlinuz() { find "$dest/boot" -maxdepth 1 -name 'vmlinuz-*' -type f 2>/dev/null | head -n1; }

if [[ -f $dest/.complete ]]; then
	vmlinuz=$(find_vmlinuz)
	if [[ -n $vmlinuz ]]; then
		note "cached: $dest"
		printf 'line=%s\npackage=%s\nversion=%s\nvmlinuz=%s\n' "$line" "$real" "$ver" "$vmlinuz" >"$CACHE/lines/$line"
		echo "$vmlinuz"
		exit 0
	fi
fi

# --- download ----------------------------------------------------------------
[[ $OFFLINE == 1 ]] && die "TW_VM_OFFLINE=1 but $real $ver is not in the cache $CACHE"

deb_glob() { # a previously downloaded .deb of exactly $real $ver
	local f
	for f in "$CACHE/debs/${real}"_*.deb; do
		[[ -f $f ]] || continue
		if [[ $(dpkg-deb -f "$f" Version 2>/dev/null) == "$ver" ]]; then
			echo "$f"
			return 0
		fi
	done
	return 0
}

deb=$(deb_glob)
if [[ -z $deb ]]; then
	dl=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
	trap 'rm -rf "$dl"' EXIT
	note "downloading $real=$ver"
	# Run as root, apt would drop to the _apt user, which cannot write here.
	if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$real=$ver" >&2); then
		# Stale lists (the version was superseded on the mirror): refresh once.
		if apt_update; then
			ver2=$(candidate "$real")
			[[ $ver2 == "$ver" ]] || die "after apt-get update $real moved from $ver to $ver2; re-run $0 $line"
			(cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$real=$ver" >&2) ||
				loud "apt-get download $real=$ver failed: Debian's package registry is unreachable or the package vanished. Check the network / apt sources and retry."
		else
			cached_line && exit 0
			loud "apt-get download $real=$ver failed and apt-get update failed: Debian's package registry is unreachable. Check the network / apt sources and retry."
		fi
	fi
	f=$(find "$dl" -maxdepth 1 -name '*.deb' | head -n1)
	[[ -n $f ]] || die "apt-get download $real=$ver produced no .deb file"
	mv "$f" "$CACHE/debs/"
	deb="$CACHE/debs/$(basename "$f")"
fi

# --- unpack ------------------------------------------------------------------
note "unpacking $(basename "$deb") into $dest"
rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
dpkg -x "$deb" "$dest.tmp" || die "dpkg -x $deb failed (corrupt download? delete it and retry)"
mv "$dest.tmp" "$dest"
vmlinuz=$(find_vmlinuz)
[[ -n $vmlinuz ]] || die "package $real $ver has no boot/vmlinuz-* (is it really a kernel image package?)"
touch "$dest/.complete"
printf 'line=%s\npackage=%s\nversion=%s\nvmlinuz=%s\n' "$line" "$real" "$ver" "$vmlinuz" >"$CACHE/lines/$line"
echo "$vmlinuz"
