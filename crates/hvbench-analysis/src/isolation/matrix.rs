//! Building one isolation matrix: its axes (stressors, placements), platforms and victim
//! metrics, an index of the rows by platform and cell, and each cell's outcome and trial tally.
//! Measured cells are left [`Pending`] for the one battery of tests over every matrix.

use super::cells::{is_aggressor, parse_cell, CellName};
use super::evidence::{aggressor_throughput, overlap};
use super::{
    CellOutcome, DeclaredIsolation, IsolationCell, IsolationInput, IsolationMatrix, IsolationRow,
    IsolationSample, IsolationTrial, TrialState, TrialTally, VictimBaseline,
};
use crate::descriptive::median;
use hvbench_proto::names::Placement;
use hvbench_proto::Better;
use std::collections::HashMap;

/// A measured cell waiting for its test.
pub(super) struct Pending {
    pub(super) matrix: usize,
    pub(super) row: usize,
    pub(super) cell: usize,
    pub(super) baseline: Vec<f64>,
    pub(super) stressed: Vec<f64>,
    pub(super) direction: Option<Better>,
}

/// Scenario names: declared first, then those seen in trials and samples.
pub(super) fn scenario_names(input: &IsolationInput) -> Vec<String> {
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
            Placement::ALL
                .iter()
                .position(|k| k.as_str() == p)
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
) -> Vec<(&'a str, &'a str, &'a str, Option<Better>)> {
    let mut out: Vec<(&str, &str, &str, Option<Better>)> = Vec::new();
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
pub(super) struct CellRows<'r, 'a> {
    pub(super) trials: Vec<&'r IsolationTrial<'a>>,
    pub(super) samples: Vec<&'r IsolationSample<'a>>,
}

/// Every isolation row by platform and scenario, so that each cell reads only its own rows.
pub(super) struct Index<'r, 'a> {
    cells: HashMap<&'a str, HashMap<&'a str, CellRows<'r, 'a>>>,
    empty: CellRows<'r, 'a>,
}

impl<'r, 'a> Index<'r, 'a> {
    pub(super) fn new(input: &'r IsolationInput<'a>) -> Self {
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

pub(super) fn matrix(
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
        let base = index.cell(platform, &CellName::alone(name).to_string());
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
