#!/bin/busybox sh
# PID 1 of a ptnet lab guest. It mounts the host's root filesystem read-only over 9p, gives the
# guest a writable scratch area, loads the requested modules, runs one command chrooted into the
# host's view, reports the command's exit code on the control port and powers off.
#
# /run.conf (appended to the initramfs for each run, written by ptnet/lab/runner.py) sets:
#   BOOT_MODULES  initramfs-relative .ko paths, in load order (virtio, 9p, console)
#   LOAD_MODULES  absolute host paths of extra .ko files to insmod (our modules)
#   KMOD_DIR      host path of the kernel's lib/modules (bound over /lib/modules)
#   RW_DIRS       host directories shared read-write (tags rw0, rw1, ... in order)
#   PROBE         1 to only report that the guest booted (accelerator probe)
#   NESTED_KVM    1 to load KVM for nested guests (the lab's TCG CPU offers SVM); when /dev/kvm
#                 then exists, /run/ptnet-lab.env tells the command PTNET_ACCEL=kvm
#   HEARTBEAT     seconds between "alive" lines on the control port while the command runs
# /cmd.sh (same archive) exports the command's environment, changes directory and execs it.

/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
. /run.conf

port() {
	# Find the virtio-serial character device whose port name is $1.
	for p in /sys/class/virtio-ports/*; do
		if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ]; then
			echo "/dev/${p##*/}"
			return 0
		fi
	done
	return 1
}

halt() {
	sync
	reboot -f
	sleep 10
}

for m in $BOOT_MODULES; do
	insmod "/$m" || echo "ptnet-lab: insmod $m failed" >/dev/ttyS0
done

CTL=$(port ptnet.ctl) || { echo "ptnet-lab: no control port" >/dev/ttyS0; halt; }
OUT=$(port ptnet.out)
ERR=$(port ptnet.err)
exec 3>"$CTL"

if [ "$PROBE" = 1 ]; then
	echo "probe ok" >&3
	halt
fi

H=/host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 root $H ||
	{ echo "error mounting the host root over 9p" >&3; halt; }
mount -t proc proc $H/proc
mount -t sysfs sys $H/sys
mount -t devtmpfs dev $H/dev
mkdir -p $H/dev/pts $H/dev/shm 2>/dev/null
# What udev would add to devtmpfs: bash's <(...) needs /dev/fd (dkms uses it).
ln -s /proc/self/fd $H/dev/fd
mount -t devpts devpts $H/dev/pts
mount -t tmpfs shm $H/dev/shm
# /tmp and /var/tmp: the host's files stay visible (a checkout or a cache may live there),
# and the guest's writes land in a tmpfs layered on top. /run and /mnt start empty.
mkdir -p /scratch
mount -t tmpfs scratch /scratch
for d in /tmp /var/tmp; do
	up=/scratch/${d#/}-upper
	mkdir -p "$up" "$up.work"
	chmod 1777 "$up"
	mount -t overlay overlay -o "lowerdir=$H$d,upperdir=$up,workdir=$up.work" $H$d ||
		mount -t tmpfs -o mode=1777 scratch $H$d
done
for d in /run /mnt; do
	mount -t tmpfs -o mode=1777 scratch $H$d
done
mount -t debugfs debugfs $H/sys/kernel/debug 2>/dev/null
# A host without /lib/modules (a container, say) gets the mountpoint in a tmpfs layer over /lib.
if [ ! -d $H/lib/modules ]; then
	mkdir -p /scratch/lib-upper /scratch/lib-upper.work
	mount -t overlay overlay \
		-o lowerdir=$H/lib,upperdir=/scratch/lib-upper,workdir=/scratch/lib-upper.work $H/lib &&
		mkdir $H/lib/modules
fi
mount --bind "$H$KMOD_DIR" $H/lib/modules
i=0
for d in $RW_DIRS; do
	# A directory below a scratch tmpfs (/tmp, ...) is hidden by it: recreate the mountpoint.
	[ -d "$H$d" ] || mkdir -p "$H$d"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rw$i "$H$d" ||
		{ echo "error mounting $d read-write" >&3; halt; }
	i=$((i + 1))
done
ip link set lo up
hostname ptnet-lab

if [ "$NESTED_KVM" = 1 ]; then
	# asked for, so its absence is an error: nested guests would silently run ten times slower
	msg=$(chroot $H /sbin/modprobe kvm_amd 2>&1) && [ -c $H/dev/kvm ] ||
		{ echo "error nested KVM: modprobe kvm_amd: ${msg:-no /dev/kvm}" >&3; halt; }
	chmod 0666 $H/dev/kvm # the lab is the user's own throwaway machine, like a kvm group
	echo "PTNET_ACCEL=kvm" >$H/run/ptnet-lab.env
fi

for m in $LOAD_MODULES; do
	if ! msg=$(insmod "$H$m" 2>&1); then
		echo "modfail $m: $msg" >&3
		halt
	fi
done

# a sign of life on the control port: the runner stops a lab that has gone silent
(while sleep $HEARTBEAT; do read -r up _ </proc/uptime && echo "alive $up" >&3; done) &
cp /cmd.sh $H/run/ptnet-cmd.sh
read -r up _ </proc/uptime
echo "start $up" >&3
env -i /bin/busybox chroot $H /bin/sh /run/ptnet-cmd.sh </dev/null >"$OUT" 2>"$ERR"
echo "exit $?" >&3
halt
