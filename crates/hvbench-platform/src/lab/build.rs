//! Building the lab's images: the Debian packages to use (the cache key), debootstrap, the host
//! kernel's modules, packing the rootfs as an initramfs, and the lock that keeps two builders
//! apart. Needs root; everything here runs on the controller, once per package versions.

use super::{write_file, LabImages, INIT, SUITE};
use crate::guest::apt;
use crate::guest::cache::Cache;
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Bump when the way the lab is built changes, so that cached labs are rebuilt.
const RECIPE: u32 = 6;
/// What debootstrap puts in the lab rootfs besides minbase. `qemu-system-xen` and `seabios` are
/// the device model Xen HVM guests need (xen-utils only recommends them); `openssh-server`
/// makes the lab host a machine reached over SSH; `ethtool` reads the offloads of the guests'
/// back-end interfaces (vifs, taps); libvirtd with its QEMU and libxl drivers and virsh serve the
/// `libvirt` driver's platforms (the lab's /init starts libvirtd).
const ROOTFS_PACKAGES: &str = "xen-utils-4.17,qemu-system-x86,qemu-system-xen,seabios,kmod,\
    iproute2,ethtool,busybox,openssh-server,libvirt-daemon,libvirt-daemon-driver-qemu,\
    libvirt-daemon-driver-xen,libvirt-clients";
/// libvirtd's QEMU driver in the lab: QEMU runs as root, as the direct driver's does (the
/// user libvirt would run it as must still exist, or the driver does not start), and its
/// stdio goes to a file, so that no virtlogd is needed.
const LIBVIRT_QEMU_CONF: &str = "user = \"root\"\ngroup = \"root\"\nstdio_handler = \"file\"\n";
const XEN_PACKAGE: &str = "xen-hypervisor-4.17-amd64";
const HOST_KERNEL_META: &str = "linux-image-amd64";
/// Kernel modules the lab host needs, relative to `lib/modules/<version>/kernel`: Xen's dom0
/// drivers and back-ends, KVM (kvm-amd pulls ccp and irqbypass), virtio, tun, vhost-net (which
/// needs `tap`) and bridging; ext4 (with jbd2, mbcache, crc16 and crc32c), which the lab host
/// needs to loop-mount the tools image for a network peer or a host agent of general benchmarks
/// (Debian's kernel builds it as a module; paths absent from a kernel are skipped).
const MODULES: &[&str] = &[
    "fs/ext4",
    "fs/jbd2",
    "fs/mbcache.ko",
    "lib/crc16.ko",
    "crypto/crc32c_generic.ko",
    "drivers/xen",
    "arch/x86/kvm",
    "virt",
    "drivers/crypto/ccp",
    "drivers/block",
    "drivers/net/xen-netback",
    "drivers/net/tun.ko",
    "drivers/net/tap.ko",
    "drivers/vhost",
    "drivers/net/virtio_net.ko",
    "drivers/net/net_failover.ko",
    "drivers/virtio",
    "net/bridge",
    "net/802",
    "net/llc",
    "net/core",
];
/// Parts of the rootfs the lab never uses.
const TRIM: &[&str] = &[
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
];

/// What the lab would be built from now: the host kernel package and Xen's, by version.
fn wanted() -> Result<(String, String, String, String)> {
    let hint = "run `apt-get update` (as root); the lab is built from Debian bookworm's packages";
    let (kpkg, kver) = apt::candidate(HOST_KERNEL_META, "linux-image-", hint)?;
    let xver = apt::version(XEN_PACKAGE, hint)?;
    // Only characters that are safe in QEMU's module list and in Xen's module command line.
    let key: String = format!("{kpkg}_{kver}_xen_{xver}_r{RECIPE}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((key, kpkg, kver, xver))
}

/// The newest complete lab in the cache, if any.
pub fn cached(cache: &Cache) -> Option<LabImages> {
    let root = cache.root().join("lab");
    let mut found: Vec<(std::time::SystemTime, LabImages)> = std::fs::read_dir(&root)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".partial"))
        .filter_map(|e| {
            let imgs = LabImages::in_dir(e.path(), e.file_name().to_string_lossy().into_owned());
            let t = std::fs::metadata(&imgs.rootfs).ok()?.modified().ok()?;
            imgs.complete().then_some((t, imgs))
        })
        .collect();
    found.sort_by_key(|(t, _)| *t);
    found.pop().map(|(_, i)| i)
}

