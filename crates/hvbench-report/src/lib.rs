//! hvbench's report renderers. Each returns a `String`; the CLI decides where it goes.
//!
//! A [`Report`] analyses a run once and renders it in every format; the free functions below
//! are shorthands that analyse and render one format.
//!
//! - [`terminal`] and [`markdown`]: the human report — run header, a summary (per workload
//!   class who wins and by how much, the worst isolation result per platform and what placement
//!   did about it, the anomalies with their likely causes, a recommendation), platforms with
//!   their key facts, one table per workload and metric (median, bootstrap interval, CV, ratio
//!   to the baseline with its interval, overhead in words, Holm-adjusted p-value, verdict), the
//!   cross-check of hvbench's workloads against the field's tools that measure the same
//!   quantity (per platform both medians and their ratio in one unit; only when the plan holds
//!   such a pair), the isolation matrices, the evidence counted beside the windows (hypervisor entries per
//!   operation by reason, steal time, what counting cost; docs/architecture.md, "Evidence"),
//!   failures, the boots of dual-boot hosts (how often each was rebooted and how long that
//!   took, every boot in a table, a warning for a boot that came up wrong and was refused), and
//!   the reproducibility manifest.
//! - [`html`]: the same report as one self-contained HTML file with SVG charts (overhead with
//!   interval whiskers, memory latency against working set, a heat map per isolation scenario,
//!   every sample).
//! - [`summary_json`], [`summary_csv`] and [`isolation_csv`]: the same figures for programs.
//! - [`results_json`] and [`results_csv`]: the raw measured samples (warm-ups excluded).
//! - [`compare_terminal`], [`compare_markdown`], [`compare_json`]: two runs side by side.
//!
//! [`Format`] lists the formats of one run with their `--format` names and file names, and
//! renders any of them.
//!
//! The baseline is the first platform whose driver is "host"; without one, the first platform
//! (the report says which). A run on several machines (platforms with a `machine` fact, see
//! docs/architecture.md "Machines over SSH"; the others are on [`LOCAL_MACHINE`]) compares each
//! platform with its own machine's first host platform, falling back to the run's baseline on a
//! machine without one, groups the platforms by machine and sets the machines side by side,
//! warning about the facts in which they differ. Results are grouped by (scenario, workload, metric); the battery is
//! scenario "baseline" (in older runs without it, every scenario that is not an isolation cell).
//!
//! Isolation cells (scenarios `<iso>/none` and `<iso>/<stressor>/<placement>`) are never part
//! of the battery: each platform's victim is compared with itself alone
//! ([`hvbench_analysis::isolation_matrices`]), and a run with only isolation cells renders as an
//! isolation run.

mod boots;
mod charts;
mod compare;
mod compose;
mod cross_check;
mod document;
mod evidence;
mod export;
mod findings;
mod format;
mod html;
mod isolation;
mod machines;
mod manifest;
mod markdown;
mod model;
mod output;
mod summary;
mod terminal;
mod twins;

use compose::Target;
use hvbench_analysis::BootstrapConfig;
use hvbench_store::{BootRow, CounterRow, FailureRow, PlatformRow, RunRow, SampleRow, TrialRow};
use model::Model;

pub use export::{results_csv, results_json};
pub use model::LOCAL_MACHINE;
pub use output::Format;

/// Everything stored about one run, as the store returns it.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub run: &'a RunRow,
    pub platforms: &'a [PlatformRow],
    pub trials: &'a [TrialRow],
    /// Warm-ups included (they are marked); renderers leave them out.
    pub samples: &'a [SampleRow],
    pub failures: &'a [FailureRow],
    /// Evidence: the counters of the run's windows (empty when evidence was off).
    pub counters: &'a [CounterRow],
    /// The boots of the run's dual-boot hosts, in order (empty without them;
    /// docs/architecture.md, "Dual-boot hosts").
    pub boots: &'a [BootRow],
}

/// One run's report: analysed once (bootstrap intervals, tests, anomalies, the isolation
/// matrices), then rendered in any of the formats below without analysing again.
pub struct Report<'a> {
    model: Model<'a>,
    cfg: BootstrapConfig,
}

