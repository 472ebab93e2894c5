//! The lab: a real Xen host and a real KVM host, nested under QEMU's software emulation (TCG),
//! built only from Debian packages, for machines that cannot boot Xen or run KVM themselves.
//!
//! The lab host is Debian's generic kernel (the cloud kernel lacks `CONFIG_XEN_DOM0`) with a
//! debootstrapped rootfs (Xen's toolstack, QEMU, kmod, sshd) booted as an initramfs; for Xen,
//! Debian's hypervisor boots first (multiboot) with the kernel and rootfs as its modules. A
//! small overlay appended to the rootfs carries the init script and the SSH keys hvbench made
//! for it. Each lab host is booted once and kept up as a machine reached over SSH on a loopback
//! port ([`machine`]): lab platforms ([`platform`]) then run through exactly the path of a real
//! machine (`crate::remote`), the executor shipped in and the guests run with the real `xen` or
//! `qemu` driver inside.
//!
//! Timings in the lab are emulated and labelled so; what the lab proves is that the whole
//! pipeline works against the real Xen toolstack and real KVM.
//!
//! This file keeps what the lab's parts share (the hosts, the images, the init script); `build`
//! makes the images, `argv` is the emulated host's QEMU command line. `machine` boots the hosts,
//! keeps them up and stops them, with `keys` (the lab's SSH keys), `overlay` (what is appended
//! to the rootfs to serve SSH), `launch` (starting QEMU and waiting for SSH) and `supervisor`
//! (the dual machine's supervisor script); the shell scripts are `.sh` files beside these,
//! filled in by `shell`. `platform` is a lab platform on its host, `fault` what it makes of a
//! trial that failed under it.

use crate::{PlatformError, Result};
use hvbench_spec::Driver;
use std::path::{Path, PathBuf};

mod argv;
mod build;
pub mod emulator;
pub mod fault;
pub mod keys;
mod launch;
pub mod machine;
mod overlay;
pub mod platform;
mod shell;
mod supervisor;
pub mod watch;

pub(crate) use argv::guest_plan_variants;
pub use argv::{cpu_model, dual_argv, host_argv, server_cpu, KVM_HOST_CPU, XEN_HOST_CPU};
pub use build::{build, cached};

/// The Debian release the lab host runs.
pub const SUITE: &str = "bookworm";
const INIT: &str = include_str!("lab_init.sh");

/// Which hypervisor the lab host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabHost {
    Xen,
    Kvm,
}

impl LabHost {
    pub fn as_str(self) -> &'static str {
        match self {
            LabHost::Xen => "xen",
            LabHost::Kvm => "kvm",
        }
    }

    pub fn for_driver(d: &Driver) -> Option<LabHost> {
        match d {
            Driver::Xen(_) => Some(LabHost::Xen),
            Driver::Qemu(_) => Some(LabHost::Kvm),
            Driver::Libvirt(l) => Some(match l.hypervisor {
                hvbench_spec::LibvirtHypervisor::Kvm => LabHost::Kvm,
                hvbench_spec::LibvirtHypervisor::Xen => LabHost::Xen,
            }),
            Driver::Host => None,
        }
    }
}

/// A built lab: the files an emulated host boots from.
#[derive(Debug, Clone, PartialEq)]
pub struct LabImages {
    pub dir: PathBuf,
    /// Package versions and recipe, e.g. `linux-image-6.1.0-56-amd64_6.1.192-2_xen_4.17.7..._r1`.
    pub key: String,
    pub xen: PathBuf,
    pub kernel: PathBuf,
    pub rootfs: PathBuf,
}

impl LabImages {
    fn in_dir(dir: PathBuf, key: String) -> LabImages {
        LabImages {
            xen: dir.join("xen.elf"),
            kernel: dir.join("vmlinuz"),
            rootfs: dir.join("rootfs.cpio.gz"),
            dir,
            key,
        }
    }

    fn complete(&self) -> bool {
        self.xen.is_file() && self.kernel.is_file() && self.rootfs.is_file()
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    crate::guest::cache::write_atomic(path, data, mode).map_err(PlatformError::io(format!(
        "cannot write {}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_script_starts_the_toolstack_and_serves_ssh() {
        assert!(INIT.starts_with("#!/bin/sh"));
        assert!(INIT.contains("/etc/init.d/xen start"));
        assert!(INIT.contains("/usr/sbin/sshd -f /hvbench/ssh/sshd_config"));
        assert!(INIT.contains("ip route add default via 10.0.2.2"));
        // The dual lab machine's boot selector is a virtio disk.
        assert!(INIT.contains("modprobe virtio_blk"));
    }
}