/// The lab for the current package versions: from the cache when it is there (seconds),
/// otherwise built (minutes; needs root for debootstrap and chroot). `say` hears progress.
pub fn build(cache: &Cache, say: &mut dyn FnMut(&str)) -> Result<LabImages> {
    let (key, kpkg, kver, xver) = match wanted() {
        Ok(w) => w,
        // Offline, or no apt lists: a lab built earlier is as good.
        Err(e) => return cached(cache).ok_or(e),
    };
    let root = cache
        .dir("lab")
        .map_err(PlatformError::io("cannot create the lab cache"))?;
    let images = LabImages::in_dir(root.join(&key), key.clone());
    if images.complete() {
        return Ok(images);
    }
    check_can_build()?;
    // One builder at a time (two hvbench runs may start together); the second finds it built.
    let lock = root.join(format!("{key}.lock"));
    let _lock = crate::guest::cache::CacheLock::take(&lock)
        .map_err(PlatformError::io(format!("cannot lock {}", lock.display())))?;
    if images.complete() {
        return Ok(images);
    }
    let scratch = root.join(format!("{key}.partial"));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(PlatformError::io("cannot create the lab scratch directory"))?;

    say(&format!(
        "downloading {kpkg}={kver} and {XEN_PACKAGE}={xver}"
    ));
    let kroot = apt::download_and_unpack(&kpkg, &kver, &scratch)?;
    let xroot = apt::download_and_unpack(XEN_PACKAGE, &xver, &scratch)?;
    let release = kpkg.trim_start_matches("linux-image-").to_string();

    let rootfs = scratch.join("rootfs");
    say(&format!(
        "debootstrap {SUITE} with {ROOTFS_PACKAGES} (about a minute)"
    ));
    debootstrap(&rootfs, &scratch.join("debootstrap.log"))?;
    for t in TRIM {
        let d = rootfs.join(t);
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let _ =
                    std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
    }
    libvirt_setup(&rootfs)?;
    say("adding the host kernel's modules");
    install_modules(&kroot, &rootfs, &release)?;
    write_file(&rootfs.join("init"), INIT.as_bytes(), 0o755)?;
    write_file(&rootfs.join("etc/hostname"), b"hvbench-lab\n", 0o644)?;

    let out = scratch.join("out");
    std::fs::create_dir_all(&out)
        .map_err(PlatformError::io("cannot create the lab output directory"))?;
    say("packing the rootfs");
    pack_tree(&rootfs, &out.join("rootfs.cpio.gz"))?;
    let vmlinuz = kroot.join(format!("boot/vmlinuz-{release}"));
    std::fs::copy(&vmlinuz, out.join("vmlinuz")).map_err(PlatformError::io(format!(
        "cannot copy {}",
        vmlinuz.display()
    )))?;
    gunzip_xen(&xroot, &out.join("xen.elf"))?;
    let _ = std::fs::remove_dir_all(&images.dir);
    std::fs::rename(&out, &images.dir)
        .map_err(PlatformError::io("cannot move the lab into the cache"))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(images)
}

/// libvirtd's configuration in the lab rootfs, and the user its QEMU driver wants.
fn libvirt_setup(rootfs: &Path) -> Result<()> {
    let status = Command::new("chroot")
        .arg(rootfs)
        .args([
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            "/var/lib/libvirt",
            "--no-create-home",
            "libvirt-qemu",
        ])
        .stdin(Stdio::null())
        .status()
        .map_err(PlatformError::io(
            "cannot run chroot useradd in the lab rootfs",
        ))?;
    // 9: the user exists already.
    if !status.success() && status.code() != Some(9) {
        return Err(PlatformError::unavailable(
            format!("useradd libvirt-qemu in the lab rootfs failed ({status})"),
            "see the output above; the lab build needs root",
        ));
    }
    let conf = rootfs.join("etc/libvirt");
    std::fs::create_dir_all(&conf).map_err(PlatformError::io("cannot create etc/libvirt"))?;
    write_file(&conf.join("qemu.conf"), LIBVIRT_QEMU_CONF.as_bytes(), 0o644)
}

