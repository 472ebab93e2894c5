//! The evidence of a run (docs/architecture.md, "Evidence"): the stored counters and samples,
//! as rows, turned into [`CounterSummary`] once for every renderer.

use crate::ReportInput;
use hvbench_analysis::{
    summarize_counters, BootstrapConfig, CounterSummary, WindowCounter, WindowSample,
};

/// Per-operation profiles and counting costs of the run; empty when it has no counters.
pub(super) fn counter_summary(input: &ReportInput, cfg: &BootstrapConfig) -> CounterSummary {
    if input.counters.is_empty() {
        return CounterSummary::default();
    }
    let samples: Vec<WindowSample> = input
        .samples
        .iter()
        .map(|s| WindowSample {
            platform: &s.platform,
            scenario: &s.scenario,
            guest: &s.guest,
            round: s.round,
            workload: &s.workload,
            metric: &s.metric,
            index: s.index,
            warmup: s.warmup,
            value: s.value,
            better: &s.better,
            iterations: s.iterations,
            elapsed_ns: s.elapsed_ns,
        })
        .collect();
    let counters: Vec<WindowCounter> = input
        .counters
        .iter()
        .map(|c| WindowCounter {
            platform: &c.platform,
            scenario: &c.scenario,
            guest: &c.guest,
            round: c.round,
            workload: &c.workload,
            metric: &c.metric,
            index: c.index,
            source: &c.source,
            key: &c.key,
            value: c.value,
            span_ns: c.span_ns,
        })
        .collect();
    summarize_counters(&samples, &counters, cfg)
}
