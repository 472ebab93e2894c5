//! The `host` driver: the agent as a plain process on this machine — the bare-metal baseline,
//! with the same binary and the same workloads as in every guest. For network workloads it
//! starts a peer on loopback for each trial; disk workloads make their own scratch file (see
//! the agent's `workloads::disk`). General benchmarks run chrooted in the tools tree: its
//! directory here, or, on a machine the controller shipped the tree's image to (which has no
//! directory), that image loop-mounted read-only for the agent alone
//! ([`crate::trial::loopmount`]).

use crate::guest::agent;
use crate::guest::cache::Cache;
use crate::guest::plan_tools;
use crate::trial::console::{self, TrialEnd};
use crate::trial::loopmount::{LoopDevice, TreeAt};
use crate::trial::peer::PeerProcess;
use crate::{Platform, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Device, Event};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

pub struct HostPlatform {
    name: String,
    agent: PathBuf,
    workdir: PathBuf,
    /// The tools tree, for plans with general benchmarks: the agent runs each tool chrooted in
    /// it.
    tools: Option<TreeAt>,
    /// The tree's facts (`tools.*`, `host.tools`).
    tool_facts: BTreeMap<String, String>,
}

impl HostPlatform {
    /// `workdir` is a private directory where plan files are written. A plan with general
    /// benchmarks gets its tools tree here, from the cache or built into it.
    pub fn prepare(
        name: &str,
        plan: &AgentPlan,
        cache: &Cache,
        workdir: PathBuf,
    ) -> Result<HostPlatform> {
        let agent = agent::agent_path(cache)?;
        let tree = plan_tools::tree_for(plan, cache)?;
        let mut tool_facts = BTreeMap::new();
        let tools = match &tree {
            None => None,
            Some(t) => {
                tool_facts = plan_tools::tree_facts(plan, t);
                let tools = TreeAt::of(t, &workdir, "the host driver")?;
                tool_facts.insert("host.tools".into(), tools.describe());
                Some(tools)
            }
        };
        Ok(HostPlatform {
            name: name.to_string(),
            agent,
            workdir,
            tools,
            tool_facts,
        })
    }
}

impl Platform for HostPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        hvbench_spec::Driver::Host.as_str()
    }

    fn boots_guest(&self) -> bool {
        false
    }

    fn facts(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        f.insert(hvbench_proto::facts::ACCEL.into(), "none".into());
        f.insert("platform.kind".into(), "bare host process".into());
        f.insert(
            hvbench_proto::facts::HOST_EMULATED.into(),
            host_is_virtual().to_string(),
        );
        f.extend(self.tool_facts.clone());
        f
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        // The peer lives until the agent is done: dropping it kills its process group.
        let mut plan = req.plan.clone();
        plan.tools_root = self.tools.as_ref().map(|t| t.root().display().to_string());
        let _peer = if plan.needs(Device::Network) {
            match PeerProcess::start(&self.agent, req.timeout, self.tools.as_ref()) {
                Ok(peer) => {
                    plan.peer = Some(peer.addr().to_string());
                    Some(peer)
                }
                Err(e) => return TrialEnd::Failed(e),
            }
        } else {
            None
        };
        let plan_path = self.workdir.join(format!("plan-{}.json", self.name));
        let text = serde_json::to_vec_pretty(&plan).expect("plan serialises");
        if let Err(e) = std::fs::write(&plan_path, text) {
            return TrialEnd::Failed(format!("cannot write {}: {e}", plan_path.display()));
        }
        let mut cmd = Command::new(&self.agent);
        cmd.arg("--plan").arg(&plan_path);
        // Held until the agent is gone; the kernel then detaches the device.
        let _device = match &self.tools {
            Some(TreeAt::Image { image, mount }) => {
                match LoopDevice::attach(image)
                    .and_then(|d| d.mount_for(&mut cmd, mount).map(|()| d))
                {
                    Ok(d) => Some(d),
                    Err(e) => {
                        return TrialEnd::Failed(format!(
                            "cannot loop-mount the tools image {}: {e}",
                            image.display()
                        ))
                    }
                }
            }
            _ => None,
        };
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
        match (end, &self.tools) {
            (TrialEnd::Failed(why), Some(TreeAt::Image { mount, .. }))
                if why.starts_with("cannot start") =>
            {
                TrialEnd::Failed(format!(
                    "{why} (in a mount namespace of its own, with the tools image mounted \
                     read-only on {})",
                    mount.display()
                ))
            }
            (end, _) => end,
        }
    }
}

/// Whether this "host" is itself a virtual machine (CPUID's hypervisor bit, as Linux shows it
/// in /proc/cpuinfo): then the baseline is not bare metal, and the report must say so.
pub fn host_is_virtual() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| {
            c.lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
        })
        .unwrap_or(false)
}
