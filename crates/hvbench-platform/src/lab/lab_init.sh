#!/bin/sh
# /init of hvbench's emulated lab host (a Debian rootfs booted as an initramfs, as Xen's dom0
# or as a plain KVM host). It brings up the hypervisor's toolstack, runs the one job that
# hvbench put in /hvbench/job.json with hvbench itself, and powers the machine off. Its
# console is the lab's console: hvbench's frames go out through it to the controller.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
# cgroup v2, for the cpu.weight and cpu.max of isolation experiments' aggressors.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || echo "hvbench-lab: no cgroup2"
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/lock
mount -t tmpfs tmpfs /tmp
ln -sf /proc/self/fd /dev/fd
mode=none
for a in $(cat /proc/cmdline); do
  case "$a" in hvbench.lab=*) mode="${a#hvbench.lab=}" ;; esac
done
echo "hvbench-lab: up as a $mode host"
case "$mode" in
  xen)
    for m in xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback xen-netback; do
      modprobe "$m" || echo "hvbench-lab: modprobe $m failed"
    done
    mount -t xenfs xenfs /proc/xen
    /etc/init.d/xen start
    ;;
  kvm)
    modprobe kvm-amd || modprobe kvm-intel || echo "hvbench-lab: no KVM module loaded"
    ;;
esac
if [ -f /hvbench/job.json ]; then
  HVBENCH_CACHE=/hvbench-cache /hvbench/hvbench lab-exec /hvbench/job.json
  echo "hvbench-lab: job ended with status $?"
fi
sync
echo o > /proc/sysrq-trigger
sleep 30
