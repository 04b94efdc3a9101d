#!/bin/busybox sh
# PID 1 of a nested guest (a VM started inside the lab VM by ptnet/lab/nested.py). It only loads
# the modules it was given, runs /cmd.sh with its output on the second serial port and reports on
# the first one (the console), then powers off. No root filesystem: TCG inside TCG is slow.
#
# /nested.conf (written by nested.py) sets:
#   MODULES   initramfs-relative .ko paths, in load order
# Lines on the console that start with "ptnet-nested: " are for nested.py:
#   start UPTIME, modfail MODULE: MESSAGE, exit CODE

/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox --install -s /bin
export PATH=/bin
. /nested.conf

say() {
	echo "ptnet-nested: $*" >/dev/ttyS0
}

halt() {
	sync
	reboot -f
	sleep 10
}

for m in $MODULES; do
	if ! msg=$(insmod "/$m" 2>&1); then
		say "modfail $m: $msg"
		halt
	fi
done
mkdir -p /tmp /run
ip link set lo up
read -r up _ </proc/uptime
say "start $up"
sh /cmd.sh </dev/null >/dev/ttyS1 2>&1
say "exit $?"
halt
