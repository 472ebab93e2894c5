//! The `xen` driver's [`Platform`]: preparing a domain's config (toolstack, kernel,
//! initramfs, facts) and running its trials, with the resources every guest trial gets
//! ([`crate::trial::guest`]), as domains created with `xl create -c` and destroyed after.

use super::toolstack::{applied_placement, xen_weight, xl_info};
use super::xlcfg::{guest_extra, tools_disk_hook, xl_config, ToolsDisk, XlConfig};
use crate::evidence;
use crate::guest::agent;
use crate::guest::cache::Cache;
use crate::guest::image::{self, Kernel};
use crate::guest::plan_tools;
use crate::guest::tools::ToolsTree;
use crate::isolation::placement::InstancePlace;
use crate::trial::console::TrialEnd;
use crate::trial::guest::{GuestResources, PeerNet};
use crate::trial::loopmount::LoopDevice;
use crate::trial::scratch::{disk_mib_needed, ScratchDisks};
use crate::trial::vnet::TrialNet;
use crate::{Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Event};
use hvbench_spec::{GuestSpec, XenGuestType, XenSpec};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The `xen.tools_disk` fact: how the tools tree reaches the guest.
fn tools_disk_fact(kind: XenGuestType, t: &ToolsTree) -> String {
    format!(
        "{}: read-only raw ext4 image (label {}) of {} MiB, {}, on a read-only loop device in \
         dom0 for each trial (blkback), mounted at {} by the agent",
        super::xlcfg::tools_vdev(kind),
        hvbench_proto::TOOLS_LABEL,
        t.image_bytes >> 20,
        t.image.display(),
        hvbench_proto::GUEST_TOOLS_ROOT
    )
}

/// A file removed when the trial is over.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub struct XenPlatform {
    name: String,
    config: XlConfig,
    /// The tools tree's image, for plans with general benchmarks: each trial's domain gets it
    /// on a read-only loop device of its own ([`XlConfig::tools`]).
    tools_image: Option<PathBuf>,
    workdir: PathBuf,
    facts: BTreeMap<String, String>,
    trials: u32,
    /// Each trial's scratch disk in `workdir` (plans with disk workloads) and network peer in
    /// dom0 (plans with network workloads).
    resources: GuestResources,
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
            if let Some(why) = crate::trial::vnet::unavailable(false) {
                return Err(PlatformError::unavailable(
                    format!("network workloads on Xen need a bridge in dom0, which cannot be set up: {why}"),
                    "run hvbench as root in dom0 with iproute2 installed",
                ));
            }
            plan.peer = Some(crate::drivers::qemu::GUEST_PEER.to_string());
            Some(agent::agent_path(cache)?)
        } else {
            None
        };
        // General benchmarks: the tools tree's image as a read-only second disk, which the
        // agent finds by its label and mounts at GUEST_TOOLS_ROOT. A plan without any gets
        // neither the disk nor the field, so its guest is the one it always was.
        let tools = plan_tools::tree_for(&plan, cache)?;
        if tools.is_some() {
            plan_tools::check_kernel_ext4(&kernel)?;
            plan.tools_root = Some(hvbench_proto::GUEST_TOOLS_ROOT.to_string());
        }
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
            tools: None,
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
        let scratch =
            disk_mib_needed(&plan).map(|mib| ScratchDisks::in_dir(workdir.clone(), mib << 20));
        if let Some(s) = &scratch {
            fact(
                "xen.disk",
                format!("xvda: raw sparse image of {} MiB in dom0, new each trial (qdisk backend: QEMU in dom0)", s.bytes() >> 20),
            );
        }
        if peer_agent.is_some() {
            fact(
                hvbench_proto::facts::NET_BACKEND,
                "xen-netback (vif)".into(),
            );
            fact(
                hvbench_proto::facts::NET_BRIDGE,
                crate::trial::vnet::BRIDGE.into(),
            );
            fact(
                "xen.nic",
                format!(
                    "netfront in the guest, a vif of netback in dom0 on bridge {} ({}) in a \
                     network namespace made for each trial, with the peer on the bridge",
                    crate::trial::vnet::BRIDGE,
                    crate::trial::vnet::bridge_address()
                ),
            );
        }
        if let Some(t) = &tools {
            facts.extend(plan_tools::tree_facts(&plan, t));
            facts.insert("xen.tools_disk".into(), tools_disk_fact(spec.kind, t));
        }
        let peer_tools = plan_tools::peer_tree(&plan, tools.as_ref(), &workdir)?;
        Ok(XenPlatform {
            name: name.to_string(),
            config,
            tools_image: tools.map(|t| t.image),
            workdir,
            facts,
            trials: 0,
            resources: GuestResources::new(
                scratch,
                peer_agent.map(|agent| (agent, PeerNet::Namespace { tap: false })),
            )
            .with_peer_tools(peer_tools),
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
            place_domain(&mut config, place);
        }
        let mut trial = match self.resources.open(req, Some(&config.name)) {
            Ok(t) => t,
            Err(e) => return TrialEnd::Failed(e),
        };
        config.disk = trial.disk().map(PathBuf::from);
        // Attached until the domain is destroyed (the end of this function), then detached by
        // the kernel once blkback lets go of it.
        let _tools = match &self.tools_image {
            None => None,
            Some(image) => match tools_disk(&self.workdir, &config.name, image) {
                Ok((disk, device, hook)) => {
                    config.tools = Some(disk);
                    Some((device, hook))
                }
                Err(e) => return TrialEnd::Failed(e),
            },
        };
        // The vif's hotplug script puts it on the trial's bridge.
        let _hook = match trial.net() {
            None => None,
            Some(net) => match write_vif_hook(&self.workdir, &config.name, net) {
                Ok(hook) => {
                    config.vif_script = Some(hook.0.clone());
                    Some(hook)
                }
                Err(e) => return TrialEnd::Failed(e),
            },
        };
        let path = match write_config(&self.workdir, &config) {
            Ok(p) => p,
            Err(e) => return TrialEnd::Failed(e),
        };
        if trial.wants_evidence() {
            trial.count_with(vec![Box::new(evidence::xen::XenCollector::new(
                &config.name,
                config.kind == XenGuestType::Pv,
                config.disk.is_some(),
                self.workdir.clone(),
            ))]);
        }
        let mut cmd = Command::new("xl");
        cmd.arg("create").arg("-c").arg(&path);
        let watch = trial.place().map(|_| {
            // Apply the placement with the toolstack's own commands as soon as the domain
            // exists (the config already asked for it), then read back what Xen applied once
            // it runs: the report shows that.
            let name = config.name.clone();
            let (cpus, weight, cap) = (config.cpus.clone(), config.weight, config.cap);
            std::thread::spawn(move || applied_placement(&name, cpus, weight, cap))
        });
        let end = trial.run(cmd, on_event, |on_event| {
            if let Some(facts) = watch.and_then(|w| w.join().ok()).flatten() {
                on_event(Event::Frame(hvbench_proto::Message::Facts { facts }));
            }
        });
        // Whatever happened, the domain must not outlive its trial (nor its vif the
        // namespace, which goes after it, with the trial's resources).
        let _ = Command::new("xl").arg("destroy").arg(&config.name).output();
        end
    }
}

