//! Isolation experiments (DESIGN.md, "Isolation experiments"): how much worse a victim does
//! beside aggressors than alone on the same platform, and whether the aggressors were really
//! running while it was measured.
//!
//! The store holds one scenario per cell: `<iso>/none` is the victim alone, and
//! `<iso>/<stressor>/<placement>` the victim beside the aggressors of one stressor kind, placed
//! `shared` or `pinned-apart`. Per (platform, round, cell) there is one trial of guest `victim`
//! and, in stress cells, one per aggressor (`aggressor1`, `aggressor2`, ...).
//! [`isolation_matrices`] turns those rows into one [`IsolationMatrix`] per scenario: per
//! (platform, victim workload and metric) x (stressor, placement)
//!
//! - the **degradation**: how much worse the stressed median is than the baseline's, in %
//!   (`(cell / base - 1) * 100` when lower is better, `(1 - cell / base) * 100` when higher is
//!   better; positive means slowed down), with the bootstrap interval of the ratio of medians
//!   turned into %, a Mann-Whitney test Holm-adjusted over the whole isolation matrix, and an
//!   [`IsolationVerdict`] decided as [`crate::compare_battery`] decides its verdicts;
//! - **DNR** (did not report): failed victim trials out of the cell's victim trials. A cell
//!   whose victim never reported and failed at least once is an outcome of its own, never a gap;
//! - the **aggressors' throughput** while the victim was measured (the median of the aggressor
//!   windows that overlap the victim's measured windows) and the aggressors' DNR;
//! - the **overlap evidence**: how many of the victim's measured windows lie entirely within
//!   the span during which every aggressor of the cell was reporting.

use crate::bootstrap::{BootstrapConfig, Interval, Ratio};
use crate::descriptive::median;
use crate::verdict::{compare_battery, Comparison, Direction, PairInput, Verdict, VerdictConfig};
use serde::Serialize;
use std::collections::HashMap;

/// The stressor part of a baseline cell's scenario: `<iso>/none`.
pub const NO_STRESS: &str = "none";

/// The guest name of a cell's victim; aggressors are `aggressor1`, `aggressor2`, ...
pub const VICTIM_GUEST: &str = "victim";
const AGGRESSOR_GUEST_PREFIX: &str = "aggressor";

/// A degradation of this much or more is dramatic for a lower-is-better victim: it took twice
/// as long.
pub const DRAMATIC_DEGRADATION_PCT: f64 = 100.0;
/// The same for a higher-is-better victim: it lost half its throughput (ran at half speed,
/// as a lower-is-better one that took twice as long).
pub const DRAMATIC_THROUGHPUT_LOSS_PCT: f64 = 50.0;

/// Whether a stored scenario is an isolation cell rather than a battery scenario.
pub fn is_isolation_scenario(scenario: &str) -> bool {
    scenario.contains('/')
}

/// An isolation cell's scenario, taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellName<'a> {
    /// The isolation scenario: `[a-z0-9-]+`.
    pub scenario: &'a str,
    /// None for the no-stress baseline.
    pub stress: Option<Stress<'a>>,
}

/// The stressor and placement of a stress cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stress<'a> {
    /// The stressor kind, possibly with a parameter suffix: `cpu`, `disk[size_mib=64]`.
    pub stressor: &'a str,
    /// `shared` or `pinned-apart`.
    pub placement: &'a str,
}

/// `<iso>/none` or `<iso>/<stressor>/<placement>`; `None` for anything else.
pub fn parse_cell(scenario: &str) -> Option<CellName<'_>> {
    let (iso, rest) = scenario.split_once('/')?;
    if iso.is_empty() {
        return None;
    }
    if rest == NO_STRESS {
        return Some(CellName {
            scenario: iso,
            stress: None,
        });
    }
    let (stressor, placement) = rest.rsplit_once('/')?;
    (!stressor.is_empty() && !placement.is_empty()).then_some(CellName {
        scenario: iso,
        stress: Some(Stress {
            stressor,
            placement,
        }),
    })
}

/// A trial's state, from the store's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialState {
    Ok,
    Failed,
    /// Still running, or cut off by an interruption.
    Unfinished,
}

impl TrialState {
    /// "ok", "failed"; anything else (say "running") is unfinished.
    pub fn parse(status: &str) -> TrialState {
        match status {
            "ok" => TrialState::Ok,
            "failed" => TrialState::Failed,
            _ => TrialState::Unfinished,
        }
    }
}

/// One stored trial, as [`isolation_matrices`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct IsolationTrial<'a> {
    pub platform: &'a str,
    pub round: u32,
    pub scenario: &'a str,
    pub guest: &'a str,
    pub state: TrialState,
}

/// One stored sample, as [`isolation_matrices`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct IsolationSample<'a> {
    pub platform: &'a str,
    pub round: u32,
    pub scenario: &'a str,
    pub guest: &'a str,
    pub workload: &'a str,
    pub metric: &'a str,
    pub unit: &'a str,
    /// `None` when the metric's direction is unknown.
    pub direction: Option<Direction>,
    pub warmup: bool,
    pub value: f64,
    /// The window's length.
    pub elapsed_ns: u64,
    /// When the window ended, ms since the cell started (a clock shared by the victim and the
    /// aggressors of one platform, round and cell). `None`: no timing, so no overlap evidence.
    pub at_ms: Option<u64>,
}

