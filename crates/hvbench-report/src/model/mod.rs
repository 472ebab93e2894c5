//! What a report says, computed once from the stored rows and shared by every renderer: the
//! platforms in order, the baseline, one group per battery (scenario, workload, metric) with each
//! platform's summary and ratio, the isolation matrices, and the failures.
//!
//! The battery is the ordinary platform comparison: scenario "baseline" (or, in runs that have
//! no such scenario, every scenario that is not an isolation cell). Isolation cells (scenarios
//! with a '/') are analysed apart, each platform against its own no-stress baseline.

use crate::format::Better;
use crate::ReportInput;
use hvbench_analysis::anomaly::{detect_anomalies, Anomaly, AnomalyConfig, Evidence, Series};
use hvbench_analysis::{
    class_standings, classify, compare_battery, is_isolation_scenario, isolation_matrices,
    mad_outliers, ratio_of_medians, summarize, BootstrapConfig, ClassEntry, ClassStanding,
    Comparison, Direction, IsolationAnalysis, IsolationInput, IsolationSample, IsolationTrial,
    PairInput, PlatformFacts, Ratio, Summary, TrialState, VerdictConfig,
};
use hvbench_analysis::{Interval, DEFAULT_MAD_THRESHOLD};
use hvbench_spec::Plan;
use hvbench_store::{FailureRow, RunStatus};
use plan::{declared_isolation, plan_params, stored_plan};
use std::collections::{BTreeMap, HashMap};

mod machines;
mod plan;

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

    /// The guest ran inside hvbench's emulated lab host (Xen or KVM nested under TCG).
    pub(crate) fn is_lab(&self) -> bool {
        self.fact("lab").is_some_and(|l| !l.trim().is_empty())
    }

    /// The guest ran under QEMU's software emulation.
    pub(crate) fn is_tcg(&self) -> bool {
        self.fact("accel")
            .is_some_and(|a| a.trim().eq_ignore_ascii_case("tcg"))
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
    pub better: Better,
    /// One per platform, in platform order.
    pub outcomes: Vec<Outcome>,
    /// Measured values (warm-ups excluded), per platform in platform order.
    pub values: Vec<Vec<f64>>,
    /// Against its baseline ([`Model::compared_with`]), per platform in platform order: None for
    /// a baseline and where either side has no data.
    pub comparisons: Vec<Option<Comparison>>,
}

impl Group {
    pub(crate) fn direction(&self) -> Option<Direction> {
        Direction::parse(self.better.as_str())
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
        let anomalies = anomalies(
            plan.as_ref(),
            &platforms,
            baseline.as_ref(),
            &compared_with,
            &groups,
            cfg,
        );
        let standings = standings(&platforms, &groups);
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

    pub(crate) fn tcg_platforms(&self) -> Vec<&str> {
        self.platforms
            .iter()
            .filter(|p| p.is_tcg())
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

/// Which stored scenarios make the battery.
struct Battery {
    /// Some sample or trial has scenario "baseline": the battery is that scenario alone.
    baseline_only: bool,
}

impl Battery {
    fn of(input: &ReportInput) -> Battery {
        Battery {
            baseline_only: input
                .samples
                .iter()
                .map(|s| s.scenario.as_str())
                .chain(input.trials.iter().map(|t| t.scenario.as_str()))
                .any(|s| s == BASELINE_SCENARIO),
        }
    }

    fn includes(&self, scenario: &str) -> bool {
        if self.baseline_only {
            scenario == BASELINE_SCENARIO
        } else {
            !is_isolation_scenario(scenario)
        }
    }
}

/// Measured values (warm-ups excluded) of one group, per platform.
struct Collected<'a> {
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    values: HashMap<&'a str, Vec<f64>>,
}

/// Groups in the order their first sample arrived. A group exists as soon as any sample of it
/// exists, warm-ups included, so that a platform with only warm-ups shows as "no data".
fn groups(
    input: &ReportInput,
    battery: &Battery,
    platforms: &[Platform],
    baseline: Option<&Baseline>,
    compared_with: &[Option<usize>],
    incomplete: bool,
    cfg: &BootstrapConfig,
) -> Vec<Group> {
    let mut order: Vec<Collected> = Vec::new();
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for s in input
        .samples
        .iter()
        .filter(|s| battery.includes(&s.scenario))
    {
        let key = (s.scenario.as_str(), s.workload.as_str(), s.metric.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            order.push(Collected {
                scenario: &s.scenario,
                workload: &s.workload,
                metric: &s.metric,
                unit: &s.unit,
                better: &s.better,
                values: HashMap::new(),
            });
            order.len() - 1
        });
        if !s.warmup {
            order[i]
                .values
                .entry(s.platform.as_str())
                .or_default()
                .push(s.value);
        }
    }

    order
        .into_iter()
        .map(|c| {
            let values: Vec<Vec<f64>> = platforms
                .iter()
                .map(|p| c.values.get(p.name).cloned().unwrap_or_default())
                .collect();
            let outcomes = platforms
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    match c
                        .values
                        .get(p.name)
                        .and_then(|v| summarize(v, cfg).map(|s| (v, s)))
                    {
                        Some((v, summary)) => {
                            let ratio = match compared_with[i] {
                                None if baseline.is_some() => Some(Ratio {
                                    point: 1.0,
                                    ci: Interval { lo: 1.0, hi: 1.0 },
                                }),
                                None => None,
                                Some(b) => c
                                    .values
                                    .get(platforms[b].name)
                                    .and_then(|b| ratio_of_medians(b, v, cfg)),
                            };
                            let outliers = mad_outliers(v, DEFAULT_MAD_THRESHOLD).len();
                            Outcome::Measured {
                                summary,
                                ratio,
                                outliers,
                            }
                        }
                        None if !incomplete
                            || input
                                .failures
                                .iter()
                                .any(|f| explains(f, p.name, c.workload)) =>
                        {
                            Outcome::NoData(Missing::SeeFailures)
                        }
                        None => Outcome::NoData(Missing::NotYet),
                    }
                })
                .collect();
            Group {
                scenario: c.scenario.to_string(),
                workload: c.workload.to_string(),
                metric: c.metric.to_string(),
                unit: c.unit.to_string(),
                better: Better::parse(c.better),
                outcomes,
                comparisons: vec![None; values.len()],
                values,
            }
        })
        .collect()
}

