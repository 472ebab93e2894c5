//! Finding the guest's scratch disk: the first non-removable disk in `/sys/block` that is not
//! a RAM disk, loop device or zram, with its size and driver.

use std::fs;
use std::path::{Path, PathBuf};

/// A block device the guest may write over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDisk {
    pub name: String,
    pub dev: PathBuf,
    pub size_bytes: u64,
    /// The kernel driver bound to it (`virtio_blk`, `vbd` for Xen's blkfront).
    pub driver: Option<String>,
}

/// The guest's scratch disk: the first (by name) non-removable, writable disk of `sys_block` that is not
/// a RAM disk, loop device or zram and has a size.
pub fn find_disk(sys_block: &Path) -> Result<BlockDisk, String> {
    let mut names: Vec<String> = fs::read_dir(sys_block)
        .map_err(|e| format!("cannot list {}: {e}", sys_block.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["ram", "loop", "zram"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    let read = |name: &str, file: &str| {
        fs::read_to_string(sys_block.join(name).join(file))
            .ok()
            .map(|s| s.trim().to_string())
    };
    for name in names {
        // Removable, or read-only: the tools disk of general benchmarks is never scratch.
        if read(&name, "removable").as_deref() == Some("1")
            || read(&name, "ro").as_deref() == Some("1")
        {
            continue;
        }
        let sectors: u64 = match read(&name, "size").and_then(|s| s.parse().ok()) {
            Some(s) if s > 0 => s,
            _ => continue,
        };
        let driver = fs::read_link(sys_block.join(&name).join("device/driver"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        return Ok(BlockDisk {
            dev: PathBuf::from("/dev").join(&name),
            name,
            // /sys/block/*/size counts 512-byte sectors whatever the device's block size.
            size_bytes: sectors * 512,
            driver,
        });
    }
    Err(
        "no disk in this guest: /sys/block has no disk but RAM disks, loop devices or zram. \
         The platform adds a scratch disk only for disk workloads, and the guest kernel needs its \
         driver: hvbench's image loads virtio_blk and xen-blkfront, but a `kernel = PATH` guest \
         gets no modules, so that kernel must have the driver built in (CONFIG_VIRTIO_BLK=y)"
            .to_string(),
    )
}
