//! The lab: a real Xen host and a real KVM host, nested under QEMU's software emulation (TCG),
//! built only from Debian packages, for machines that cannot boot Xen or run KVM themselves.
//!
//! The lab host is Debian's generic kernel (the cloud kernel lacks `CONFIG_XEN_DOM0`) with a
//! debootstrapped rootfs (Xen's toolstack, QEMU, kmod) booted as an initramfs; for Xen, Debian's
//! hypervisor boots first (multiboot) with the kernel and rootfs as its modules. An overlay
//! archive appended to the rootfs carries this very `hvbench` binary, the job (platform, guest,
//! plan) and the guest kernel. Inside, `hvbench lab-exec` runs the guest with the same `xen` or
//! `qemu` driver a real host uses and writes the guest's frames on the lab's console, which the
//! controller outside reads exactly as it reads a local guest.
//!
//! Timings in the lab are emulated and labelled so; what the lab proves is that the whole
//! pipeline works against the real Xen toolstack and real KVM.

use crate::cache::{sha256_hex, Cache};
use crate::console::{self, TrialEnd};
use crate::image::{self, Entry, Kernel};
use crate::{apt, Platform, PlatformError, Result, TrialRequest};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_proto::{encode, AgentPlan, Event, Message};
use hvbench_spec::{Driver, GuestSpec, PlatformSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian release the lab host runs.
pub const SUITE: &str = "bookworm";
/// Bump when the way the lab is built changes, so that cached labs are rebuilt.
const RECIPE: u32 = 1;
/// What debootstrap puts in the lab rootfs besides minbase. `qemu-system-xen` and `seabios` are
/// the device model Xen HVM guests need (xen-utils only recommends them).
const ROOTFS_PACKAGES: &str =
    "xen-utils-4.17,qemu-system-x86,qemu-system-xen,seabios,kmod,iproute2,busybox";
const XEN_PACKAGE: &str = "xen-hypervisor-4.17-amd64";
const HOST_KERNEL_META: &str = "linux-image-amd64";
/// Kernel modules the lab host needs, relative to `lib/modules/<version>/kernel`: Xen's dom0
/// drivers and back-ends, KVM (kvm-amd pulls ccp and irqbypass), virtio, tun and bridging.
const MODULES: &[&str] = &[
    "drivers/xen",
    "arch/x86/kvm",
    "virt",
    "drivers/crypto/ccp",
    "drivers/block",
    "drivers/net/xen-netback",
    "drivers/net/tun.ko",
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
const INIT: &str = include_str!("lab_init.sh");
/// How long a lab host running an isolation cell may print nothing before it is given up: the
/// aggressors' heartbeats come every 500 ms, and a guest boots in the lab in under a minute.
const LAB_CELL_IDLE: Duration = Duration::from_secs(180);
/// Memory of the emulated host and of Xen's dom0 within it.
const LAB_MEMORY_MIB: u64 = 4096;
const DOM0_MEMORY_MIB: u64 = 3000;
/// Time for the emulated host to boot and power off, on top of the guest's own timeout.
pub const LAB_BOOT_ALLOWANCE: Duration = Duration::from_secs(300);

/// Which hypervisor the lab host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabHost {
    Xen,
    Kvm,
}

impl LabHost {
    pub fn as_str(self) -> &'static str {
        match self {
            LabHost::Xen => "xen",
            LabHost::Kvm => "kvm",
        }
    }

    pub fn for_driver(d: &Driver) -> Option<LabHost> {
        match d {
            Driver::Xen(_) => Some(LabHost::Xen),
            Driver::Qemu(_) => Some(LabHost::Kvm),
            Driver::Host => None,
        }
    }
}

/// A built lab: the files an emulated host boots from.
#[derive(Debug, Clone, PartialEq)]
pub struct LabImages {
    pub dir: PathBuf,
    /// Package versions and recipe, e.g. `linux-image-6.1.0-56-amd64_6.1.192-2_xen_4.17.7..._r1`.
    pub key: String,
    pub xen: PathBuf,
    pub kernel: PathBuf,
    pub rootfs: PathBuf,
}

impl LabImages {
    fn in_dir(dir: PathBuf, key: String) -> LabImages {
        LabImages {
            xen: dir.join("xen.elf"),
            kernel: dir.join("vmlinuz"),
            rootfs: dir.join("rootfs.cpio.gz"),
            dir,
            key,
        }
    }