impl IsolationSample<'_> {
    /// `[at_ms - elapsed, at_ms]` in ms.
    fn window_ms(&self) -> Option<(f64, f64)> {
        let end = self.at_ms? as f64;
        Some((end - self.elapsed_ns as f64 / 1e6, end))
    }
}

/// A scenario as the plan declared it, so that a cell with no trial at all shows as not run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredIsolation {
    pub name: String,
    /// Stressor labels as the cells name them, in plan order.
    pub stressors: Vec<String>,
    /// In plan order.
    pub placements: Vec<String>,
    /// Empty: every platform of the run.
    pub platforms: Vec<String>,
}

/// Everything [`isolation_matrices`] reads. Rows of battery scenarios may be included: they
/// are skipped.
#[derive(Debug, Clone, Copy)]
pub struct IsolationInput<'a> {
    /// The run's platforms in report order (rows follow it; others come after).
    pub platforms: &'a [&'a str],
    pub trials: &'a [IsolationTrial<'a>],
    pub samples: &'a [IsolationSample<'a>],
    pub declared: &'a [DeclaredIsolation],
}

/// How many trials of a kind a cell had, and how many failed (did not report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrialTally {
    pub total: usize,
    /// Did not report: the guest died, hung or timed out.
    pub failed: usize,
    pub unfinished: usize,
}

/// What an isolation comparison allows concluding; decided as [`Verdict`] is, with the
/// differences named for a victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationVerdict {
    InvalidData,
    TooFewSamples,
    HighVariance,
    NoSignificantDifference,
    /// Significant, but within the negligible band.
    Negligible,
    /// The victim did significantly better beside the aggressors.
    Improved,
    /// Significantly worse, less than [`DRAMATIC_DEGRADATION_PCT`].
    Degraded,
    /// Significantly worse by [`DRAMATIC_DEGRADATION_PCT`] or more.
    Dramatic,
}

impl IsolationVerdict {
    /// As the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            IsolationVerdict::InvalidData => "invalid data",
            IsolationVerdict::TooFewSamples => "too few samples",
            IsolationVerdict::HighVariance => "high variance",
            IsolationVerdict::NoSignificantDifference => "no significant difference",
            IsolationVerdict::Negligible => "negligible",
            IsolationVerdict::Improved => "improved",
            IsolationVerdict::Degraded => "degraded",
            IsolationVerdict::Dramatic => "dramatic",
        }
    }

    /// Significantly worse beyond the negligible band.
    pub fn is_degraded(self) -> bool {
        matches!(
            self,
            IsolationVerdict::Degraded | IsolationVerdict::Dramatic
        )
    }

    /// A significant difference beyond the negligible band, either way.
    pub fn is_difference(self) -> bool {
        self.is_degraded() || self == IsolationVerdict::Improved
    }

    fn from_comparison(
        verdict: Verdict,
        degradation_pct: Option<f64>,
        direction: Direction,
    ) -> IsolationVerdict {
        let dramatic = match direction {
            Direction::LowerIsBetter => DRAMATIC_DEGRADATION_PCT,
            Direction::HigherIsBetter => DRAMATIC_THROUGHPUT_LOSS_PCT,
        };
        match verdict {
            Verdict::InvalidData => IsolationVerdict::InvalidData,
            Verdict::TooFewSamples => IsolationVerdict::TooFewSamples,
            Verdict::HighVariance => IsolationVerdict::HighVariance,
            Verdict::NoSignificantDifference => IsolationVerdict::NoSignificantDifference,
            Verdict::Negligible => IsolationVerdict::Negligible,
            Verdict::Better | Verdict::DramaticallyBetter => IsolationVerdict::Improved,
            Verdict::Worse | Verdict::DramaticallyWorse => {
                if degradation_pct.is_some_and(|d| d >= dramatic) {
                    IsolationVerdict::Dramatic
                } else {
                    IsolationVerdict::Degraded
                }
            }
        }
    }
}

/// The victim beside aggressors against the victim alone, on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degradation {
    /// How much worse the stressed median is, in % (positive: slowed down). `None` when the
    /// medians form no ratio (see `reason`).
    pub pct: Option<f64>,
    /// The bootstrap interval of the ratio of medians, in the same %.
    pub ci_pct: Option<Interval>,
    /// median(stressed) / median(baseline) with its interval.
    pub ratio: Option<Ratio>,
    pub n_baseline: usize,
    pub n_stressed: usize,
    /// Two-sided Mann-Whitney U p-value, and Holm-adjusted over the isolation matrix.
    pub p_value: Option<f64>,
    pub p_holm: Option<f64>,
    pub verdict: IsolationVerdict,
    /// Why, for invalid data, too few samples and high variance.
    pub reason: Option<String>,
}

/// What one cell of the matrix says about the victim.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum CellOutcome {
    /// The victim reported under stress and alone.
    Measured(Degradation),
    /// The victim reported under stress, but not alone: nothing to compare with.
    NoBaseline,
    /// Did not report: no victim sample, and at least one victim trial failed.
    #[serde(rename = "dnr")]
    DidNotReport,
    /// Victim trials exist but none failed and none reported this metric (still running, or
    /// the workload failed: see the run's failures).
    NoData,
    /// No trial of this cell on this platform (declared but not run, or cut short).
    NotRun,
}

/// The aggressors' median throughput while the victim was measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggressorThroughput {
    pub median: f64,
    pub unit: String,
    /// Aggressor windows that overlap a measured victim window.
    pub n: usize,
}

/// Of the victim's measured windows, how many lie entirely within the span during which every
/// aggressor of its cell (same platform and round) was reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub covered: usize,
    pub total: usize,
}

