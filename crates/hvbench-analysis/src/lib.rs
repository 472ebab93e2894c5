//! hvbench's statistics: pure functions on slices of samples, no I/O.
//!
//! - [`summarize`]: median with a percentile-bootstrap confidence interval, plus mean, sample
//!   standard deviation, coefficient of variation, range.
//! - [`ratio_of_medians`]: a platform's median over the baseline's, with a bootstrap interval.
//! - [`mad_outliers`]: outliers by the modified z-score (reported, never dropped here).
//! - [`mann_whitney_u`] and [`holm_adjust`]: pairwise tests between platforms, corrected for
//!   the size of the battery.
//! - [`attainable`]: before anything runs, the smallest p (raw and Holm-adjusted) a design's
//!   sample sizes and number of comparisons allow, and whether that can reach alpha.
//! - [`variability`]: high variance (CV) and bimodality (a gap in the sorted samples).
//! - [`compare_battery`]: one [`Verdict`] per (metric, platform pair), thresholds in
//!   [`VerdictConfig`].
//! - [`stop_decision`]: whether a campaign needs more rounds (minimum, maximum, target width).
//! - [`classify`] and [`class_standings`]: workloads grouped by what they reveal, and where each
//!   platform stands per group.
//! - [`cross_checks`]: hvbench's own workloads against the field's tools that measure the same
//!   quantity ([`CROSS_CHECKS`]), per platform the ratio of their medians in one unit.
//! - [`isolation_matrices`]: victim degradation per isolation cell against its no-stress
//!   baseline, with DNR counts, the aggressors' throughput and the evidence that they overlapped.
//! - [`anomaly`]: rules that find anomalies and the platform facts that explain them; the fact
//!   keys they read are in [`hvbench_proto::facts`].
//!
//! NaN and ±infinity are not measurements: every function ignores them (a [`Summary`]'s `n`
//! counts only finite values), and returns `None` when nothing finite is left.
//!
//! Every interval is reproducible: resampling draws from a seeded SplitMix64 generator
//! ([`BootstrapConfig::seed`]), so the same data and configuration give the same interval on
//! every machine.

pub mod anomaly;
mod bootstrap;
mod classes;
pub mod counters;
mod cross_check;
mod descriptive;
mod design;
mod isolation;
mod normal;
mod outliers;
pub mod rng;
mod significance;
mod stopping;
mod variability;
mod verdict;

pub use anomaly::{detect_anomalies, Anomaly, AnomalyConfig, Evidence, PlatformFacts, Series};
pub use bootstrap::{ratio_of_medians, summarize, BootstrapConfig, Interval, Ratio, Summary};
pub use classes::{
    class_standings, classify, ClassEntry, ClassStanding, PlatformStanding, Standing, WorkloadClass,
};
pub use counters::{
    summarize_counters, CounterSummary, CountingCost, ExitProfile, PerOp, WindowCounter,
    WindowSample,
};
pub use cross_check::{
    cross_checks, Condition, CrossCheck, CrossPair, CrossPlatform, CrossSeries, PlannedWorkload,
    Side, CROSS_CHECKS,
};
pub use descriptive::median;
pub use design::{attainable, holm_min_adjusted_p, smallest_to_conclude, Attainable};
pub use isolation::{
    is_isolation_scenario, isolation_matrices, parse_cell, AggressorThroughput, CellName,
    CellOutcome, DeclaredIsolation, Degradation, IsolationAnalysis, IsolationCell, IsolationInput,
    IsolationMatrix, IsolationRow, IsolationSample, IsolationTrial, IsolationVerdict, Overlap,
    Stress, TrialState, TrialTally, VictimBaseline, DRAMATIC_DEGRADATION_PCT,
    DRAMATIC_THROUGHPUT_LOSS_PCT, NO_STRESS, VICTIM_GUEST,
};
pub use outliers::{mad_outliers, DEFAULT_MAD_THRESHOLD};
pub use significance::{
    exact_min_p, holm_adjust, mann_whitney_min_p, mann_whitney_min_p_method, mann_whitney_u,
    MannWhitney, TestMethod, EXACT_MAX_TOTAL,
};
pub use stopping::{relative_ci_width, stop_decision, StopDecision, StopRule};
pub use variability::{variability, Bimodality, Variability, VariabilityConfig};
pub use verdict::{compare_battery, Comparison, PairInput, Verdict, VerdictConfig};
