//! The `qemu` driver's [`Platform`]: preparing a guest (accelerator, kernel, initramfs, facts)
//! and running its trials with the per-trial resources every guest gets
//! ([`crate::trial::guest`]) and vCPU pinning.

use super::{
    argv, qemu_binary, qemu_version, resolve_accel, DiskConfig, NetConfig, QemuConfig, RunAccel,
    GUEST_APPEND, GUEST_PEER,
};
use crate::drivers::kvm::{self, KvmStatus};
use crate::evidence;
use crate::guest::agent;
use crate::guest::cache::Cache;
use crate::guest::image::{self, Kernel};
use crate::guest::plan_tools;
use crate::guest::tools::ToolsTree;
use crate::trial::console::TrialEnd;
use crate::trial::guest::{GuestResources, PeerNet};
use crate::trial::scratch::{disk_mib_needed, ScratchDisks};
use crate::{Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Device, Event, Message};
use hvbench_spec::{DiskCache, GuestSpec, NetMode, QemuSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct QemuPlatform {
    name: String,
    binary: PathBuf,
    /// The command line without the per-trial devices (scratch disk path, peer port).
    config: QemuConfig,
    facts: BTreeMap<String, String>,
    /// Each trial's scratch disk (plans with disk workloads) and network peer (plans with
    /// network workloads).
    resources: GuestResources,
    /// The scratch disk's cache mode.
    disk_cache: DiskCache,
    /// The NIC's back-end, for plans with network workloads.
    net: Option<NetBackend>,
    /// Host CPUs for the vCPU threads (vCPU i on `pin[i % len]`), applied over QMP.
    pin: Option<Vec<usize>>,
}

/// Where a guest's NIC is plugged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetBackend {
    /// QEMU's user network (slirp), the peer on the host's loopback.
    User,
    /// A tap on a bridge in a network namespace made for the trial (`crate::trial::vnet`), the peer
    /// on the bridge, vhost-net when `vhost`.
    Tap { vhost: bool },
}

/// Why a TCG guest's tap has no vhost-net.
pub(crate) const VHOST_NOT_TCG: &str =
    "vhost-net serves KVM guests only (this guest runs under TCG)";

/// The facts of a guest NIC on a tap, served by vhost-net unless `vhost_missing` says why not
/// (`net.backend`, `net.vhost`); whether vhost-net serves it. The qemu and libvirt drivers'.
pub(crate) fn tap_facts(vhost_missing: Option<String>, fact: &mut dyn FnMut(&str, String)) -> bool {
    let vhost = vhost_missing.is_none();
    fact(
        hvbench_proto::facts::NET_BACKEND,
        if vhost { "tap+vhost-net" } else { "tap" }.into(),
    );
    fact(
        hvbench_proto::facts::NET_VHOST,
        match vhost_missing {
            None => "on".into(),
            Some(why) => format!("off: {why}"),
        },
    );
    vhost
}

/// Decide the NIC's back-end for `mode` and say why, as facts: a tap wherever it can be set
/// up (unless `user` is asked for), vhost-net where the guest runs under KVM and
/// `/dev/vhost-net` can be opened.
fn choose_net(
    mode: NetMode,
    accel: RunAccel,
    facts: &mut BTreeMap<String, String>,
) -> Result<NetBackend> {
    let mut fact = |k: &str, v: String| {
        facts.insert(k.to_string(), v);
    };
    fact(hvbench_proto::facts::NET_MODE, mode.as_str().into());
    let tap_missing = match mode {
        NetMode::User => Some("net = \"user\" was asked for".to_string()),
        _ => crate::trial::vnet::unavailable(true),
    };
    let backend = match (mode, tap_missing) {
        (NetMode::Tap, Some(why)) => {
            return Err(PlatformError::unavailable(
                format!("net = \"tap\" was asked for, but a tap cannot be set up here: {why}"),
                "run hvbench as root on a machine with iproute2 and the tun module, or set \
                 net = \"user\" (QEMU's user network)",
            ))
        }
        (_, Some(why)) => {
            fact(hvbench_proto::facts::NET_BACKEND, "slirp".into());
            fact(hvbench_proto::facts::NET_TAP, format!("not used: {why}"));
            fact(
                "qemu.nic",
                format!(
                    "virtio-net-pci on QEMU's user network (slirp), restrict=on, {GUEST_PEER} \
                     forwarded to a peer on the host's loopback: network figures measure \
                     QEMU's slirp, not the hypervisor"
                ),
            );
            NetBackend::User
        }
        (_, None) => {
            let vhost_missing = match accel {
                RunAccel::Kvm => crate::trial::vnet::vhost_unavailable(),
                RunAccel::Tcg => Some(VHOST_NOT_TCG.into()),
            };
            let vhost = tap_facts(vhost_missing, &mut fact);
            fact(
                hvbench_proto::facts::NET_BRIDGE,
                crate::trial::vnet::BRIDGE.into(),
            );
            fact(
                "qemu.nic",
                format!(
                    "virtio-net-pci on tap {} (vhost={}), on bridge {} ({}) in a network \
                     namespace made for each trial, with the peer on the bridge",
                    crate::trial::vnet::TAP,
                    if vhost { "on" } else { "off" },
                    crate::trial::vnet::BRIDGE,
                    crate::trial::vnet::bridge_address(),
                ),
            );
            NetBackend::Tap { vhost }
        }
    };
    Ok(backend)
}

