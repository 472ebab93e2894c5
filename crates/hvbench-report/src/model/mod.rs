//! What a report says, computed once from the stored rows and shared by every renderer: the
//! platforms in order, the baseline, one group per battery (scenario, workload, metric) with each
//! platform's summary and ratio, the cross-checks of hvbench's workloads against the tools, the
//! isolation matrices, and the failures.
//!
//! The battery is the ordinary platform comparison: scenario "baseline" (or, in runs that have
//! no such scenario, every scenario that is not an isolation cell). Isolation cells (scenarios
//! with a '/') are analysed apart, each platform against its own no-stress baseline.

use crate::ReportInput;
use hvbench_analysis::anomaly::{detect_anomalies, Anomaly, AnomalyConfig, Evidence, Series};
use hvbench_analysis::{
    class_standings, classify, compare_battery, is_isolation_scenario, isolation_matrices,
    mad_outliers, ratio_of_medians, summarize, BootstrapConfig, ClassEntry, ClassStanding,
    Comparison, IsolationAnalysis, IsolationInput, IsolationSample, IsolationTrial, PairInput,
    PlatformFacts, Ratio, Summary, TrialState, VerdictConfig,
};
use hvbench_analysis::{Interval, DEFAULT_MAD_THRESHOLD};
use hvbench_proto::{facts, Better};
use hvbench_spec::Plan;
use hvbench_store::{FailureRow, RunStatus};
use plan::{declared_isolation, plan_params, stored_plan};
use std::collections::{BTreeMap, HashMap};

mod battery;
mod cross;
mod evidence;
mod machines;
mod plan;

use battery::*;

pub(crate) use machines::Machine;
pub use machines::LOCAL_MACHINE;

/// The driver name of the bare-metal baseline.
const HOST_DRIVER: &str = hvbench_spec::Driver::Host.as_str();

/// The scenario of ordinary (non-isolation) measurements.
pub(crate) use hvbench_proto::names::BATTERY_SCENARIO as BASELINE_SCENARIO;

pub(crate) struct Platform<'a> {
    pub name: &'a str,
    pub driver: &'a str,
    pub facts: Option<&'a BTreeMap<String, String>>,
    /// Its machine: an index into [`Model::machines`].
    pub machine: usize,
}

impl Platform<'_> {
    pub(crate) fn fact(&self, key: &str) -> Option<&str> {
        self.facts.and_then(|f| f.get(key)).map(String::as_str)
    }

    /// The guest ran inside hvbench's emulated lab host (Xen or KVM nested under TCG): fact
    /// `lab` present and not false.
    pub(crate) fn is_lab(&self) -> bool {
        self.fact(facts::LAB).is_some_and(|l| {
            let l = l.trim();
            !l.is_empty() && !["false", "0", "no", "off"].contains(&l.to_ascii_lowercase().as_str())
        })
    }

    /// The platform booted a guest: its driver is known (it has facts) and is not `host`.
    pub(crate) fn is_guest(&self) -> bool {
        self.facts.is_some() && self.driver != HOST_DRIVER
    }

    /// The guest ran under QEMU's software emulation.
    pub(crate) fn is_tcg(&self) -> bool {
        self.facts.is_some_and(facts::is_tcg)
    }

    /// The guest's NIC was on QEMU's user network (slirp), fact `net.backend`.
    pub(crate) fn is_slirp(&self) -> bool {
        self.fact(facts::NET_BACKEND)
            .is_some_and(|b| b.trim() == "slirp")
    }
}

/// Why the baseline is the platform it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaselineKind {
    /// The first platform with driver "host".
    Host,
    /// No host platform: the first platform.
    First,
}

pub(crate) struct Baseline {
    pub index: usize,
    pub kind: BaselineKind,
}

/// One platform's result for one group.
pub(crate) enum Outcome {
    Measured {
        summary: Summary,
        ratio: Option<Ratio>,
        outliers: usize,
    },
    /// No measured sample.
    NoData(Missing),
}

/// Why a platform has no data for a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// A failure explains it, or the run is over: the failures section says more.
    SeeFailures,
    /// No failure, and the run may still be going.
    NotYet,
}

pub(crate) struct Group {
    pub scenario: String,
    pub workload: String,
    pub metric: String,
    pub unit: String,
    /// As stored: `higher`, `lower` or whatever else the sample said.
    pub better: String,
    /// One per platform, in platform order.
    pub outcomes: Vec<Outcome>,
    /// Measured values (warm-ups excluded), per platform in platform order.
    pub values: Vec<Vec<f64>>,
    /// Against its baseline ([`Model::compared_with`]), per platform in platform order: None for
    /// a baseline and where either side has no data.
    pub comparisons: Vec<Option<Comparison>>,
}

