#!/bin/sh
# hvbench-lab-select xen|kvm: what the dual lab machine boots next (then `reboot`). It
# writes the boot selector, a small virtio disk of serial @SERIAL@ that the
# machine outside reads before each boot.
if [ $# -ne 1 ] || { [ "$1" != xen ] && [ "$1" != kvm ]; }; then
  echo "usage: hvbench-lab-select xen|kvm" >&2
  exit 2
fi
dev=
for s in /sys/block/vd*/serial; do
  [ -r "$s" ] && [ "$(cat "$s")" = @SERIAL@ ] || continue
  d=${s%/serial}
  dev=/dev/${d##*/}
done
if [ -z "$dev" ]; then
  echo "hvbench-lab-select: no boot selector here (a virtio disk of serial @SERIAL@)" >&2
  exit 1
fi
printf '%s\n' "$1" | dd of="$dev" bs=512 count=1 conv=sync,fsync status=none || {
  echo "hvbench-lab-select: cannot write $dev" >&2
  exit 1
}
echo "hvbench-lab-select: the next boot is $1"
