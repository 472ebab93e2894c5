//! The `xen` driver: the agent as PID 1 of a Xen domain, created with `xl` from a generated
//! config, on a machine whose dom0 this process runs in (a real Xen host, or the lab's).
//!
//! The guest's console is read through `xl create -c` (xl attaches its console client before
//! the domain runs, so nothing is lost); the domain is destroyed after every trial, whatever
//! happened, so a hung guest cannot outlive its timeout.

use crate::cache::Cache;
use crate::console::{self, TrialEnd};
use crate::evidence;
use crate::image::{self, Kernel};
use crate::{agent, Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Event};
use hvbench_spec::{GuestSpec, TscMode, XenGuestType, XenSpec};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel command line of a Xen guest: the console is the PV console `hvc0` on PV and PVH,
/// the emulated serial port on HVM.
pub fn guest_extra(kind: XenGuestType) -> &'static str {
    match kind {
        XenGuestType::Hvm => "console=ttyS0 panic=-1 quiet loglevel=3",
        _ => "console=hvc0 panic=-1 quiet loglevel=3",
    }
}

/// The facts of what the experiment asked of the domain: its type, pinning, credit2 weight and
/// cap, and `xen.tsc_mode.configured` (the evidence collector's `xen.tsc_mode` is the mode that
/// was in force, read from `xl list -l`).
pub fn spec_facts(spec: &XenSpec) -> Vec<(&'static str, String)> {
    let mut out = vec![("xen.guest_type", spec.kind.as_str().to_string())];
    if let Some(c) = &spec.cpus {
        out.push(("xen.cpus", c.clone()));
    }
    if let Some(w) = spec.weight {
        out.push(("xen.credit2.weight", w.to_string()));
    }
    if let Some(c) = spec.cap {
        out.push(("xen.credit2.cap", c.to_string()));
    }
    if let Some(m) = spec.tsc_mode {
        out.push(("xen.tsc_mode.configured", m.as_str().to_string()));
    }
    out
}

/// Everything an xl config depends on; [`xl_config`] is a pure function of it.
#[derive(Debug, Clone, PartialEq)]
pub struct XlConfig {
    pub name: String,
    pub kind: XenGuestType,
    pub kernel: PathBuf,
    pub ramdisk: PathBuf,
    pub extra: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// `cpus=`: the physical CPUs every vCPU may run on (hard affinity), e.g. "1" or "0-1".
    pub cpus: Option<String>,
    /// credit2 weight and cap, applied with the domain.
    pub weight: Option<u32>,
    pub cap: Option<u32>,
    /// `tsc_mode=` (xl.cfg(5)); `None`: not written, Xen's default.
    pub tsc_mode: Option<TscMode>,
    /// A raw image given to the guest as `xvda` (blkback in dom0, blkfront in the guest).
    pub disk: Option<PathBuf>,
    /// A NIC (netfront in the guest, a vif of netback in dom0), whose vif this hotplug script
    /// puts on the trial's bridge ([`crate::vnet::xen_vif_hook`]).
    pub vif_script: Option<PathBuf>,
}

/// A value that cannot be written safely inside an xl config string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the value {0:?} cannot go into an xl config (quotes, backslashes and control characters are refused)")]
pub struct UnsafeValue(pub String);

/// Quote one xl config value. xl's config grammar has C-like strings; rather than escape, we
/// refuse what would need escaping, so that no value can end its string and add a key.
pub fn quote(v: &str) -> std::result::Result<String, UnsafeValue> {
    if v.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(UnsafeValue(v.to_string()));
    }
    Ok(format!("\"{v}\""))
}