impl Group {
    pub(crate) fn direction(&self) -> Option<Better> {
        Better::parse(&self.better)
    }
}

#[derive(Default, Clone, Copy)]
pub(crate) struct TrialCounts {
    pub ok: usize,
    pub failed: usize,
    pub unfinished: usize,
}

pub(crate) struct Model<'a> {
    pub input: &'a ReportInput<'a>,
    /// The run's stored plan, read back as the plan type; None when it does not parse (a run
    /// stored by an hvbench whose plan format this one cannot read).
    pub plan: Option<Plan>,
    pub platforms: Vec<Platform<'a>>,
    /// The run's baseline: the first platform with driver "host" (on any machine).
    pub baseline: Option<Baseline>,
    /// The machines, in the order of their first platform.
    pub machines: Vec<Machine<'a>>,
    /// Per platform, in platform order, the platform it is compared with: its machine's first
    /// host platform, else the run's baseline; None for a baseline (the run's or a machine's).
    pub compared_with: Vec<Option<usize>>,
    /// The battery's groups (never an isolation cell).
    pub groups: Vec<Group>,
    /// More than one battery scenario among the samples: groups must name theirs.
    pub several_scenarios: bool,
    /// Workloads named by failures that produced no sample anywhere.
    pub unmeasured_workloads: Vec<&'a str>,
    /// Battery trials per platform, in platform order.
    pub trial_counts: Vec<TrialCounts>,
    /// Isolation trials (victims and aggressors) per platform, in platform order.
    pub isolation_trial_counts: Vec<TrialCounts>,
    /// One matrix per isolation scenario.
    pub isolation: IsolationAnalysis,
    pub verdict_cfg: VerdictConfig,
    /// How many comparisons the battery holds (Holm's m).
    pub battery_size: usize,
    /// Anomalies of the baseline scenario, rule by rule.
    pub anomalies: Vec<Anomaly>,
    /// Per workload class, each non-baseline platform's standing.
    pub standings: Vec<ClassStanding>,
    /// The counters beside the windows, per operation, and what counting cost.
    pub evidence: hvbench_analysis::CounterSummary,
    /// hvbench's workloads against the tools that measure the same quantity, where the plan
    /// holds both (battery scenario only).
    pub cross_checks: Vec<hvbench_analysis::CrossCheck>,
}

