//! The `host` driver: the agent as a plain process on this machine — the bare-metal baseline,
//! with the same binary and the same workloads as in every guest. For network workloads it
//! starts a peer on loopback for each trial; disk workloads make their own scratch file (see
//! the agent's `workloads::disk`).

use crate::guest::agent;
use crate::guest::cache::Cache;
use crate::guest::plan_tools;
use crate::trial::console::{self, TrialEnd};
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
    /// The tools tree's directory, for plans with general benchmarks: the agent runs each tool
    /// chrooted in it.
    tools: Option<PathBuf>,
    /// The tree's facts (`tools.*`).
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
        let tool_facts = tree
            .as_ref()
            .map(|t| plan_tools::tree_facts(plan, t))
            .unwrap_or_default();
        Ok(HostPlatform {
            name: name.to_string(),
            agent,
            workdir,
            tools: tree.map(|t| t.dir),
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
        plan.tools_root = self.tools.as_ref().map(|d| d.display().to_string());
        let _peer = if plan.needs(Device::Network) {
            match PeerProcess::start(&self.agent, req.timeout, self.tools.as_deref()) {
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
        if let Some(place) = req.place {
            place.apply_to(&mut cmd);
        }
        console::run_until(
            cmd,
            req.timeout,
            req.console_log.as_deref(),
            req.stop,
            on_event,
        )
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
