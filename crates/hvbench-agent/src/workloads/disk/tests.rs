//! Tests of the disk workloads on small scratch files (every op in both modes, units, clean-up,
//! refusals) and of finding the scratch disk in a fake sysfs.

use super::setup::private_dir;
use super::*;
use crate::harness;
use crate::workloads::Workload;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    // A read-only disk (the tools disk of general benchmarks) is never scratch, even first.
    fs::write(sys.join("vda").join("ro"), "1\n").unwrap();
    assert_eq!(find_disk(&sys).unwrap().name, "vdb");

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