/// The xl config text (xl.cfg(5)); every string value quoted.
pub fn xl_config(c: &XlConfig) -> std::result::Result<String, UnsafeValue> {
    let path = |p: &Path| quote(&p.to_string_lossy());
    let mut lines = vec![
        format!("name = {}", quote(&c.name)?),
        format!("type = {}", quote(c.kind.as_str())?),
        format!("kernel = {}", path(&c.kernel)?),
        format!("ramdisk = {}", path(&c.ramdisk)?),
        format!("extra = {}", quote(&c.extra)?),
        format!("memory = {}", c.memory_mib),
        format!("vcpus = {}", c.vcpus),
        "on_poweroff = \"destroy\"".to_string(),
        "on_reboot = \"destroy\"".to_string(),
        "on_crash = \"destroy\"".to_string(),
    ];
    if c.kind == XenGuestType::Hvm {
        // No display; the agent's console is the first emulated serial port, which xl console
        // reaches as the domain's serial console.
        lines.push("vnc = 0".to_string());
        lines.push("serial = \"pty\"".to_string());
    }
    if let Some(cpus) = &c.cpus {
        lines.push(format!("cpus = {}", quote(cpus)?));
    }
    if let Some(w) = c.weight {
        lines.push(format!("weight = {w}"));
    }
    if let Some(cap) = c.cap {
        lines.push(format!("cap = {cap}"));
    }
    if let Some(mode) = c.tsc_mode {
        lines.push(format!("tsc_mode = {}", quote(mode.as_str())?));
    }
    if let Some(d) = &c.disk {
        // xl-disk-configuration(5): target= must come last; the path may then hold commas.
        let spec = format!(
            "format=raw, vdev=xvda, access=rw, backendtype=qdisk, target={}",
            d.to_string_lossy()
        );
        lines.push(format!("disk = [ {} ]", quote(&spec)?));
    }
    if let Some(script) = &c.vif_script {
        // xl-network-configuration(5): settings split on commas, so the path may hold none.
        // type=vif: a PV NIC only, also on HVM (no emulated NIC beside it).
        let path = script.to_string_lossy();
        if path.contains(',') || path.contains('=') {
            return Err(UnsafeValue(path.into_owned()));
        }
        lines.push(format!(
            "vif = [ {} ]",
            quote(&format!("type=vif, script={path}"))?
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// A file removed when the trial is over.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `xl info` as key/value pairs.
pub fn parse_xl_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn xl_info() -> Result<BTreeMap<String, String>> {
    let out = Command::new("xl").arg("info").output().map_err(|e| {
        PlatformError::unavailable(
            format!("cannot run xl: {e}"),
            "run on a Xen dom0 with xen-utils installed, or set lab = true to use the emulated lab",
        )
    })?;
    if !out.status.success() {
        return Err(PlatformError::unavailable(
            format!(
                "`xl info` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "is this a Xen dom0 with the toolstack running (xencommons)? Otherwise set lab = true",
        ));
    }
    Ok(parse_xl_info(&String::from_utf8_lossy(&out.stdout)))
}

pub struct XenPlatform {
    name: String,
    config: XlConfig,
    workdir: PathBuf,
    facts: BTreeMap<String, String>,
    trials: u32,
    /// Size of the scratch disk each trial gets, for plans with disk workloads.
    disk_bytes: Option<u64>,
    /// The agent binary, run in dom0 as the network peer, for plans with network workloads.
    peer_agent: Option<PathBuf>,
}

impl XenPlatform {
    /// Check the toolstack, get the guest kernel, build the initramfs for `plan`.
    pub fn prepare(
        name: &str,
        spec: &XenSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cache: &Cache,
        workdir: PathBuf,
    ) -> Result<Self> {
        let info = xl_info()?;
        let caps = info.get("virt_caps").cloned().unwrap_or_default();
        if spec.kind != XenGuestType::Pv && !caps.split_whitespace().any(|c| c == "hvm") {
            return Err(PlatformError::unavailable(
                format!("type = \"{}\" needs hardware-assisted virtualization, and this Xen offers only: {caps}", spec.kind.as_str()),
                "use type = \"pv\", or a host (or lab CPU) with VMX/SVM and EPT/NPT",
            ));
        }
        let kernel: Kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let agent = agent::agent_bytes()?;
        let mut plan = plan.clone();
        let peer_agent = if plan.needs(hvbench_proto::Device::Network) {
            if let Some(why) = crate::vnet::unavailable(false) {
                return Err(PlatformError::unavailable(
                    format!("network workloads on Xen need a bridge in dom0, which cannot be set up: {why}"),
                    "run hvbench as root in dom0 with iproute2 installed",
                ));
            }
            plan.peer = Some(crate::qemu::GUEST_PEER.to_string());
            Some(agent::agent_path(cache)?)
        } else {
            None
        };
        let (initrd, initrd_hash) = image::guest_initramfs_for(&kernel, &agent, &plan, cache)?;
        let config = XlConfig {
            name: format!("hvbench-{name}"),
            kind: spec.kind,
            kernel: kernel.path.clone(),
            ramdisk: initrd,
            extra: guest_extra(spec.kind).to_string(),
            memory_mib: guest.memory_mib,
            vcpus: guest.vcpus,
            cpus: spec.cpus.clone(),
            weight: spec.weight,
            cap: spec.cap,
            tsc_mode: spec.tsc_mode,
            disk: None,
            vif_script: None,
        };
        // Refuse unsafe values now, before any trial.
        xl_config(&config).map_err(|e| {
            PlatformError::unavailable(e.to_string(), "rename the platform or move the file")
        })?;
        let mut facts = BTreeMap::new();
        let mut fact = |k: &str, v: String| {
            facts.insert(k.to_string(), v);
        };
        fact("hypervisor", "xen".into());
        fact(hvbench_proto::facts::ACCEL, "xen".into());
        for (k, v) in spec_facts(spec) {
            fact(k, v);
        }
        for (k, key) in [
            ("xen_version", "xen.version"),
            ("xen_scheduler", "xen.scheduler"),
            ("virt_caps", "xen.virt_caps"),
            ("xen_caps", "xen.caps"),
            ("xen_commandline", "xen.cmdline"),
            ("nr_cpus", "xen.nr_cpus"),
        ] {
            if let Some(v) = info.get(k) {
                fact(key, v.clone());
            }
        }
        fact("guest.vcpus", guest.vcpus.to_string());
        fact("guest.memory_mib", guest.memory_mib.to_string());
        fact("guest.kernel", kernel.path.display().to_string());
        fact("guest.kernel.origin", kernel.origin);
        fact("guest.initramfs.sha256", initrd_hash);
        fact("guest.cmdline", config.extra.clone());
        let disk_bytes = crate::qemu::disk_mib_needed(&plan).map(|mib| mib << 20);
        if let Some(b) = disk_bytes {
            fact(
                "xen.disk",
                format!("xvda: raw sparse image of {} MiB in dom0, new each trial (qdisk backend: QEMU in dom0)", b >> 20),
            );
        }
        if peer_agent.is_some() {
            fact(
                hvbench_proto::facts::NET_BACKEND,
                "xen-netback (vif)".into(),
            );
            fact(hvbench_proto::facts::NET_BRIDGE, crate::vnet::BRIDGE.into());
            fact(
                "xen.nic",
                format!(
                    "netfront in the guest, a vif of netback in dom0 on bridge {} ({}) in a \
                     network namespace made for each trial, with the peer on the bridge",
                    crate::vnet::BRIDGE,
                    crate::vnet::bridge_address()
                ),
            );
        }
        Ok(XenPlatform {
            name: name.to_string(),
            config,
            workdir,
            facts,
            trials: 0,
            disk_bytes,
            peer_agent,
        })
    }
}

impl Platform for XenPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "xen"
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        self.trials += 1;
        let mut config = self.config.clone();
        config.name = format!("{}-{}", self.config.name, self.trials);
        if let Some(place) = req.place {
            // An isolation instance: its CPUs and credit2 weight/cap, applied with the domain.
            if !place.cpus.is_empty() {
                config.cpus = Some(crate::placement::cpu_list(&place.cpus));
            }
            if let Some(w) = place.weight {
                config.weight = Some(xen_weight(w));
            }
            if let Some(c) = place.cap_pct {
                config.cap = Some(c);
            }
        }
        let _image = match self.disk_bytes {
            None => None,
            Some(bytes) => {
                let path = self.workdir.join(format!("{}.raw", config.name));
                let made = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|f| f.set_len(bytes));
                if let Err(e) = made {
                    return TrialEnd::Failed(format!(
                        "cannot create the scratch disk {}: {e}",
                        path.display()
                    ));
                }
                config.disk = Some(path.clone());
                Some(RemoveOnDrop(path))
            }
        };
        // The peer is killed before its namespace goes: declared after it, dropped first.
        let mut trial_net = None;
        let mut _peer = None;
        let mut _hook = None;
        if let Some(agent) = &self.peer_agent {
            let net = match crate::vnet::TrialNet::create(false) {
                Ok(n) => n,
                Err(e) => return TrialEnd::Failed(e),
            };
            match crate::peer::PeerProcess::start_in(agent, req.timeout, &net) {
                Ok(peer) => _peer = Some(peer),
                Err(e) => return TrialEnd::Failed(e),
            }
            let hook = self.workdir.join(format!("{}.vif.sh", config.name));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o700)
                .open(&hook)
                .and_then(|mut f| {
                    std::io::Write::write_all(
                        &mut f,
                        crate::vnet::xen_vif_hook(net.name()).as_bytes(),
                    )
                });
            if let Err(e) = written {
                return TrialEnd::Failed(format!("cannot write {}: {e}", hook.display()));
            }
            config.vif_script = Some(hook.clone());
            _hook = Some(RemoveOnDrop(hook));
            trial_net = Some(net);
        }
        let text = match xl_config(&config) {
            Ok(t) => t,
            Err(e) => return TrialEnd::Failed(e.to_string()),
        };
        let path = self.workdir.join(format!("{}.cfg", config.name));
        if let Err(e) = std::fs::write(&path, text) {
            return TrialEnd::Failed(format!("cannot write {}: {e}", path.display()));
        }
        let mut counting = evidence::Counting::default();
        if req.plan.evidence {
            counting = evidence::Counting::new(vec![Box::new(evidence::xen::XenCollector::new(
                &config.name,
                config.kind == XenGuestType::Pv,
                config.disk.is_some(),
                self.workdir.clone(),
            ))]);
        }
        let mut cmd = Command::new("xl");
        cmd.arg("create").arg("-c").arg(&path);
        let watch = req.place.map(|_| {
            // Apply the placement with the toolstack's own commands as soon as the domain
            // exists (the config already asked for it), then read back what Xen applied once
            // it runs: the report shows that.
            let name = config.name.clone();
            let (cpus, weight, cap) = (config.cpus.clone(), config.weight, config.cap);
            std::thread::spawn(move || applied_placement(&name, cpus, weight, cap))
        });
        // The vif's facts, read once the guest's netfront has connected it.
        let port = trial_net
            .as_ref()
            .map(|n: &crate::vnet::TrialNet| n.watch_port(req.timeout));
        let end = counting.around(on_event, |on_event| {
            console::run_until(
                cmd,
                req.timeout,
                req.console_log.as_deref(),
                req.stop,
                on_event,
            )
        });
        if let Some(facts) = watch.and_then(|w| w.join().ok()).flatten() {
            on_event(Event::Frame(hvbench_proto::Message::Facts { facts }));
        }
        if let Some(facts) = port.map(crate::vnet::PortWatch::finish) {
            on_event(Event::Frame(hvbench_proto::Message::Facts { facts }));
        }
        // Whatever happened, the domain must not outlive its trial (nor its vif the
        // namespace, which goes after it).
        let _ = Command::new("xl").arg("destroy").arg(&config.name).output();
        end
    }
}

/// The Xen host's physical CPUs (`xl info` nr_cpus), for placing isolation instances.
pub fn host_cpus() -> Option<Vec<usize>> {
    let n: usize = xl_info().ok()?.get("nr_cpus")?.trim().parse().ok()?;
    (n > 0).then(|| (0..n).collect())
}

/// The state column (`r-----`, `--p---`, ...) of domain `name` in `xl list` output.
fn domain_state<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&name) && f.len() >= 5).then(|| f[4])
    })
}

