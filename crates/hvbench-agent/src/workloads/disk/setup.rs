//! Setting a disk workload up: choosing its target (scratch disk or scratch file), writing
//! the test region in full and dropping it from the page cache, opening it for the timed I/O
//! (`O_DIRECT` or not), and removing a scratch file and its private directory afterwards.

use super::{
    find_disk, AlignedBuf, BlockDisk, Disk, DiskOp, IoMode, DEFAULT_SCRATCH_BASE, MIB, SEQ_BLOCK,
    SMALL_BLOCK,
};
use crate::{facts, Mode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the workload runs on; a scratch file and its private directory are removed on drop.
#[derive(Debug)]
pub(super) enum Target {
    ScratchFile { dir: PathBuf, file: PathBuf },
    Device,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Target::ScratchFile { dir, file } = self {
            let _ = fs::remove_file(file);
            let _ = fs::remove_dir(dir);
        }
    }
}

impl Disk {
    /// Set up from a catalog name and resolved parameters: on the scratch disk in a guest, on
    /// a scratch file on a host.
    pub fn from_params(name: &str, params: &BTreeMap<String, Value>) -> Result<Self, String> {
        let op =
            DiskOp::for_workload(name).ok_or_else(|| format!("`{name}` is not a disk workload"))?;
        let mode = match params.get("mode").and_then(Value::as_str) {
            Some(m) => IoMode::parse(m).ok_or_else(|| format!("unknown mode `{m}`"))?,
            // disk-fsync has no mode: a log commit goes through the page cache.
            None => IoMode::Buffered,
        };
        let size_mib = params
            .get("size_mib")
            .and_then(Value::as_u64)
            .ok_or("parameter `size_mib` is missing")?;
        match Mode::current() {
            Mode::Guest => {
                let disk = find_disk(Path::new("/sys/block"))?;
                Self::on_device(op, mode, size_mib, &disk)
            }
            Mode::Host => {
                let base = std::env::var_os("HVBENCH_SCRATCH_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SCRATCH_BASE));
                Self::on_scratch_file(op, mode, size_mib, &base)
            }
        }
    }

    /// On a new file of `size_mib` MiB in a private directory (0700) under `base`.
    pub fn on_scratch_file(
        op: DiskOp,
        mode: IoMode,
        size_mib: u64,
        base: &Path,
    ) -> Result<Self, String> {
        let region_bytes = region_bytes(size_mib)?;
        let dir = private_dir(base).map_err(|e| {
            format!(
                "cannot create a private directory in {}: {e}",
                base.display()
            )
        })?;
        let path = dir.join("scratch");
        // From here on, dropping `target` cleans up whatever was created.
        let target = Target::ScratchFile {
            dir,
            file: path.clone(),
        };
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        fill_region(&writer, region_bytes).map_err(|e| {
            format!(
                "cannot write the {size_mib} MiB test file {}: {e}",
                path.display()
            )
        })?;
        drop(writer);
        let file = open_timed(&path, mode)?;
        let mut facts = Vec::new();
        facts.push(("disk.path", path.display().to_string()));
        facts.push(("disk.file_mib", size_mib.to_string()));
        ram_facts(&mut facts, region_bytes);
        Ok(Self::new(op, file, region_bytes, facts, target))
    }

    /// On the first `size_mib` MiB of the block device `disk`.
    fn on_device(
        op: DiskOp,
        mode: IoMode,
        size_mib: u64,
        disk: &BlockDisk,
    ) -> Result<Self, String> {
        let region_bytes = region_bytes(size_mib)?;
        if region_bytes > disk.size_bytes {
            return Err(format!(
                "size_mib = {size_mib} does not fit the scratch disk {} ({} MiB)",
                disk.dev.display(),
                disk.size_bytes / MIB
            ));
        }
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&disk.dev)
            .map_err(|e| format!("cannot open {}: {e}", disk.dev.display()))?;
        fill_region(&writer, region_bytes).map_err(|e| {
            format!(
                "cannot write the test region of {}: {e}",
                disk.dev.display()
            )
        })?;
        drop(writer);
        let file = open_timed(&disk.dev, mode)?;
        let mut facts = Vec::new();
        facts.push(("disk.device", disk.dev.display().to_string()));
        facts.push(("disk.size_bytes", disk.size_bytes.to_string()));
        if let Some(driver) = &disk.driver {
            facts.push(("disk.driver", driver.clone()));
        }
        facts.push(("disk.region_mib", size_mib.to_string()));
        ram_facts(&mut facts, region_bytes);
        Ok(Self::new(op, file, region_bytes, facts, Target::Device))
    }