impl<'a> Model<'a> {
    pub(crate) fn build(input: &'a ReportInput<'a>, cfg: &BootstrapConfig) -> Model<'a> {
        let plan = stored_plan(&input.run.plan_json);
        let mut platforms = platforms(input);
        let machines = machines::machines(&mut platforms);
        let baseline = choose_baseline(&platforms);
        let compared_with = machines::compared_with(&platforms, &machines, baseline.as_ref());
        let incomplete = matches!(
            input.run.status,
            RunStatus::Running | RunStatus::Interrupted
        );
        let battery = Battery::of(input);
        let mut groups = groups(
            input,
            &battery,
            &platforms,
            baseline.as_ref(),
            &compared_with,
            incomplete,
            cfg,
        );
        let verdict_cfg = VerdictConfig::default();
        let battery_size = compare(&mut groups, &compared_with, &verdict_cfg, cfg);
        let several_scenarios = groups.iter().any(|g| g.scenario != groups[0].scenario);
        let unmeasured_workloads = unmeasured_workloads(input, &groups);
        let isolation_trial_counts = trial_counts(input, &platforms, is_isolation_scenario);
        let trial_counts = trial_counts(input, &platforms, |s| battery.includes(s));
        let isolation = isolation(input, plan.as_ref(), &platforms, &verdict_cfg, cfg);
        let evidence = evidence::counter_summary(input, cfg);
        let anomalies = anomalies(
            plan.as_ref(),
            &platforms,
            baseline.as_ref(),
            &compared_with,
            &groups,
            &evidence.profiles,
            cfg,
        );
        let standings = standings(&platforms, &groups);
        let cross_checks = cross::checks(plan.as_ref(), &platforms, &groups, cfg);
        Model {
            input,
            plan,
            platforms,
            baseline,
            machines,
            compared_with,
            groups,
            several_scenarios,
            unmeasured_workloads,
            trial_counts,
            isolation_trial_counts,
            isolation,
            verdict_cfg,
            battery_size,
            anomalies,
            standings,
            evidence,
            cross_checks,
        }
    }

    /// The run measured isolation cells and no battery: there is no platform comparison.
    pub(crate) fn is_isolation_only(&self) -> bool {
        !self.isolation.is_empty()
            && self.groups.is_empty()
            && self
                .trial_counts
                .iter()
                .all(|c| c.ok + c.failed + c.unfinished == 0)
    }

    pub(crate) fn baseline_platform(&self) -> Option<&Platform<'a>> {
        self.baseline.as_ref().map(|b| &self.platforms[b.index])
    }

    /// Platform `i` is a baseline: the run's, or its machine's (others are compared with it).
    pub(crate) fn is_baseline(&self, i: usize) -> bool {
        self.baseline.is_some() && self.compared_with[i].is_none()
    }

    /// The baselines in platform order: the run's alone unless machines have their own.
    pub(crate) fn baselines(&self) -> Vec<usize> {
        (0..self.platforms.len())
            .filter(|&i| self.is_baseline(i))
            .collect()
    }

    /// More than one baseline: platforms are compared each with its own machine's.
    pub(crate) fn several_baselines(&self) -> bool {
        self.baselines().len() > 1
    }

    /// Who ratios are against, in running text: the baseline's name, or "its baseline" when
    /// machines have their own.
    pub(crate) fn baseline_label(&self) -> Option<String> {
        let base = self.baseline_platform()?;
        Some(if self.several_baselines() {
            "its baseline".to_string()
        } else {
            base.name.to_string()
        })
    }

    /// The platform that platform `i` is compared with.
    pub(crate) fn baseline_of(&self, i: usize) -> Option<&Platform<'a>> {
        self.compared_with[i].map(|b| &self.platforms[b])
    }

    /// The run spans more than one machine.
    pub(crate) fn several_machines(&self) -> bool {
        self.machines.len() > 1
    }

    /// The machine of platform `i`.
    pub(crate) fn machine_of(&self, i: usize) -> &Machine<'a> {
        &self.machines[self.platforms[i].machine]
    }

    pub(crate) fn lab_platforms(&self) -> Vec<&str> {
        self.platforms
            .iter()
            .filter(|p| p.is_lab())
            .map(|p| p.name)
            .collect()
    }

    /// When the run mixes guests in the lab with guests outside it (real ones): the guest
    /// platforms of both kinds, in platform order, and which of them ran in the lab; none
    /// otherwise. Lab timings are emulated, so the two kinds are not comparable.
    pub(crate) fn lab_and_real_guests(&self) -> (Vec<&str>, Vec<&str>) {
        let guests = || self.platforms.iter().filter(|p| p.is_guest());
        let lab: Vec<&str> = guests().filter(|p| p.is_lab()).map(|p| p.name).collect();
        if lab.is_empty() || guests().all(|p| p.is_lab()) {
            return (Vec::new(), Vec::new());
        }
        (guests().map(|p| p.name).collect(), lab)
    }

    pub(crate) fn tcg_platforms(&self) -> Vec<&str> {
        self.platforms
            .iter()
            .filter(|p| p.is_tcg())
            .map(|p| p.name)
            .collect()
    }

    pub(crate) fn slirp_platforms(&self) -> Vec<&str> {
        self.platforms
            .iter()
            .filter(|p| p.is_slirp())
            .map(|p| p.name)
            .collect()
    }
}

/// The run's platforms in their stored order, then any platform named only by a trial, sample
/// or failure (driver unknown), so that nothing measured goes unreported.
fn platforms<'a>(input: &'a ReportInput<'a>) -> Vec<Platform<'a>> {
    let mut out: Vec<Platform<'a>> = input
        .platforms
        .iter()
        .map(|p| Platform {
            name: &p.name,
            driver: &p.driver,
            facts: Some(&p.facts),
            machine: 0,
        })
        .collect();
    let named = input
        .trials
        .iter()
        .map(|t| t.platform.as_str())
        .chain(input.samples.iter().map(|s| s.platform.as_str()))
        .chain(input.failures.iter().map(|f| f.platform.as_str()));
    for name in named {
        if !out.iter().any(|p| p.name == name) {
            out.push(Platform {
                name,
                driver: "?",
                facts: None,
                machine: 0,
            });
        }
    }
    out
}

fn choose_baseline(platforms: &[Platform]) -> Option<Baseline> {
    if let Some(index) = platforms.iter().position(|p| p.driver == HOST_DRIVER) {
        return Some(Baseline {
            index,
            kind: BaselineKind::Host,
        });
    }
    (!platforms.is_empty()).then_some(Baseline {
        index: 0,
        kind: BaselineKind::First,
    })
}

