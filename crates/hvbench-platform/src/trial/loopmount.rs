//! The tools image of general benchmarks as a read-only block device (docs/architecture.md,
//! "The tools tree"). [`LoopDevice::attach`] puts the image on a free loop device, read-only and
//! with autoclear, so that the kernel detaches it by itself once its last user is gone: the xen
//! driver hands it to blkback as a Xen guest's tools disk, and the host driver, on a machine the
//! controller shipped the image to, mounts it for one process tree only:
//! [`LoopDevice::mount_for`] makes a command's child unshare its mount namespace, make `/`
//! recursively private and mount the device there before it execs. The mount lives exactly as
//! long as that child and its descendants: nothing is left mounted or attached on the machine
//! after the trial, even when hvbench is killed.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// linux/loop.h (UAPI).
const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_SET_STATUS64: libc::c_ulong = 0x4C04;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_NAME_SIZE: usize = 64;
const LO_KEY_SIZE: usize = 32;

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; LO_KEY_SIZE],
    lo_init: [u64; 2],
}

/// `struct loop_config` (Linux 5.8 and later).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

impl LoopInfo64 {
    fn new(flags: u32, image: &Path) -> LoopInfo64 {
        let mut name = [0u8; LO_NAME_SIZE];
        let bytes = image.as_os_str().as_bytes();
        // The kernel keeps the name for `losetup -a`; a longer one is cut, as losetup cuts it.
        let n = bytes.len().min(LO_NAME_SIZE - 1);
        name[..n].copy_from_slice(&bytes[..n]);
        LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: flags,
            lo_file_name: name,
            lo_crypt_name: [0; LO_NAME_SIZE],
            lo_encrypt_key: [0; LO_KEY_SIZE],
            lo_init: [0; 2],
        }
    }
}

/// A loop device holding an image read-only, detached by the kernel once this handle and every
/// mount of it are gone.
#[derive(Debug)]
pub struct LoopDevice {
    /// The device, held open until the trial is over so that it stays attached while a child
    /// mounts it.
    _open: File,
    path: PathBuf,
}

fn ioctl_ok(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl LoopDevice {
    /// Attach `image` to a free loop device, read-only, with autoclear. Needs root (or
    /// CAP_SYS_ADMIN) and the loop driver.
    pub fn attach(image: &Path) -> io::Result<LoopDevice> {
        let backing = File::open(image)?;
        let control = open_control()?;
        let mut last = io::Error::from_raw_os_error(libc::EBUSY);
        // Another process may take the free device between asking and configuring it.
        for _ in 0..16 {
            // SAFETY: an ioctl without an argument on a descriptor we own.
            let n = ioctl_ok(unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) })?;
            let path = PathBuf::from(format!("/dev/loop{n}"));
            let dev = open_device(&path)?;
            match configure(&dev, &backing, image) {
                Ok(()) => return Ok(LoopDevice { _open: dev, path }),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The device, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device's major and minor numbers.
    pub fn number(&self) -> io::Result<(u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.path)?.rdev();
        Ok((libc::major(rdev), libc::minor(rdev)))
    }

    /// Make `cmd`'s child mount this device read-only (ext4, nodev, nosuid) on `target`, in a
    /// mount namespace of its own whose mounts propagate nowhere, before it execs. `target`
    /// must exist.
    pub fn mount_for(&self, cmd: &mut Command, target: &Path) -> io::Result<()> {
        let cstr = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL"))
        };
        let source = cstr(&self.path)?;
        let target = cstr(target)?;
        // SAFETY: the closure runs in the forked child before exec and calls only unshare(2)
        // and mount(2) on strings made before the fork; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                if libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    c"ext4".as_ptr(),
                    libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    }
}

