#!/bin/sh
# hvbench's dual lab machine (hvbench-lab-serve-dual): one emulated host that boots
# Xen or Linux with KVM as its boot selector says, like a dual-boot machine. QEMU
# runs with -no-reboot: a reboot inside ends it with status 0, and the selector is
# read again for the next boot. QEMU failing or ended by a signal, a boot loop, or
# a signal to this script stops the machine. `hvbench lab down dual` ends it.
# Written by hvbench; do not edit.
qemu=@QEMU@
selector=@SELECTOR@
console=@CONSOLE@
say() { echo "hvbench-lab-dual: $*" >>"$console"; }
child=
stop() {
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  say "stopped by a signal"
  exit 143
}
trap stop TERM INT HUP
boot=0
quick=0
while :; do
  boot=$((boot + 1))
  sel=$(head -c 512 "$selector" 2>/dev/null | tr -d '\000' | head -n 1 | tr -d ' \t\r')
  case "$sel" in
    xen|kvm) ;;
    *) say "the boot selector says '$sel', not xen or kvm: booting xen"; sel=xen ;;
  esac
  say "boot $boot: $sel ($(date -u '+%Y-%m-%dT%H:%M:%SZ'))"
  t0=$(date +%s)
  if [ "$sel" = kvm ]; then
    "$qemu"@KVM_ARGS@ \
      </dev/null >>"$console" 2>&1 &
  else
    "$qemu"@XEN_ARGS@ \
      </dev/null >>"$console" 2>&1 &
  fi
  child=$!
  wait "$child"
  rc=$?
  child=
  if [ "$rc" -ne 0 ]; then
    say "QEMU exited with status $rc: stopping"
    exit "$rc"
  fi
  # QEMU ends with status 0 on SIGTERM too: that is not a reboot.
  if tail -n 3 "$console" | grep -q 'terminating on signal'; then
    say "QEMU was ended by a signal: stopping"
    exit 0
  fi
  if [ $(($(date +%s) - t0)) -lt @QUICK_BOOT_S@ ]; then
    quick=$((quick + 1))
  else
    quick=0
  fi
  if [ "$quick" -ge @QUICK_BOOTS@ ]; then
    say "@QUICK_BOOTS@ boots in a row ended within @QUICK_BOOT_S@ s: a boot loop, stopping"
    exit 1
  fi
  say "the $sel host rebooted"
done
