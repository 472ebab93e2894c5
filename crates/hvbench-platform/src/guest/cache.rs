//! The cache directory (`~/.cache/hvbench`, or `$HVBENCH_CACHE`): kernels by package version,
//! initramfs images and agent binaries by content hash.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// `$HVBENCH_CACHE`, else `$XDG_CACHE_HOME/hvbench`, else `~/.cache/hvbench`.
    pub fn from_env() -> Cache {
        let root = std::env::var_os("HVBENCH_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("hvbench"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hvbench")))
            .unwrap_or_else(|| std::env::temp_dir().join("hvbench-cache"));
        Cache { root }
    }

    pub fn at(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A subdirectory, created if missing.
    pub fn dir(&self, sub: &str) -> std::io::Result<PathBuf> {
        let d = self.root.join(sub);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `data` to `path` atomically (temporary file + rename), so that a concurrent or
/// interrupted writer never leaves a half-written cache entry behind.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// An exclusive flock(2) on a file next to a cache entry, so that two builders of the same
/// entry (two hvbench runs started together) take turns: the second finds it built. Released
/// when dropped, or when the process dies.
pub struct CacheLock {
    _file: std::fs::File,
}

impl CacheLock {
    /// Block until the lock on `path` (created if missing) is ours.
    pub fn take(path: &Path) -> std::io::Result<CacheLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock(2) on a descriptor we own and keep open; it blocks until the lock is ours.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(CacheLock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_value() {
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn atomic_write_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        write_atomic(&p, b"hi", 0o755).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hi");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}
