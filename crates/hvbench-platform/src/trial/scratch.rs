//! Scratch disks for plans with disk workloads, whatever the driver: how large
//! ([`disk_mib_needed`]), where ([`scratch_base`], or a directory the driver names), and a new
//! sparse raw image for each trial, removed when the trial ends.

use crate::{PlatformError, Result};
use hvbench_proto::{catalog, AgentPlan, Device};
use hvbench_spec::DiskCache;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where each trial of a platform gets a new sparse raw image (0600) of the same size,
/// removed when the trial ends: a private directory (0700) that goes when the platform does
/// ([`ScratchDisks::private`], QEMU's), or a directory the driver keeps its trials' files in
/// ([`ScratchDisks::in_dir`], Xen's, in dom0).
pub struct ScratchDisks {
    dir: PathBuf,
    /// The private directory, removed on drop; None where the directory is the driver's.
    _private: Option<tempfile::TempDir>,
    bytes: u64,
    made: u64,
}

/// One trial's scratch image, removed on drop.
#[derive(Debug)]
pub struct ScratchImage(PathBuf);

impl ScratchImage {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

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
    pub fn private(bytes: u64, cache: DiskCache) -> Result<Self> {
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
            dir: dir.path().to_path_buf(),
            _private: Some(dir),
            bytes,
            made: 0,
        })
    }

    /// Images in `dir`, which the driver owns (nothing is made there before the first trial).
    pub fn in_dir(dir: PathBuf, bytes: u64) -> Self {
        ScratchDisks {
            dir,
            _private: None,
            bytes,
            made: 0,
        }
    }

    /// The size of every image.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Where the images are made.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new sparse image, `NAME.raw` (`disk-N.raw` for the Nth without a name): the guest
    /// writes its test region before timing anything. The error says which file.
    pub fn create(&mut self, name: Option<&str>) -> std::result::Result<ScratchImage, String> {
        self.made += 1;
        let path = match name {
            Some(name) => self.dir.join(format!("{name}.raw")),
            None => self.dir.join(format!("disk-{}.raw", self.made)),
        };
        let made = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map(|file| (file, ScratchImage(path.clone())))
            .and_then(|(file, image)| file.set_len(self.bytes).map(|()| image));
        made.map_err(|e| format!("cannot create the scratch disk {}: {e}", path.display()))
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
            tools_root: None,
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
        let mut disks = ScratchDisks::private(64 << 20, DiskCache::Writeback).unwrap();
        let image = disks.create(None).unwrap();
        let meta = std::fs::metadata(&image.0).unwrap();
        assert_eq!(meta.len(), 64 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "sparse: {} blocks",
            meta.blocks()
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(disks.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let path = image.0.clone();
        drop(image);
        assert!(!path.exists());
        let second = disks.create(None).unwrap();
        assert_ne!(second.0, path, "a new image each trial");
        let private = disks.dir().to_path_buf();
        drop((second, disks));
        assert!(
            !private.exists(),
            "the private directory goes with the platform"
        );
    }

    #[test]
    fn images_in_the_drivers_directory_are_named_and_the_directory_stays() {
        let d = tempfile::tempdir().unwrap();
        let mut disks = ScratchDisks::in_dir(d.path().to_path_buf(), 1 << 20);
        let image = disks.create(Some("hvbench-xen-1")).unwrap();
        assert_eq!(image.path(), d.path().join("hvbench-xen-1.raw"));
        assert_eq!(std::fs::metadata(image.path()).unwrap().len(), 1 << 20);
        let e = disks.create(Some("hvbench-xen-1")).unwrap_err();
        assert!(
            e.starts_with("cannot create the scratch disk") && e.contains("hvbench-xen-1.raw"),
            "an image is never reused: {e}"
        );
        drop((image, disks));
        assert!(d.path().exists() && std::fs::read_dir(d.path()).unwrap().next().is_none());
    }
}