/// Whether failure `f` may explain missing data of `workload` on `platform`.
fn explains(f: &FailureRow, platform: &str, workload: &str) -> bool {
    f.platform == platform && f.workload.as_deref().is_none_or(|w| w == workload)
}

/// Workloads named by failures with no sample anywhere (an isolation victim's sample counts:
/// failures do not say which scenario they belong to).
fn unmeasured_workloads<'a>(input: &'a ReportInput, groups: &[Group]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for w in input.failures.iter().filter_map(|f| f.workload.as_deref()) {
        let measured =
            groups.iter().any(|g| g.workload == w) || input.samples.iter().any(|s| s.workload == w);
        if !measured && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn trial_counts(
    input: &ReportInput,
    platforms: &[Platform],
    scenario: impl Fn(&str) -> bool,
) -> Vec<TrialCounts> {
    platforms
        .iter()
        .map(|p| {
            let mut c = TrialCounts::default();
            for t in input
                .trials
                .iter()
                .filter(|t| t.platform == p.name && scenario(&t.scenario))
            {
                match t.status.as_str() {
                    "ok" => c.ok += 1,
                    "failed" => c.failed += 1,
                    _ => c.unfinished += 1,
                }
            }
            c
        })
        .collect()
}

/// Compare every platform with its baseline on every group, as one battery (Holm across all of
/// it); returns the battery's size.
fn compare(
    groups: &mut [Group],
    compared_with: &[Option<usize>],
    verdict_cfg: &VerdictConfig,
    cfg: &BootstrapConfig,
) -> usize {
    let mut slots: Vec<(usize, usize)> = Vec::new();
    let mut pairs: Vec<PairInput> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for (pi, v) in g.values.iter().enumerate() {
            let Some(bi) = compared_with[pi] else {
                continue;
            };
            let base = &g.values[bi];
            if base.is_empty() || v.is_empty() {
                continue;
            }
            slots.push((gi, pi));
            pairs.push(PairInput {
                baseline: base,
                other: v,
                direction: g.direction(),
            });
        }
    }
    let comparisons = compare_battery(&pairs, verdict_cfg, cfg);
    let m = comparisons
        .iter()
        .filter(|c| c.p_adjusted.is_some())
        .count();
    for ((gi, pi), c) in slots.into_iter().zip(comparisons) {
        groups[gi].comparisons[pi] = Some(c);
    }
    m
}

fn anomalies(
    plan: Option<&Plan>,
    platforms: &[Platform],
    baseline: Option<&Baseline>,
    compared_with: &[Option<usize>],
    groups: &[Group],
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
            direction: Direction::parse(&s.better),
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
