//! The summary as JSON: per battery (scenario, workload, metric, platform) the measured count,
//! the median with its interval and the ratio to the baseline with its interval; and the
//! isolation matrices.

use crate::machines::{self, Difference, MachineSummary};
use crate::manifest::{self, Manifest};
use crate::model::{Model, Outcome};
use hvbench_analysis::anomaly::Anomaly;
use hvbench_analysis::{
    BootstrapConfig, CellOutcome, ClassStanding, Interval, IsolationAnalysis, Ratio, Verdict,
    VerdictConfig,
};
use serde::Serialize;

#[derive(Serialize)]
struct SummaryDoc<'a> {
    run: RunInfo<'a>,
    confidence: f64,
    resamples: usize,
    seed: u64,
    /// The baseline platform's name (the run's: its first platform with driver "host"); null
    /// when the run has no platform. Platforms on a machine with a host platform of its own are
    /// compared with that one instead (`machines`, and each result's `compared_with`).
    baseline: Option<&'a str>,
    /// The machines, in the order of their first platform: name ("this machine" for the
    /// controller's), platforms, own baseline (null: none, its platforms fall back to the run's),
    /// compared_with, and facts (CPU model, CPUs, memory, kernel, ...) with their sources.
    machines: Vec<MachineSummary<'a>>,
    /// The facts whose values differ between the machines (empty with one machine).
    machine_differences: Vec<Difference<'a>>,
    /// Thresholds of the verdicts.
    verdicts: &'a VerdictConfig,
    /// How many comparisons were tested together (Holm's m).
    comparisons: usize,
    results: Vec<Entry<'a>>,
    /// Per workload class, each platform's standing against the baseline.
    classes: &'a [ClassStanding],
    anomalies: Vec<AnomalyEntry<'a>>,
    /// The run measured isolation cells and no battery (`results` is then empty).
    isolation_only: bool,
    /// One matrix per isolation scenario, and the number of tests Holm corrected for.
    isolation: &'a IsolationAnalysis,
    /// The summary's sentences on isolation, per platform.
    isolation_findings: Vec<String>,
    /// The counters beside the windows (docs/architecture.md, "Evidence"): `profiles` per
    /// (platform, scenario, guest, workload, metric) and counting `costs`; empty without them.
    evidence: &'a hvbench_analysis::CounterSummary,
    /// hvbench's workloads against the tools that measure the same quantity: per pair found in
    /// the plan, the pair's definition (sides, conditions, unit factor, conversion), the two
    /// workloads' labels, and per platform that measured both the two summaries, the tool's
    /// median in hvbench's unit and the ratio hvbench / tool; left out when there is none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cross_checks: &'a [hvbench_analysis::CrossCheck],
    manifest: Manifest<'a>,
    /// The boots of dual-boot hosts, as stored, in order; left out when there are none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    boots: &'a [hvbench_store::BootRow],
}

#[derive(Serialize)]
struct AnomalyEntry<'a> {
    #[serde(flatten)]
    anomaly: &'a Anomaly,
    /// The causes in one sentence, or "cause unknown".
    explanation: String,
}

/// A run as the JSON formats name it (the summary, and each side of a comparison).
#[derive(Serialize)]
pub(crate) struct RunInfo<'a> {
    id: i64,
    name: &'a str,
    status: &'static str,
    hvbench_version: &'a str,
}

impl<'a> RunInfo<'a> {
    pub(crate) fn of(run: &'a hvbench_store::RunRow) -> Self {
        RunInfo {
            id: run.id,
            name: &run.name,
            status: run.status.as_str(),
            hvbench_version: &run.hvbench_version,
        }
    }
}

/// One platform's figures for one metric. A platform with no measured sample has n = 0 and
/// nulls, so that a gap is visible, never silent.
#[derive(Serialize)]
struct Entry<'a> {
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    platform: &'a str,
    /// The platform's machine ("this machine" for the controller's).
    machine: &'a str,
    /// A baseline: the run's, or its machine's.
    is_baseline: bool,
    /// The baseline this platform is compared with; null for a baseline.
    compared_with: Option<&'a str>,
    n: usize,
    median: Option<f64>,
    ci: Option<Interval>,
    mean: Option<f64>,
    stddev: Option<f64>,
    /// A fraction (0.05 is 5 %); null when undefined (mean 0).
    cv: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    outliers: usize,
    /// median(platform) / median(baseline); null without data on either side.
    ratio: Option<Ratio>,
    /// How many times worse than the baseline, in the metric's direction (> 1 worse).
    times_worse: Option<f64>,
    /// Two-sided Mann-Whitney U p-value against the baseline, and Holm-adjusted.
    p_value: Option<f64>,
    p_holm: Option<f64>,
    /// Null for the baseline and where either side has no data.
    verdict: Option<Verdict>,
    verdict_reason: Option<&'a str>,
}

