//! What the report tests share: a run's rows built by hand as the store would return them
//! ([`Run`]), the bootstrap settings, and the helpers that find a table in a text report.
//!
//! Each test file (its own crate) uses a part of it.
#![allow(dead_code)]

use hvbench_analysis::BootstrapConfig;
use hvbench_report::ReportInput;
use hvbench_store::{
    BootRow, CounterRow, FailureRow, PlatformRow, RunRow, RunStatus, SampleRow, TrialRow,
};

/// The owned rows of one run; [`Run::input`] borrows them as the renderers want.
pub struct Run {
    pub run: RunRow,
    pub platforms: Vec<PlatformRow>,
    pub trials: Vec<TrialRow>,
    pub samples: Vec<SampleRow>,
    pub failures: Vec<FailureRow>,
    pub counters: Vec<CounterRow>,
    pub boots: Vec<BootRow>,
}

/// The stored plan of `spec`, built with the plan type as the runner builds it.
pub fn plan_json(spec: &str) -> String {
    let plan = hvbench_spec::parse("test.toml", spec).unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_string(&plan).unwrap()
}

impl Run {
    /// A complete run of experiment file `spec` (its plan stored as the runner stores it), with
    /// no rows yet.
    pub fn new(id: i64, name: &str, spec: &str) -> Run {
        Run::with_plan(id, name, spec, plan_json(spec))
    }

    /// A complete run with this stored spec and plan, with no rows yet.
    pub fn with_plan(id: i64, name: &str, spec: &str, plan_json: String) -> Run {
        Run {
            run: RunRow {
                id,
                name: name.into(),
                started_ms: 1_795_000_000_000,
                finished_ms: Some(1_795_000_060_000),
                status: RunStatus::Complete,
                hvbench_version: "0.1.0".into(),
                spec: spec.into(),
                plan_json,
            },
            platforms: Vec::new(),
            trials: Vec::new(),
            samples: Vec::new(),
            failures: Vec::new(),
            counters: Vec::new(),
            boots: Vec::new(),
        }
    }

    pub fn input(&self) -> ReportInput<'_> {
        ReportInput {
            run: &self.run,
            platforms: &self.platforms,
            trials: &self.trials,
            samples: &self.samples,
            failures: &self.failures,
            counters: &self.counters,
            boots: &self.boots,
        }
    }

    /// Add a platform (ids from 1, in order) with these facts.
    pub fn add_platform(&mut self, name: &str, driver: &str, facts: &[(&str, &str)]) {
        self.platforms.push(PlatformRow {
            id: self.platforms.len() as i64 + 1,
            name: name.into(),
            driver: driver.into(),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }

    /// [`Run::add_platform`] as a builder.
    pub fn platform(mut self, name: &str, driver: &str, facts: &[(&str, &str)]) -> Run {
        self.add_platform(name, driver, facts);
        self
    }

    /// A trial (started at 0, finished at 1 ms), failed for `failure`.
    pub fn push_trial(
        &mut self,
        platform: &str,
        round: u32,
        scenario: &str,
        guest: &str,
        failure: Option<&str>,
    ) {
        self.trials.push(TrialRow {
            id: self.trials.len() as i64 + 1,
            platform: platform.into(),
            round,
            guest: guest.into(),
            scenario: scenario.into(),
            status: if failure.is_some() { "failed" } else { "ok" }.into(),
            reason: failure.map(str::to_string),
            started_ms: 0,
            finished_ms: Some(1),
        });
    }

    /// Ten rounds of one measured sample each of guest0, `center` ± 1 % with the same
    /// deterministic pattern on every platform, so that a ratio of medians is the ratio of the
    /// centers.
    pub fn series(
        mut self,
        platform: &str,
        scenario: &str,
        workload: &str,
        metric: &str,
        better: &str,
        center: f64,
    ) -> Run {
        for round in 0..10u32 {
            self.samples.push(SampleRow {
                platform: platform.into(),
                guest: "guest0".into(),
                scenario: scenario.into(),
                round,
                workload: workload.into(),
                metric: metric.into(),
                unit: "u".into(),
                better: better.into(),
                warmup: false,
                index: 1,
                value: center * (1.0 + f64::from((round * 7) % 11) / 500.0 - 0.01),
                iterations: 100,
                elapsed_ns: 1_000_000,
                at_ms: None,
            });
        }
        self
    }
}

/// The bootstrap settings of the tests: `resamples` resamples, the rest the default.
pub fn bootstrap(resamples: usize) -> BootstrapConfig {
    BootstrapConfig {
        resamples,
        ..BootstrapConfig::default()
    }
}

/// The bootstrap settings of most tests: 1000 resamples.
pub fn cfg() -> BootstrapConfig {
    bootstrap(1_000)
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The lines of the table under the heading that starts with `heading`.
pub fn table_under<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .peekable();
    assert!(
        lines.next().is_some(),
        "no heading {heading:?} in\n{report}"
    );
    // A section's underline and the blank line after it.
    if lines
        .peek()
        .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c == '-' || c == '='))
    {
        lines.next();
    }
    lines
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The lines of the table under the line that starts with `heading`, skipping any paragraph
/// in between (a table has a `platform` header or a `---` rule).
pub fn table_past_paragraphs<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .peekable();
    assert!(
        lines.next().is_some(),
        "no heading {heading:?} in\n{report}"
    );
    let mut table: Vec<&str> = Vec::new();
    for l in lines {
        if l.is_empty() {
            if table
                .iter()
                .any(|t| t.starts_with("platform") || t.contains("---"))
            {
                break;
            }
            table.clear();
        } else {
            table.push(l);
        }
    }
    table
}

/// The row of `table` whose first word is `first`.
pub fn row<'a>(table: &[&'a str], first: &str) -> &'a str {
    table
        .iter()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row for {first} in {table:#?}"))
}