    fn complete(&self) -> bool {
        self.xen.is_file() && self.kernel.is_file() && self.rootfs.is_file()
    }
}

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
    let _lock = BuildLock::take(&root.join(format!("{key}.lock")))?;
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

/// An exclusive flock(2) on a file, released when dropped (or when the process dies).
struct BuildLock {
    _file: std::fs::File,
}

impl BuildLock {
    fn take(path: &Path) -> Result<BuildLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(PlatformError::io(format!("cannot open {}", path.display())))?;
        // SAFETY: flock(2) on a descriptor we own; it blocks until the lock is ours.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(
                PlatformError::io(format!("cannot lock {}", path.display()))(
                    std::io::Error::last_os_error(),
                ),
            );
        }
        Ok(BuildLock { _file: f })
    }
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

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    crate::cache::write_atomic(path, data, mode).map_err(PlatformError::io(format!(
        "cannot write {}",
        path.display()
    )))
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

/// What the emulated host runs: one trial of one platform, with the same drivers a real host uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabJob {
    /// The platform as it runs inside the lab host (`lab = false` there).
    pub platform: PlatformSpec,
    pub guest: GuestSpec,
    pub plan: AgentPlan,
    /// An isolation cell to run instead of one trial of `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<crate::isolation::Cell>,
}

/// Escape a path for QEMU's `-initrd` list, where a comma separates multiboot modules and a
/// doubled comma stands for a comma.
fn qemu_list_item(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// The command line of the emulated host (program excluded); a pure function.
///
/// Xen: `-cpu qemu64,+svm,+npt` — `max` crashes dom0 in Xen's bounce-frame code, and Debian's
/// Xen is built without shadow paging, so PVH and HVM guests need HAP, which Xen offers only when
/// the emulated CPU has NPT. KVM: `-cpu max` exposes SVM under TCG for kvm-amd.
pub fn host_argv(
    platform: &str,
    host: LabHost,
    images: &LabImages,
    initrd: &Path,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("hvbench-lab-{platform}"));
    push("-machine");
    push("q35,accel=tcg");
    push("-cpu");
    push(match host {
        LabHost::Xen => "qemu64,+svm,+npt",
        LabHost::Kvm => "max",
    });
    push("-smp");
    push("2");
    push("-m");
    push(&format!("{LAB_MEMORY_MIB}M"));
    for s in [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ] {
        push(s);
    }
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    match host {
        LabHost::Xen => {
            a.push("-kernel".into());
            a.push(images.xen.clone().into());
            a.push("-append".into());
            a.push(
                format!("console=com1 dom0_mem={DOM0_MEMORY_MIB}M,max:{DOM0_MEMORY_MIB}M").into(),
            );
            a.push("-initrd".into());
            a.push(
                format!(
                    "{} console=hvc0 panic=-1 quiet hvbench.lab=xen,{}",
                    qemu_list_item(&images.kernel),
                    qemu_list_item(initrd)
                )
                .into(),
            );
        }
        LabHost::Kvm => {
            a.push("-kernel".into());
            a.push(images.kernel.clone().into());
            a.push("-append".into());
            a.push("console=ttyS0 panic=-1 quiet hvbench.lab=kvm".into());
            a.push("-initrd".into());
            a.push(initrd.as_os_str().to_owned());
        }
    }
    a
}

/// A platform that runs inside an emulated lab host.
pub struct LabPlatform {
    name: String,
    driver: &'static str,
    host: LabHost,
    images: LabImages,
    /// The lab rootfs with the overlay (hvbench, guest kernel and initramfs images); a trial's
    /// job is appended to a copy of it.
    base_initrd: PathBuf,
    workdir: PathBuf,
    /// The job of a battery trial; cells go in copies of it.
    job: LabJob,
    facts: BTreeMap<String, String>,
    guest_timeout: Duration,
}

