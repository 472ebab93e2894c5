//! Isolation experiments (docs/architecture.md, "Isolation experiments"): how much worse a victim does
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
//!
//! This file holds the run's rows as the store gives them and the entry point; the cell names
//! (`cells.rs`), building a matrix (`matrix.rs`), the aggressors' evidence (`evidence.rs`) and
//! the result types (`results.rs`) each have a file of their own.

mod cells;
mod evidence;
mod matrix;
mod results;

use crate::bootstrap::BootstrapConfig;
use crate::verdict::{compare_battery, PairInput, VerdictConfig};
use hvbench_proto::Better;
use serde::Serialize;

pub use cells::{is_isolation_scenario, parse_cell, CellName, Stress};
pub use results::{
    AggressorThroughput, CellOutcome, Degradation, IsolationAnalysis, IsolationCell,
    IsolationMatrix, IsolationRow, IsolationVerdict, Overlap, TrialTally, VictimBaseline,
    DRAMATIC_DEGRADATION_PCT, DRAMATIC_THROUGHPUT_LOSS_PCT,
};

use matrix::{matrix, scenario_names, Index, Pending};
use results::degradation;

/// The stressor part of a baseline cell's scenario: `<iso>/none`.
pub use hvbench_proto::names::NO_STRESS;

/// The guest name of a cell's victim; aggressors are `aggressor1`, `aggressor2`, ...
pub use hvbench_proto::names::VICTIM as VICTIM_GUEST;

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
    pub direction: Option<Better>,
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

#[cfg(test)]
mod tests;
