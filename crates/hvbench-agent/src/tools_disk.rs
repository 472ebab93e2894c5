//! In a guest: finding the tools tree's disk by its ext4 label ([`hvbench_proto::TOOLS_LABEL`])
//! among the block devices and mounting it read-only where the plan says
//! ([`hvbench_proto::AgentPlan::tools_root`]).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The ext4 superblock starts 1024 bytes into the device.
const SUPERBLOCK: usize = 1024;
/// `s_magic`, little-endian 0xEF53, at offset 56 of the superblock.
const MAGIC_AT: usize = 56;
const EXT_MAGIC: u16 = 0xEF53;
/// `s_volume_name`, 16 bytes, NUL-padded, at offset 120 of the superblock.
const LABEL_AT: usize = 120;

/// The ext2/3/4 label in the first 2 KiB of a device, if it holds such a file system.
pub fn ext_label(head: &[u8]) -> Option<String> {
    let sb = head.get(SUPERBLOCK..SUPERBLOCK + LABEL_AT + 16)?;
    if u16::from_le_bytes([sb[MAGIC_AT], sb[MAGIC_AT + 1]]) != EXT_MAGIC {
        return None;
    }
    let raw = &sb[LABEL_AT..LABEL_AT + 16];
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

fn label_of(dev: &Path) -> Option<String> {
    let mut head = vec![0u8; SUPERBLOCK + LABEL_AT + 16];
    File::open(dev).ok()?.read_exact(&mut head).ok()?;
    ext_label(&head)
}

/// The device under `dev_dir` of the first disk of `sys_block` (by name) labelled `label`.
pub fn find_labelled(sys_block: &Path, dev_dir: &Path, label: &str) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["ram", "loop", "zram"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| dev_dir.join(n))
        .find(|dev| label_of(dev).as_deref() == Some(label))
}

/// Find the tools disk (waiting a little for the block devices to appear) and mount it
/// read-only as ext4 on `root`. Returns the device it mounted.
pub fn mount_tools(root: &str) -> Result<PathBuf, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let dev = loop {
        if let Some(dev) = find_labelled(
            Path::new("/sys/block"),
            Path::new("/dev"),
            hvbench_proto::TOOLS_LABEL,
        ) {
            break dev;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no disk labelled {} in /sys/block: the platform attaches the tools disk only \
                 for plans with general benchmarks, and the guest kernel needs virtio_blk (or \
                 xen-blkfront) and ext4",
                hvbench_proto::TOOLS_LABEL
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create {root}: {e}"))?;
    let c = |p: &[u8]| CString::new(p).map_err(|_| "path holds a NUL byte".to_string());
    let (source, target) = (c(dev.as_os_str().as_bytes())?, c(root.as_bytes())?);
    // SAFETY: valid NUL-terminated strings for the whole call; no options (null data).
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            c"ext4".as_ptr(),
            libc::MS_RDONLY | libc::MS_NODEV,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(format!(
            "cannot mount {} (ext4, read-only) on {root}: {e}; does the guest kernel have ext4?",
            dev.display()
        ));
    }
    Ok(dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(label: &[u8], magic: u16) -> Vec<u8> {
        let mut head = vec![0u8; 4096];
        head[SUPERBLOCK + MAGIC_AT..SUPERBLOCK + MAGIC_AT + 2]
            .copy_from_slice(&magic.to_le_bytes());
        head[SUPERBLOCK + LABEL_AT..SUPERBLOCK + LABEL_AT + label.len()].copy_from_slice(label);
        head
    }

    #[test]
    fn the_label_is_read_only_from_an_ext_superblock() {
        assert_eq!(
            ext_label(&image(b"hvbench-tools", EXT_MAGIC)).as_deref(),
            Some("hvbench-tools")
        );
        assert_eq!(ext_label(&image(b"hvbench-tools", 0x1234)), None);
        assert_eq!(ext_label(&[0u8; 100]), None);
        // 16 bytes, no NUL: the whole field.
        assert_eq!(
            ext_label(&image(b"0123456789abcdef", EXT_MAGIC)).as_deref(),
            Some("0123456789abcdef")
        );
    }

    #[test]
    fn the_labelled_disk_is_found_among_others() {
        let dir = tempdir();
        let (sys, dev) = (dir.join("sys"), dir.join("dev"));
        for (name, data) in [
            ("vda", vec![0u8; 4096]),
            ("vdb", image(b"hvbench-tools", EXT_MAGIC)),
            ("loop0", image(b"hvbench-tools", EXT_MAGIC)),
        ] {
            std::fs::create_dir_all(sys.join(name)).unwrap();
            std::fs::create_dir_all(&dev).unwrap();
            std::fs::write(dev.join(name), data).unwrap();
        }
        assert_eq!(
            find_labelled(&sys, &dev, "hvbench-tools"),
            Some(dev.join("vdb"))
        );
        assert_eq!(find_labelled(&sys, &dev, "other"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("hvbench-tools-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