/// Make sure this kernel can mount ext4 before a child mounts the image: where ext4 is a module
/// not loaded yet (the lab hosts' kernel, whose root is a tmpfs), `modprobe ext4`; mount(2)
/// would otherwise fail with ENODEV ("No such device") in the child.
pub fn ensure_ext4() {
    let has = |text: &str| {
        text.lines()
            .any(|l| l.split_whitespace().last() == Some("ext4"))
    };
    if std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| has(&t)) {
        return;
    }
    let _ = Command::new("modprobe")
        .arg("ext4")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// `/dev/loop-control`; where the loop driver is a module not loaded yet (the lab hosts' kernel,
/// whose init loads only what it needs), `modprobe loop` first.
fn open_control() -> io::Result<File> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let _ = Command::new("modprobe")
                .arg("loop")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            open_device(Path::new("/dev/loop-control"))
                .and_then(|_| open())
                .map_err(|_| e)
        }
        other => other,
    }
}

/// The loop device node, which devtmpfs may create a moment after the control device handed
/// its number out.
fn open_device(path: &Path) -> io::Result<File> {
    let mut tries = 0;
    loop {
        match OpenOptions::new().read(true).open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Put `backing` on the loop device `dev`: LOOP_CONFIGURE, or on a kernel older than 5.8
/// LOOP_SET_FD then LOOP_SET_STATUS64 (the device is read-only either way: the image is open
/// read-only).
fn configure(dev: &File, backing: &File, image: &Path) -> io::Result<()> {
    let fd = u32::try_from(backing.as_raw_fd()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let config = LoopConfig {
        fd,
        block_size: 0,
        info: LoopInfo64::new(LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR, image),
        reserved: [0; 8],
    };
    // SAFETY: LOOP_CONFIGURE reads a `struct loop_config`, which `config` is, for the call.
    let rc = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE,
            &config as *const LoopConfig,
        )
    };
    match ioctl_ok(rc) {
        Ok(_) => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY)) => {}
        Err(e) => return Err(e),
    }
    // SAFETY: LOOP_SET_FD takes the backing file's descriptor as its argument.
    ioctl_ok(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_SET_FD, libc::c_ulong::from(fd)) })?;
    let info = LoopInfo64::new(LO_FLAGS_AUTOCLEAR, image);
    // SAFETY: LOOP_SET_STATUS64 reads a `struct loop_info64`, which `info` is, for the call.
    let rc = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_SET_STATUS64,
            &info as *const LoopInfo64,
        )
    };
    if let Err(e) = ioctl_ok(rc) {
        // SAFETY: LOOP_CLR_FD takes no argument; the device is ours, just attached.
        unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CLR_FD, 0) };
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_structures_have_their_abi_sizes() {
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
        assert_eq!(std::mem::size_of::<LoopConfig>(), 304);
        let info = LoopInfo64::new(LO_FLAGS_AUTOCLEAR, Path::new(&"x".repeat(100)));
        assert_eq!(info.lo_file_name[62], b'x');
        assert_eq!(info.lo_file_name[63], 0, "NUL-terminated");
    }

    /// Whether the device still holds an image (its sysfs `loop/backing_file` exists).
    fn attached(dev: &Path) -> bool {
        let name = dev.file_name().unwrap().to_string_lossy().into_owned();
        Path::new("/sys/block")
            .join(name)
            .join("loop/backing_file")
            .exists()
    }

    /// As root, with the loop driver: an ext4 image made with `mke2fs -d` is seen by a child
    /// that mounts it in its own namespace, read-only, and by nobody else; once the child and
    /// the handle are gone, the device is free again.
    #[test]
    fn a_mounted_image_is_seen_by_its_child_only_and_detached_after() {
        // SAFETY: geteuid(2) has no preconditions and touches no memory.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "this test attaches a loop device: run it as root");
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("usr/bin")).unwrap();
        std::fs::write(src.join("usr/bin/hello"), "from the image\n").unwrap();
        let image = d.path().join("tools.ext4");
        let out = Command::new("mke2fs")
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-O",
                "^has_journal",
                "-L",
                "t",
                "-d",
            ])
            .arg(&src)
            .arg(&image)
            .arg("4M")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mount = d.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();

        let dev = LoopDevice::attach(&image).unwrap();
        assert!(attached(dev.path()));
        assert_eq!(dev.number().unwrap().0, 7, "loop devices have major 7");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "cat {m}/usr/bin/hello; touch {m}/new 2>/dev/null && echo writable; \
             grep -c ' {m} ' /proc/self/mounts",
            m = mount.display()
        ));
        dev.mount_for(&mut cmd, &mount).unwrap();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "from the image\n1\n");
        // This process never saw the mount.
        assert!(!mount.join("usr").exists());
        let path = dev.path().to_path_buf();
        drop(dev);
        let mut waited = 0;
        while attached(&path) && waited < 50 {
            std::thread::sleep(Duration::from_millis(100));
            waited += 1;
        }
        assert!(!attached(&path), "{} still attached", path.display());
    }

    #[test]
    fn a_missing_image_is_an_error() {
        let e = LoopDevice::attach(Path::new("/nonexistent/tools.ext4")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}

/// Where a process on this machine finds a tools tree: its directory in the cache, or, where
/// only its image was shipped (`crate::guest::tools::shipped_tree`), the image loop-mounted
/// read-only on `mount` in that process's own mount namespace ([`TreeAt::prepare`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TreeAt {
    Dir(PathBuf),
    Image { image: PathBuf, mount: PathBuf },
}

