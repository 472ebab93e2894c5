//! What the isolation analysis reports: per-cell outcomes, degradations and their verdicts,
//! rows and matrices, and how a battery [`Comparison`] becomes a [`Degradation`]. The output
//! shape, kept apart from the code that fills it in.

use crate::bootstrap::{Interval, Ratio};
use crate::verdict::{Comparison, Verdict};
use hvbench_proto::Better;
use serde::Serialize;

/// A degradation of this much or more is dramatic for a lower-is-better victim: it took twice
/// as long.
pub const DRAMATIC_DEGRADATION_PCT: f64 = 100.0;
/// The same for a higher-is-better victim: it lost half its throughput (ran at half speed,
/// as a lower-is-better one that took twice as long).
pub const DRAMATIC_THROUGHPUT_LOSS_PCT: f64 = 50.0;

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
        direction: Better,
    ) -> IsolationVerdict {
        let dramatic = match direction {
            Better::Lower => DRAMATIC_DEGRADATION_PCT,
            Better::Higher => DRAMATIC_THROUGHPUT_LOSS_PCT,
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
    pub direction: Option<Better>,
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

pub(super) fn degradation(c: &Comparison, direction: Option<Better>) -> Degradation {
    let pct = |r: f64| match direction? {
        Better::Lower => Some((r - 1.0) * 100.0),
        Better::Higher => Some((1.0 - r) * 100.0),
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
            direction.unwrap_or(Better::Lower),
        ),
        reason: c.reason.clone(),
    }
}
