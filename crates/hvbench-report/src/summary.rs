//! The summary as JSON: per (scenario, workload, metric, platform) the measured count, the
//! median with its interval and the ratio to the baseline with its interval.

use crate::model::{Model, Outcome};
use hvbench_analysis::{BootstrapConfig, Interval, Ratio};
use serde::Serialize;

#[derive(Serialize)]
struct SummaryDoc<'a> {
    run: RunInfo<'a>,
    confidence: f64,
    resamples: usize,
    seed: u64,
    /// The baseline platform's name; null when the run has no platform.
    baseline: Option<&'a str>,
    results: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct RunInfo<'a> {
    id: i64,
    name: &'a str,
    status: &'static str,
    hvbench_version: &'a str,
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
    is_baseline: bool,
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
                better: g.better.as_str(),
                platform: p.name,
                is_baseline: model.baseline.as_ref().is_some_and(|b| b.index == i),
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
            };
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
        run: RunInfo {
            id: run.id,
            name: &run.name,
            status: run.status.as_str(),
            hvbench_version: &run.hvbench_version,
        },
        confidence: cfg.confidence,
        resamples: cfg.resamples,
        seed: cfg.seed,
        baseline: model.baseline_platform().map(|p| p.name),
        results,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("the summary serializes");
    s.push('\n');
    s
}