fn anomalies(
    plan: Option<&Plan>,
    platforms: &[Platform],
    baseline: Option<&Baseline>,
    compared_with: &[Option<usize>],
    groups: &[Group],
    profiles: &[hvbench_analysis::ExitProfile],
    cfg: &BootstrapConfig,
) -> Vec<Anomaly> {
    if baseline.is_none() {
        return Vec::new();
    }
    // Each platform's facts, plus the workloads' parameters from the stored plan as facts
    // `plan.WORKLOAD.PARAM` (the same plan ran on every platform).
    let plan_facts = plan.map(plan_params).unwrap_or_default();
    let augmented: Vec<BTreeMap<String, String>> = platforms
        .iter()
        .map(|p| {
            let mut f = p.facts.cloned().unwrap_or_default();
            f.extend(plan_facts.iter().map(|(k, v)| (k.clone(), v.clone())));
            f
        })
        .collect();
    let anomaly_cfg = AnomalyConfig {
        bootstrap: *cfg,
        ..AnomalyConfig::default()
    };
    // The rules compare platforms with one baseline: each baseline (the run's, or a machine's)
    // is judged with the platforms compared with it. With one machine that is every platform.
    let mut out = Vec::new();
    for b in (0..platforms.len()).filter(|&i| compared_with[i].is_none()) {
        let members: Vec<usize> = (0..platforms.len())
            .filter(|&i| i == b || compared_with[i] == Some(b))
            .collect();
        let facts: Vec<PlatformFacts> = members
            .iter()
            .map(|&i| PlatformFacts {
                name: platforms[i].name,
                facts: &augmented[i],
            })
            .collect();
        let series: Vec<Series> = groups
            .iter()
            .flat_map(|g| {
                members
                    .iter()
                    .map(|&i| (&platforms[i], &g.values[i]))
                    .filter(|(_, v)| !v.is_empty())
                    .map(move |(p, v)| Series {
                        platform: p.name,
                        workload: &g.workload,
                        metric: &g.metric,
                        unit: &g.unit,
                        direction: g.direction(),
                        values: v,
                    })
            })
            .collect();
        out.extend(detect_anomalies(
            &Evidence {
                baseline: platforms[b].name,
                platforms: &facts,
                series: &series,
                counters: profiles,
            },
            &anomaly_cfg,
        ));
    }
    out
}

fn standings(platforms: &[Platform], groups: &[Group]) -> Vec<ClassStanding> {
    let entries: Vec<ClassEntry> = groups
        .iter()
        .flat_map(|g| {
            platforms
                .iter()
                .zip(&g.comparisons)
                .filter_map(move |(p, c)| {
                    let c = c.as_ref()?;
                    Some(ClassEntry {
                        class: classify(&g.workload),
                        platform: p.name,
                        times_worse: c.times_worse,
                        verdict: c.verdict,
                    })
                })
        })
        .collect();
    class_standings(&entries)
}

/// The isolation matrices of the run, with the cells its plan declared.
fn isolation(
    input: &ReportInput,
    plan: Option<&Plan>,
    platforms: &[Platform],
    verdict_cfg: &VerdictConfig,
    cfg: &BootstrapConfig,
) -> IsolationAnalysis {
    let trials: Vec<IsolationTrial> = input
        .trials
        .iter()
        .filter(|t| is_isolation_scenario(&t.scenario))
        .map(|t| IsolationTrial {
            platform: &t.platform,
            round: t.round,
            scenario: &t.scenario,
            guest: &t.guest,
            state: TrialState::parse(&t.status),
        })
        .collect();
    let samples: Vec<IsolationSample> = input
        .samples
        .iter()
        .filter(|s| is_isolation_scenario(&s.scenario))
        .map(|s| IsolationSample {
            platform: &s.platform,
            round: s.round,
            scenario: &s.scenario,
            guest: &s.guest,
            workload: &s.workload,
            metric: &s.metric,
            unit: &s.unit,
            direction: Better::parse(&s.better),
            warmup: s.warmup,
            value: s.value,
            elapsed_ns: s.elapsed_ns,
            at_ms: s.at_ms,
        })
        .collect();
    let names: Vec<&str> = platforms.iter().map(|p| p.name).collect();
    let declared = plan.map(declared_isolation).unwrap_or_default();
    isolation_matrices(
        &IsolationInput {
            platforms: &names,
            trials: &trials,
            samples: &samples,
            declared: &declared,
        },
        verdict_cfg,
        cfg,
    )
}
