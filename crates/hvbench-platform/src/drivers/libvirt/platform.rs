//! The `libvirt` driver's [`Platform`]: preparing the guest (libvirt's version, the domain
//! kind, kernel, initramfs, the domain XML as facts) and running each trial as a transient
//! domain (`virsh create`), destroyed when the trial is over whatever happened.

use super::{
    domain_xml, is_orphan, pid_alive, version_facts, virsh, ConsoleConfig, DomainConfig,
    DomainKind, NicConfig, DOMAIN_PREFIX, VIRSH_TIMEOUT,
};
use crate::drivers::kvm;
use crate::drivers::qemu::{resolve_accel, RunAccel, GUEST_APPEND};
use crate::evidence;
use crate::guest::agent;
use crate::guest::cache::{sha256_hex, Cache};
use crate::guest::image::{self, Kernel};
use crate::guest::plan_tools;
use crate::isolation::placement::InstancePlace;
use crate::trial::console::TrialEnd;
use crate::trial::guest::{GuestResources, PeerNet};
use crate::trial::scratch::{disk_mib_needed, ScratchDisks};
use crate::{Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Device, Event, Message};
use hvbench_spec::{DiskCache, GuestSpec, LibvirtHypervisor, LibvirtSpec, XenGuestType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LibvirtPlatform {
    name: String,
    uri: String,
    /// The domain without its per-trial name, disk and console.
    base: DomainConfig,
    facts: BTreeMap<String, String>,
    resources: GuestResources,
    /// A private (0700) directory for each trial's domain XML and console pipes.
    dir: tempfile::TempDir,
    trials: u32,
    /// What libvirt made of the first trial's domain, reported once.
    live_reported: bool,
    /// Network workloads: the guest has a NIC on the trial's bridge; for QEMU, whether
    /// vhost-net serves it.
    vhost: Option<bool>,
}

impl LibvirtPlatform {
    /// Reach libvirt, decide the domain kind, get the kernel, build the initramfs for `plan`.
    pub fn prepare(
        name: &str,
        spec: &LibvirtSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cache: &Cache,
    ) -> Result<Self> {
        let uri = spec.uri().to_string();
        let version = virsh(&uri, &["version"], VIRSH_TIMEOUT).map_err(|e| {
            PlatformError::unavailable(
                format!("platform `{name}` cannot reach libvirt at {uri}: {e}"),
                "install libvirt (apt-get install libvirt-daemon-system libvirt-clients, with \
                 libvirt-daemon-driver-qemu for KVM or libvirt-daemon-driver-xen for Xen) and \
                 start libvirtd, or point `uri` at a running one",
            )
        })?;
        let mut facts = BTreeMap::new();
        let mut fact = |k: &str, v: String| {
            facts.insert(k.to_string(), v);
        };
        for (k, v) in version_facts(&version) {
            fact(k, v);
        }
        fact("libvirt.uri", uri.clone());
        let kind = match spec.hypervisor {
            LibvirtHypervisor::Kvm => {
                let status = kvm::status();
                let accel = resolve_accel(spec.accel, &status)?;
                fact(hvbench_proto::facts::ACCEL, accel.as_str().into());
                fact("accel.requested", spec.accel.as_str().into());
                if let kvm::KvmStatus::Unusable { reason, .. } = &status {
                    fact("kvm.unusable", reason.clone());
                }
                match accel {
                    RunAccel::Kvm => DomainKind::Kvm,
                    RunAccel::Tcg => DomainKind::Tcg,
                }
            }
            LibvirtHypervisor::Xen => {
                fact(hvbench_proto::facts::ACCEL, "xen".into());
                fact(
                    hvbench_proto::facts::XEN_GUEST_TYPE,
                    spec.xen_type().as_str().into(),
                );
                DomainKind::Xen(spec.xen_type())
            }
        };
        fact(
            "hypervisor",
            match kind {
                DomainKind::Kvm => "kvm",
                DomainKind::Tcg => "qemu-tcg (software emulation)",
                DomainKind::Xen(_) => "xen",
            }
            .into(),
        );
        fact("libvirt.domain_type", kind.domain_type().into());
        let kernel: Kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let agent = agent::agent_bytes()?;
        let mut plan = plan.clone();
        // Network workloads: the guest's NIC on the bridge of a namespace made for each trial,
        // with the peer on it, as the direct drivers' (a tap for QEMU, the vif for Xen).
        let mut net_facts = BTreeMap::new();
        let nic = if plan.needs(Device::Network) {
            let nic = network(kind, &mut net_facts).map_err(|why| {
                PlatformError::unavailable(
                    format!(
                        "platform `{name}`: network workloads need the trial's bridge, which \
                         cannot be set up: {why}"
                    ),
                    "run hvbench as root with iproute2 (and the tun module for KVM)",
                )
            })?;
            plan.peer = Some(crate::drivers::qemu::GUEST_PEER.to_string());
            Some((nic, agent::agent_path(cache)?))
        } else {
            None
        };
        let tools = plan_tools::tree_for(&plan, cache)?;
        if tools.is_some() {
            if let DomainKind::Xen(_) = kind {
                return Err(PlatformError::unavailable(
                    format!(
                        "platform `{name}`: general benchmarks (the tools disk) do not run on \
                         libvirt's Xen yet"
                    ),
                    "run them on a xen platform (driver = \"xen\") or on libvirt's KVM",
                ));
            }
            plan_tools::check_kernel_ext4(&kernel)?;
            plan.tools_root = Some(hvbench_proto::GUEST_TOOLS_ROOT.to_string());
        }
        // libvirt's default cache for a disk that names none is QEMU's: writeback.
        let scratch = match disk_mib_needed(&plan) {
            Some(mib) => Some(ScratchDisks::private(mib << 20, DiskCache::Writeback)?),
            None => None,
        };
        let (initrd, initrd_hash) = image::guest_initramfs_for(&kernel, &agent, &plan, cache)?;
        let cmdline = match kind {
            DomainKind::Xen(t) => crate::drivers::xen::xlcfg::guest_extra(t).to_string(),
            _ => GUEST_APPEND.to_string(),
        };
        let pin = spec.cpus.as_deref().and_then(hvbench_spec::parse_cpu_list);
        let base = DomainConfig {
            name: format!("{DOMAIN_PREFIX}{name}-PID-N"),
            kind,
            vcpus: guest.vcpus,
            memory_mib: guest.memory_mib,
            kernel: kernel.path.clone(),
            initrd,
            cmdline,
            cpu: spec.cpu.clone(),
            pin,
            emulator_pin: None,
            disk: scratch
                .as_ref()
                .map(|s| s.dir().join(format!("{DOMAIN_PREFIX}{name}-PID-N.raw"))),
            tools: tools.as_ref().map(|t| t.image.clone()),
            console: console_for(kind, Path::new("DIR/CONSOLE")),
            nic: None,
            qmp: None,
        };
        let xml = domain_xml(&base);
        fact("libvirt.domain_xml.sha256", sha256_hex(xml.as_bytes()));
        fact("libvirt.domain_xml", xml);
        fact(
            "libvirt.cpu",
            spec.cpu
                .clone()
                .unwrap_or_else(|| "libvirt's default (no <cpu> element)".into()),
        );
        if let Some(list) = &spec.cpus {
            fact("libvirt.cpus", list.clone());
        }
        fact("guest.vcpus", guest.vcpus.to_string());
        fact("guest.memory_mib", guest.memory_mib.to_string());
        fact("guest.kernel", kernel.path.display().to_string());
        fact("guest.kernel.origin", kernel.origin);
        fact("guest.initramfs.sha256", initrd_hash);
        fact(hvbench_proto::facts::GUEST_CMDLINE, base.cmdline.clone());
        fact(
            hvbench_proto::facts::HOST_EMULATED,
            crate::drivers::host::host_is_virtual().to_string(),
        );
        if let Some(t) = &tools {
            facts.extend(plan_tools::tree_facts(&plan, t));
        }
        facts.extend(net_facts);
        let dir = private_dir().map_err(PlatformError::io(
            "cannot make a private directory for the libvirt domains' files",
        ))?;
        // The peer's side of general benchmarks (iperf3's server, redis-benchmark's client).
        let peer_tools = plan_tools::peer_tree(&plan, tools.as_ref(), &dir.path().join("peer"))?;
        destroy_orphans(&uri, name);
        Ok(LibvirtPlatform {
            name: name.to_string(),
            uri,
            base,
            facts,
            resources: GuestResources::new(
                scratch,
                nic.as_ref()
                    .map(|(_, agent)| (agent.clone(), PeerNet::Namespace { tap: false })),
            )
            .with_peer_tools(peer_tools),
            vhost: nic.map(|(vhost, _)| vhost),
            dir,
            trials: 0,
            live_reported: false,
        })
    }

    /// The domain of the next trial, before its disk and console.
    fn next_domain(&mut self) -> DomainConfig {
        self.trials += 1;
        let mut c = self.base.clone();
        c.name = format!(
            "{DOMAIN_PREFIX}{}-{}-{}",
            self.name,
            std::process::id(),
            self.trials
        );
        c
    }
}

/// Whether the trial's bridge can be set up for a guest of `kind`, and for QEMU whether
/// vhost-net can serve it; the network's facts, as the direct drivers give them.
fn network(
    kind: DomainKind,
    facts: &mut BTreeMap<String, String>,
) -> std::result::Result<bool, String> {
    use crate::trial::vnet;
    let qemu = !matches!(kind, DomainKind::Xen(_));
    if let Some(why) = vnet::unavailable(qemu) {
        return Err(why);
    }
    let mut fact = |k: &str, v: String| {
        facts.insert(k.to_string(), v);
    };
    fact(hvbench_proto::facts::NET_BRIDGE, vnet::BRIDGE.into());
    if !qemu {
        fact(
            hvbench_proto::facts::NET_BACKEND,
            "xen-netback (vif)".into(),
        );
        fact(
            "libvirt.nic",
            format!(
                "<interface type='ethernet'> with a hotplug script: netfront in the guest, a vif \
                 of netback in dom0 moved onto bridge {} ({}) in a network namespace made for \
                 each trial, with the peer on the bridge",
                vnet::BRIDGE,
                vnet::bridge_address()
            ),
        );
        return Ok(false);
    }
    let vhost_missing = match kind {
        DomainKind::Kvm => vnet::vhost_unavailable(),
        _ => Some(crate::drivers::qemu::VHOST_NOT_TCG.into()),
    };
    let vhost = crate::drivers::qemu::tap_facts(vhost_missing, &mut fact);
    fact(
        "libvirt.nic",
        format!(
            "<interface type='ethernet'> on a tap hvbench made (managed='no'), model virtio, \
             vhost={}; once libvirt has opened it the tap moves, as {}, onto bridge {} ({}) in \
             a network namespace made for each trial, with the peer on the bridge",
            if vhost { "on" } else { "off" },
            vnet::TAP,
            vnet::BRIDGE,
            vnet::bridge_address()
        ),
    );
    Ok(vhost)
}

/// A tap in this machine's own namespace, named for domain number `trial` of this process
/// (at most 15 bytes, as Linux wants): libvirtd opens it there, then it moves into the
/// trial's namespace. Made persistent, so that it stays while nobody holds it open.
fn make_tap(trial: u32) -> std::result::Result<String, String> {
    let name = format!("hvl{}-{}", std::process::id() % 1_000_000, trial % 10_000);
    let out = Command::new("ip")
        .args(["tuntap", "add", "dev", &name, "mode", "tap"])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot make the tap {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(name)
}

/// Delete tap `name` if it is still in this machine's own namespace (it moves out once the
/// domain has opened it; in the trial's namespace it goes with the namespace).
fn remove_tap(name: &str) {
    let _ = Command::new("ip")
        .args(["link", "del", "dev", name])
        .stderr(std::process::Stdio::null())
        .status();
}

/// The pid of the QEMU that libvirt runs domain `name` in (`-name guest=NAME,...`), from
/// /proc.
fn qemu_pid(name: &str) -> Option<u32> {
    let wanted = format!("guest={name},");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        cmdline
            .split(|b| *b == 0)
            .any(|a| a.starts_with(wanted.as_bytes()))
            .then_some(pid)
    })
}

