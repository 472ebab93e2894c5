//! `disk`: 1 MiB `O_DIRECT` writes cycling over a file of `size_mib` MiB in a private
//! directory under the scratch base (`$HVBENCH_SCRATCH_DIR`, else `/var/tmp`), kept from one
//! window to the next and removed when it stops. In a guest, whose files live in RAM, over the
//! first `size_mib` MiB of the scratch disk the platform gives it, as the disk workloads do. A file system that refuses `O_DIRECT` gets
//! buffered writes, each followed by `fdatasync`, and a `Log` line saying so. The rate is MB/s
//! written.

use super::{over, Running, Work, MIB};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
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

/// The open scratch file and where the writes have got to.
pub struct Hog {
    // Declared before `scratch`, so it is closed before the file is removed.
    file: File,
    direct: bool,
    /// A block of `BLOCK` bytes starts at `storage[at]`, aligned for `O_DIRECT`.
    storage: Vec<u8>,
    at: usize,
    blocks: u64,
    next: u64,
    written_any: bool,
    logs: Vec<String>,
    /// What is written: the scratch file, or the guest's scratch disk.
    target: PathBuf,
    /// The scratch file's directory, removed on drop; None on a disk.
    _scratch: Option<Scratch>,
}

impl Hog {
    /// `direct`: try `O_DIRECT` first (false only in tests, to exercise the fallback).
    pub fn new(base: &Path, size_mib: u64, direct: bool) -> Result<Self, String> {
        if crate::Mode::current() == crate::Mode::Guest {
            let disk = crate::workloads::disk::find_disk(Path::new("/sys/block"))?;
            return Self::on_device(&disk.dev, size_mib.min(disk.size_bytes / MIB));
        }
        let scratch = Scratch::create(base)?;
        let mut logs = Vec::new();
        let mut storage = vec![0x5Au8; BLOCK + ALIGN];
        let at = storage.as_ptr().align_offset(ALIGN);
        storage[at] = 1;
        let (file, direct) = match open(&scratch.file, direct) {
            Ok(f) => (f, direct),
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                logs.push(format!(
                    "O_DIRECT refused on {} ({e}); buffered writes with fdatasync instead",
                    scratch.dir.display()
                ));
                let f = open(&scratch.file, false)
                    .map_err(|e| format!("cannot open {}: {e}", scratch.file.display()))?;
                (f, false)
            }
            Err(e) => return Err(format!("cannot open {}: {e}", scratch.file.display())),
        };
        if !direct && logs.is_empty() {
            logs.push("buffered writes with fdatasync (O_DIRECT not tried)".to_string());
        }
        Ok(Hog {
            file,
            direct,
            storage,
            at,
            blocks: size_mib.max(1),
            next: 0,
            written_any: false,
            logs,
            target: scratch.file.clone(),
            _scratch: Some(scratch),
        })
    }

    /// Over the first `size_mib` MiB of the block device `dev`, with `O_DIRECT`.
    fn on_device(dev: &Path, size_mib: u64) -> Result<Self, String> {
        let mut storage = vec![0x5Au8; BLOCK + ALIGN];
        let at = storage.as_ptr().align_offset(ALIGN);
        storage[at] = 1;
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(dev)
            .map_err(|e| format!("cannot open the scratch disk {}: {e}", dev.display()))?;
        Ok(Hog {
            file,
            direct: true,
            storage,
            at,
            blocks: size_mib.max(1),
            next: 0,
            written_any: false,
            logs: vec![format!(
                "O_DIRECT writes over the first {size_mib} MiB of {}",
                dev.display()
            )],
            target: dev.to_path_buf(),
            _scratch: None,
        })
    }

    /// Write the next block (and, buffered, sync it).
    fn write_block(&mut self) -> Result<(), String> {
        let buf = &self.storage[self.at..self.at + BLOCK];
        match self.file.write_all_at(buf, self.next * MIB) {
            Ok(()) => {}
            // Some file systems accept O_DIRECT at open and refuse it at write.
            Err(e)
                if self.direct && e.raw_os_error() == Some(libc::EINVAL) && !self.written_any =>
            {
                self.logs.push(format!(
                    "O_DIRECT write refused on {} ({e}); buffered writes with fdatasync instead",
                    self.target.display()
                ));
                self.file = open(&self.target, false)
                    .map_err(|e| format!("cannot open {}: {e}", self.target.display()))?;
                self.direct = false;
                return self.write_block();
            }
            Err(e) => return Err(format!("write to {} failed: {e}", self.target.display())),
        }
        if !self.direct {
            self.file
                .sync_data()
                .map_err(|e| format!("fdatasync on {} failed: {e}", self.target.display()))?;
        }
        self.written_any = true;
        self.next = (self.next + 1) % self.blocks;
        // Each pass writes different bytes, so nothing below can skip a write as unchanged.
        self.storage[self.at + 8] = self.storage[self.at + 8].wrapping_add(1);
        Ok(())
    }
}

impl Running for Hog {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let mut written = 0u64;
        loop {
            self.write_block()?;
            written += 1;
            if over(until, stop) {
                break;
            }
        }
        Ok(Work {
            iterations: written,
            amount: (written * MIB) as f64 / 1e6,
        })
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }
    // `finish`: the default; dropping closes and removes the file and its directory.
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, stopped_after_start};
    use super::super::Stressor;
    use super::*;
    use hvbench_proto::Message;
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
    fn writes_window_after_window_then_removes_its_file() {
        for (name, direct) in [("direct", true), ("buffered", false)] {
            let dir = base(name);
            let mut hog = Hog::new(&dir, 4, direct).unwrap();
            let d = Duration::from_millis(60);
            check(&mut hog, d);
            let file = hog.target.clone();
            assert!(file.exists());
            check(&mut hog, d);
            assert_eq!(hog.target, file, "one file for the whole run");
            if !direct {
                assert!(hog.take_logs()[0].contains("fdatasync"));
            }
            let logs = Box::new(hog).finish();
            assert!(logs.is_empty(), "{logs:?}");
            assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
            fs::remove_dir(&dir).unwrap();
        }
    }

    #[test]
    fn a_stopped_run_removes_its_file() {
        let dir = base("stopped");
        let start = || Hog::new(&dir, 2, true).map(|h| Box::new(h) as Box<dyn Running>);
        let (messages, lag) = stopped_after_start(
            &Stressor::Disk { size_mib: 2 },
            start,
            Some(50),
            Duration::from_millis(200),
        );
        assert!(lag < Duration::from_millis(300), "{lag:?}");
        assert!(
            messages
                .iter()
                .any(|m| matches!(m, Message::Sample { unit, .. } if unit == "MB/s")),
            "{messages:?}"
        );
        assert!(
            matches!(messages.last(), Some(Message::Done { failures: 0, .. })),
            "{messages:?}"
        );
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_missing_base_is_an_error() {
        let e = Hog::new(Path::new("/nonexistent/hvbench"), 1, true)
            .err()
            .unwrap();
        assert!(e.contains("cannot create"), "{e}");
    }
}