/// A weight on cgroup v2's scale (100 = default) as a credit2 weight (256 = default).
pub fn xen_weight(weight: u32) -> u32 {
    (u64::from(weight) * 256 / 100).clamp(1, 65535) as u32
}

/// Wait (up to 120 s) for domain `name` to be built and unpaused — xl sets its scheduler
/// parameters while building it, paused — then read its vCPU affinity (`xl vcpu-list`) and
/// credit2 parameters (`xl sched-credit2 -d`) as facts `xen.applied.*`.
fn applied_placement(
    name: &str,
    cpus: Option<String>,
    weight: Option<u32>,
    cap: Option<u32>,
) -> Option<BTreeMap<String, String>> {
    let started = std::time::Instant::now();
    let mut commands: Vec<String> = Vec::new();
    let mut applied = false;
    while started.elapsed() < std::time::Duration::from_secs(120) {
        // Asked to stop (Ctrl-C, a dropped SSH connection): the trial's `xl destroy` waits
        // for this thread, so it must not hold it back.
        if crate::interrupt::requested().is_some() {
            break;
        }
        if !applied
            && Command::new("xl")
                .args(["domid", name])
                .output()
                .is_ok_and(|o| o.status.success())
        {
            applied = true;
            let mut run = |args: Vec<String>| {
                let out = Command::new("xl").args(&args).output();
                let status = match out {
                    Ok(o) if o.status.success() => "ok".to_string(),
                    Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
                    Err(e) => format!("failed: {e}"),
                };
                commands.push(format!("xl {}: {status}", args.join(" ")));
            };
            if let Some(c) = &cpus {
                run(vec![
                    "vcpu-pin".into(),
                    name.into(),
                    "all".into(),
                    c.clone(),
                ]);
            }
            if weight.is_some() || cap.is_some() {
                let mut args = vec!["sched-credit2".into(), "-d".into(), name.into()];
                if let Some(w) = weight {
                    args.extend(["-w".into(), w.to_string()]);
                }
                if let Some(c) = cap {
                    args.extend(["-c".into(), c.to_string()]);
                }
                run(args);
            }
        }
        let listed = Command::new("xl")
            .args(["list", name])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if listed
            .as_deref()
            .and_then(|l| domain_state(l, name))
            .is_some_and(|s| !s.contains('p'))
        {
            let mut facts = BTreeMap::new();
            for (key, args) in [
                ("xen.applied.vcpu-list", vec!["vcpu-list", name]),
                (
                    "xen.applied.sched-credit2",
                    vec!["sched-credit2", "-d", name],
                ),
            ] {
                if let Ok(o) = Command::new("xl").args(&args).output() {
                    let text = String::from_utf8_lossy(&o.stdout);
                    // The header and the domain's lines, squeezed onto one line each.
                    let lines: Vec<String> = text
                        .lines()
                        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                        .filter(|l| !l.is_empty())
                        .collect();
                    facts.insert(key.to_string(), lines.join(" | "));
                }
            }
            if !commands.is_empty() {
                facts.insert("xen.applied.commands".to_string(), commands.join("; "));
            }
            return Some(facts);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> XlConfig {
        XlConfig {
            name: "hvbench-xen-pv-1".into(),
            kind: XenGuestType::Pv,
            kernel: "/cache/vmlinuz".into(),
            ramdisk: "/cache/guest.cpio.gz".into(),
            extra: guest_extra(XenGuestType::Pv).into(),
            memory_mib: 512,
            vcpus: 1,
            cpus: None,
            weight: None,
            cap: None,
            tsc_mode: None,
            disk: None,
            vif_script: None,
        }
    }

    #[test]
    fn a_nic_is_a_pv_vif_whose_hook_puts_it_on_the_trials_bridge() {
        let mut c = config();
        c.vif_script = Some("/tmp/job/hvbench-xen-pv-1.vif.sh".into());
        assert!(xl_config(&c)
            .unwrap()
            .ends_with("vif = [ \"type=vif, script=/tmp/job/hvbench-xen-pv-1.vif.sh\" ]\n"));
        // A path xl would split into settings is refused.
        c.vif_script = Some("/tmp/a,b/x.sh".into());
        assert!(xl_config(&c).is_err());
        c.vif_script = Some("/tmp/a=b/x.sh".into());
        assert!(xl_config(&c).is_err());
    }

    #[test]
    fn scratch_disk_is_xvda_with_target_last() {
        let mut c = config();
        c.disk = Some("/tmp/job/hvbench-xen-pv-1.raw".into());
        assert!(xl_config(&c)
            .unwrap()
            .contains("disk = [ \"format=raw, vdev=xvda, access=rw, backendtype=qdisk, target=/tmp/job/hvbench-xen-pv-1.raw\" ]\n"));
    }

    /// Snapshot of a whole generated config.
    #[test]
    fn xl_config_snapshot() {
        let mut c = config();
        c.cpus = Some("1".into());
        c.weight = Some(512);
        c.cap = Some(50);
        c.tsc_mode = Some(TscMode::AlwaysEmulate);
        assert_eq!(
            xl_config(&c).unwrap(),
            "name = \"hvbench-xen-pv-1\"\n\
             type = \"pv\"\n\
             kernel = \"/cache/vmlinuz\"\n\
             ramdisk = \"/cache/guest.cpio.gz\"\n\
             extra = \"console=hvc0 panic=-1 quiet loglevel=3\"\n\
             memory = 512\n\
             vcpus = 1\n\
             on_poweroff = \"destroy\"\n\
             on_reboot = \"destroy\"\n\
             on_crash = \"destroy\"\n\
             cpus = \"1\"\n\
             weight = 512\n\
             cap = 50\n\
             tsc_mode = \"always_emulate\"\n"
        );
    }

    /// Without `tsc_mode` in the experiment, the config says nothing of it: Xen's default.
    #[test]
    fn tsc_mode_is_written_only_when_set() {
        let c = config();
        assert!(!xl_config(&c).unwrap().contains("tsc_mode"));
        for mode in TscMode::ALL {
            let mut c = config();
            c.tsc_mode = Some(mode);
            let text = xl_config(&c).unwrap();
            assert!(
                text.ends_with(&format!("on_crash = \"destroy\"\ntsc_mode = \"{mode}\"\n")),
                "{text}"
            );
        }
    }

    #[test]
    fn the_configured_tsc_mode_is_a_fact_of_its_own() {
        let mut spec = XenSpec::default();
        let facts = spec_facts(&spec);
        assert_eq!(facts, [("xen.guest_type", "pvh".to_string())]);
        spec.tsc_mode = Some(TscMode::Native);
        spec.weight = Some(512);
        let facts: BTreeMap<_, _> = spec_facts(&spec).into_iter().collect();
        assert_eq!(facts["xen.tsc_mode.configured"], "native");
        assert_eq!(facts["xen.credit2.weight"], "512");
        // `xen.tsc_mode` stays the evidence collector's: the mode in force.
        assert!(!facts.contains_key("xen.tsc_mode"));
    }

    #[test]
    fn hvm_uses_the_serial_console_and_no_display() {
        let mut c = config();
        c.kind = XenGuestType::Hvm;
        c.extra = guest_extra(XenGuestType::Hvm).into();
        let text = xl_config(&c).unwrap();
        assert!(
            text.contains("type = \"hvm\"")
                && text.contains("vnc = 0")
                && text.contains("console=ttyS0")
        );
    }

    #[test]
    fn the_state_of_a_listed_domain_is_found() {
        let list = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
                    Domain-0                                     0  3000     2     r-----      12.0\n\
                    hvbench-kvm-victim-1                         3   256     1     --p---       0.0\n";
        assert_eq!(domain_state(list, "hvbench-kvm-victim-1"), Some("--p---"));
        assert_eq!(domain_state(list, "Domain-0"), Some("r-----"));
        assert_eq!(domain_state(list, "hvbench"), None);
    }

    #[test]
    fn values_that_could_escape_their_string_are_refused() {
        for evil in [
            "a\"; kernel = \"/evil",
            "a\nkernel=\"/evil\"",
            "back\\slash",
        ] {
            let mut c = config();
            c.kernel = PathBuf::from(evil);
            assert!(xl_config(&c).is_err(), "{evil:?}");
        }
        let mut c = config();
        c.kernel = "/path with spaces/vmlinuz".into();
        assert!(xl_config(&c)
            .unwrap()
            .contains("kernel = \"/path with spaces/vmlinuz\""));
    }

    #[test]
    fn xl_info_is_parsed() {
        let info = parse_xl_info(
            "host                   : lab\nxen_version            : 4.17.6-pre\nxen_scheduler          : credit2\nvirt_caps              : pv hvm hap\n",
        );
        assert_eq!(info["xen_version"], "4.17.6-pre");
        assert_eq!(info["xen_scheduler"], "credit2");
        assert_eq!(info["virt_caps"], "pv hvm hap");
    }
}