impl TreeAt {
    /// `tree`'s directory if it is here, else its image with a mount point made in `workdir`,
    /// after a check that the image can be attached to a loop device here (root, the loop
    /// driver), so that a machine that cannot says so before any trial. `who` names the user.
    pub fn of(
        tree: &crate::guest::tools::ToolsTree,
        workdir: &Path,
        who: &str,
    ) -> crate::Result<TreeAt> {
        if tree.dir.is_dir() {
            return Ok(TreeAt::Dir(tree.dir.clone()));
        }
        let mount = workdir.join("tools");
        std::fs::create_dir_all(&mount).map_err(crate::PlatformError::io(format!(
            "cannot create {}",
            mount.display()
        )))?;
        ensure_ext4();
        LoopDevice::attach(&tree.image).map_err(|e| {
            crate::PlatformError::unavailable(
                format!(
                    "cannot attach the tools image {} to a loop device: {e}",
                    tree.image.display()
                ),
                format!(
                    "{who} on a machine over SSH runs general benchmarks from the shipped image, \
                     loop-mounted read-only: log in as root, on a kernel with the loop driver"
                ),
            )
        })?;
        Ok(TreeAt::Image {
            image: tree.image.clone(),
            mount,
        })
    }

    /// The tree as the process sees it.
    pub fn root(&self) -> &Path {
        match self {
            TreeAt::Dir(d) => d,
            TreeAt::Image { mount, .. } => mount,
        }
    }

    /// The `host.tools` fact.
    pub fn describe(&self) -> String {
        match self {
            TreeAt::Dir(d) => format!("chroot into the tools tree {}", d.display()),
            TreeAt::Image { image, mount } => format!(
                "chroot into the tools image {} (the guests' image, shipped), loop-mounted \
                 read-only on {} for each trial's agent alone",
                image.display(),
                mount.display()
            ),
        }
    }

    /// Make `cmd` see the tree at [`TreeAt::root`]: nothing for a directory; for an image, a
    /// loop device mounted in the child's own mount namespace, held by the returned device.
    pub fn prepare(&self, cmd: &mut Command) -> io::Result<Option<LoopDevice>> {
        match self {
            TreeAt::Dir(_) => Ok(None),
            TreeAt::Image { image, mount } => {
                let device = LoopDevice::attach(image)?;
                device.mount_for(cmd, mount)?;
                Ok(Some(device))
            }
        }
    }
}
