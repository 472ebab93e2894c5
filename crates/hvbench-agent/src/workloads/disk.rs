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

use super::Workload;
use crate::{facts, Mode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// What the workload runs on; a scratch file and its private directory are removed on drop.
#[derive(Debug)]
enum Target {
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

    /// The next offset: sequential ops and fsync walk the region and wrap; random ops draw a
    /// block uniformly (xorshift64*, Vigna 2016; the modulo bias is below 2^-40 here).
    fn offset(&mut self) -> u64 {
        let block = self.op.block() as u64;
        match self.op {
            DiskOp::RandRead | DiskOp::RandWrite => {
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
                (r % (self.region_bytes / block)) * block
            }
            _ => {
                if self.next_offset + block > self.region_bytes {
                    self.next_offset = 0;
                }
                let at = self.next_offset;
                self.next_offset += block;
                at
            }
        }
    }

    fn iterate(&mut self, iterations: u64) -> io::Result<()> {
        for _ in 0..iterations {
            let at = self.offset();
            if self.op.writes() {
                // A different block each time, so no layer can skip a write as unchanged.
                self.buf.as_mut_slice()[..8].copy_from_slice(&at.to_le_bytes());
                self.file.write_all_at(self.buf.as_slice(), at)?;
                if self.op == DiskOp::Fsync {
                    self.file.sync_all()?;
                }
            } else {
                self.file.read_exact_at(self.buf.as_mut_slice(), at)?;
            }
        }
        if matches!(self.op, DiskOp::SeqWrite | DiskOp::RandWrite) {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl Workload for Disk {
    fn run(&mut self, iterations: u64) {
        if let Err(e) = self.iterate(iterations) {
            panic!("disk I/O failed: {e}");
        }
    }

    /// MB/s for the sequential ops, IOPS for the random ones, µs per write+fsync.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let ns = elapsed.as_nanos() as f64;
        match self.op {
            DiskOp::SeqRead | DiskOp::SeqWrite => {
                // bytes per ns = GB/s; x 1e3 = MB/s.
                iterations as f64 * SEQ_BLOCK as f64 / ns * 1e3
            }
            DiskOp::RandRead | DiskOp::RandWrite => iterations as f64 / ns * 1e9,
            DiskOp::Fsync => ns / 1e3 / iterations as f64,
        }
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        self.facts.clone()
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
fn private_dir(base: &Path) -> io::Result<PathBuf> {
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

/// A block device the guest may write over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDisk {
    pub name: String,
    pub dev: PathBuf,
    pub size_bytes: u64,
    /// The kernel driver bound to it (`virtio_blk`, `vbd` for Xen's blkfront).
    pub driver: Option<String>,
}

/// The guest's scratch disk: the first (by name) non-removable disk of `sys_block` that is not
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
        if read(&name, "removable").as_deref() == Some("1") {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness;

    /// Tests write real (small) files in private directories under /var/tmp, a disk-backed
    /// file system where /tmp may be tmpfs.
    fn test_base() -> PathBuf {
        let base = PathBuf::from(DEFAULT_SCRATCH_BASE);
        if base.is_dir() {
            base
        } else {
            std::env::temp_dir()
        }
    }

    fn fact(w: &Disk, key: &str) -> String {
        let found = w.facts().into_iter().find(|(k, _)| *k == key);
        found
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no fact {key}"))
    }

    fn setup(op: DiskOp, mode: IoMode) -> Result<Disk, String> {
        Disk::on_scratch_file(op, mode, 2, &test_base())
    }

    #[test]
    fn every_op_runs_in_both_modes_and_cleans_up() {
        for op in [
            DiskOp::SeqRead,
            DiskOp::SeqWrite,
            DiskOp::RandRead,
            DiskOp::RandWrite,
            DiskOp::Fsync,
        ] {
            for mode in [IoMode::Direct, IoMode::Buffered] {
                let mut w = match setup(op, mode) {
                    Err(e) if mode == IoMode::Direct => {
                        // A file system without O_DIRECT says so, and nothing panics.
                        assert!(e.contains("O_DIRECT not supported"), "{e}");
                        continue;
                    }
                    other => other.unwrap(),
                };
                let path = PathBuf::from(fact(&w, "disk.path"));
                assert_eq!(fs::metadata(&path).unwrap().len(), 2 * MIB);
                assert_eq!(fact(&w, "disk.file_mib"), "2");
                assert!(fact(&w, "disk.region_vs_ram").parse::<f64>().unwrap() > 0.0);
                let window = harness::calibrate(&mut w, Duration::from_millis(5)).unwrap();
                let v = w.value(window.iterations, window.elapsed);
                assert!(v.is_finite() && v > 0.0, "{op:?} {mode:?}: {v}");
                // The sequential ops wrap around the 2 MiB region.
                w.run(5);
                let dir = path.parent().unwrap().to_path_buf();
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(
                    fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                    0o700
                );
                drop(w);
                assert!(
                    !path.exists() && !dir.exists(),
                    "{op:?}: scratch left behind"
                );
            }
        }
    }

    #[test]
    fn writes_land_in_the_file() {
        let mut w = setup(DiskOp::SeqWrite, IoMode::Buffered).unwrap();
        let path = PathBuf::from(fact(&w, "disk.path"));
        w.run(2);
        let data = fs::read(&path).unwrap();
        // Each written block starts with its own offset.
        assert_eq!(&data[..8], &0u64.to_le_bytes());
        assert_eq!(
            &data[SEQ_BLOCK..SEQ_BLOCK + 8],
            &(SEQ_BLOCK as u64).to_le_bytes()
        );
    }

    #[test]
    fn random_offsets_are_aligned_and_inside_the_region() {
        let mut w = setup(DiskOp::RandRead, IoMode::Buffered).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let at = w.offset();
            assert_eq!(at % SMALL_BLOCK as u64, 0);
            assert!(at + SMALL_BLOCK as u64 <= 2 * MIB);
            seen.insert(at);
        }
        // 512 blocks, 2000 draws: nearly all are hit.
        assert!(seen.len() > 450, "{}", seen.len());
    }

    #[test]
    fn values_have_the_catalog_units() {
        let w = setup(DiskOp::SeqRead, IoMode::Buffered).unwrap();
        // 100 MiB in 1 s = 104.8576 MB/s.
        assert!((w.value(100, Duration::from_secs(1)) - 104.8576).abs() < 1e-9);
        let w = setup(DiskOp::RandWrite, IoMode::Buffered).unwrap();
        assert!((w.value(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
        let w = setup(DiskOp::Fsync, IoMode::Buffered).unwrap();
        assert!((w.value(4, Duration::from_millis(2)) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn tmpfs_refuses_o_direct_with_a_reason() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            eprintln!("skipping: no /dev/shm");
            return;
        }
        match Disk::on_scratch_file(DiskOp::SeqRead, IoMode::Direct, 1, shm) {
            // Kernels from 6.6 on accept O_DIRECT on tmpfs.
            Ok(w) => drop(w),
            Err(e) => assert!(
                e.contains("O_DIRECT not supported on this filesystem"),
                "{e}"
            ),
        }
        let leftovers = fs::read_dir(shm).unwrap().filter_map(|e| e.ok()).any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("hvbench-disk-{}-", std::process::id()))
        });
        assert!(!leftovers, "the failed set-up left its directory behind");
    }

    #[test]
    fn bad_sizes_and_places_are_errors() {
        let e = setup_err(0, &test_base());
        assert!(e.contains("size_mib = 0"), "{e}");
        let e = setup_err(1, Path::new("/nonexistent/hvbench"));
        assert!(e.contains("private directory"), "{e}");
    }

    fn setup_err(size_mib: u64, base: &Path) -> String {
        Disk::on_scratch_file(DiskOp::SeqRead, IoMode::Buffered, size_mib, base)
            .err()
            .unwrap()
    }

    #[test]
    fn the_scratch_disk_is_found_in_sysfs() {
        let d = tempdir();
        let sys = d.join("block");
        for (name, removable, size) in [
            ("loop0", "0", "2048"),
            ("ram0", "0", "2048"),
            ("sr0", "1", "2048"),
            ("vdb", "0", "4096"),
            ("vda", "0", "2048"),
            ("zram0", "0", "2048"),
        ] {
            fs::create_dir_all(sys.join(name)).unwrap();
            fs::write(sys.join(name).join("removable"), format!("{removable}\n")).unwrap();
            fs::write(sys.join(name).join("size"), format!("{size}\n")).unwrap();
        }
        let found = find_disk(&sys).unwrap();
        assert_eq!(found.name, "vda");
        assert_eq!(found.dev, PathBuf::from("/dev/vda"));
        assert_eq!(found.size_bytes, 2048 * 512);

        fs::remove_dir_all(sys.join("vda")).unwrap();
        fs::remove_dir_all(sys.join("vdb")).unwrap();
        let e = find_disk(&sys).unwrap_err();
        assert!(
            e.contains("no disk in this guest") && e.contains("kernel = PATH"),
            "{e}"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    fn tempdir() -> PathBuf {
        private_dir(&test_base()).unwrap()
    }
}
