//! The `qemu` driver: the agent as PID 1 of a minimal guest under `qemu-system-x86_64`, with
//! KVM where it can really run an ordinary guest and TCG (software emulation) otherwise — the
//! accelerator that ran is always recorded.
//!
//! A plan with disk workloads gives the guest a scratch disk: a sparse raw file, new for each
//! trial, in a private directory, on virtio-blk with the platform's `disk_cache` mode. A plan
//! with network workloads gives it a virtio-net NIC on QEMU's user network, restricted so that
//! the guest reaches nothing but one forwarded address, [`GUEST_PEER`], which QEMU connects to
//! the peer the driver starts on the host's loopback for the trial.

use crate::cache::Cache;
use crate::console::{self, TrialEnd};
use crate::image::{self, Kernel};
use crate::kvm::{self, KvmStatus};
use crate::peer::PeerProcess;
use crate::{agent, Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{catalog, AgentPlan, Device, Event, Message};
use hvbench_spec::{Accel, DiskCache, GuestSpec, QemuSpec};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The accelerator a guest actually runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAccel {
    Kvm,
    Tcg,
}

impl RunAccel {
    pub fn as_str(self) -> &'static str {
        match self {
            RunAccel::Kvm => "kvm",
            RunAccel::Tcg => "tcg",
        }
    }
}

/// Everything the QEMU command line depends on; [`argv`] is a pure function of it.
#[derive(Debug, Clone, PartialEq)]
pub struct QemuConfig {
    pub name: String,
    pub accel: RunAccel,
    pub machine: String,
    pub cpu: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
    /// The scratch disk, for plans with disk workloads.
    pub disk: Option<DiskConfig>,
    /// The NIC and its forwarding to the peer, for plans with network workloads.
    pub net: Option<NetConfig>,
    /// A QMP socket, for pinning vCPU threads.
    pub qmp: Option<PathBuf>,
}

/// A raw image on virtio-blk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    pub path: PathBuf,
    pub cache: DiskCache,
}

/// A virtio-net NIC on QEMU's user network, which forwards [`GUEST_PEER`] to the host's
/// `127.0.0.1:host_port` and lets the guest reach nothing else (`restrict=on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    pub host_port: u16,
}

/// Where a guest finds the network peer: an address on QEMU's user network (10.0.2.0/24, the
/// guest at 10.0.2.15 as the agent configures it) that QEMU forwards to the host's peer. It
/// is in the guest's plan, so the image is the same for every trial whatever port the peer
/// gets.
pub const GUEST_PEER: &str = "10.0.2.100:5201";

/// The kernel command line of every hvbench guest: console on the first serial port, quiet
/// boot (kernel messages would only add noise around the frames), and on panic no reboot, so
/// that QEMU (`-no-reboot`) exits and the failure is seen at once.
pub const GUEST_APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=3";

/// The QEMU argument vector (program excluded). No shell ever sees it.
pub fn argv(c: &QemuConfig) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("hvbench-{}", c.name));
    push("-machine");
    push(&format!("{},accel={}", c.machine, c.accel.as_str()));
    push("-cpu");
    push(&c.cpu);
    push("-smp");
    push(&c.vcpus.to_string());
    push("-m");
    push(&format!("{}M", c.memory_mib));
    // No default devices, no user config, no display, no network: only what the guest needs.
    push("-nodefaults");
    push("-no-user-config");
    push("-display");
    push("none");
    push("-no-reboot");
    // The first serial port is the agent's console, on QEMU's stdout, which the driver reads.
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    if let Some(d) = &c.disk {
        // QEMU options separate on commas; a comma inside a value is written twice.
        let mut drive = b"file=".to_vec();
        for &b in d.path.as_os_str().as_bytes() {
            drive.push(b);
            if b == b',' {
                drive.push(b',');
            }
        }
        drive.extend_from_slice(
            format!(
                ",if=none,id=disk0,format=raw,cache={},aio=threads",
                d.cache.as_str()
            )
            .as_bytes(),
        );
        a.push("-drive".into());
        a.push(OsString::from_vec(drive));
        a.push("-device".into());
        a.push("virtio-blk-pci,drive=disk0".into());
    }
    if let Some(n) = &c.net {
        a.push("-netdev".into());
        a.push(
            format!(
                "user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,\
                 guestfwd=tcp:{GUEST_PEER}-tcp:127.0.0.1:{}",
                n.host_port
            )
            .into(),
        );
        a.push("-device".into());
        // No option ROM: nothing boots from the network, and no firmware file is needed.
        a.push("virtio-net-pci,netdev=net0,romfile=".into());
    }
    if let Some(q) = &c.qmp {
        let mut spec = b"unix:".to_vec();
        for &b in q.as_os_str().as_bytes() {
            spec.push(b);
            if b == b',' {
                spec.push(b',');
            }
        }
        spec.extend_from_slice(b",server=on,wait=off");
        a.push("-qmp".into());
        a.push(OsString::from_vec(spec));
    }
    a.push("-kernel".into());
    a.push(c.kernel.clone().into_os_string());
    a.push("-initrd".into());
    a.push(c.initrd.clone().into_os_string());
    a.push("-append".into());
    a.push(c.append.clone().into());
    a
}

