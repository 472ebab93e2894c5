//! What the plan measures: the battery's workloads and the `[[isolation]]` scenarios, with
//! their cells and stressor labels (the one definition of a cell's name; see the crate
//! documentation, "Isolation cells").

use crate::Plan;
use crate::PlatformSpec;
use hvbench_proto::names::CellName;
use hvbench_proto::{AgentPlan, StressPlan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// Unique within the plan; see the crate documentation ("Workload ids").
    pub id: String,
    /// The catalog name (`hvbench_proto::catalog::WORKLOADS`).
    pub name: String,
    /// Every parameter of the workload, defaults filled in by `WorkloadDef::resolve`.
    pub params: BTreeMap<String, serde_json::Value>,
}

impl WorkloadSpec {
    /// The catalog entry (always present in a validated plan).
    pub fn def(&self) -> Option<&'static hvbench_proto::WorkloadDef> {
        hvbench_proto::catalog::workload(&self.name)
    }

    /// Guest memory this workload needs beyond the kernel's own, in MiB.
    pub fn memory_need_mib(&self) -> u64 {
        self.def().map_or(0, |d| d.memory_need_mib(&self.params))
    }
}

/// One `[[isolation]]` scenario (docs/architecture.md, "Isolation experiments"): a victim measured alone
/// and beside aggressors, one stressor kind at a time, on each of its platforms.
///
/// Its cells are: one no-stress baseline (`<name>/none`) and one cell per stressor and
/// placement (`<name>/<stressor>/<placement>`), each a scenario of its own in the store,
/// every one visited once per round in the campaign's random order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationSpec {
    /// Unique among the scenarios, `[a-z0-9-]+`, 1..=32 characters.
    pub name: String,
    /// The victim's workloads, with resolved parameters and ids as in `[[workload]]`.
    pub victim: Vec<WorkloadSpec>,
    /// One aggressor kind at a time, in file order; at least one.
    pub stressors: Vec<StressorSpec>,
    /// Aggressors started beside the victim, 1..=8 (default 1).
    pub aggressors: u32,
    /// Default both, shared first.
    pub placements: Vec<Placement>,
    /// The aggressors' CPU weight (cgroup `cpu.weight` 1..=10000 for host and QEMU; Xen
    /// credit2 weight, where 100 maps to Xen's default 256). None: the platform's default.
    pub aggressor_weight: Option<u32>,
    /// The aggressors' CPU cap, % of one CPU (1..=6400): cgroup `cpu.max`, Xen credit2 cap.
    pub aggressor_cap_pct: Option<u32>,
    /// How long the victim waits after every aggressor reported its first window (0..=600000, default 2000).
    pub settle_ms: u64,
    /// The platforms the scenario runs on, in experiment order; default: all of them.
    pub platforms: Vec<String>,
}

impl IsolationSpec {
    /// The scenario's cells, in this order: the baseline `<name>/none`, then for each
    /// stressor in order and each placement in order `<name>/<label>/<placement>`; see the crate
    /// documentation ("Isolation cells") for the labels.
    pub fn cells(&self) -> Vec<IsolationCell> {
        let mut cells = vec![IsolationCell {
            scenario: CellName::alone(&self.name).to_string(),
            stressor: None,
            placement: None,
        }];
        for (stressor, label) in self.stressors.iter().zip(self.stressor_labels()) {
            for &placement in &self.placements {
                cells.push(IsolationCell {
                    scenario: CellName::stressed(&self.name, &label, placement.as_str())
                        .to_string(),
                    stressor: Some(stressor.clone()),
                    placement: Some(placement),
                });
            }
        }
        cells
    }