pub(crate) fn render(model: &Model, cfg: &BootstrapConfig) -> String {
    let run = model.input.run;
    let mut results = Vec::new();
    for g in &model.groups {
        for (i, (p, outcome)) in model.platforms.iter().zip(&g.outcomes).enumerate() {
            let mut e = Entry {
                scenario: &g.scenario,
                workload: &g.workload,
                metric: &g.metric,
                unit: &g.unit,
                better: &g.better,
                platform: p.name,
                machine: model.machine_of(i).name,
                is_baseline: model.is_baseline(i),
                compared_with: model.baseline_of(i).map(|b| b.name),
                n: 0,
                median: None,
                ci: None,
                mean: None,
                stddev: None,
                cv: None,
                min: None,
                max: None,
                outliers: 0,
                ratio: None,
                times_worse: None,
                p_value: None,
                p_holm: None,
                verdict: None,
                verdict_reason: None,
            };
            if let Some(c) = &g.comparisons[i] {
                e.times_worse = c.times_worse;
                e.p_value = c.test.map(|t| t.p_value);
                e.p_holm = c.p_adjusted;
                e.verdict = Some(c.verdict);
                e.verdict_reason = c.reason.as_deref();
            }
            if let Outcome::Measured {
                summary: s,
                ratio,
                outliers,
            } = outcome
            {
                e.n = s.n;
                e.median = Some(s.median);
                e.ci = Some(s.ci);
                e.mean = Some(s.mean);
                e.stddev = Some(s.stddev);
                e.cv = s.cv.is_finite().then_some(s.cv);
                e.min = Some(s.min);
                e.max = Some(s.max);
                e.outliers = *outliers;
                e.ratio = *ratio;
            }
            results.push(e);
        }
    }
    let doc = SummaryDoc {
        run: RunInfo::of(run),
        confidence: cfg.confidence,
        resamples: cfg.resamples,
        seed: cfg.seed,
        baseline: model.baseline_platform().map(|p| p.name),
        machines: machines::summaries(model),
        machine_differences: machines::differences(model),
        verdicts: &model.verdict_cfg,
        comparisons: model.battery_size,
        results,
        classes: &model.standings,
        anomalies: model
            .anomalies
            .iter()
            .map(|a| AnomalyEntry {
                anomaly: a,
                explanation: a.explanation(),
            })
            .collect(),
        isolation_only: model.is_isolation_only(),
        isolation: &model.isolation,
        isolation_findings: if model.isolation.is_empty() {
            Vec::new()
        } else {
            crate::isolation::summary_lines(model)
        },
        evidence: &model.evidence,
        cross_checks: &model.cross_checks,
        manifest: manifest::build(model),
        boots: model.input.boots,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("the summary serializes");
    s.push('\n');
    s
}

/// The summary as CSV (RFC 4180), one row per (scenario, workload, metric, platform).
pub(crate) fn render_csv(model: &Model) -> String {
    const COLUMNS: [&str; 25] = [
        "run",
        "scenario",
        "workload",
        "metric",
        "unit",
        "better",
        "platform",
        "is_baseline",
        "n",
        "median",
        "ci_lo",
        "ci_hi",
        "mean",
        "stddev",
        "cv",
        "min",
        "max",
        "outliers",
        "ratio",
        "ratio_lo",
        "ratio_hi",
        "times_worse",
        "p_value",
        "p_holm",
        "verdict",
    ];
    let num = |x: Option<f64>| {
        x.filter(|v| v.is_finite())
            .map(|v| serde_json::to_string(&v).unwrap_or_default())
            .unwrap_or_default()
    };
    let mut out = crate::export::csv_line(COLUMNS.iter().map(|c| c.to_string()));
    for g in &model.groups {
        for (i, (p, outcome)) in model.platforms.iter().zip(&g.outcomes).enumerate() {
            let is_baseline = model.is_baseline(i);
            let (s, ratio, outliers) = match outcome {
                Outcome::Measured {
                    summary,
                    ratio,
                    outliers,
                } => (Some(summary), *ratio, *outliers),
                Outcome::NoData(_) => (None, None, 0),
            };
            let c = g.comparisons[i].as_ref();
            let fields = [
                model.input.run.name.clone(),
                g.scenario.clone(),
                g.workload.clone(),
                g.metric.clone(),
                g.unit.clone(),
                g.better.clone(),
                p.name.to_string(),
                is_baseline.to_string(),
                s.map_or(0, |s| s.n).to_string(),
                num(s.map(|s| s.median)),
                num(s.map(|s| s.ci.lo)),
                num(s.map(|s| s.ci.hi)),
                num(s.map(|s| s.mean)),
                num(s.map(|s| s.stddev)),
                num(s.map(|s| s.cv)),
                num(s.map(|s| s.min)),
                num(s.map(|s| s.max)),
                outliers.to_string(),
                num(ratio.map(|r| r.point)),
                num(ratio.map(|r| r.ci.lo)),
                num(ratio.map(|r| r.ci.hi)),
                num(c.and_then(|c| c.times_worse)),
                num(c.and_then(|c| c.test.map(|t| t.p_value))),
                num(c.and_then(|c| c.p_adjusted)),
                c.map(|c| c.verdict.label().to_string()).unwrap_or_default(),
            ];
            out.push_str(&crate::export::csv_line(fields.into_iter()));
        }
    }
    out
}

/// The isolation matrices as CSV (RFC 4180): one row per (scenario, platform, victim workload,
/// metric, stressor, placement). Degradations are in % (positive: the victim slowed down);
/// `outcome` is measured, dnr, no-baseline, no-data or not-run.
pub(crate) fn render_isolation_csv(model: &Model) -> String {
    const COLUMNS: [&str; 27] = [
        "run",
        "scenario",
        "platform",
        "workload",
        "metric",
        "unit",
        "better",
        "stressor",
        "placement",
        "outcome",
        "degradation_pct",
        "ci_lo_pct",
        "ci_hi_pct",
        "n_baseline",
        "n_stressed",
        "p_value",
        "p_holm",
        "verdict",
        "victim_trials",
        "victim_dnr",
        "baseline_trials",
        "baseline_dnr",
        "aggressor_trials",
        "aggressor_dnr",
        "aggressor_throughput",
        "aggressor_unit",
        "windows_overlapped",
    ];
    let num = |x: Option<f64>| {
        x.filter(|v| v.is_finite())
            .map(|v| serde_json::to_string(&v).unwrap_or_default())
            .unwrap_or_default()
    };
    let mut out = crate::export::csv_line(COLUMNS.iter().map(|c| c.to_string()));
    for m in &model.isolation.matrices {
        for r in &m.rows {
            for c in &r.cells {
                let d = c.degradation();
                let outcome = match &c.outcome {
                    CellOutcome::Measured(_) => "measured",
                    CellOutcome::NoBaseline => "no-baseline",
                    CellOutcome::DidNotReport => "dnr",
                    CellOutcome::NoData => "no-data",
                    CellOutcome::NotRun => "not-run",
                };
                let better = r.direction.map_or("", |d| d.as_str());
                let fields = [
                    model.input.run.name.clone(),
                    m.scenario.clone(),
                    r.platform.clone(),
                    r.workload.clone(),
                    r.metric.clone(),
                    r.unit.clone(),
                    better.to_string(),
                    c.stressor.clone(),
                    c.placement.clone(),
                    outcome.to_string(),
                    num(d.and_then(|d| d.pct)),
                    num(d.and_then(|d| d.ci_pct.map(|ci| ci.lo))),
                    num(d.and_then(|d| d.ci_pct.map(|ci| ci.hi))),
                    r.baseline.n.to_string(),
                    d.map_or(0, |d| d.n_stressed).to_string(),
                    num(d.and_then(|d| d.p_value)),
                    num(d.and_then(|d| d.p_holm)),
                    d.map(|d| d.verdict.label().to_string()).unwrap_or_default(),
                    c.victim_trials.total.to_string(),
                    c.victim_trials.failed.to_string(),
                    r.baseline.trials.total.to_string(),
                    r.baseline.trials.failed.to_string(),
                    c.aggressor_trials.total.to_string(),
                    c.aggressor_trials.failed.to_string(),
                    num(c.aggressor_throughput.as_ref().map(|t| t.median)),
                    c.aggressor_throughput
                        .as_ref()
                        .map(|t| t.unit.clone())
                        .unwrap_or_default(),
                    if c.overlap.total == 0 {
                        String::new()
                    } else {
                        format!("{}/{}", c.overlap.covered, c.overlap.total)
                    },
                ];
                out.push_str(&crate::export::csv_line(fields.into_iter()));
            }
        }
    }
    out
}