impl<'a> Report<'a> {
    /// Analyse the run.
    pub fn new(input: &'a ReportInput<'a>, cfg: &BootstrapConfig) -> Report<'a> {
        Report {
            model: Model::build(input, cfg),
            cfg: *cfg,
        }
    }

    /// The report as aligned plain text for a terminal.
    pub fn terminal(&self) -> String {
        terminal::render(&compose::compose(&self.model, &self.cfg, Target::Text))
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        markdown::render(&compose::compose(&self.model, &self.cfg, Target::Text))
    }

    /// The report as one self-contained HTML page (inline CSS and SVG; no script, nothing
    /// fetched).
    pub fn html(&self) -> String {
        let run = self.model.input.run;
        let title = format!(
            "hvbench report: run {} ({})",
            run.id,
            document::one_line(&run.name)
        );
        html::render(
            &title,
            &compose::compose(&self.model, &self.cfg, Target::Html),
        )
    }

    /// See [`summary_json`].
    pub fn summary_json(&self) -> String {
        summary::render(&self.model, &self.cfg)
    }

    /// See [`summary_csv`].
    pub fn summary_csv(&self) -> String {
        summary::render_csv(&self.model)
    }

    /// See [`isolation_csv`].
    pub fn isolation_csv(&self) -> String {
        summary::render_isolation_csv(&self.model)
    }
}

/// The report as aligned plain text for a terminal.
pub fn terminal(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).terminal()
}

/// The report as Markdown.
pub fn markdown(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).markdown()
}

/// The report as one self-contained HTML page (inline CSS and SVG; no script, nothing fetched).
pub fn html(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).html()
}

/// A JSON object: the run, the bootstrap and verdict settings, the baseline's name, `machines`
/// (`{name, platforms, baseline, compared_with, facts, fact_sources}` per machine, in platform
/// order; `baseline` null where the machine has no host platform and falls back to the run's),
/// `machine_differences` (`{fact, label, hardware, values: [{machine, value}]}` per fact that
/// differs between machines), `results` (one entry per battery (scenario, workload, metric,
/// platform) with its machine, is_baseline, compared_with, n, median, ci, mean, stddev, cv, min,
/// max, outliers, the ratio to its baseline (`{point, ci}`), times_worse, p_value, p_holm,
/// verdict; nulls where a platform has no data), `classes` (standings per
/// workload class), `anomalies` (with their explanations), `isolation_only`, `isolation`
/// (`{matrices, tests}`: per scenario its stressors, placements and rows, each row a platform
/// and victim metric with its baseline and one cell per (stressor, placement): `outcome`
/// measured / dnr / no-baseline / no-data / not-run, the degradation in % with its interval,
/// p-values and verdict, victim and aggressor trial counts, aggressor throughput, overlap),
/// `isolation_findings` (the summary's sentences), `evidence` (`{profiles, costs}`: per
/// (platform, scenario, guest, workload, metric) the counters per operation with their
/// intervals, and counted against uncounted windows per platform and metric; empty without
/// counters), `cross_checks` (per pair of an hvbench workload and a tool measuring the same
/// quantity found in the plan: the pair's definition, both labels, and per platform both
/// summaries, the tool's median in hvbench's unit and the ratio hvbench / tool with its interval;
/// left out when there is none), the reproducibility `manifest`, and `boots` (the boots of dual-boot hosts as
/// stored: host, entry, at_ms, reboot, seconds, boot_id, kernel, hypervisor, ok, detail; left
/// out when there are none).
pub fn summary_json(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).summary_json()
}

/// The per-(scenario, workload, metric, platform) figures of [`summary_json`] as CSV (RFC 4180).
pub fn summary_csv(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).summary_csv()
}

/// The isolation matrices as CSV (RFC 4180): one row per (scenario, platform, victim workload,
/// metric, stressor, placement) with the outcome, the degradation in % and its interval, the
/// test, the DNR counts, the aggressors' throughput and the windows overlapped.
pub fn isolation_csv(input: &ReportInput, cfg: &BootstrapConfig) -> String {
    Report::new(input, cfg).isolation_csv()
}

/// Run `b` against run `a` as aligned text: verdicts per (scenario, workload, metric,
/// platform), and the facts that changed.
pub fn compare_terminal(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    compare::terminal(a, b, cfg)
}

/// [`compare_terminal`] as Markdown.
pub fn compare_markdown(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    compare::markdown(a, b, cfg)
}

/// [`compare_terminal`] as JSON: `a`, `b` (the runs), settings, `rows` and `changed_facts`.
pub fn compare_json(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    compare::json(a, b, cfg)
}
