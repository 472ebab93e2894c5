#!/usr/bin/env bash
# Installs what hvbench needs on Debian (run as root): QEMU for guests, cpio for the image
# tests, and fresh apt lists, which hvbench uses to fetch Debian's cloud kernel into its cache.
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v dpkg-deb >/dev/null || need+=(dpkg)

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
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and rerun" >&2
  exit 1
fi
echo "setup: ok ($(qemu-system-x86_64 --version | head -1))"