/// A private (0700) directory.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("hvbench-libvirt-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// Where a domain of `kind` sends its console: QEMU's serial port into named pipes whose base
/// path is `pipe`; Xen's console to its pty, read with `xl console`.
fn console_for(kind: DomainKind, pipe: &Path) -> ConsoleConfig {
    match kind {
        DomainKind::Xen(_) => ConsoleConfig::Pty,
        DomainKind::Kvm | DomainKind::Tcg => ConsoleConfig::Pipe(pipe.to_path_buf()),
    }
}

/// Destroy the domains of platform `name` whose hvbench process is gone (a campaign killed
/// before it could destroy them), so that they do not run beside this campaign's guests.
fn destroy_orphans(uri: &str, name: &str) {
    let Ok(list) = virsh(uri, &["list", "--name"], VIRSH_TIMEOUT) else {
        return;
    };
    for domain in list.lines().map(str::trim) {
        if is_orphan(domain, name, pid_alive) {
            let _ = virsh(uri, &["destroy", domain], VIRSH_TIMEOUT);
        }
    }
}

/// `PATH.in` and `PATH.out`, the named pipes of QEMU's `pipe` character device.
fn make_pipes(base: &Path) -> std::result::Result<(), String> {
    for end in ["in", "out"] {
        let p = pipe_end(base, end);
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("bad pipe path {}", p.display()))?;
        // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(format!(
                "cannot make the console pipe {}: {}",
                p.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn pipe_end(base: &Path, end: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{end}"));
    PathBuf::from(s)
}

/// What libvirt filled in that hvbench left to it, from the running domain's XML: the facts
/// that explain a libvirt platform's differences from its direct twin.
pub fn live_facts(xml: &str) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = xml.find(&format!("<{tag} "))?;
        let end = start + xml[start..].find('>')?;
        let element = &xml[start..end];
        let key = format!("{name}='");
        let at = element.find(&key)? + key.len();
        let len = element[at..].find('\'')?;
        Some(element[at..at + len].to_string())
    };
    // The text of the first `<tag>` or `<tag ...>` element.
    let text = |tag: &str| -> Option<String> {
        let open = format!("<{tag}");
        let mut from = 0;
        let at = loop {
            let at = from + xml[from..].find(&open)?;
            let next = xml[at + open.len()..].chars().next()?;
            if next == '>' || next == ' ' {
                break at;
            }
            from = at + open.len();
        };
        let start = at + xml[at..].find('>')? + 1;
        let len = xml[start..].find('<')?;
        Some(xml[start..start + len].trim().to_string())
    };
    if let Some(m) = attr("type", "machine") {
        f.insert("libvirt.machine".into(), m);
    }
    f.insert(
        "libvirt.cpu.live".into(),
        match (attr("cpu", "mode"), text("model")) {
            (None, _) => "none: the hypervisor's default CPU model (QEMU: qemu64)".into(),
            (Some(mode), Some(model)) => format!("{mode} {model}"),
            (Some(mode), None) => mode,
        },
    );
    if let Some(e) = text("emulator") {
        f.insert("libvirt.emulator".into(), e);
    }
    // A disk whose <driver> names no cache mode has the hypervisor's default.
    if xml.contains("<disk ") {
        f.insert(
            "libvirt.disk_cache".into(),
            attr("driver", "cache")
                .unwrap_or_else(|| "not set: the hypervisor's default (QEMU: writeback)".into()),
        );
    }
    f
}

