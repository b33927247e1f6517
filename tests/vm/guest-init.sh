#!/bin/sh
# /init of the kernel-matrix initramfs (busybox sh).  Installed by
# tests/vm/mkinitramfs.sh.  Mounts what the tool needs, prints the kernel
# version, runs /tw/check.sh and prints exactly one result marker line:
#   TW-VM-RESULT: PASS kernel=<uname -r> <summary from check.sh>
#   TW-VM-RESULT: FAIL kernel=<uname -r> rc=<rc> <summary from check.sh>
# then powers the VM off.  Parameters come from the kernel command line as
# tw.KEY=VALUE (e.g. tw.check=real tw.n=4 tw.ms=200 tw.modes=auto,raw_tp) and
# are exported to check.sh as TW_KEY=VALUE.
export PATH=/tw/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root

mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

halt_vm() {
	sync
	poweroff -f
	sleep 5
	reboot -f # qemu runs with -no-reboot, so this also ends the VM
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /sys/fs/bpf /sys/kernel/debug /sys/kernel/tracing /dev/pts /dev/shm
mount -t bpf bpf /sys/fs/bpf || echo "tw-init: mounting bpffs failed"
mount -t debugfs debugfs /sys/kernel/debug || echo "tw-init: mounting debugfs failed"
mount -t tracefs tracefs /sys/kernel/tracing || echo "tw-init: mounting tracefs failed"
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
# Keep kernel messages (except emergencies) off the console so they cannot
# split the lines the host parses; dmesg is dumped on failure instead.
echo 1 >/proc/sys/kernel/printk
# shellcheck disable=SC3045 # busybox ash has ulimit -l
ulimit -l unlimited 2>/dev/null

if [ -s /tw/ld-path ]; then
	LD_LIBRARY_PATH=$(cat /tw/ld-path)
	export LD_LIBRARY_PATH
fi

# shellcheck disable=SC2013 # the command line is one line of words
for kv in $(cat /proc/cmdline); do
	case "$kv" in
	tw.*=*)
		k=${kv%%=*}
		k=$(echo "${k#tw.}" | tr 'a-z.-' 'A-Z__')
		export "TW_$k=${kv#*=}"
		;;
	esac
done

KVER=$(uname -r)
echo "TW-VM-KERNEL: $KVER"
echo "tw-init: uptime at init $(cut -d' ' -f1 /proc/uptime)s, $(nproc) cpus, $(grep MemTotal /proc/meminfo | tr -s ' ')"

rm -f /tmp/tw-summary
sh /tw/check.sh
rc=$?
summary=$(tr '\n' ' ' </tmp/tw-summary 2>/dev/null)
if [ "$rc" -eq 0 ]; then
	echo "TW-VM-RESULT: PASS kernel=$KVER $summary"
else
	echo "TW-VM-DMESG-BEGIN"
	dmesg | sed -n '/Run \/init as init process/,$p' | tail -n 80
	echo "TW-VM-DMESG-END"
	echo "TW-VM-RESULT: FAIL kernel=$KVER rc=$rc $summary"
fi
echo "tw-init: done at $(cut -d' ' -f1 /proc/uptime)s"
halt_vm