/// One (stressor, placement) cell of a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationCell {
    pub stressor: String,
    pub placement: String,
    #[serde(flatten)]
    pub outcome: CellOutcome,
    /// The victim's trials of this cell and platform.
    pub victim_trials: TrialTally,
    /// The aggressors' trials (every aggressor, every round).
    pub aggressor_trials: TrialTally,
    pub aggressor_throughput: Option<AggressorThroughput>,
    pub overlap: Overlap,
}

impl IsolationCell {
    /// The degradation, when the cell was measured.
    pub fn degradation(&self) -> Option<&Degradation> {
        match &self.outcome {
            CellOutcome::Measured(d) => Some(d),
            _ => None,
        }
    }
}

/// The victim alone, on one platform and metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VictimBaseline {
    /// Measured values (warm-ups excluded).
    pub n: usize,
    pub median: Option<f64>,
    /// The `<iso>/none` victim trials of this platform: `failed` of them did not report.
    pub trials: TrialTally,
}

/// One row of a matrix: a platform and one metric of the victim, against every cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationRow {
    pub platform: String,
    /// Empty when no victim sample was recorded anywhere in the scenario.
    pub workload: String,
    pub metric: String,
    pub unit: String,
    pub direction: Option<Direction>,
    pub baseline: VictimBaseline,
    /// Stressors outer, placements inner, in the matrix's order.
    pub cells: Vec<IsolationCell>,
}

/// One isolation scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationMatrix {
    pub scenario: String,
    /// Stressor labels: the plan's order, then any other in name order.
    pub stressors: Vec<String>,
    /// `shared` and `pinned-apart` (in that order), then any other in name order.
    pub placements: Vec<String>,
    /// Per platform, then per victim metric in the order first seen.
    pub rows: Vec<IsolationRow>,
}

impl IsolationMatrix {
    /// The cell of `row` for a stressor and placement.
    pub fn cell<'r>(
        &self,
        row: &'r IsolationRow,
        stressor: &str,
        placement: &str,
    ) -> Option<&'r IsolationCell> {
        row.cells
            .iter()
            .find(|c| c.stressor == stressor && c.placement == placement)
    }
}

/// Every isolation scenario of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IsolationAnalysis {
    pub matrices: Vec<IsolationMatrix>,
    /// How many comparisons were tested together (Holm's m over every matrix).
    pub tests: usize,
}

impl IsolationAnalysis {
    pub fn is_empty(&self) -> bool {
        self.matrices.is_empty()
    }
}

/// One matrix per isolation scenario, in plan order, then in the order first seen.
pub fn isolation_matrices(
    input: &IsolationInput,
    cfg: &VerdictConfig,
    boot: &BootstrapConfig,
) -> IsolationAnalysis {
    let names = scenario_names(input);
    let index = Index::new(input);
    // Rows and cells first, with each measured cell's values kept for one battery of tests.
    let mut matrices: Vec<IsolationMatrix> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for name in &names {
        let declared = input.declared.iter().find(|d| &d.name == name);
        let (m, p) = matrix(input, &index, name, declared);
        let at = matrices.len();
        pending.extend(p.into_iter().map(|mut p| {
            p.matrix = at;
            p
        }));
        matrices.push(m);
    }
    let pairs: Vec<PairInput> = pending
        .iter()
        .map(|p| PairInput {
            baseline: &p.baseline,
            other: &p.stressed,
            direction: p.direction,
        })
        .collect();
    let comparisons = compare_battery(&pairs, cfg, boot);
    let tests = comparisons
        .iter()
        .filter(|c| c.p_adjusted.is_some())
        .count();
    for (p, c) in pending.iter().zip(comparisons) {
        matrices[p.matrix].rows[p.row].cells[p.cell].outcome =
            CellOutcome::Measured(degradation(&c, p.direction));
    }
    IsolationAnalysis { matrices, tests }
}

/// A measured cell waiting for its test.
struct Pending {
    matrix: usize,
    row: usize,
    cell: usize,
    baseline: Vec<f64>,
    stressed: Vec<f64>,
    direction: Option<Direction>,
}

fn degradation(c: &Comparison, direction: Option<Direction>) -> Degradation {
    let pct = |r: f64| match direction? {
        Direction::LowerIsBetter => Some((r - 1.0) * 100.0),
        Direction::HigherIsBetter => Some((1.0 - r) * 100.0),
    };
    let point = c.ratio.and_then(|r| pct(r.point));
    let ci_pct = c.ratio.and_then(|r| {
        let (a, b) = (pct(r.ci.lo)?, pct(r.ci.hi)?);
        Some(Interval {
            lo: a.min(b),
            hi: a.max(b),
        })
    });
    Degradation {
        pct: point,
        ci_pct,
        ratio: c.ratio,
        n_baseline: c.n_baseline,
        n_stressed: c.n_other,
        p_value: c.test.map(|t| t.p_value),
        p_holm: c.p_adjusted,
        verdict: IsolationVerdict::from_comparison(
            c.verdict,
            point,
            direction.unwrap_or(Direction::LowerIsBetter),
        ),
        reason: c.reason.clone(),
    }
}

/// Scenario names: declared first, then those seen in trials and samples.
fn scenario_names(input: &IsolationInput) -> Vec<String> {
    let mut out: Vec<String> = input.declared.iter().map(|d| d.name.clone()).collect();
    let seen = input
        .trials
        .iter()
        .map(|t| t.scenario)
        .chain(input.samples.iter().map(|s| s.scenario));
    for s in seen {
        if let Some(c) = parse_cell(s) {
            if !out.iter().any(|n| n == c.scenario) {
                out.push(c.scenario.to_string());
            }
        }
    }
    out
}