/// The `virsh schedinfo --set` parameters for an isolation instance's weight (cgroup v2's
/// scale, 100 the default) and cap (% of one CPU) on a domain of `kind`: QEMU's cgroup
/// (`cpu_shares`, which libvirt writes to cgroup v2's `cpu.weight` as it is and to v1's
/// `cpu.shares`, default 1024; the cap as a quota of the whole domain per 100 ms) or Xen's
/// credit2 scheduler (`weight`, default 256, and `cap` in % as xl's).
fn sched_params(kind: DomainKind, place: &InstancePlace, cgroup_v2: bool) -> Vec<String> {
    let mut out = Vec::new();
    match kind {
        DomainKind::Kvm | DomainKind::Tcg => {
            if let Some(w) = place.weight {
                let shares = if cgroup_v2 {
                    u64::from(w)
                } else {
                    u64::from(w) * 1024 / 100
                };
                out.push(format!("cpu_shares={shares}"));
            }
            if let Some(c) = place.cap_pct {
                out.push("global_period=100000".to_string());
                out.push(format!("global_quota={}", u64::from(c) * 1000));
            }
        }
        DomainKind::Xen(_) => {
            if let Some(w) = place.weight {
                out.push(format!(
                    "weight={}",
                    crate::drivers::xen::toolstack::xen_weight(w)
                ));
            }
            if let Some(c) = place.cap_pct {
                out.push(format!("cap={c}"));
            }
        }
    }
    out
}