fn check_can_build() -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Err(PlatformError::unavailable(
            "building the lab needs root (debootstrap and chroot)",
            "run `sudo hvbench lab build` once; later runs use the cached lab",
        ));
    }
    if Command::new("debootstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(PlatformError::unavailable(
            "debootstrap is not installed",
            "apt-get install debootstrap (scripts/setup.sh installs it)",
        ));
    }
    Ok(())
}

fn debootstrap(rootfs: &Path, log: &Path) -> Result<()> {
    let log_file = std::fs::File::create(log)
        .map_err(PlatformError::io("cannot create the debootstrap log"))?;
    let err_file = log_file
        .try_clone()
        .map_err(PlatformError::io("cannot create the debootstrap log"))?;
    // No mirror argument: debootstrap's default (or the machine's configured one) is used.
    let status = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={ROOTFS_PACKAGES}"),
            SUITE,
        ])
        .arg(rootfs)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .status()
        .map_err(PlatformError::io("cannot run debootstrap"))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(PlatformError::unavailable(
        format!(
            "debootstrap failed ({status}); its last lines:\n{}",
            tail.join("\n")
        ),
        format!("see {} ; check the network and apt sources", log.display()),
    ))
}

fn install_modules(kroot: &Path, rootfs: &Path, release: &str) -> Result<()> {
    let src = kroot.join("lib/modules").join(release);
    let dst = rootfs.join("lib/modules").join(release);
    for m in MODULES {
        let from = src.join("kernel").join(m);
        if !from.exists() {
            continue;
        }
        let to_parent = dst.join("kernel").join(m);
        let to_parent = to_parent.parent().expect("module path has a parent");
        std::fs::create_dir_all(to_parent)
            .map_err(PlatformError::io("cannot create the module directory"))?;
        apt::run(
            Command::new("cp").arg("-a").arg(&from).arg(to_parent),
            "cp -a (kernel modules)",
        )?;
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        let _ = std::fs::copy(src.join(f), dst.join(f));
    }
    // The package ships no modules.dep; modprobe needs one.
    apt::run(
        Command::new("chroot").arg(rootfs).args(["depmod", release]),
        "chroot depmod",
    )
}

/// `find . -print0 | cpio --null -o -H newc`, gzip-compressed by us: a directory tree with its
/// symlinks, devices and permissions as an initramfs. Argument vectors only, no shell.
fn pack_tree(root: &Path, out: &Path) -> Result<()> {
    let mut find = Command::new("find")
        .args([".", "-xdev", "-print0"])
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(PlatformError::io("cannot run find"))?;
    let mut cpio = Command::new("cpio")
        .args(["--null", "--quiet", "-o", "-H", "newc"])
        .current_dir(root)
        .stdin(find.stdout.take().expect("piped"))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(PlatformError::io("cannot run cpio (apt-get install cpio)"))?;
    let tmp = out.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(PlatformError::io(format!(
        "cannot create {}",
        tmp.display()
    )))?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
    let mut stdout = cpio.stdout.take().expect("piped");
    std::io::copy(&mut stdout, &mut gz).map_err(PlatformError::io("cannot pack the rootfs"))?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(PlatformError::io("cannot pack the rootfs"))?;
    let ok = find.wait().is_ok_and(|s| s.success()) & cpio.wait().is_ok_and(|s| s.success());
    if !ok {
        return Err(PlatformError::unavailable(
            "packing the lab rootfs failed (find | cpio)",
            "apt-get install cpio",
        ));
    }
    std::fs::rename(&tmp, out).map_err(PlatformError::io("cannot move the packed rootfs"))
}

fn gunzip_xen(xroot: &Path, out: &Path) -> Result<()> {
    let boot = xroot.join("boot");
    let gz = std::fs::read_dir(&boot)
        .map_err(PlatformError::io(format!("{XEN_PACKAGE} has no /boot")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("-amd64.gz"))
        })
        .ok_or_else(|| {
            PlatformError::unavailable(
                format!("{XEN_PACKAGE} holds no xen-*-amd64.gz"),
                "check the package",
            )
        })?;
    let data = std::fs::read(&gz).map_err(PlatformError::io("cannot read the Xen image"))?;
    let mut elf = Vec::new();
    std::io::copy(&mut flate2::read::GzDecoder::new(&data[..]), &mut elf)
        .map_err(PlatformError::io("cannot unpack the Xen image"))?;
    write_file(out, &elf, 0o644)
}
