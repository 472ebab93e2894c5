//! The disk workloads: sequential 1 MiB and random 4 KiB reads and writes, with `O_DIRECT` or
//! through the page cache, and the latency of a 4 KiB write plus `fsync`.
//!
//! Where they run:
//!
//! - **in a guest**, on the raw scratch disk the platform gives it (the first non-removable
//!   disk in `/sys/block` that is not a RAM disk, loop device or zram), from its first byte;
//! - **on a host**, on a temporary file in a private directory under `$HVBENCH_SCRATCH_DIR`
//!   (default `/var/tmp`, a real file system where `/tmp` is often tmpfs), removed afterwards.
//!
//! The test region is written in full before anything is timed, so that reads never hit holes
//! of a sparse file (which cost nothing) and writes never allocate; then its pages are dropped
//! from the page cache. Write windows end with `fdatasync`, so a window counts only what
//! reached the device — which, under a hypervisor, is whatever the disk cache mode makes of it.
//! As fio does, MB/s means 10^6 bytes per second.
//!
//! This file holds the ops, modes and the workload's state; setting it up (target, region,
//! opening) is in `setup`, the timed I/O in `access`, finding the guest's disk in `device`.

mod access;
mod device;
mod setup;

use setup::Target;
use std::fs::File;

pub use device::{find_disk, BlockDisk};

/// Block of the sequential workloads.
pub const SEQ_BLOCK: usize = 1 << 20;
/// Block of the random and fsync workloads.
pub const SMALL_BLOCK: usize = 4096;
/// Alignment of buffers and offsets for `O_DIRECT` (a multiple of every logical block size
/// seen in practice).
const ALIGN: usize = 4096;
const MIB: u64 = 1 << 20;
/// Where host runs put their scratch directory unless `$HVBENCH_SCRATCH_DIR` says otherwise.
pub const DEFAULT_SCRATCH_BASE: &str = "/var/tmp";

/// What one iteration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskOp {
    SeqRead,
    SeqWrite,
    RandRead,
    RandWrite,
    /// A 4 KiB write then `fsync`.
    Fsync,
}

impl DiskOp {
    /// The op of a catalog workload name.
    pub fn for_workload(name: &str) -> Option<Self> {
        Some(match name {
            "disk-seq-read" => DiskOp::SeqRead,
            "disk-seq-write" => DiskOp::SeqWrite,
            "disk-rand-read" => DiskOp::RandRead,
            "disk-rand-write" => DiskOp::RandWrite,
            "disk-fsync" => DiskOp::Fsync,
            _ => return None,
        })
    }

    fn block(self) -> usize {
        match self {
            DiskOp::SeqRead | DiskOp::SeqWrite => SEQ_BLOCK,
            DiskOp::RandRead | DiskOp::RandWrite | DiskOp::Fsync => SMALL_BLOCK,
        }
    }

    fn writes(self) -> bool {
        matches!(self, DiskOp::SeqWrite | DiskOp::RandWrite | DiskOp::Fsync)
    }
}

/// Past the page cache, or through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    Direct,
    Buffered,
}

impl IoMode {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "direct" => Some(IoMode::Direct),
            "buffered" => Some(IoMode::Buffered),
            _ => None,
        }
    }
}

/// A zeroed buffer whose start is aligned for `O_DIRECT`, without unsafe code: a `Vec` a
/// little longer than needed, used from its first aligned byte.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        assert!(start < ALIGN, "a u8 pointer can always be aligned");
        Self {
            storage,
            start,
            len,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// One disk workload, its region written and ready to be timed.
pub struct Disk {
    op: DiskOp,
    file: File,
    region_bytes: u64,
    buf: AlignedBuf,
    next_offset: u64,
    rng: u64,
    facts: Vec<(&'static str, String)>,
    // Dropped last: the file above is closed before its directory entry goes.
    _target: Target,
}

#[cfg(test)]
mod tests;