impl LabPlatform {
    /// Build (or find) the lab, then the boot archive for this platform: the lab rootfs with
    /// an overlay holding hvbench, the job and the guest kernel. Written once into `workdir`.
    ///
    /// `cell_plans` are the plans of the isolation cells this platform may run (victims and
    /// aggressors): their guest images are built here too and shipped in the overlay.
    pub fn prepare(
        spec: &PlatformSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cell_plans: &[AgentPlan],
        cache: &Cache,
        workdir: &Path,
        say: &mut dyn FnMut(&str),
    ) -> Result<LabPlatform> {
        let host = LabHost::for_driver(&spec.driver).ok_or_else(|| {
            PlatformError::unavailable(
                "the host driver cannot run in the lab",
                "remove `lab = true` from the host platform",
            )
        })?;
        if Command::new(crate::qemu::qemu_binary())
            .arg("--version")
            .output()
            .is_err()
        {
            return Err(PlatformError::unavailable(
                "the lab needs qemu-system-x86_64 on this machine",
                "apt-get install qemu-system-x86",
            ));
        }
        let images = build(cache, say)?;
        let kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let exe = std::env::current_exe()
            .map_err(PlatformError::io("cannot find the hvbench executable"))?;
        let job = LabJob {
            platform: PlatformSpec {
                lab: false,
                ..spec.clone()
            },
            // Inside, the guest kernel is found in the cache the overlay carries.
            guest: GuestSpec {
                kernel: None,
                ..guest.clone()
            },
            plan: plan.clone(),
            cell: None,
        };
        // The guests' initramfs images are built here, where it is fast, and shipped in the
        // cache the lab's hvbench reads: inside, the same content hash finds them instead of
        // rebuilding them under emulation. A plan that needs a network or a disk gets the
        // same rewriting inside as the driver does here; building from the plan as given
        // and from the driver's view covers both.
        let agent = crate::agent::agent_bytes()?;
        let mut guest_initrds = Vec::new();
        for p in std::iter::once(plan).chain(cell_plans) {
            for variant in guest_plan_variants(p) {
                let (initrd, _) = image::guest_initramfs_for(&kernel, &agent, &variant, cache)?;
                if !guest_initrds.contains(&initrd) {
                    guest_initrds.push(initrd);
                }
            }
        }
        let overlay = overlay(&exe, &kernel, &guest_initrds)?;
        let initrd = workdir.join(format!(
            "lab-{}-{}.cpio.gz",
            spec.name,
            &sha256_hex(&overlay)[..12]
        ));
        let mut combined = std::fs::read(&images.rootfs)
            .map_err(PlatformError::io("cannot read the lab rootfs"))?;
        combined.extend_from_slice(&overlay);
        write_file(&initrd, &combined, 0o600)?;

        let mut facts = BTreeMap::new();
        facts.insert("lab".to_string(), host.as_str().to_string());
        facts.insert("lab.images".to_string(), images.key.clone());
        facts.insert(
            "lab.emulation".to_string(),
            format!(
                "{} host nested under QEMU TCG on this machine: timings are emulated",
                host.as_str()
            ),
        );
        facts.insert("host.emulated".to_string(), "true".to_string());
        facts.insert("guest.kernel.origin".to_string(), kernel.origin);
        Ok(LabPlatform {
            name: spec.name.clone(),
            driver: spec.driver.as_str(),
            host,
            images,
            base_initrd: initrd,
            workdir: workdir.to_path_buf(),
            job,
            facts,
            guest_timeout: Duration::from_secs(guest.timeout_s),
        })
    }

    /// Boot the lab host with `job` appended to the base archive, and read its console.
    fn boot(
        &self,
        job: &LabJob,
        timeout: Duration,
        idle: Option<Duration>,
        console_log: Option<&Path>,
        on_event: &mut dyn FnMut(Event),
    ) -> TrialEnd {
        let initrd = self.workdir.join(format!("lab-{}-job.cpio.gz", self.name));
        let made = std::fs::copy(&self.base_initrd, &initrd).and_then(|_| {
            let mut f = std::fs::OpenOptions::new().append(true).open(&initrd)?;
            f.write_all(&job_archive(job)?)
        });
        if let Err(e) = made {
            return TrialEnd::Failed(format!(
                "cannot write the lab archive {}: {e}",
                initrd.display()
            ));
        }
        let mut cmd = Command::new(crate::qemu::qemu_binary());
        cmd.args(host_argv(&self.name, self.host, &self.images, &initrd));
        let started = Instant::now();
        let mut end = match idle {
            Some(idle) => console::run_watched(cmd, timeout, idle, console_log, on_event),
            None => console::run(cmd, timeout, console_log, on_event),
        };
        let _ = std::fs::remove_file(&initrd);
        if let TrialEnd::Failed(reason) = &mut end {
            reason.insert_str(
                0,
                &format!("lab host ({} s): ", started.elapsed().as_secs()),
            );
        }
        end
    }
}

