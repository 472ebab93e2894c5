//! The lab: a real Xen host and a real KVM host, nested under QEMU's software emulation (TCG),
//! built only from Debian packages, for machines that cannot boot Xen or run KVM themselves.
//!
//! The lab host is Debian's generic kernel (the cloud kernel lacks `CONFIG_XEN_DOM0`) with a
//! debootstrapped rootfs (Xen's toolstack, QEMU, kmod) booted as an initramfs; for Xen, Debian's
//! hypervisor boots first (multiboot) with the kernel and rootfs as its modules. An overlay
//! archive appended to the rootfs carries this very `hvbench` binary, the job (platform, guest,
//! plan) and the guest kernel. Inside, `hvbench lab-exec` runs the guest with the same `xen` or
//! `qemu` driver a real host uses and writes the guest's frames on the lab's console, which the
//! controller outside reads exactly as it reads a local guest.
//!
//! Timings in the lab are emulated and labelled so; what the lab proves is that the whole
//! pipeline works against the real Xen toolstack and real KVM.
//!
//! This file keeps what the lab's parts share (the hosts, the images, the job, the init script);
//! `build` makes the images, `platform` boots them from the controller, and `inside` is
//! what `hvbench lab-exec` runs within the emulated host.

use crate::{PlatformError, Result};
use hvbench_proto::AgentPlan;
use hvbench_spec::{Driver, GuestSpec, PlatformSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod build;
mod inside;
mod platform;

pub use build::{build, cached};
pub use inside::{exec_job, ExecOptions};
pub(crate) use platform::guest_plan_variants;
pub use platform::{host_argv, LabPlatform, LAB_BOOT_ALLOWANCE};

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

/// What the emulated host runs: one trial of one platform, with the same drivers a real host uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabJob {
    /// The platform as it runs inside the lab host (`lab = false` there).
    pub platform: PlatformSpec,
    pub guest: GuestSpec,
    pub plan: AgentPlan,
    /// An isolation cell to run instead of one trial of `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<crate::isolation::Cell>,
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    crate::cache::write_atomic(path, data, mode).map_err(PlatformError::io(format!(
        "cannot write {}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_script_runs_the_job_and_powers_off() {
        assert!(INIT.starts_with("#!/bin/sh"));
        assert!(INIT.contains("hvbench lab-exec /hvbench/job.json"));
        assert!(INIT.contains("/etc/init.d/xen start"));
        assert!(INIT.contains("echo o > /proc/sysrq-trigger"));
    }

    #[test]
    fn job_round_trips() {
        let job = LabJob {
            platform: PlatformSpec {
                name: "xen-pv".into(),
                driver: Driver::Xen(hvbench_spec::XenSpec {
                    kind: hvbench_spec::XenGuestType::Pv,
                    ..Default::default()
                }),
                lab: false,
                host: None,
            },
            guest: GuestSpec::default(),
            plan: AgentPlan {
                version: 1,
                warmup: 0,
                samples: 1,
                min_window_ms: 10,
                workloads: vec![],
                peer: None,
                stress: None,
            },
            cell: None,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains("cell"), "a battery job has no cell: {text}");
        assert_eq!(serde_json::from_str::<LabJob>(&text).unwrap(), job);
        // A cell travels whole.
        let mut with_cell = job.clone();
        with_cell.cell = Some(crate::isolation::Cell {
            scenario: "n/cpu/shared".into(),
            victim: job.plan.clone(),
            aggressor: Some(job.plan.clone()),
            aggressors: 2,
            pinned_apart: false,
            weight: Some(50),
            cap_pct: None,
            settle_ms: 1000,
            victim_cpus: 1,
        });
        let text = serde_json::to_string(&with_cell).unwrap();
        assert_eq!(serde_json::from_str::<LabJob>(&text).unwrap(), with_cell);
    }
}