/// Decide the accelerator: `kvm` demands usable KVM, `tcg` is always possible, `auto` takes KVM
/// only where it can run an ordinary guest.
pub fn resolve_accel(wanted: Accel, kvm: &KvmStatus) -> Result<RunAccel> {
    match (wanted, kvm) {
        (Accel::Tcg, _) => Ok(RunAccel::Tcg),
        (_, KvmStatus::Usable { .. }) => Ok(RunAccel::Kvm),
        (Accel::Auto, KvmStatus::Unusable { .. }) => Ok(RunAccel::Tcg),
        (Accel::Kvm, KvmStatus::Unusable { reason, hint }) => Err(PlatformError::unavailable(
            format!("accel = \"kvm\" was asked for, but KVM cannot run guests here: {reason}"),
            format!("{hint}; or set accel = \"auto\" or \"tcg\""),
        )),
    }
}

/// The first line of `qemu-system-x86_64 --version`, or an error that says how to install it.
pub fn qemu_version(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| {
            PlatformError::unavailable(
                format!("cannot run {}: {e}", binary.display()),
                "install QEMU: apt-get install qemu-system-x86 (or set HVBENCH_QEMU to its path)",
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
    Ok(first
        .strip_prefix("QEMU emulator version ")
        .unwrap_or(first)
        .to_string())
}

/// `$HVBENCH_QEMU`, else `qemu-system-x86_64` from PATH.
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("HVBENCH_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| QEMU_BINARY.into())
}

pub struct QemuPlatform {
    name: String,
    binary: PathBuf,
    /// The command line without the per-trial devices (scratch disk path, peer port).
    config: QemuConfig,
    facts: BTreeMap<String, String>,
    /// Where each trial's scratch disk is made, for plans with disk workloads.
    scratch: Option<ScratchDisks>,
    /// The agent binary, run as the network peer, for plans with network workloads.
    peer_agent: Option<PathBuf>,
    /// Host CPUs for the vCPU threads (vCPU i on `pin[i % len]`), applied over QMP.
    pin: Option<Vec<usize>>,
}

/// vCPU pinning for one trial: a private QMP socket, and a thread that waits for QEMU to open
/// it, asks for the vCPU thread ids and sets their affinity while the guest boots.
struct Pinning {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    worker: std::thread::JoinHandle<std::result::Result<String, String>>,
}

impl Pinning {
    fn start(cpus: Vec<usize>, timeout: std::time::Duration) -> std::io::Result<Pinning> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("hvbench-qmp-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let socket = dir.path().join("qmp.sock");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sock, flag) = (socket.clone(), stop.clone());
        let deadline = std::time::Instant::now() + timeout;
        let worker = std::thread::spawn(move || {
            let threads = crate::qmp::vcpu_threads(&sock, deadline, &flag)?;
            crate::qmp::pin(&threads, &cpus)
        });
        Ok(Pinning {
            _dir: dir,
            socket,
            stop,
            worker,
        })
    }

    /// What was applied, as a fact, or why it failed, as a failure of the trial's pinning.
    fn finish(self) -> Event {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.worker.join() {
            Ok(Ok(applied)) => Event::Frame(Message::Facts {
                facts: BTreeMap::from([("qemu.pinning".to_string(), applied)]),
            }),
            Ok(Err(e)) => Event::Frame(Message::Failed {
                workload: "(pinning)".into(),
                reason: e,
            }),
            Err(_) => Event::Frame(Message::Failed {
                workload: "(pinning)".into(),
                reason: "the pinning thread panicked".into(),
            }),
        }
    }
}

/// A private directory (0700) where each trial gets a new sparse raw image (0600) of the
/// same size, removed when the trial ends; the directory goes when the platform does.
struct ScratchDisks {
    dir: tempfile::TempDir,
    bytes: u64,
    cache: DiskCache,
    made: u64,
}

/// One trial's scratch image, removed on drop.
struct ScratchImage(PathBuf);

impl Drop for ScratchImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ScratchDisks {
    /// A private directory under `$HVBENCH_SCRATCH_DIR` (default `/var/tmp`, where the host's
    /// disk workloads run too). A cache mode that opens the image with O_DIRECT needs a file
    /// system that supports it (tmpfs before Linux 6.6 does not): checked here, before any
    /// trial.
    fn new(bytes: u64, cache: DiskCache) -> Result<Self> {
        let base = scratch_base();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("hvbench-qemu-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(PlatformError::io(format!(
                "cannot create a private directory for scratch disks in {} \
                 (set HVBENCH_SCRATCH_DIR to a writable directory)",
                base.display()
            )))?;
        if cache.uses_o_direct() {
            let probe = dir.path().join("o_direct-probe");
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_DIRECT)
                .open(&probe);
            let _ = std::fs::remove_file(&probe);
            if let Err(e) = opened {
                return Err(PlatformError::unavailable(
                    format!(
                        "disk_cache = \"{cache}\" opens the scratch disk with O_DIRECT, which \
                         {} does not support ({e})",
                        base.display()
                    ),
                    "set HVBENCH_SCRATCH_DIR to a directory on a disk-backed file system, or \
                     choose disk_cache = \"writeback\"",
                ));
            }
        }
        Ok(ScratchDisks {
            dir,
            bytes,
            cache,
            made: 0,
        })
    }

    /// A new sparse image: the guest writes its test region before timing anything.
    fn create(&mut self) -> std::io::Result<ScratchImage> {
        self.made += 1;
        let path = self.dir.path().join(format!("disk-{}.raw", self.made));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        let image = ScratchImage(path);
        file.set_len(self.bytes)?;
        Ok(image)
    }
}