/// Apply an isolation instance's weight and cap to the running domain, then read back what
/// libvirt has in force (`virsh schedinfo`) and the affinity of the vCPUs (`virsh vcpupin`)
/// and of QEMU's other threads (`virsh emulatorpin`), as facts `libvirt.applied.schedinfo.*`,
/// `libvirt.applied.vcpupin` and `libvirt.applied.emulatorpin` (stored per isolation
/// instance, as the xen driver's `xen.applied.*`); a setting libvirt refused is said.
fn schedule(
    uri: &str,
    domain: &str,
    kind: DomainKind,
    place: &InstancePlace,
) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let params = sched_params(kind, place, v2);
    if !params.is_empty() {
        // No --live: libxl takes no flags here ("unsupported flags (0x1)"); a running
        // transient domain's current settings are its live ones.
        let mut args = vec!["schedinfo", domain];
        for p in &params {
            args.extend(["--set", p.as_str()]);
        }
        if let Err(e) = virsh(uri, &args, VIRSH_TIMEOUT) {
            facts.insert(
                "libvirt.applied.schedinfo.set".into(),
                format!("not applied ({}): {e}", params.join(", ")),
            );
        }
    }
    if let Ok(text) = virsh(uri, &["schedinfo", domain], VIRSH_TIMEOUT) {
        for (k, v) in text.lines().filter_map(|l| l.split_once(':')) {
            let (k, v) = (k.trim(), v.trim());
            if !k.is_empty() && !v.is_empty() {
                facts.insert(format!("libvirt.applied.schedinfo.{k}"), v.to_string());
            }
        }
    }
    if let Ok(text) = virsh(uri, &["vcpupin", domain, "--live"], VIRSH_TIMEOUT) {
        let pins: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .split_once(char::is_whitespace)
                    .map(|(v, c)| (v, c.trim()))
            })
            .filter(|(v, _)| v.parse::<u32>().is_ok())
            .map(|(v, c)| format!("{v}:{c}"))
            .collect();
        if !pins.is_empty() {
            facts.insert("libvirt.applied.vcpupin".into(), pins.join(" "));
        }
    }
    if matches!(kind, DomainKind::Kvm | DomainKind::Tcg) {
        let pin = virsh(uri, &["emulatorpin", domain, "--live"], VIRSH_TIMEOUT).and_then(|t| {
            // "*: 0-1" under a header; the CPU list alone with virsh's --quiet.
            t.lines()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && !l.starts_with('-') && !l.contains("Affinity"))
                .map(|l| l.strip_prefix("*:").unwrap_or(l).trim().to_string())
                .next_back()
                .ok_or_else(|| format!("no CPU list in {t:?}"))
        });
        facts.insert(
            "libvirt.applied.emulatorpin".into(),
            pin.unwrap_or_else(|e| format!("unknown: {e}")),
        );
    }
    facts
}