    /// Each stressor's label in cell names, in order: its kind, or when the kind is listed more
    /// than once, `kind[param=value,...]` with the parameters that differ.
    pub fn stressor_labels(&self) -> Vec<String> {
        let keyed: Vec<(&str, BTreeMap<String, String>)> = self
            .stressors
            .iter()
            .map(|s| {
                let params = s
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), json_text(v)))
                    .collect();
                (s.kind.as_str(), params)
            })
            .collect();
        distinct_labels(&keyed)
    }

    /// What the victim's agent is asked to do in every cell: its workloads with the plan's
    /// warm-up, samples and window.
    pub fn victim_plan(&self, plan: &Plan) -> AgentPlan {
        plan.agent_plan_for(&self.victim)
    }

    /// The plan's platforms this scenario runs on, in experiment order.
    pub fn platforms_of<'p>(&self, plan: &'p Plan) -> impl Iterator<Item = &'p PlatformSpec> {
        let names = self.platforms.clone();
        plan.platforms
            .iter()
            .filter(move |p| names.contains(&p.name))
    }

    /// Guest boots of this scenario in the whole campaign: per round, on each of its VM
    /// platforms, one victim boot per cell plus `aggressors` boots per stress cell.
    pub fn guest_boots(&self, plan: &Plan) -> u64 {
        let cells = self.cells().len() as u64;
        let per_platform = cells
            .saturating_add(u64::from(self.aggressors).saturating_mul(cells.saturating_sub(1)));
        u64::from(plan.repetitions)
            .saturating_mul(self.platforms_of(plan).filter(|p| p.is_vm()).count() as u64)
            .saturating_mul(per_platform)
    }

    /// The victim's measured samples on each of the scenario's platforms: rounds x cells x
    /// victim workloads x measured windows.
    pub fn samples_per_platform(&self, plan: &Plan) -> u64 {
        u64::from(plan.repetitions)
            .saturating_mul(self.cells().len() as u64)
            .saturating_mul(self.victim.len() as u64)
            .saturating_mul(u64::from(plan.samples))
    }
}

/// One cell of an isolation scenario: the victim alone (`stressor` and `placement` `None`), or
/// beside the scenario's aggressors running one stressor, placed one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationCell {
    /// The cell's scenario name in the store: `noisy/none`, `noisy/cpu/shared`, ...
    pub scenario: String,
    pub stressor: Option<StressorSpec>,
    pub placement: Option<Placement>,
}

/// One stressor kind of a scenario and its parameters (`hvbench_proto::catalog::STRESSORS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StressorSpec {
    pub kind: String,
    /// The integer parameters the experiment file gives (JSON numbers; the agent defaults the
    /// others) and every name parameter (`StressorDef::choices`, JSON strings: `stressor` of
    /// `stress-ng`), its default filled in.
    pub params: BTreeMap<String, serde_json::Value>,
}

impl StressorSpec {
    /// The catalog entry (always present in a validated plan).
    pub fn def(&self) -> Option<&'static hvbench_proto::catalog::StressorDef> {
        hvbench_proto::catalog::stressor(&self.kind)
    }

    /// What an aggressor's agent is asked to run: this stressor for `duration_ms`, reporting
    /// every `report_ms`, its parameters as the agent's `--param k=v` takes them.
    pub fn stress_plan(&self, duration_ms: u64, report_ms: u64) -> StressPlan {
        StressPlan {
            kind: self.kind.clone(),
            params: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json_text(v)))
                .collect(),
            duration_ms,
            report_ms,
        }
    }
}

/// Labels for a list of (name, parameters) that may repeat a name: the name where it is listed
/// once; otherwise the name followed by `[k=v,...]` with the parameters whose values differ
/// within the name's group, in parameter-name order (`default` for one an entry does not
/// give), or `name#n` (1-based) when none differ. Workload ids and stressor labels.
pub(crate) fn distinct_labels(items: &[(&str, BTreeMap<String, String>)]) -> Vec<String> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (name, _)) in items.iter().enumerate() {
        by_name.entry(name).or_default().push(i);
    }
    let mut labels: Vec<String> = items.iter().map(|(name, _)| name.to_string()).collect();
    for (name, group) in by_name.into_iter().filter(|(_, g)| g.len() > 1) {
        let differing: BTreeSet<&str> = group
            .iter()
            .flat_map(|&i| items[i].1.keys().map(String::as_str))
            .filter(|k| {
                let first = items[group[0]].1.get(*k);
                group.iter().any(|&i| items[i].1.get(*k) != first)
            })
            .collect();
        for (n, &i) in group.iter().enumerate() {
            labels[i] = if differing.is_empty() {
                format!("{name}#{}", n + 1)
            } else {
                let parts: Vec<String> = differing
                    .iter()
                    .map(|k| {
                        let v = items[i].1.get(*k).map_or("default", String::as_str);
                        format!("{k}={v}")
                    })
                    .collect();
                format!("{name}[{}]", parts.join(","))
            };
        }
    }
    labels
}

/// A parameter value as written in ids and plans: strings without quotes.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where the aggressors run relative to the victim: one type for the spec, the runner, the
/// analysis and the report, in `hvbench_proto::names`.
pub use hvbench_proto::names::Placement;