fn is_aggressor(guest: &str) -> bool {
    guest.starts_with(AGGRESSOR_GUEST_PREFIX)
}

/// Stressors and placements in order: declared first, then the rest sorted.
fn axes(
    input: &IsolationInput,
    name: &str,
    declared: Option<&DeclaredIsolation>,
) -> (Vec<String>, Vec<String>) {
    let mut stressors: Vec<String> = declared.map(|d| d.stressors.clone()).unwrap_or_default();
    let mut placements: Vec<String> = declared.map(|d| d.placements.clone()).unwrap_or_default();
    let mut extra_s: Vec<String> = Vec::new();
    let mut extra_p: Vec<String> = Vec::new();
    let seen = input
        .trials
        .iter()
        .map(|t| t.scenario)
        .chain(input.samples.iter().map(|s| s.scenario));
    for s in seen {
        let Some(CellName {
            scenario,
            stress: Some(st),
        }) = parse_cell(s)
        else {
            continue;
        };
        if scenario != name {
            continue;
        }
        if !stressors.iter().chain(&extra_s).any(|x| x == st.stressor) {
            extra_s.push(st.stressor.to_string());
        }
        if !placements.iter().chain(&extra_p).any(|x| x == st.placement) {
            extra_p.push(st.placement.to_string());
        }
    }
    extra_s.sort();
    // Known placements in their natural order, before any other.
    extra_p.sort_by_key(|p| {
        (
            ["shared", "pinned-apart"]
                .iter()
                .position(|k| k == p)
                .unwrap_or(usize::MAX),
            p.clone(),
        )
    });
    stressors.extend(extra_s);
    placements.extend(extra_p);
    (stressors, placements)
}