/// The plans a driver may turn `plan` into before building its guest image: as given, and with
/// the peer address a guest with a network uses.
fn guest_plan_variants(plan: &AgentPlan) -> Vec<AgentPlan> {
    let mut out = vec![plan.clone()];
    if plan.needs(hvbench_proto::Device::Network) {
        let mut p = plan.clone();
        p.peer = Some(crate::qemu::GUEST_PEER.to_string());
        out.push(p);
    }
    out
}

/// The gzip-compressed cpio with `/hvbench/job.json`, appended last to the lab's archive.
fn job_archive(job: &LabJob) -> std::io::Result<Vec<u8>> {
    let entries = vec![
        Entry::Dir {
            path: "hvbench".into(),
            mode: 0o755,
        },
        Entry::File {
            path: "hvbench/job.json".into(),
            mode: 0o644,
            data: serde_json::to_vec_pretty(job).expect("job serialises"),
        },
    ];
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&image::cpio_newc(&entries))?;
    gz.finish()
}

/// The gzip-compressed cpio appended to the lab rootfs: `/hvbench/hvbench`, the guests'
/// initramfs images, and the guest kernel's cache directory (kernel, and modules where kept) where hvbench's cache
/// inside the lab finds it.
fn overlay(exe: &Path, guest_kernel: &Kernel, guest_initrds: &[PathBuf]) -> Result<Vec<u8>> {
    let hvbench =
        std::fs::read(exe).map_err(PlatformError::io(format!("cannot read {}", exe.display())))?;
    let dir = |p: &str| Entry::Dir {
        path: p.into(),
        mode: 0o755,
    };
    let mut entries = vec![
        // The current /init, over the one the cached rootfs was built with.
        Entry::File {
            path: "init".into(),
            mode: 0o755,
            data: INIT.as_bytes().to_vec(),
        },
        dir("hvbench"),
        Entry::File {
            path: "hvbench/hvbench".into(),
            mode: 0o755,
            data: hvbench,
        },
        dir("hvbench-cache"),
        dir("hvbench-cache/initramfs"),
    ];
    for guest_initrd in guest_initrds {
        entries.push(Entry::File {
            path: format!(
                "hvbench-cache/initramfs/{}",
                guest_initrd
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ),
            mode: 0o644,
            data: std::fs::read(guest_initrd).map_err(PlatformError::io(format!(
                "cannot read {}",
                guest_initrd.display()
            )))?,
        });
    }
    entries.push(dir("hvbench-cache/kernels"));
    // A cached Debian kernel brings its directory (named by package and version); a user's
    // kernel goes alone.
    let (name, src) = match guest_kernel
        .path
        .parent()
        .filter(|_| guest_kernel.origin.starts_with("debian:"))
    {
        Some(d) => (
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Some(d),
        ),
        None => ("user-kernel".to_string(), None),
    };
    let base = format!("hvbench-cache/kernels/{name}");
    entries.push(dir(&base));
    match src {
        Some(d) => add_tree(d, &base, &mut entries)?,
        None => entries.push(Entry::File {
            path: format!("{base}/vmlinuz"),
            mode: 0o644,
            data: std::fs::read(&guest_kernel.path).map_err(PlatformError::io(format!(
                "cannot read {}",
                guest_kernel.path.display()
            )))?,
        }),
    }
    let cpio = image::cpio_newc(&entries);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&cpio)
        .map_err(PlatformError::io("cannot compress the lab overlay"))?;
    gz.finish()
        .map_err(PlatformError::io("cannot compress the lab overlay"))
}

impl Platform for LabPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        self.driver
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        self.boot(
            &self.job,
            self.guest_timeout + LAB_BOOT_ALLOWANCE,
            None,
            req.console_log.as_deref(),
            on_event,
        )
    }

    /// The whole cell runs inside one lab host, so that victim and aggressors share its
    /// (emulated) CPUs: the lab's `hvbench lab-exec` co-schedules them with the real driver and
    /// sends their events out as `Instance` frames.
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        let job = LabJob {
            cell: Some(cell.clone()),
            ..self.job.clone()
        };
        let log = logs.map(|d| d.join("lab-console.log"));
        let mut on_event = |ev: Event| match ev {
            Event::Frame(m) => on_message(m),
            Event::Bad { error, excerpt } => on_message(Message::Failed {
                workload: "(console)".into(),
                reason: format!("untrusted frame ignored: {error}; it began: {excerpt}"),
            }),
        };
        // Victim and aggressors, and the wait for the aggressors' start and their stop.
        let limit = timeout * 3 + Duration::from_millis(cell.settle_ms) + LAB_BOOT_ALLOWANCE;
        // A cell's limit is long (the aggressors' start, the victim, their stop); a lab host
        // whose kernel hung (seen with two nested KVM guests under TCG) goes silent, and is
        // given up after LAB_CELL_IDLE instead.
        self.boot(
            &job,
            limit,
            Some(LAB_CELL_IDLE),
            log.as_deref(),
            &mut on_event,
        )
    }
}