/// The tools disk of trial `name`: `image` on a read-only loop device, and the hotplug script
/// (0700, in `workdir`, removed when the trial is over) that hands it to blkback.
fn tools_disk(
    workdir: &Path,
    name: &str,
    image: &Path,
) -> std::result::Result<(ToolsDisk, LoopDevice, RemoveOnDrop), String> {
    let device = LoopDevice::attach(image).map_err(|e| {
        format!(
            "cannot attach the tools image {} to a loop device in dom0: {e}",
            image.display()
        )
    })?;
    let number = device
        .number()
        .map_err(|e| format!("cannot stat {}: {e}", device.path().display()))?;
    let text = tools_disk_hook(device.path(), number).map_err(|e| e.to_string())?;
    let script = workdir.join(format!("{name}.tools.sh"));
    write_script(&script, &text)?;
    let disk = ToolsDisk {
        device: device.path().to_path_buf(),
        script: script.clone(),
    };
    Ok((disk, device, RemoveOnDrop(script)))
}

/// Write an executable script (0700).
pub(crate) fn write_script(path: &Path, text: &str) -> std::result::Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// An isolation instance's CPUs and credit2 weight/cap, applied with the domain.
fn place_domain(config: &mut XlConfig, place: &InstancePlace) {
    if !place.cpus.is_empty() {
        config.cpus = Some(crate::isolation::placement::cpu_list(&place.cpus));
    }
    if let Some(w) = place.weight {
        config.weight = Some(xen_weight(w));
    }
    if let Some(c) = place.cap_pct {
        config.cap = Some(c);
    }
}

/// Write the trial's xl config, `NAME.cfg` in `workdir` (kept after the trial).
fn write_config(workdir: &Path, config: &XlConfig) -> std::result::Result<PathBuf, String> {
    let text = xl_config(config).map_err(|e| e.to_string())?;
    let path = workdir.join(format!("{}.cfg", config.name));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Write the hotplug script of trial `name`'s vif (0700, in `workdir`), which puts the vif on
/// the bridge of the trial's network namespace; removed when the trial is over.
fn write_vif_hook(
    workdir: &Path,
    name: &str,
    net: &TrialNet,
) -> std::result::Result<RemoveOnDrop, String> {
    let hook = workdir.join(format!("{name}.vif.sh"));
    write_script(&hook, &crate::trial::vnet::xen_vif_hook(net.name()))?;
    Ok(RemoveOnDrop(hook))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_spec::TscMode;

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
}
