#!/usr/bin/env bash
# Installs what hvbench needs on Debian (run as root): QEMU for guests, cpio for the image
# tests, debootstrap for the lab, and fresh apt lists, which hvbench uses to fetch Debian's
# cloud kernel into its cache.
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v dpkg-deb >/dev/null || need+=(dpkg)
# The lab (emulated Xen and KVM hosts) is a debootstrapped Debian rootfs.
command -v debootstrap >/dev/null || need+=(debootstrap)
# The HTML report's test renders it in headless Chromium; a font so that its text shows.
command -v chromium >/dev/null || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# `hvbench selftest fidelity` compares the workloads with the established tools that measure
# the same quantities: perf bench, sysbench, stress-ng, cyclictest.
command -v perf >/dev/null || need+=(linux-perf)
command -v sysbench >/dev/null || need+=(sysbench)
command -v stress-ng >/dev/null || need+=(stress-ng)
command -v cyclictest >/dev/null || need+=(rt-tests)
# Machines over SSH: the system's OpenSSH client drives them; the tests start Debian's sshd on
# loopback ports as their "remote machines" (never the system's own sshd service).
# Guests' networks: bridges and taps in network namespaces (iproute2), their offloads (ethtool).
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The libvirt driver: virsh talks to libvirtd; its tests start Debian's libvirtd (an instance
# of their own, never a system service) with the QEMU driver.
command -v virsh >/dev/null || need+=(libvirt-clients)
[ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon)
[ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] ||
  need+=(libvirt-daemon-driver-qemu)

if [ "$(id -u)" -ne 0 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: missing ${need[*]}; run this script as root (it uses apt-get)" >&2
    exit 1
  fi
  echo "setup: not root; skipping apt-get update (hvbench needs apt lists to fetch the guest kernel)" >&2
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    # Install without starting services (openssh-server would start sshd on port 22): a
    # policy-rc.d that refuses, removed afterwards unless it was there before.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy"
      chmod 755 "$policy"
      own_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${need[@]}"
    if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  fi
  # libvirtd's QEMU driver will not start without the user its guests run as by default
  # (Debian's libvirt-daemon-system makes it; hvbench needs only libvirt-daemon).
  getent passwd libvirt-qemu >/dev/null ||
    adduser --system --group --home /var/lib/libvirt --no-create-home --quiet libvirt-qemu
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and rerun" >&2
  exit 1
fi
echo "setup: ok ($(qemu-system-x86_64 --version | head -1))"