    fn new(
        op: DiskOp,
        file: File,
        region_bytes: u64,
        facts: Vec<(&'static str, String)>,
        target: Target,
    ) -> Self {
        Self {
            op,
            file,
            region_bytes,
            buf: AlignedBuf::new(op.block()),
            next_offset: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            facts,
            _target: target,
        }
    }
}

fn region_bytes(size_mib: u64) -> Result<u64, String> {
    size_mib
        .checked_mul(MIB)
        .filter(|&b| b >= SEQ_BLOCK as u64)
        .ok_or_else(|| format!("size_mib = {size_mib} is not a usable region"))
}

/// The region's size against the memory the page cache could hold it in: near or above 1,
/// buffered reads measure the disk; far below, they may measure memory.
fn ram_facts(facts: &mut Vec<(&'static str, String)>, region_bytes: u64) {
    if let Some(total_kib) = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| facts::meminfo_kib(&m, "MemTotal"))
        .filter(|&k| k > 0)
    {
        let ratio = region_bytes as f64 / (total_kib as f64 * 1024.0);
        facts.push(("disk.region_vs_ram", format!("{ratio:.6}")));
    }
}

/// Open `path` for the timed I/O; `O_DIRECT` refused by the file system is a clear failure.
fn open_timed(path: &Path, mode: IoMode) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if mode == IoMode::Direct {
        options.custom_flags(libc::O_DIRECT);
    }
    let unsupported = |e: &io::Error| {
        format!(
            "O_DIRECT not supported on this filesystem ({}: {e}); use mode = \"buffered\", or \
             point HVBENCH_SCRATCH_DIR at a disk-backed file system",
            path.display()
        )
    };
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            unsupported(&e)
        } else {
            format!("cannot open {}: {e}", path.display())
        }
    })?;
    if mode == IoMode::Direct {
        // Some file systems take the flag at open and refuse the I/O instead.
        let mut probe = AlignedBuf::new(SMALL_BLOCK);
        if let Err(e) = file.read_exact_at(probe.as_mut_slice(), 0) {
            return Err(if e.raw_os_error() == Some(libc::EINVAL) {
                unsupported(&e)
            } else {
                format!("cannot read {}: {e}", path.display())
            });
        }
    }
    Ok(file)
}

/// Write the whole region with data no layer can compress or deduplicate, flush it to the
/// device, and drop it from the page cache so buffered reads start cold.
fn fill_region(file: &File, region_bytes: u64) -> io::Result<()> {
    let mut block = vec![0u8; SEQ_BLOCK];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for word in block.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }
    let mut at = 0;
    while at < region_bytes {
        let n = (region_bytes - at).min(SEQ_BLOCK as u64) as usize;
        block[..8].copy_from_slice(&at.to_le_bytes());
        file.write_all_at(&block[..n], at)?;
        at += n as u64;
    }
    file.sync_all()?;
    let len = libc::off_t::try_from(region_bytes).unwrap_or(0);
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is open for the call.
    // Advice is best effort: a failure leaves the pages cached, which is not an error.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, len, libc::POSIX_FADV_DONTNEED) };
    Ok(())
}

/// A new directory under `base` that only this user may enter.
pub(super) fn private_dir(base: &Path) -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "hvbench-disk-{}-{nanos:08x}-{attempt}",
            std::process::id()
        ));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free directory name",
    ))
}