impl Platform for LibvirtPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "libvirt"
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        let mut config = self.next_domain();
        // An isolation instance: its vCPUs (and QEMU's other threads) on its cell's CPUs
        // through `<cputune>`; weight and cap once the domain runs (below).
        if let Some(place) = req.place.filter(|p| !p.cpus.is_empty()) {
            config.pin = Some(place.cpus.clone());
            config.emulator_pin = Some(place.cpus.clone());
        }
        let mut trial = match self.resources.open(req, Some(&config.name)) {
            Ok(t) => t,
            Err(e) => return TrialEnd::Failed(e),
        };
        // Evidence with the direct drivers' collectors: QEMU's (over a QMP socket of its own
        // beside libvirt's monitor) or Xen's (xentrace in dom0, the domain by its name).
        if trial.wants_evidence() {
            match config.kind {
                DomainKind::Kvm | DomainKind::Tcg => {
                    let socket = self.dir.path().join(format!("{}.qmp", self.trials));
                    trial.count_with(vec![Box::new(evidence::kvm::KvmCollector::new(
                        &socket,
                        config.kind == DomainKind::Kvm,
                    ))]);
                    config.qmp = Some(socket);
                }
                DomainKind::Xen(t) => {
                    trial.count_with(vec![Box::new(evidence::xen::XenCollector::new(
                        &config.name,
                        t == XenGuestType::Pv,
                        config.disk.is_some(),
                        self.dir.path().to_path_buf(),
                    ))]);
                }
            }
        }
        config.disk = trial.disk().map(PathBuf::from);
        let pipe = self.dir.path().join(format!("{}.console", config.name));
        config.console = console_for(config.kind, &pipe);
        if let ConsoleConfig::Pipe(p) = &config.console {
            if let Err(e) = make_pipes(p) {
                return TrialEnd::Failed(e);
            }
        }
        // The NIC: for QEMU a tap made here for libvirt to open, moved into the trial's
        // namespace once the domain runs; for Xen the vif's hotplug script, as the xen driver's.
        let mut tap = None;
        if let (Some(net), Some(vhost)) = (trial.net(), self.vhost) {
            match config.kind {
                DomainKind::Xen(_) => {
                    let hook = self.dir.path().join(format!("{}.vif-hook", config.name));
                    if let Err(e) = crate::drivers::xen::write_script(
                        &hook,
                        &crate::trial::vnet::xen_vif_hook(net.name()),
                    ) {
                        return TrialEnd::Failed(e);
                    }
                    config.nic = Some(NicConfig::Script(hook));
                }
                DomainKind::Kvm | DomainKind::Tcg => match make_tap(self.trials) {
                    Ok(dev) => {
                        config.nic = Some(NicConfig::Tap {
                            dev: dev.clone(),
                            vhost,
                        });
                        tap = Some(dev);
                    }
                    Err(e) => return TrialEnd::Failed(e),
                },
            }
        }
        let file = self.dir.path().join(format!("{}.xml", config.name));
        if let Err(e) = std::fs::write(&file, domain_xml(&config)) {
            if let Some(t) = &tap {
                remove_tap(t);
            }
            return TrialEnd::Failed(format!("cannot write {}: {e}", file.display()));
        }
        let file_arg = file.to_string_lossy().into_owned();
        let cleanup = |uri: &str, name: &str| {
            let _ = virsh(uri, &["destroy", name], VIRSH_TIMEOUT);
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(pipe_end(&pipe, "in"));
            let _ = std::fs::remove_file(pipe_end(&pipe, "out"));
            if let Some(socket) = &config.qmp {
                let _ = std::fs::remove_file(socket);
            }
            if let Some(t) = &tap {
                remove_tap(t);
            }
            let _ = std::fs::remove_file(self.dir.path().join(format!("{name}.vif-hook")));
        };
        if let Err(e) = virsh(&self.uri, &["create", &file_arg], VIRSH_TIMEOUT) {
            cleanup(&self.uri, &config.name);
            return TrialEnd::Failed(e);
        }
        if let (Some(dev), Some(net)) = (&tap, trial.net()) {
            for argv in crate::trial::vnet::adopt_tap_commands(net.name(), dev) {
                let out = Command::new(&argv[0]).args(&argv[1..]).output();
                let why = match out {
                    Ok(o) if o.status.success() => continue,
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                cleanup(&self.uri, &config.name);
                return TrialEnd::Failed(format!(
                    "cannot move the domain's tap onto the trial's bridge (`{}`): {why}",
                    argv.join(" ")
                ));
            }
            // vhost-net's workers belong to QEMU, which runs outside the namespace.
            trial.served_by(qemu_pid(&config.name).into_iter().collect());
        }
        // What libvirt made of the domain, once: its defaults are facts of the platform.
        let live = if self.live_reported {
            None
        } else {
            self.live_reported = true;
            let mut facts = virsh(&self.uri, &["dumpxml", &config.name], VIRSH_TIMEOUT)
                .map(|x| live_facts(&x))
                .unwrap_or_default();
            if matches!(config.kind, DomainKind::Kvm | DomainKind::Tcg) {
                if let Ok(argv) = virsh(
                    &self.uri,
                    &["domxml-to-native", "qemu-argv", &file_arg],
                    VIRSH_TIMEOUT,
                ) {
                    // From the emulator on: the environment before it is libvirt's own.
                    let argv = argv.trim();
                    let from = argv
                        .find("/qemu-system")
                        .map_or(0, |i| argv[..i].rfind(' ').map_or(0, |s| s + 1));
                    facts.insert("libvirt.qemu_argv".into(), argv[from..].to_string());
                }
            }
            Some(facts)
        };
        let cmd = match &config.console {
            ConsoleConfig::Pipe(p) => {
                let mut c = Command::new("cat");
                c.arg(pipe_end(p, "out"));
                c
            }
            ConsoleConfig::Pty => {
                let mut c = Command::new("xl");
                c.arg("console").arg(&config.name);
                c
            }
        };
        let mut live = live.unwrap_or_default();
        if let Some(place) = req.place {
            live.extend(schedule(&self.uri, &config.name, config.kind, place));
        }
        // Before the guest's own frames: a machine over SSH (and the lab) relays a trial's
        // events only until the agent is done.
        if !live.is_empty() {
            on_event(Event::Frame(Message::Facts { facts: live }));
        }
        // Once the agent has said Done, the domain goes at once: libvirt runs QEMU with
        // -no-shutdown and destroys it only after the guest's power-off event reaches it, which
        // in the lab took long enough that what the trial says after Done (its port's facts)
        // never reached the campaign.
        let (uri, domain) = (self.uri.clone(), config.name.clone());
        let mut destroyer = None;
        let mut relay = |ev: Event| {
            if destroyer.is_none() && matches!(ev, Event::Frame(Message::Done { .. })) {
                let (uri, domain) = (uri.clone(), domain.clone());
                destroyer = Some(std::thread::spawn(move || {
                    let _ = virsh(&uri, &["destroy", &domain], VIRSH_TIMEOUT);
                }));
            }
            on_event(ev)
        };
        let end = trial.run(cmd, &mut relay, |_| {});
        if let Some(t) = destroyer {
            let _ = t.join();
        }
        // Whatever happened (done, failed, timed out, interrupted), the domain goes with its
        // trial.
        cleanup(&self.uri, &config.name);
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvirts_defaults_from_the_live_xml() {
        let xml = "<domain type='qemu' id='3'>\n  <os>\n    <type arch='x86_64' \
                   machine='pc-q35-7.2'>hvm</type>\n  </os>\n  <devices>\n    \
                   <emulator>/usr/bin/qemu-system-x86_64</emulator>\n    <disk type='file' \
                   device='disk'>\n      <driver name='qemu' type='raw'/>\n    </disk>\n";
        let f = live_facts(xml);
        assert_eq!(f["libvirt.machine"], "pc-q35-7.2");
        assert!(f["libvirt.cpu.live"].starts_with("none"));
        assert_eq!(f["libvirt.emulator"], "/usr/bin/qemu-system-x86_64");
        assert!(f["libvirt.disk_cache"].starts_with("not set"));
        let xml = "<cpu mode='custom' match='exact' check='full'>\n<model \
                   fallback='forbid'>EPYC</model>\n</cpu><driver name='qemu' type='raw' \
                   cache='none'/><disk type='file'>";
        let f = live_facts(xml);
        assert_eq!(f["libvirt.cpu.live"], "custom EPYC");
        assert_eq!(f["libvirt.disk_cache"], "none");
    }

    #[test]
    fn weight_and_cap_in_each_hypervisors_terms() {
        let place = InstancePlace {
            weight: Some(200),
            cap_pct: Some(50),
            ..InstancePlace::default()
        };
        assert_eq!(
            sched_params(DomainKind::Kvm, &place, true),
            [
                "cpu_shares=200",
                "global_period=100000",
                "global_quota=50000"
            ]
        );
        assert_eq!(
            sched_params(DomainKind::Tcg, &place, false)[0],
            "cpu_shares=2048"
        );
        assert_eq!(
            sched_params(DomainKind::Xen(XenGuestType::Pv), &place, true),
            ["weight=512", "cap=50"]
        );
        assert!(sched_params(DomainKind::Kvm, &InstancePlace::default(), true).is_empty());
    }

    #[test]
    fn console_pipes_are_made_in_pairs() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("dom.console");
        make_pipes(&base).unwrap();
        use std::os::unix::fs::FileTypeExt;
        for end in ["in", "out"] {
            let meta = std::fs::metadata(pipe_end(&base, end)).unwrap();
            assert!(meta.file_type().is_fifo());
        }
        assert!(make_pipes(&base).unwrap_err().contains("dom.console.in"));
    }
}
