//! `disk`: 1 MiB `O_DIRECT` writes cycling over a file of `size_mib` MiB in a private
//! directory under the scratch base (`$HVBENCH_SCRATCH_DIR`, else `/var/tmp`), removed at
//! the end. A file system that refuses `O_DIRECT` gets buffered writes, each followed by
//! `fdatasync`, and a `Log` line saying so. The rate is MB/s written.

use super::{Outcome, MIB};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const BLOCK: usize = 1 << 20;
/// Alignment of the buffer for `O_DIRECT`.
const ALIGN: usize = 4096;

/// The private directory and its file, removed on drop (also on an early error return).
struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Scratch {
    fn create(base: &Path) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "hvbench-stress-disk-{}-{nanos:09}",
            std::process::id()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let file = dir.join("stress.dat");
        Ok(Scratch { dir, file })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
        let _ = fs::remove_dir(&self.dir);
    }
}

fn open(path: &Path, direct: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

/// `direct`: try `O_DIRECT` first (false only in tests, to exercise the fallback).
pub fn run(base: &Path, size_mib: u64, direct: bool, until: Instant) -> Result<Outcome, String> {
    let blocks = size_mib.max(1);
    let scratch = Scratch::create(base)?;
    let mut logs = Vec::new();
    let mut storage = vec![0x5Au8; BLOCK + ALIGN];
    let at = storage.as_ptr().align_offset(ALIGN);
    let buf = &mut storage[at..at + BLOCK];
    buf[0] = 1;
    let (mut file, mut direct) = match open(&scratch.file, direct) {
        Ok(f) => (f, direct),
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
            logs.push(format!(
                "O_DIRECT refused on {} ({e}); buffered writes with fdatasync instead",
                scratch.dir.display()
            ));
            (
                open(&scratch.file, false).map_err(|e| e.to_string())?,
                false,
            )
        }
        Err(e) => return Err(format!("cannot open {}: {e}", scratch.file.display())),
    };
    if !direct && logs.is_empty() {
        logs.push("buffered writes with fdatasync (O_DIRECT not tried)".to_string());
    }
    let start = Instant::now();
    let mut written = 0u64;
    let mut block = 0u64;
    loop {
        let offset = block * MIB;
        match file.write_all_at(buf, offset) {
            Ok(()) => {}
            // Some file systems accept O_DIRECT at open and refuse it at write.
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) && written == 0 => {
                logs.push(format!(
                    "O_DIRECT write refused on {} ({e}); buffered writes with fdatasync instead",
                    scratch.dir.display()
                ));
                file = open(&scratch.file, false).map_err(|e| e.to_string())?;
                direct = false;
                continue;
            }
            Err(e) => return Err(format!("write to {} failed: {e}", scratch.file.display())),
        }
        if !direct {
            file.sync_data()
                .map_err(|e| format!("fdatasync on {} failed: {e}", scratch.file.display()))?;
        }
        written += 1;
        block = (block + 1) % blocks;
        buf[8] = buf[8].wrapping_add(1);
        if Instant::now() >= until {
            break;
        }
    }
    let elapsed = start.elapsed();
    drop(file);
    drop(scratch);
    Ok(Outcome::rate(
        written,
        (written * MIB) as f64 / 1e6,
        elapsed,
        "MB/s",
        logs,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    fn base(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hvbench-stress-test-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn writes_and_removes_its_file() {
        for (name, direct) in [("direct", true), ("buffered", false)] {
            let dir = base(name);
            let started = Instant::now();
            let d = Duration::from_millis(150);
            let o = run(&dir, 4, direct, started + d).unwrap();
            check(&o, d, started);
            assert_eq!(o.unit, "MB/s");
            if !direct {
                assert!(o.logs[0].contains("fdatasync"), "{:?}", o.logs);
            }
            assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
            fs::remove_dir(&dir).unwrap();
        }
    }

    #[test]
    fn a_missing_base_is_an_error() {
        let e = run(Path::new("/nonexistent/hvbench"), 1, true, Instant::now()).unwrap_err();
        assert!(e.contains("cannot create"), "{e}");
    }
}
