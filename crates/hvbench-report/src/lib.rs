//! hvbench's report renderers. Each returns a `String`; the CLI decides where it goes.
//!
//! - [`terminal`] and [`markdown`]: the human report — run header, platforms with their key
//!   facts, one table per workload and metric (median, bootstrap interval, CV, ratio to the
//!   baseline with its interval, overhead in words), failures.
//! - [`summary_json`]: the same figures for programs.
//! - [`results_json`] and [`results_csv`]: the raw measured samples (warm-ups excluded).
//!
//! The baseline is the first platform whose driver is "host"; without one, the first platform
//! (the report says which). Results are grouped by (scenario, workload, metric).

mod compose;
mod document;
mod export;
mod format;
mod markdown;
mod model;
mod summary;
mod terminal;

use hvbench_analysis::BootstrapConfig;
use hvbench_store::{FailureRow, PlatformRow, RunRow, SampleRow, TrialRow};
use model::Model;

pub use export::{results_csv, results_json};

/// Everything stored about one run, as the store returns it.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub run: &'a RunRow,
    pub platforms: &'a [PlatformRow],
    pub trials: &'a [TrialRow],
    /// Warm-ups included (they are marked); renderers leave them out.
    pub samples: &'a [SampleRow],
    pub failures: &'a [FailureRow],
}

/// The report as aligned plain text for a terminal.
pub fn terminal(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    terminal::render(&compose::compose(&Model::build(input, cfg), cfg))
}

/// The report as Markdown.
pub fn markdown(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    markdown::render(&compose::compose(&Model::build(input, cfg), cfg))
}

/// A JSON object: the run, the bootstrap settings, the baseline's name, and `results`, one entry
/// per (scenario, workload, metric, platform) with n, median, ci, mean, stddev, cv, min, max,
/// outliers and the ratio to the baseline (`{point, ci}`), nulls where a platform has no data.
pub fn summary_json(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    summary::render(&Model::build(input, cfg), cfg)
}