/// Inside the lab host: prepare the job's platform with its real driver, run one trial, and
/// write everything — the driver's facts, the guest's frames, a failure — as frames on `out`.
/// Returns whether the trial completed.
pub fn exec_job(job: &LabJob, cache: &Cache, out: &mut dyn Write) -> std::io::Result<bool> {
    let started = Instant::now();
    let workdir = std::env::temp_dir().join("hvbench-lab-job");
    std::fs::create_dir_all(&workdir)?;
    let prepared: Result<Box<dyn Platform>> = match &job.platform.driver {
        Driver::Host => Err(PlatformError::unavailable(
            "the host driver cannot run in the lab",
            "remove `lab = true`",
        )),
        _ => crate::isolation::prepare_local(
            &job.platform,
            &job.platform.name,
            &job.guest,
            &job.plan,
            cache,
            &workdir,
        ),
    };
    let mut platform = match prepared {
        Ok(p) => p,
        Err(e) => {
            send(
                out,
                &Message::Failed {
                    workload: "(lab)".into(),
                    reason: format!("{e}"),
                },
            )?;
            return Ok(false);
        }
    };
    let mut facts = platform.facts();
    facts.insert(
        "lab.ready_s".into(),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    if let Ok(up) = std::fs::read_to_string("/proc/uptime") {
        if let Some(s) = up.split_whitespace().next() {
            facts.insert("lab.boot_to_ready_s".into(), s.to_string());
        }
    }
    send(out, &Message::Facts { facts })?;
    let mut write_error = None;
    let trial_started = Instant::now();
    let timeout = Duration::from_secs(job.guest.timeout_s);
    if let Some(cell) = &job.cell {
        let mut factory = crate::isolation::LocalFactory {
            spec: job.platform.clone(),
            guest: job.guest.clone(),
            cache: cache.clone(),
            workdir: workdir.clone(),
        };
        let end =
            crate::isolation::run_cell(cell, &mut factory, timeout, Some(&workdir), &mut |m| {
                if write_error.is_none() {
                    if let Err(e) = send(out, &m) {
                        write_error = Some(e);
                    }
                }
            });
        if let Some(e) = write_error {
            return Err(e);
        }
        send_elapsed(out, "lab.cell_s", trial_started)?;
        // The outer runner learns the victim's end from its Instance frames; Done ends the
        // lab host's part.
        send(
            out,
            &Message::Done {
                samples: 0,
                failures: 0,
            },
        )?;
        return Ok(end == TrialEnd::Completed);
    }
    let req = TrialRequest {
        plan: &job.plan,
        timeout,
        console_log: Some(workdir.join("guest-console.log")),
        stop: None,
        place: None,
    };
    let end = platform.run_trial(&req, &mut |ev| {
        let msg = match ev {
            Event::Frame(m) => m,
            Event::Bad { error, excerpt } => Message::Failed {
                workload: "(console)".into(),
                reason: format!(
                    "untrusted frame ignored inside the lab: {error}; it began: {excerpt}"
                ),
            },
        };
        if write_error.is_none() {
            if let Err(e) = send(out, &msg) {
                write_error = Some(e);
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    send_elapsed(out, "lab.guest_trial_s", trial_started)?;
    match end {
        TrialEnd::Completed => Ok(true),
        TrialEnd::Failed(reason) => {
            send(
                out,
                &Message::Failed {
                    workload: "(lab trial)".into(),
                    reason,
                },
            )?;
            Ok(false)
        }
    }
}

/// Send how long since `started`, in seconds, as the fact `key`.
fn send_elapsed(out: &mut dyn Write, key: &str, started: Instant) -> std::io::Result<()> {
    let facts = BTreeMap::from([(
        key.to_string(),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    )]);
    send(out, &Message::Facts { facts })
}

/// Regular files and directories under `src`, as archive entries under `dst`.
fn add_tree(src: &Path, dst: &str, entries: &mut Vec<Entry>) -> Result<()> {
    let rd = std::fs::read_dir(src)
        .map_err(PlatformError::io(format!("cannot list {}", src.display())))?;
    for e in rd.flatten() {
        let path = format!("{dst}/{}", e.file_name().to_string_lossy());
        let ft = e
            .file_type()
            .map_err(PlatformError::io("cannot stat a kernel cache entry"))?;
        if ft.is_dir() {
            entries.push(Entry::Dir {
                path: path.clone(),
                mode: 0o755,
            });
            add_tree(&e.path(), &path, entries)?;
        } else if ft.is_file() {
            let data = std::fs::read(e.path()).map_err(PlatformError::io(format!(
                "cannot read {}",
                e.path().display()
            )))?;
            entries.push(Entry::File {
                path,
                mode: 0o644,
                data,
            });
        }
    }
    Ok(())
}

fn send(out: &mut dyn Write, msg: &Message) -> std::io::Result<()> {
    out.write_all(&encode(msg))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> LabImages {
        LabImages::in_dir("/cache/lab/k".into(), "k".into())
    }

    #[test]
    fn xen_host_argv_snapshot() {
        let a: Vec<String> = host_argv(
            "xen-pv",
            LabHost::Xen,
            &images(),
            Path::new("/run/lab-x.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        assert_eq!(
            a.join(" "),
            "-name hvbench-lab-xen-pv -machine q35,accel=tcg -cpu qemu64,+svm,+npt -smp 2 -m 4096M -nodefaults \
             -no-user-config -display none -no-reboot -chardev stdio,id=console,signal=off -serial chardev:console \
             -kernel /cache/lab/k/xen.elf -append console=com1 dom0_mem=3000M,max:3000M \
             -initrd /cache/lab/k/vmlinuz console=hvc0 panic=-1 quiet hvbench.lab=xen,/run/lab-x.cpio.gz"
        );
    }

    #[test]
    fn kvm_host_argv_boots_linux_directly() {
        let a: Vec<String> = host_argv(
            "kvm",
            LabHost::Kvm,
            &images(),
            Path::new("/run/a,b.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let i = a.iter().position(|s| s == "-cpu").unwrap();
        assert_eq!(a[i + 1], "max");
        let k = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[k + 1], "/cache/lab/k/vmlinuz");
        assert!(a.contains(&"console=ttyS0 panic=-1 quiet hvbench.lab=kvm".to_string()));
        // A single -initrd file for Linux: no list, so no comma escaping.
        assert_eq!(a.last().unwrap(), "/run/a,b.cpio.gz");
    }

    #[test]
    fn commas_in_multiboot_module_paths_are_doubled() {
        let mut i = images();
        i.kernel = "/odd,dir/vmlinuz".into();
        let a = host_argv("x", LabHost::Xen, &i, Path::new("/x.cpio.gz"));
        assert!(a
            .last()
            .unwrap()
            .to_string_lossy()
            .starts_with("/odd,,dir/vmlinuz console=hvc0"));
    }

    #[test]
    fn init_script_runs_the_job_and_powers_off() {
        assert!(INIT.starts_with("#!/bin/sh"));
        assert!(INIT.contains("hvbench lab-exec /hvbench/job.json"));
        assert!(INIT.contains("/etc/init.d/xen start"));
        assert!(INIT.contains("echo o > /proc/sysrq-trigger"));
    }

    #[test]
    fn job_round_trips() {
        let job = LabJob {
            platform: PlatformSpec {
                name: "xen-pv".into(),
                driver: Driver::Xen(hvbench_spec::XenSpec {
                    kind: hvbench_spec::XenGuestType::Pv,
                    ..Default::default()
                }),
                lab: false,
            },
            guest: GuestSpec::default(),
            plan: AgentPlan {
                version: 1,
                warmup: 0,
                samples: 1,
                min_window_ms: 10,
                workloads: vec![],
                peer: None,
                stress: None,
            },
            cell: None,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains("cell"), "a battery job has no cell: {text}");
        assert_eq!(serde_json::from_str::<LabJob>(&text).unwrap(), job);
        // A cell travels whole.
        let mut with_cell = job.clone();
        with_cell.cell = Some(crate::isolation::Cell {
            scenario: "n/cpu/shared".into(),
            victim: job.plan.clone(),
            aggressor: Some(job.plan.clone()),
            aggressors: 2,
            pinned_apart: false,
            weight: Some(50),
            cap_pct: None,
            settle_ms: 1000,
            victim_cpus: 1,
        });
        let text = serde_json::to_string(&with_cell).unwrap();
        assert_eq!(serde_json::from_str::<LabJob>(&text).unwrap(), with_cell);
    }
}
