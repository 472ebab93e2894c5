//! Scratch disks for plans with disk workloads: how large ([`disk_mib_needed`]), where
//! ([`scratch_base`]), and a private directory that makes a new sparse image for each trial.

use crate::{PlatformError, Result};
use hvbench_proto::{catalog, AgentPlan, Device};
use hvbench_spec::DiskCache;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// A private directory (0700) where each trial gets a new sparse raw image (0600) of the
/// same size, removed when the trial ends; the directory goes when the platform does.
pub(super) struct ScratchDisks {
    pub(super) dir: tempfile::TempDir,
    pub(super) bytes: u64,
    pub(super) cache: DiskCache,
    made: u64,
}

/// One trial's scratch image, removed on drop.
pub(super) struct ScratchImage(pub(super) PathBuf);

impl Drop for ScratchImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ScratchDisks {
    /// A private directory under `$HVBENCH_SCRATCH_DIR` (default `/var/tmp`, where the host's
    /// disk workloads run too). A cache mode that opens the image with O_DIRECT needs a file
    /// system that supports it (tmpfs before Linux 6.6 does not): checked here, before any
    /// trial.
    pub(super) fn new(bytes: u64, cache: DiskCache) -> Result<Self> {
        let base = scratch_base();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("hvbench-qemu-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(PlatformError::io(format!(
                "cannot create a private directory for scratch disks in {} \
                 (set HVBENCH_SCRATCH_DIR to a writable directory)",
                base.display()
            )))?;
        if cache.uses_o_direct() {
            let probe = dir.path().join("o_direct-probe");
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_DIRECT)
                .open(&probe);
            let _ = std::fs::remove_file(&probe);
            if let Err(e) = opened {
                return Err(PlatformError::unavailable(
                    format!(
                        "disk_cache = \"{cache}\" opens the scratch disk with O_DIRECT, which \
                         {} does not support ({e})",
                        base.display()
                    ),
                    "set HVBENCH_SCRATCH_DIR to a directory on a disk-backed file system, or \
                     choose disk_cache = \"writeback\"",
                ));
            }
        }
        Ok(ScratchDisks {
            dir,
            bytes,
            cache,
            made: 0,
        })
    }

    /// A new sparse image: the guest writes its test region before timing anything.
    pub(super) fn create(&mut self) -> std::io::Result<ScratchImage> {
        self.made += 1;
        let path = self.dir.path().join(format!("disk-{}.raw", self.made));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        let image = ScratchImage(path);
        file.set_len(self.bytes)?;
        Ok(image)
    }
}

/// `$HVBENCH_SCRATCH_DIR`, else `/var/tmp` (a real file system where `/tmp` is often tmpfs).
pub fn scratch_base() -> PathBuf {
    std::env::var_os("HVBENCH_SCRATCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

/// The scratch disk a plan needs, in MiB: the largest `size_mib` of its disk workloads.
pub fn disk_mib_needed(plan: &AgentPlan) -> Option<u64> {
    plan.workloads
        .iter()
        .filter_map(|w| {
            let def = catalog::workload(&w.name)?;
            if !def.devices().contains(&Device::Disk) {
                return None;
            }
            let params = def.resolve(&w.params).ok()?;
            params.get("size_mib").and_then(|v| v.as_u64())
        })
        .chain(plan.stress.as_ref().and_then(|s| {
            // The disk stressor writes over the first size_mib MiB of the raw scratch disk.
            catalog::stressor_devices(&s.kind)
                .contains(&Device::Disk)
                .then(|| {
                    s.params
                        .get("size_mib")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(STRESS_DISK_DEFAULT_MIB)
                })
        }))
        .max()
}

/// The disk stressor's default scratch file size (the agent's `stress::Stressor::Disk`).
const STRESS_DISK_DEFAULT_MIB: u64 = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_is_as_large_as_the_largest_disk_workload() {
        let req = |name: &str, size: Option<u64>| hvbench_proto::WorkloadRequest {
            name: name.into(),
            id: String::new(),
            params: size
                .map(|s| [("size_mib".to_string(), serde_json::Value::from(s))].into())
                .unwrap_or_default(),
        };
        let mut plan = AgentPlan {
            version: hvbench_proto::PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: vec![req("syscall", None), req("net-rr", None)],
            peer: None,
            stress: None,
            evidence: false,
        };
        assert_eq!(disk_mib_needed(&plan), None);
        plan.workloads.push(req("disk-fsync", None));
        assert_eq!(disk_mib_needed(&plan), Some(16), "disk-fsync's default");
        plan.workloads.push(req("disk-seq-read", Some(300)));
        plan.workloads.push(req("disk-rand-write", Some(40)));
        assert_eq!(disk_mib_needed(&plan), Some(300));
    }

    #[test]
    fn scratch_images_are_private_sparse_and_removed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mut disks = ScratchDisks::new(64 << 20, DiskCache::Writeback).unwrap();
        let image = disks.create().unwrap();
        let meta = std::fs::metadata(&image.0).unwrap();
        assert_eq!(meta.len(), 64 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "sparse: {} blocks",
            meta.blocks()
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(disks.dir.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let path = image.0.clone();
        drop(image);
        assert!(!path.exists());
        let second = disks.create().unwrap();
        assert_ne!(second.0, path, "a new image each trial");
    }
}