/// `$HVBENCH_SCRATCH_DIR`, else `/var/tmp` (a real file system where `/tmp` is often tmpfs).
pub fn scratch_base() -> PathBuf {
    std::env::var_os("HVBENCH_SCRATCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

/// The scratch disk a plan needs, in MiB: the largest `size_mib` of its disk workloads.
pub fn disk_mib_needed(plan: &AgentPlan) -> Option<u64> {
    plan.workloads
        .iter()
        .filter_map(|w| {
            let def = catalog::workload(&w.name)?;
            if !def.devices().contains(&Device::Disk) {
                return None;
            }
            let params = def.resolve(&w.params).ok()?;
            params.get("size_mib").and_then(|v| v.as_u64())
        })
        .chain(plan.stress.as_ref().and_then(|s| {
            // The disk stressor writes over the first size_mib MiB of the raw scratch disk.
            catalog::stressor_devices(&s.kind)
                .contains(&Device::Disk)
                .then(|| {
                    s.params
                        .get("size_mib")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(STRESS_DISK_DEFAULT_MIB)
                })
        }))
        .max()
}

/// The disk stressor's default scratch file size (the agent's `stress::Stressor::Disk`).
const STRESS_DISK_DEFAULT_MIB: u64 = 256;

impl QemuPlatform {
    /// Check QEMU, pick the accelerator, get the kernel, build the initramfs for `plan`.
    pub fn prepare(
        name: &str,
        spec: &QemuSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cache: &Cache,
    ) -> Result<Self> {
        let binary = qemu_binary();
        let version = qemu_version(&binary)?;
        let kvm = kvm::status();
        let accel = resolve_accel(spec.accel, &kvm)?;
        let kernel: Kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let agent = agent::agent_bytes()?;
        let mut plan = plan.clone();
        let peer_agent = if plan.needs(Device::Network) {
            plan.peer = Some(GUEST_PEER.to_string());
            Some(agent::agent_path(cache)?)
        } else {
            None
        };
        let scratch = match disk_mib_needed(&plan) {
            Some(mib) => Some(ScratchDisks::new(mib << 20, spec.disk_cache)?),
            None => None,
        };
        let (initrd, initrd_hash) = image::guest_initramfs_for(&kernel, &agent, &plan, cache)?;
        let cpu = spec.cpu.clone().unwrap_or_else(|| match accel {
            RunAccel::Kvm => "host".into(),
            RunAccel::Tcg => "max".into(),
        });
        let config = QemuConfig {
            name: name.to_string(),
            accel,
            machine: spec.machine.clone(),
            cpu,
            vcpus: guest.vcpus,
            memory_mib: guest.memory_mib,
            kernel: kernel.path.clone(),
            initrd,
            append: GUEST_APPEND.to_string(),
            disk: None,
            net: None,
            qmp: None,
        };
        let pin = match &spec.cpus {
            None => None,
            Some(list) => {
                let cpus = hvbench_spec::parse_cpu_list(list).unwrap_or_default();
                let allowed = crate::qmp::allowed_cpus();
                if let Some(bad) = cpus.iter().find(|c| !allowed.contains(c)) {
                    return Err(PlatformError::unavailable(
                        format!("cpus = \"{list}\" names CPU {bad}, which hvbench may not use here (allowed: {allowed:?})"),
                        "pick CPUs from `nproc`/the affinity mask of this shell",
                    ));
                }
                Some(cpus)
            }
        };
        let mut facts = BTreeMap::new();
        let mut fact = |k: &str, v: String| {
            facts.insert(k.to_string(), v);
        };
        fact("accel", accel.as_str().into());
        fact("accel.requested", spec.accel.as_str().into());
        match &kvm {
            KvmStatus::Usable { module, nested } => {
                fact("kvm.module", module.clone());
                if let Some(n) = nested {
                    fact("kvm.nested", n.clone());
                }
            }
            KvmStatus::Unusable { reason, .. } => fact("kvm.unusable", reason.clone()),
        }
        fact(
            "hypervisor",
            if accel == RunAccel::Kvm {
                "kvm"
            } else {
                "qemu-tcg (software emulation)"
            }
            .into(),
        );
        fact("qemu.version", version);
        fact("qemu.machine", config.machine.clone());
        fact("qemu.cpu", config.cpu.clone());
        fact("guest.vcpus", guest.vcpus.to_string());
        fact("guest.memory_mib", guest.memory_mib.to_string());
        fact("guest.kernel", kernel.path.display().to_string());
        fact("guest.kernel.origin", kernel.origin);
        fact("guest.initramfs.sha256", initrd_hash);
        fact("guest.cmdline", config.append.clone());
        fact(
            "guest.modules",
            kernel
                .modules
                .as_ref()
                .map_or("none".to_string(), |m| m.names()),
        );
        fact("host.emulated", crate::host::host_is_virtual().to_string());
        // The host CPU's virtualization extensions: EPT/NPT decide nested-paging costs.
        let flags = kvm::cpu_flags(Path::new("/proc/cpuinfo"));
        let virt: Vec<&str> = ["vmx", "svm", "ept", "npt", "vpid", "nrip_save", "avic"]
            .into_iter()
            .filter(|f| flags.iter().any(|x| x == f))
            .collect();
        fact(
            "host.cpu.virt_flags",
            if virt.is_empty() {
                "none".into()
            } else {
                virt.join(" ")
            },
        );
        if let Some(list) = &spec.cpus {
            fact("qemu.cpus", list.clone());
        }
        fact("qemu.disk_cache", spec.disk_cache.as_str().into());
        if let Some(s) = &scratch {
            fact(
                "qemu.disk",
                format!(
                    "virtio-blk-pci, raw sparse image of {} MiB in {}, aio=threads, new each trial",
                    s.bytes >> 20,
                    s.dir.path().display()
                ),
            );
        }
        if peer_agent.is_some() {
            fact(
                "qemu.nic",
                format!(
                    "virtio-net-pci on user networking (slirp), restrict=on, {GUEST_PEER} \
                     forwarded to a peer on the host's loopback"
                ),
            );
        }
        Ok(QemuPlatform {
            name: name.to_string(),
            binary,
            config,
            facts,
            scratch,
            peer_agent,
            pin,
        })
    }

    pub fn config(&self) -> &QemuConfig {
        &self.config
    }
}

impl Platform for QemuPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "qemu"
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        // The plan is baked into the initramfs at prepare time; a trial must ask for that plan.
        let mut config = self.config.clone();
        // Both live until the guest is gone: the image is then removed, the peer killed.
        let mut _image = None;
        if let Some(s) = &mut self.scratch {
            match s.create() {
                Ok(image) => {
                    config.disk = Some(DiskConfig {
                        path: image.0.clone(),
                        cache: s.cache,
                    });
                    _image = Some(image);
                }
                Err(e) => return TrialEnd::Failed(format!("cannot create the scratch disk: {e}")),
            }
        }
        let mut _peer = None;
        if let Some(agent) = &self.peer_agent {
            match PeerProcess::start(agent, req.timeout) {
                Ok(peer) => {
                    config.net = Some(NetConfig {
                        host_port: peer.addr().port(),
                    });
                    _peer = Some(peer);
                }
                Err(e) => return TrialEnd::Failed(e),
            }
        }
        let pin = if req.place.is_some() {
            // An isolation instance is placed as a whole process (its vCPU threads inherit it).
            None
        } else {
            self.pin.as_ref()
        };
        let pinning = match pin {
            None => None,
            Some(cpus) => match Pinning::start(cpus.clone(), req.timeout) {
                Ok(p) => {
                    config.qmp = Some(p.socket.clone());
                    Some(p)
                }
                Err(e) => return TrialEnd::Failed(format!("cannot prepare vCPU pinning: {e}")),
            },
        };
        let mut cmd = Command::new(&self.binary);
        cmd.args(argv(&config));
        if let Some(place) = req.place {
            place.apply_to(&mut cmd);
        }
        let end = console::run_until(
            cmd,
            req.timeout,
            req.console_log.as_deref(),
            req.stop,
            on_event,
        );
        if let Some(p) = pinning {
            on_event(p.finish());
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QemuConfig {
        QemuConfig {
            name: "qemu".into(),
            accel: RunAccel::Tcg,
            machine: "q35".into(),
            cpu: "max".into(),
            vcpus: 2,
            memory_mib: 512,
            kernel: "/cache/kernels/vmlinuz".into(),
            initrd: "/cache/initramfs/guest-0123.cpio.gz".into(),
            append: GUEST_APPEND.into(),
            disk: None,
            net: None,
            qmp: None,
        }
    }

    #[test]
    fn qmp_socket_for_pinning() {
        let mut c = config();
        c.qmp = Some("/run/hvbench-qmp-x,y/qmp.sock".into());
        let a: Vec<String> = argv(&c)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let i = a.iter().position(|s| s == "-qmp").unwrap();
        assert_eq!(
            a[i + 1],
            "unix:/run/hvbench-qmp-x,,y/qmp.sock,server=on,wait=off"
        );
        assert!(i < a.iter().position(|s| s == "-kernel").unwrap());
    }

    /// Snapshot of the whole command line: any change to it is deliberate and reviewed here.
    #[test]
    fn argv_snapshot() {
        let got: Vec<String> = argv(&config())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let want = [
            "-name",
            "hvbench-qemu",
            "-machine",
            "q35,accel=tcg",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-m",
            "512M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-chardev",
            "stdio,id=console,signal=off",
            "-serial",
            "chardev:console",
            "-kernel",
            "/cache/kernels/vmlinuz",
            "-initrd",
            "/cache/initramfs/guest-0123.cpio.gz",
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=3",
        ];
        assert_eq!(got, want);
    }

    /// With a scratch disk and a NIC: the devices come after the console, before the kernel.
    #[test]
    fn argv_with_devices_snapshot() {
        let mut c = config();
        c.disk = Some(DiskConfig {
            path: "/var/tmp/hvbench-qemu-x/disk-1.raw".into(),
            cache: DiskCache::Writeback,
        });
        c.net = Some(NetConfig { host_port: 40123 });
        let got: Vec<String> = argv(&c)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let at = got.iter().position(|s| s == "chardev:console").unwrap() + 1;
        assert_eq!(
            got[at..at + 8],
            [
                "-drive",
                "file=/var/tmp/hvbench-qemu-x/disk-1.raw,if=none,id=disk0,format=raw,\
                 cache=writeback,aio=threads",
                "-device",
                "virtio-blk-pci,drive=disk0",
                "-netdev",
                "user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,\
                 guestfwd=tcp:10.0.2.100:5201-tcp:127.0.0.1:40123",
                "-device",
                "virtio-net-pci,netdev=net0,romfile=",
            ]
        );
        assert_eq!(got[at + 8], "-kernel");
        assert_eq!(got.len(), argv(&config()).len() + 8);
    }

    #[test]
    fn commas_in_the_disk_path_are_escaped() {
        let mut c = config();
        c.disk = Some(DiskConfig {
            path: "/data/a,b/disk.raw".into(),
            cache: DiskCache::None,
        });
        let a = argv(&c);
        let i = a.iter().position(|s| s == "-drive").unwrap();
        assert!(a[i + 1]
            .to_str()
            .unwrap()
            .starts_with("file=/data/a,,b/disk.raw,if=none,"));
    }

    #[test]
    fn the_disk_is_as_large_as_the_largest_disk_workload() {
        let req = |name: &str, size: Option<u64>| hvbench_proto::WorkloadRequest {
            name: name.into(),
            id: String::new(),
            params: size
                .map(|s| [("size_mib".to_string(), serde_json::Value::from(s))].into())
                .unwrap_or_default(),
        };
        let mut plan = AgentPlan {
            version: hvbench_proto::PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: vec![req("syscall", None), req("net-rr", None)],
            peer: None,
            stress: None,
        };
        assert_eq!(disk_mib_needed(&plan), None);
        plan.workloads.push(req("disk-fsync", None));
        assert_eq!(disk_mib_needed(&plan), Some(16), "disk-fsync's default");
        plan.workloads.push(req("disk-seq-read", Some(300)));
        plan.workloads.push(req("disk-rand-write", Some(40)));
        assert_eq!(disk_mib_needed(&plan), Some(300));
    }

    #[test]
    fn scratch_images_are_private_sparse_and_removed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mut disks = ScratchDisks::new(64 << 20, DiskCache::Writeback).unwrap();
        let image = disks.create().unwrap();
        let meta = std::fs::metadata(&image.0).unwrap();
        assert_eq!(meta.len(), 64 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "sparse: {} blocks",
            meta.blocks()
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(disks.dir.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let path = image.0.clone();
        drop(image);
        assert!(!path.exists());
        let second = disks.create().unwrap();
        assert_ne!(second.0, path, "a new image each trial");
    }

    #[test]
    fn paths_with_spaces_stay_one_argument() {
        let mut c = config();
        c.kernel = "/my kernels/vmlinuz; rm -rf /".into();
        let a = argv(&c);
        let i = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[i + 1], "/my kernels/vmlinuz; rm -rf /");
    }

    #[test]
    fn accel_resolution() {
        let pvm = KvmStatus::Unusable {
            reason: "PVM host".into(),
            hint: "use the lab".into(),
        };
        let ok = KvmStatus::Usable {
            module: "kvm_amd".into(),
            nested: None,
        };
        assert_eq!(resolve_accel(Accel::Auto, &pvm).unwrap(), RunAccel::Tcg);
        assert_eq!(resolve_accel(Accel::Auto, &ok).unwrap(), RunAccel::Kvm);
        assert_eq!(resolve_accel(Accel::Tcg, &ok).unwrap(), RunAccel::Tcg);
        let e = resolve_accel(Accel::Kvm, &pvm).unwrap_err().to_string();
        assert!(
            e.contains("PVM host") && e.contains("accel = \"auto\""),
            "{e}"
        );
    }

    #[test]
    fn missing_qemu_says_how_to_install() {
        let e = qemu_version(Path::new("/nonexistent/qemu-system-x86_64"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get install qemu-system-x86"), "{e}");
    }
}
