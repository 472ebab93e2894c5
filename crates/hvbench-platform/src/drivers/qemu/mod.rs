//! The `qemu` driver: the agent as PID 1 of a minimal guest under `qemu-system-x86_64`, with
//! KVM where it can really run an ordinary guest and TCG (software emulation) otherwise — the
//! accelerator that ran is always recorded.
//!
//! A plan with disk workloads gives the guest a scratch disk: a sparse raw file, new for each
//! trial, in a private directory, on virtio-blk with the platform's `disk_cache` mode. A plan
//! with network workloads gives it a virtio-net NIC on QEMU's user network, restricted so that
//! the guest reaches nothing but one forwarded address, [`GUEST_PEER`], which QEMU connects to
//! the peer the driver starts on the host's loopback for the trial.
//!
//! This file keeps the accelerator and the QEMU binary; `cmdline` builds the argument vector,
//! and `platform` runs the guest ([`QemuPlatform`]) with the scratch disk, peer and network
//! namespace that every guest trial gets ([`crate::trial::guest`]).

use crate::drivers::kvm::KvmStatus;
use crate::{PlatformError, Result};
use hvbench_spec::Accel;
use std::path::{Path, PathBuf};
use std::process::Command;

mod cmdline;
mod platform;
pub mod qmp;

pub use cmdline::{argv, DiskConfig, NetConfig, QemuConfig};
pub use platform::QemuPlatform;
pub(crate) use platform::{tap_facts, VHOST_NOT_TCG};

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The accelerator a guest actually runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAccel {
    Kvm,
    Tcg,
}

impl RunAccel {
    pub fn as_str(self) -> &'static str {
        match self {
            RunAccel::Kvm => "kvm",
            RunAccel::Tcg => "tcg",
        }
    }
}

/// Where a guest finds the network peer: an address on QEMU's user network (10.0.2.0/24, the
/// guest at 10.0.2.15 as the agent configures it) that QEMU forwards to the host's peer. It
/// is in the guest's plan, so the image is the same for every trial whatever port the peer
/// gets.
pub const GUEST_PEER: &str = "10.0.2.100:5201";

/// The kernel command line of every hvbench guest: console on the first serial port, quiet
/// boot (kernel messages would only add noise around the frames), and on panic no reboot, so
/// that QEMU (`-no-reboot`) exits and the failure is seen at once.
pub const GUEST_APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=3";

/// Decide the accelerator: `kvm` demands usable KVM, `tcg` is always possible, `auto` takes KVM
/// only where it can run an ordinary guest.
pub fn resolve_accel(wanted: Accel, kvm: &KvmStatus) -> Result<RunAccel> {
    match (wanted, kvm) {
        (Accel::Tcg, _) => Ok(RunAccel::Tcg),
        (_, KvmStatus::Usable { .. }) => Ok(RunAccel::Kvm),
        (Accel::Auto, KvmStatus::Unusable { .. }) => Ok(RunAccel::Tcg),
        (Accel::Kvm, KvmStatus::Unusable { reason, hint }) => Err(PlatformError::unavailable(
            format!("accel = \"kvm\" was asked for, but KVM cannot run guests here: {reason}"),
            format!("{hint}; or set accel = \"auto\" or \"tcg\""),
        )),
    }
}

/// The first line of `qemu-system-x86_64 --version`, or an error that says how to install it.
pub fn qemu_version(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| {
            PlatformError::unavailable(
                format!("cannot run {}: {e}", binary.display()),
                "install QEMU: apt-get install qemu-system-x86 (or set HVBENCH_QEMU to its path)",
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
    Ok(first
        .strip_prefix("QEMU emulator version ")
        .unwrap_or(first)
        .to_string())
}

/// `$HVBENCH_QEMU`, else `qemu-system-x86_64` from PATH.
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("HVBENCH_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| QEMU_BINARY.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accel_resolution() {
        let pvm = KvmStatus::Unusable {
            reason: "PVM host".into(),
            hint: "use the lab".into(),
        };
        let ok = KvmStatus::Usable {
            module: "kvm_amd".into(),
            nested: None,
        };
        assert_eq!(resolve_accel(Accel::Auto, &pvm).unwrap(), RunAccel::Tcg);
        assert_eq!(resolve_accel(Accel::Auto, &ok).unwrap(), RunAccel::Kvm);
        assert_eq!(resolve_accel(Accel::Tcg, &ok).unwrap(), RunAccel::Tcg);
        let e = resolve_accel(Accel::Kvm, &pvm).unwrap_err().to_string();
        assert!(
            e.contains("PVM host") && e.contains("accel = \"auto\""),
            "{e}"
        );
    }

    #[test]
    fn missing_qemu_says_how_to_install() {
        let e = qemu_version(Path::new("/nonexistent/qemu-system-x86_64"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get install qemu-system-x86"), "{e}");
    }
}
