#!/bin/sh
# /init of hvbench's emulated lab host (a Debian rootfs booted as an initramfs, as Xen's dom0
# or as a plain KVM host). It brings up the hypervisor's toolstack, then serves SSH until it is
# stopped (/hvbench/serve): the lab host is a machine hvbench reaches over SSH on a loopback
# port. Its console is a log for diagnosis.
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
    # A nested guest that triple-faults ends its QEMU (-no-reboot) with status 0, which alone
    # does not say why: count SVM's SHUTDOWN exits (0x7f = 127) by thread and guest RIP, so that
    # a lab fault can say whether and where (fault.rs, LOGS_SCRIPT). A filter compare per exit,
    # the same in every lab KVM trial.
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
    echo 'hist:keys=common_pid,guest_rip:vals=hitcount if exit_reason == 127' \
      >> /sys/kernel/tracing/events/kvm/kvm_exit/trigger || echo "hvbench-lab: no shutdown watch"
    # Nested page faults taken while the nested guest walked its own page tables (SVM NPF, 0x400,
    # with EXITINFO1 bit 33): both nested KVM guests caught hung in the lab looped on one.
    echo 'hist:keys=common_pid:vals=hitcount if exit_reason == 1024 && info1 & 0x200000000' \
      >> /sys/kernel/tracing/events/kvm/kvm_exit/trigger || echo "hvbench-lab: no walk-fault count"
    ;;
esac
if [ -f /hvbench/serve ]; then
  # Kept up as a machine reached over SSH: QEMU's user network (10.0.2.0/24, forwarded to a
  # loopback port of the machine outside), sshd with the keys hvbench generated, and wait.
  modprobe virtio_pci 2>/dev/null
  modprobe virtio_net || echo "hvbench-lab: modprobe virtio_net failed"
  # The dual lab machine's boot selector (hvbench-lab-select) is a virtio disk.
  modprobe virtio_blk || echo "hvbench-lab: modprobe virtio_blk failed"
  ip link set lo up
  nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  ip link set "$nic" up
  ip addr add 10.0.2.15/24 dev "$nic"
  ip route add default via 10.0.2.2
  # libvirt, for the `libvirt` driver's platforms (its QEMU driver on the KVM host, libxl on Xen).
  if [ -x /usr/sbin/libvirtd ]; then
    # Its log, state and cache directories (the rootfs is trimmed of what Debian would make).
    mkdir -p /var/log/libvirt/qemu /var/log/libvirt/libxl /var/lib/libvirt /var/cache/libvirt
    /usr/sbin/libvirtd -d || echo "hvbench-lab: libvirtd failed"
  fi
  mkdir -p /run/sshd /root
  chmod 700 /hvbench/ssh
  /usr/sbin/sshd -f /hvbench/ssh/sshd_config || echo "hvbench-lab: sshd failed"
  echo "hvbench-lab: serving SSH on $nic"
  while :; do sleep 3600; done
fi
echo "hvbench-lab: no /hvbench/serve: nothing to do"
sync
echo o > /proc/sysrq-trigger
sleep 30