/// The platforms of a scenario in report order: declared ones and any with a row of it.
fn scenario_platforms<'a>(
    input: &IsolationInput<'a>,
    name: &str,
    declared: Option<&DeclaredIsolation>,
) -> Vec<String> {
    let in_scenario = |scenario: &str| parse_cell(scenario).is_some_and(|c| c.scenario == name);
    let mut named: Vec<&str> = Vec::new();
    match declared {
        Some(d) if !d.platforms.is_empty() => named.extend(d.platforms.iter().map(String::as_str)),
        Some(_) => named.extend(input.platforms.iter().copied()),
        None => {}
    }
    named.extend(
        input
            .trials
            .iter()
            .filter(|t| in_scenario(t.scenario))
            .map(|t| t.platform),
    );
    named.extend(
        input
            .samples
            .iter()
            .filter(|s| in_scenario(s.scenario))
            .map(|s| s.platform),
    );
    let mut out: Vec<String> = input
        .platforms
        .iter()
        .filter(|p| named.contains(p))
        .map(|p| p.to_string())
        .collect();
    for p in named {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

/// The victim's (workload, metric, unit, direction) in the order first seen in the scenario.
fn victim_metrics<'a>(
    input: &IsolationInput<'a>,
    name: &str,
) -> Vec<(&'a str, &'a str, &'a str, Option<Direction>)> {
    let mut out: Vec<(&str, &str, &str, Option<Direction>)> = Vec::new();
    for s in input.samples {
        if is_aggressor(s.guest) || parse_cell(s.scenario).is_none_or(|c| c.scenario != name) {
            continue;
        }
        if !out
            .iter()
            .any(|(w, m, _, _)| *w == s.workload && *m == s.metric)
        {
            out.push((s.workload, s.metric, s.unit, s.direction));
        }
    }
    out
}

/// The rows of one cell (a platform and a scenario), found once.
#[derive(Default)]
struct CellRows<'r, 'a> {
    trials: Vec<&'r IsolationTrial<'a>>,
    samples: Vec<&'r IsolationSample<'a>>,
}

/// Every isolation row by platform and scenario, so that each cell reads only its own rows.
struct Index<'r, 'a> {
    cells: HashMap<&'a str, HashMap<&'a str, CellRows<'r, 'a>>>,
    empty: CellRows<'r, 'a>,
}

impl<'r, 'a> Index<'r, 'a> {
    fn new(input: &'r IsolationInput<'a>) -> Self {
        let mut cells: HashMap<&str, HashMap<&str, CellRows>> = HashMap::new();
        for t in input.trials {
            let cell = cells.entry(t.platform).or_default();
            cell.entry(t.scenario).or_default().trials.push(t);
        }
        for s in input.samples {
            let cell = cells.entry(s.platform).or_default();
            cell.entry(s.scenario).or_default().samples.push(s);
        }
        Index {
            cells,
            empty: CellRows::default(),
        }
    }

    fn cell(&self, platform: &str, scenario: &str) -> &CellRows<'r, 'a> {
        self.cells
            .get(platform)
            .and_then(|p| p.get(scenario))
            .unwrap_or(&self.empty)
    }
}

fn matrix(
    input: &IsolationInput,
    index: &Index,
    name: &str,
    declared: Option<&DeclaredIsolation>,
) -> (IsolationMatrix, Vec<Pending>) {
    let (stressors, placements) = axes(input, name, declared);
    let platforms = scenario_platforms(input, name, declared);
    let mut metrics = victim_metrics(input, name);
    if metrics.is_empty() {
        metrics.push(("", "", "", None));
    }
    let mut rows = Vec::new();
    let mut pending = Vec::new();
    for platform in &platforms {
        let base = index.cell(platform, &format!("{name}/{NO_STRESS}"));
        let base_trials = tally(base, false);
        for &(workload, metric, unit, direction) in &metrics {
            let base_values = victim_values(base, workload, metric);
            let mut cells = Vec::new();
            for stressor in &stressors {
                for placement in &placements {
                    let cell = index.cell(platform, &format!("{name}/{stressor}/{placement}"));
                    let stressed = victim_values(cell, workload, metric);
                    let victim_trials = tally(cell, false);
                    let outcome = if !stressed.is_empty() && !base_values.is_empty() {
                        pending.push(Pending {
                            matrix: 0,
                            row: rows.len(),
                            cell: cells.len(),
                            baseline: base_values.clone(),
                            stressed,
                            direction,
                        });
                        // Replaced by the test's result once the whole matrix is tested.
                        CellOutcome::NoData
                    } else if !stressed.is_empty() {
                        CellOutcome::NoBaseline
                    } else if victim_trials.failed > 0 {
                        CellOutcome::DidNotReport
                    } else if victim_trials.total > 0 {
                        CellOutcome::NoData
                    } else {
                        CellOutcome::NotRun
                    };
                    let windows = victim_windows(cell, workload, metric);
                    cells.push(IsolationCell {
                        stressor: stressor.clone(),
                        placement: placement.clone(),
                        outcome,
                        victim_trials,
                        aggressor_trials: tally(cell, true),
                        aggressor_throughput: aggressor_throughput(cell, &windows),
                        overlap: overlap(cell, &windows),
                    });
                }
            }
            rows.push(IsolationRow {
                platform: platform.clone(),
                workload: workload.to_string(),
                metric: metric.to_string(),
                unit: unit.to_string(),
                direction,
                baseline: VictimBaseline {
                    n: base_values.len(),
                    median: median(&base_values),
                    trials: base_trials,
                },
                cells,
            });
        }
    }
    (
        IsolationMatrix {
            scenario: name.to_string(),
            stressors,
            placements,
            rows,
        },
        pending,
    )
}

fn tally(cell: &CellRows, aggressors: bool) -> TrialTally {
    let mut t = TrialTally::default();
    for trial in cell
        .trials
        .iter()
        .filter(|t| is_aggressor(t.guest) == aggressors)
    {
        t.total += 1;
        match trial.state {
            TrialState::Ok => {}
            TrialState::Failed => t.failed += 1,
            TrialState::Unfinished => t.unfinished += 1,
        }
    }
    t
}

fn victim_samples<'c, 'a>(
    cell: &'c CellRows<'_, 'a>,
    workload: &'c str,
    metric: &'c str,
) -> impl Iterator<Item = &'c IsolationSample<'a>> {
    cell.samples.iter().copied().filter(move |s| {
        !s.warmup && !is_aggressor(s.guest) && s.workload == workload && s.metric == metric
    })
}

fn victim_values(cell: &CellRows, workload: &str, metric: &str) -> Vec<f64> {
    victim_samples(cell, workload, metric)
        .map(|s| s.value)
        .collect()
}

/// The victim's measured windows: (round, window in ms), `None` where a sample has no timing.
fn victim_windows(cell: &CellRows, workload: &str, metric: &str) -> Vec<(u32, Option<(f64, f64)>)> {
    victim_samples(cell, workload, metric)
        .map(|s| (s.round, s.window_ms()))
        .collect()
}

fn aggressor_samples<'c, 'a>(
    cell: &'c CellRows<'_, 'a>,
) -> impl Iterator<Item = &'c IsolationSample<'a>> {
    cell.samples
        .iter()
        .copied()
        .filter(|s| !s.warmup && is_aggressor(s.guest))
}

fn aggressor_throughput(
    cell: &CellRows,
    victim: &[(u32, Option<(f64, f64)>)],
) -> Option<AggressorThroughput> {
    let overlapping: Vec<&IsolationSample> = aggressor_samples(cell)
        .filter(|a| {
            let Some((a0, a1)) = a.window_ms() else {
                return false;
            };
            victim
                .iter()
                .any(|&(round, w)| round == a.round && w.is_some_and(|(v0, v1)| a0 < v1 && v0 < a1))
        })
        .collect();
    let values: Vec<f64> = overlapping.iter().map(|s| s.value).collect();
    Some(AggressorThroughput {
        median: median(&values)?,
        unit: overlapping.first()?.unit.to_string(),
        n: values.len(),
    })
}

/// Per round, the span during which every aggressor was reporting: from the latest of their
/// first window starts to the earliest of their last window ends. `None` when an aggressor of
/// that round (by trial or by sample) reported no timed window, or when no aggressor ran.
fn all_reporting_span_ms(cell: &CellRows, round: u32) -> Option<(f64, f64)> {
    let mut guests: Vec<&str> = cell
        .trials
        .iter()
        .filter(|t| t.round == round && is_aggressor(t.guest))
        .map(|t| t.guest)
        .collect();
    let samples: Vec<&IsolationSample> = aggressor_samples(cell)
        .filter(|s| s.round == round)
        .collect();
    for s in &samples {
        if !guests.contains(&s.guest) {
            guests.push(s.guest);
        }
    }
    if guests.is_empty() {
        return None;
    }
    let mut span = (f64::NEG_INFINITY, f64::INFINITY);
    for g in guests {
        let windows = samples
            .iter()
            .filter(|s| s.guest == g)
            .filter_map(|s| s.window_ms());
        let (first, last) = windows.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (s, e)| {
            (a.min(s), b.max(e))
        });
        if first > last {
            return None;
        }
        span = (span.0.max(first), span.1.min(last));
    }
    (span.0 <= span.1).then_some(span)
}