/// The `qemu.tools_disk` fact: how the tools tree reaches the guest.
fn fact_tools_disk(facts: &mut BTreeMap<String, String>, t: &ToolsTree) {
    facts.insert(
        "qemu.tools_disk".into(),
        format!(
            "virtio-blk-pci, read-only raw ext4 image (label {}) of {} MiB, {}, mounted at {} by \
             the agent",
            hvbench_proto::TOOLS_LABEL,
            t.image_bytes >> 20,
            t.image.display(),
            hvbench_proto::GUEST_TOOLS_ROOT
        ),
    );
}

/// vCPU pinning for one trial: a private QMP socket, and a thread that waits for QEMU to open
/// it, asks for the vCPU thread ids and sets their affinity while the guest boots.
struct Pinning {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    worker: std::thread::JoinHandle<std::result::Result<String, String>>,
}

/// A private (0700) directory for a trial's QMP socket.
fn private_socket_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("hvbench-qmp-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

impl Pinning {
    fn start(cpus: Vec<usize>, timeout: std::time::Duration) -> std::io::Result<Pinning> {
        let dir = private_socket_dir()?;
        let socket = dir.path().join("qmp.sock");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sock, flag) = (socket.clone(), stop.clone());
        let deadline = std::time::Instant::now() + timeout;
        let worker = std::thread::spawn(move || {
            let threads = crate::drivers::qemu::qmp::vcpu_threads(&sock, deadline, &flag)?;
            crate::drivers::qemu::qmp::pin(&threads, &cpus)
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
        // General benchmarks: the tools tree's image as a read-only disk, which the agent
        // finds by its label and mounts at GUEST_TOOLS_ROOT. A plan without any gets neither
        // the disk nor the field, so its guest is the one it always was.
        let tools = plan_tools::tree_for(&plan, cache)?;
        if tools.is_some() {
            plan_tools::check_kernel_ext4(&kernel)?;
            plan.tools_root = Some(hvbench_proto::GUEST_TOOLS_ROOT.to_string());
        }
        let scratch = match disk_mib_needed(&plan) {
            Some(mib) => Some(ScratchDisks::private(mib << 20, spec.disk_cache)?),
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
            tools: tools.as_ref().map(|t| t.image.clone()),
            net: None,
            qmp: None,
        };
        let pin = match &spec.cpus {
            None => None,
            Some(list) => {
                let cpus = hvbench_spec::parse_cpu_list(list).unwrap_or_default();
                let allowed = crate::drivers::qemu::qmp::allowed_cpus();
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
        fact(hvbench_proto::facts::ACCEL, accel.as_str().into());
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
        fact(
            hvbench_proto::facts::HOST_EMULATED,
            crate::drivers::host::host_is_virtual().to_string(),
        );
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
                    s.bytes() >> 20,
                    s.dir().display()
                ),
            );
        }
        if let Some(t) = &tools {
            facts.extend(plan_tools::tree_facts(&plan, t));
            fact_tools_disk(&mut facts, t);
        }
        let peer_tools = plan_tools::peer_tree(
            &plan,
            tools.as_ref(),
            &std::env::temp_dir().join(format!("hvbench-peer-{}", std::process::id())),
        )?;
        let net = match peer_agent {
            Some(_) => Some(choose_net(spec.net, accel, &mut facts)?),
            None => None,
        };
        let peer = peer_agent.map(|agent| match net {
            Some(NetBackend::Tap { .. }) => (agent, PeerNet::Namespace { tap: true }),
            _ => (agent, PeerNet::Loopback),
        });
        Ok(QemuPlatform {
            name: name.to_string(),
            binary,
            config,
            facts,
            resources: GuestResources::new(scratch, peer).with_peer_tools(peer_tools),
            disk_cache: spec.disk_cache,
            net,
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
        let mut trial = match self.resources.open(req, None) {
            Ok(t) => t,
            Err(e) => return TrialEnd::Failed(e),
        };
        let mut config = self.config.clone();
        config.disk = trial.disk().map(|path| DiskConfig {
            path: path.to_path_buf(),
            cache: self.disk_cache,
        });
        config.net = match (self.net, trial.peer()) {
            (Some(NetBackend::Tap { vhost }), Some(_)) => Some(NetConfig::Tap {
                ifname: crate::trial::vnet::TAP.into(),
                vhost,
            }),
            (_, Some(peer)) => Some(NetConfig::User {
                host_port: peer.addr().port(),
            }),
            (_, None) => None,
        };
        let pin = if trial.place().is_some() {
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
        // Evidence: KVM's statistics, exits by reason, the host-side threads' CPU time; the
        // vCPU threads come over QMP, which serves one client at a time: the pinning thread is
        // done with the socket once the guest boots, before the first counted window.
        let mut _qmp_dir = None;
        if trial.wants_evidence() {
            let socket = match &config.qmp {
                Some(s) => Some(s.clone()),
                None => match private_socket_dir() {
                    Ok(dir) => {
                        let s = dir.path().join("qmp.sock");
                        _qmp_dir = Some(dir);
                        Some(s)
                    }
                    Err(_) => None,
                },
            };
            if let Some(socket) = socket {
                config.qmp = Some(socket.clone());
                trial.count_with(vec![Box::new(evidence::kvm::KvmCollector::new(
                    &socket,
                    config.accel == RunAccel::Kvm,
                ))]);
            }
        }
        let mut cmd = Command::new(&self.binary);
        cmd.args(argv(&config));
        if let Some(place) = trial.place() {
            place.apply_to(&mut cmd);
        }
        // QEMU runs in the trial's namespace, where its tap is.
        if let Some(net) = trial.net() {
            net.enter(&mut cmd);
        }
        trial.run(cmd, on_event, |on_event| {
            if let Some(p) = pinning {
                on_event(p.finish());
            }
        })
    }
}