fn overlap(cell: &CellRows, victim: &[(u32, Option<(f64, f64)>)]) -> Overlap {
    let mut spans: Vec<(u32, Option<(f64, f64)>)> = Vec::new();
    let mut covered = 0;
    for &(round, window) in victim {
        let span = match spans.iter().find(|(r, _)| *r == round) {
            Some((_, s)) => *s,
            None => {
                let s = all_reporting_span_ms(cell, round);
                spans.push((round, s));
                s
            }
        };
        if let (Some((v0, v1)), Some((s0, s1))) = (window, span) {
            if s0 <= v0 && v1 <= s1 {
                covered += 1;
            }
        }
    }
    Overlap {
        covered,
        total: victim.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIGHER: Option<Direction> = Some(Direction::HigherIsBetter);
    const LOWER: Option<Direction> = Some(Direction::LowerIsBetter);

    /// Owned rows, borrowed as an [`IsolationInput`].
    #[derive(Default)]
    struct Rows {
        trials: Vec<(String, u32, String, String, TrialState)>,
        samples: Vec<Sample>,
        declared: Vec<DeclaredIsolation>,
    }

    struct Sample {
        platform: String,
        round: u32,
        scenario: String,
        guest: String,
        workload: String,
        metric: String,
        direction: Option<Direction>,
        warmup: bool,
        value: f64,
        elapsed_ns: u64,
        at_ms: Option<u64>,
    }

    impl Rows {
        fn trial(&mut self, platform: &str, round: u32, scenario: &str, guest: &str, ok: bool) {
            let state = if ok {
                TrialState::Ok
            } else {
                TrialState::Failed
            };
            self.trials
                .push((platform.into(), round, scenario.into(), guest.into(), state));
        }

        /// A victim trial per round, with `per_round` windows of 100 ms each, back to back
        /// from 1000 ms, `center` ± 1 % deterministically, after one warm-up.
        #[allow(clippy::too_many_arguments)]
        fn victim(
            &mut self,
            platform: &str,
            scenario: &str,
            rounds: u32,
            per_round: u32,
            metric: &str,
            direction: Option<Direction>,
            center: f64,
        ) {
            for round in 0..rounds {
                self.trial(platform, round, scenario, VICTIM_GUEST, true);
                for i in 0..=per_round {
                    let jitter = 1.0 + f64::from((round * 7 + i * 3) % 11) / 500.0 - 0.01;
                    self.samples.push(Sample {
                        platform: platform.into(),
                        round,
                        scenario: scenario.into(),
                        guest: VICTIM_GUEST.into(),
                        workload: "w".into(),
                        metric: metric.into(),
                        direction,
                        warmup: i == 0,
                        value: if i == 0 { 1e9 } else { center * jitter },
                        elapsed_ns: 100_000_000,
                        at_ms: Some(1000 + 100 * u64::from(i)),
                    });
                }
            }
        }

        /// One aggressor's 500 ms windows ending at `from_ms + 500`, ... up to `to_ms`.
        #[allow(clippy::too_many_arguments)]
        fn aggressor(
            &mut self,
            platform: &str,
            scenario: &str,
            round: u32,
            guest: &str,
            from_ms: u64,
            to_ms: u64,
            value: f64,
        ) {
            self.trial(platform, round, scenario, guest, true);
            let mut end = from_ms + 500;
            while end <= to_ms {
                self.samples.push(Sample {
                    platform: platform.into(),
                    round,
                    scenario: scenario.into(),
                    guest: guest.into(),
                    workload: "stress-cpu".into(),
                    metric: "throughput".into(),
                    direction: HIGHER,
                    warmup: false,
                    value,
                    elapsed_ns: 500_000_000,
                    at_ms: Some(end),
                });
                end += 500;
            }
        }

        fn analyze(&self) -> IsolationAnalysis {
            let trials: Vec<IsolationTrial> = self
                .trials
                .iter()
                .map(|(p, r, s, g, st)| IsolationTrial {
                    platform: p,
                    round: *r,
                    scenario: s,
                    guest: g,
                    state: *st,
                })
                .collect();
            let samples: Vec<IsolationSample> = self
                .samples
                .iter()
                .map(|s| IsolationSample {
                    platform: &s.platform,
                    round: s.round,
                    scenario: &s.scenario,
                    guest: &s.guest,
                    workload: &s.workload,
                    metric: &s.metric,
                    unit: if s.guest == VICTIM_GUEST {
                        "ns"
                    } else {
                        "ops/s"
                    },
                    direction: s.direction,
                    warmup: s.warmup,
                    value: s.value,
                    elapsed_ns: s.elapsed_ns,
                    at_ms: s.at_ms,
                })
                .collect();
            isolation_matrices(
                &IsolationInput {
                    platforms: &["host", "kvm"],
                    trials: &trials,
                    samples: &samples,
                    declared: &self.declared,
                },
                &VerdictConfig::default(),
                &BootstrapConfig {
                    resamples: 1_000,
                    ..BootstrapConfig::default()
                },
            )
        }
    }

    fn only_cell<'a>(a: &'a IsolationAnalysis, platform: &str) -> &'a IsolationCell {
        let row = a.matrices[0]
            .rows
            .iter()
            .find(|r| r.platform == platform)
            .unwrap();
        &row.cells[0]
    }

    #[test]
    fn cells_parse_and_battery_scenarios_do_not() {
        assert_eq!(
            parse_cell("noisy/none"),
            Some(CellName {
                scenario: "noisy",
                stress: None
            })
        );
        let c = parse_cell("noisy/disk[size_mib=64]/pinned-apart").unwrap();
        assert_eq!(
            c.stress,
            Some(Stress {
                stressor: "disk[size_mib=64]",
                placement: "pinned-apart"
            })
        );
        assert_eq!(parse_cell("baseline"), None);
        assert_eq!(parse_cell("noisy/cpu"), None);
        assert!(!is_isolation_scenario("baseline") && is_isolation_scenario("a/none"));
    }

    #[test]
    fn lower_is_better_degradation_is_significant_with_its_interval() {
        let mut r = Rows::default();
        r.victim("host", "iso/none", 5, 4, "latency", LOWER, 100.0);
        r.victim("host", "iso/cpu/shared", 5, 4, "latency", LOWER, 138.0);
        for round in 0..5 {
            r.aggressor("host", "iso/cpu/shared", round, "aggressor1", 0, 3000, 5e6);
        }
        let a = r.analyze();
        assert_eq!(a.tests, 1);
        let m = &a.matrices[0];
        assert_eq!(m.scenario, "iso");
        assert_eq!(m.stressors, ["cpu"]);
        let row = &m.rows[0];
        assert_eq!((row.baseline.n, row.baseline.trials.total), (20, 5));
        let c = &row.cells[0];
        let d = c.degradation().expect("measured");
        assert!((d.pct.unwrap() - 38.0).abs() < 0.5, "{d:?}");
        let ci = d.ci_pct.unwrap();
        assert!(ci.lo < d.pct.unwrap() && d.pct.unwrap() < ci.hi && ci.lo > 30.0 && ci.hi < 45.0);
        assert_eq!((d.n_baseline, d.n_stressed), (20, 20));
        assert!(d.p_holm.unwrap() < 0.001);
        assert_eq!(d.verdict, IsolationVerdict::Degraded);
        // The aggressor ran through every measured window.
        assert_eq!(
            c.overlap,
            Overlap {
                covered: 20,
                total: 20
            }
        );
        let t = c.aggressor_throughput.as_ref().unwrap();
        assert_eq!((t.median, t.unit.as_str()), (5e6, "ops/s"));
        assert_eq!(
            c.aggressor_trials,
            TrialTally {
                total: 5,
                failed: 0,
                unfinished: 0
            }
        );
    }

    #[test]
    fn higher_is_better_loses_throughput_and_twice_as_slow_is_dramatic() {
        let mut r = Rows::default();
        r.victim("host", "iso/none", 5, 4, "bandwidth", HIGHER, 1000.0);
        r.victim(
            "host",
            "iso/mem-bandwidth/shared",
            5,
            4,
            "bandwidth",
            HIGHER,
            600.0,
        );
        r.victim("kvm", "iso/none", 5, 4, "latency", LOWER, 10.0);
        r.victim(
            "kvm",
            "iso/mem-bandwidth/shared",
            5,
            4,
            "latency",
            LOWER,
            25.0,
        );
        let a = r.analyze();
        let host = a.matrices[0]
            .rows
            .iter()
            .find(|r| r.platform == "host" && r.metric == "bandwidth")
            .unwrap();
        let d = host.cells[0].degradation().unwrap();
        // (1 - 600/1000) * 100
        assert!((d.pct.unwrap() - 40.0).abs() < 0.5, "{d:?}");
        assert_eq!(d.verdict, IsolationVerdict::Degraded);
        let kvm = a.matrices[0]
            .rows
            .iter()
            .find(|r| r.platform == "kvm" && r.metric == "latency")
            .unwrap();
        let d = kvm.cells[0].degradation().unwrap();
        assert!((d.pct.unwrap() - 150.0).abs() < 2.0, "{d:?}");
        assert_eq!(d.verdict, IsolationVerdict::Dramatic);
        // Rows exist for every (platform, metric) of the scenario: kvm has no bandwidth data.
        let kvm_bw = a.matrices[0]
            .rows
            .iter()
            .find(|r| r.platform == "kvm" && r.metric == "bandwidth")
            .unwrap();
        assert_eq!(kvm_bw.cells[0].outcome, CellOutcome::NoData);
        // No aggressor samples: no throughput, no window covered.
        assert_eq!(host.cells[0].aggressor_throughput, None);
        assert_eq!(
            host.cells[0].overlap,
            Overlap {
                covered: 0,
                total: 20
            }
        );
    }

    #[test]
    fn same_distribution_is_no_significant_difference() {
        let mut r = Rows::default();
        r.victim("host", "iso/none", 5, 4, "latency", LOWER, 100.0);
        r.victim(
            "host",
            "iso/cpu/pinned-apart",
            5,
            4,
            "latency",
            LOWER,
            100.0,
        );
        let d = only_cell(&r.analyze(), "host")
            .degradation()
            .unwrap()
            .clone();
        assert_eq!(
            d.verdict,
            IsolationVerdict::NoSignificantDifference,
            "{d:?}"
        );
        assert!(d.pct.unwrap().abs() < 1.0 && d.ci_pct.unwrap().contains(0.0));
    }

    #[test]
    fn holm_counts_the_whole_isolation_matrix() {
        // 5 windows against 5 alone: p = 2 / C(10, 5) = 0.0079, significant. Among 10 cells
        // Holm's first step needs 0.005: every cell is "too few samples", whatever the effect.
        let mut r = Rows::default();
        r.victim("host", "iso/none", 1, 5, "latency", LOWER, 100.0);
        r.victim("host", "iso/cpu/shared", 1, 5, "latency", LOWER, 300.0);
        let alone = r.analyze();
        let d = only_cell(&alone, "host").degradation().unwrap().clone();
        assert_eq!((d.verdict, alone.tests), (IsolationVerdict::Dramatic, 1));
        for k in 1..10 {
            r.victim(
                "host",
                &format!("iso/s{k}/shared"),
                1,
                5,
                "latency",
                LOWER,
                300.0,
            );
        }
        let many = r.analyze();
        assert_eq!(many.tests, 10);
        for c in &many.matrices[0].rows[0].cells {
            let d = c.degradation().unwrap();
            assert_eq!(d.verdict, IsolationVerdict::TooFewSamples, "{c:?}");
            assert!((d.pct.unwrap() - 200.0).abs() < 5.0);
        }
    }

    #[test]
    fn a_victim_that_never_reported_is_dnr_and_a_cell_without_trials_is_not_run() {
        let mut r = Rows::default();
        r.declared.push(DeclaredIsolation {
            name: "iso".into(),
            stressors: vec!["fork-bomb".into(), "cpu".into()],
            placements: vec!["shared".into(), "pinned-apart".into()],
            platforms: vec![],
        });
        r.victim("host", "iso/none", 3, 4, "latency", LOWER, 100.0);
        for round in 0..3 {
            r.trial("host", round, "iso/fork-bomb/shared", VICTIM_GUEST, false);
            r.trial(
                "host",
                round,
                "iso/fork-bomb/shared",
                "aggressor1",
                round != 1,
            );
        }
        // The baseline itself did not report on kvm.
        r.trial("kvm", 0, "iso/none", VICTIM_GUEST, false);
        r.victim("kvm", "iso/cpu/shared", 1, 4, "latency", LOWER, 100.0);
        let a = r.analyze();
        let m = &a.matrices[0];
        assert_eq!(m.stressors, ["fork-bomb", "cpu"]);
        assert_eq!(m.placements, ["shared", "pinned-apart"]);
        let host = m.rows.iter().find(|r| r.platform == "host").unwrap();
        let fb = m.cell(host, "fork-bomb", "shared").unwrap();
        assert_eq!(fb.outcome, CellOutcome::DidNotReport);
        assert_eq!(
            fb.victim_trials,
            TrialTally {
                total: 3,
                failed: 3,
                unfinished: 0
            }
        );
        assert_eq!(
            fb.aggressor_trials,
            TrialTally {
                total: 3,
                failed: 1,
                unfinished: 0
            }
        );
        assert_eq!(fb.overlap, Overlap::default());
        assert_eq!(
            m.cell(host, "cpu", "pinned-apart").unwrap().outcome,
            CellOutcome::NotRun
        );
        let kvm = m.rows.iter().find(|r| r.platform == "kvm").unwrap();
        assert_eq!(
            kvm.baseline.trials,
            TrialTally {
                total: 1,
                failed: 1,
                unfinished: 0
            }
        );
        assert_eq!(kvm.baseline.n, 0);
        assert_eq!(
            m.cell(kvm, "cpu", "shared").unwrap().outcome,
            CellOutcome::NoBaseline
        );
        assert_eq!(a.tests, 0);
        let json = serde_json::to_value(fb).unwrap();
        assert_eq!(json["outcome"], "dnr");
        assert_eq!(json["victim_trials"]["failed"], 3);
    }

    #[test]
    fn overlap_counts_only_windows_inside_every_aggressors_span() {
        // Victim windows: [1000, 1100], ... [1300, 1400] in each of 2 rounds.
        let mut r = Rows::default();
        r.victim("host", "iso/none", 2, 4, "latency", LOWER, 100.0);
        r.victim("host", "iso/cpu/shared", 2, 4, "latency", LOWER, 120.0);
        // Round 0: aggressor1 covers everything, aggressor2 only up to 1250 ms: 2 windows
        // ([1000, 1100], [1100, 1200]) lie within the span both were reporting.
        r.aggressor("host", "iso/cpu/shared", 0, "aggressor1", 0, 3000, 7.0);
        r.aggressor("host", "iso/cpu/shared", 0, "aggressor2", 250, 1250, 9.0);
        // Round 1: aggressor2 died before reporting a window.
        r.aggressor("host", "iso/cpu/shared", 1, "aggressor1", 0, 3000, 7.0);
        r.trial("host", 1, "iso/cpu/shared", "aggressor2", false);
        let c = only_cell(&r.analyze(), "host").clone();
        assert_eq!(
            c.overlap,
            Overlap {
                covered: 2,
                total: 8
            }
        );
        assert_eq!(
            c.aggressor_trials,
            TrialTally {
                total: 4,
                failed: 1,
                unfinished: 0
            }
        );
        // Overlapping aggressor windows: round 0 aggressor1 [500,1000]? no (ends at 1000, the
        // victim starts at 1000), [1000,1500] yes; aggressor2 [750,1250] yes; round 1
        // aggressor1 [1000,1500] yes: 7, 9, 7 -> median 7.
        let t = c.aggressor_throughput.unwrap();
        assert_eq!((t.median, t.n), (7.0, 3));
    }
}
