//! Anomaly rules: a detector over samples, plus the platform facts that explain what it found.
//!
//! Rules are written against workload and metric **names** and fact **keys**, as data: a rule
//! whose workloads or facts are absent from a run simply does not fire, so rules can be written
//! for workloads and drivers that do not exist yet. Each [`Anomaly`] says what was seen (with
//! numbers), and either the likely causes with the facts that support them, or that the cause
//! is unknown. The rules and the fact keys each one reads are listed in [`RULES`].
//!
//! Every comparison is against the baseline platform (normally the bare host), on the ratio of
//! medians with its bootstrap interval ([`crate::ratio_of_medians`]), expressed as "times
//! worse" in the metric's direction ([`crate::Direction::times_worse`]).

mod facts;
mod rules;

use crate::bootstrap::{ratio_of_medians, BootstrapConfig, Interval};
use crate::classes::{classify, WorkloadClass};
use crate::variability::VariabilityConfig;
use crate::verdict::Direction;
use serde::Serialize;
use std::collections::BTreeMap;

pub use rules::{parallelism, working_set_bytes, RULES};

/// A platform of the run and everything its driver and agent recorded about it.
#[derive(Debug, Clone, Copy)]
pub struct PlatformFacts<'a> {
    pub name: &'a str,
    pub facts: &'a BTreeMap<String, String>,
}

/// One platform's measured values of one metric.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub platform: &'a str,
    pub workload: &'a str,
    pub metric: &'a str,
    pub unit: &'a str,
    pub direction: Option<Direction>,
    pub values: &'a [f64],
}

/// What the rules look at: the baseline's name, every platform's facts, every series (of one
/// scenario, normally "baseline").
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub baseline: &'a str,
    pub platforms: &'a [PlatformFacts<'a>],
    pub series: &'a [Series<'a>],
}

/// Thresholds of the rules, each with its default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnomalyConfig {
    pub bootstrap: BootstrapConfig,
    pub variability: VariabilityConfig,
    /// clock_gettime "far above host": the ratio's interval wholly above this (3x).
    pub slow_time_factor: f64,
    /// A kernel path "far worse than CPU": its times-worse interval wholly above this many
    /// times the CPU workloads' (2x).
    pub kernel_vs_cpu_factor: f64,
    /// Working sets beyond this many bytes are beyond the TLB's reach (8 MiB: 2048 4-KiB
    /// entries, a typical second-level TLB).
    pub tlb_reach_bytes: u64,
    /// The latency curve "diverges" when the ratio beyond the TLB's reach is this fraction
    /// above the ratio within it (25 %).
    pub tlb_divergence: f64,
    /// Scaling "collapses" when the ratio at the most vCPUs is this fraction above the ratio at
    /// the fewest (25 %).
    pub smp_collapse: f64,
    /// Small-request latency "much worse than bulk": this many times bulk's times-worse (2x).
    pub latency_vs_bulk_factor: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            bootstrap: BootstrapConfig::default(),
            variability: VariabilityConfig::default(),
            slow_time_factor: 3.0,
            kernel_vs_cpu_factor: 2.0,
            tlb_reach_bytes: 8 << 20,
            tlb_divergence: 0.25,
            smp_collapse: 0.25,
            latency_vs_bulk_factor: 2.0,
        }
    }
}

/// A fact that supports a cause: `key=value` on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactRef {
    pub platform: String,
    pub key: String,
    pub value: String,
}

/// A likely cause and the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub text: String,
    pub facts: Vec<FactRef>,
}

/// One anomaly found in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The rule's id, e.g. "slow-time-calls".
    pub rule: &'static str,
    /// The rule's title, e.g. "slow time calls".
    pub title: &'static str,
    /// The platform it concerns.
    pub platform: String,
    /// The workloads involved.
    pub workloads: Vec<String>,
    /// What was seen, with numbers.
    pub seen: String,
    /// Likely causes, most specific first; empty: cause unknown.
    pub causes: Vec<Cause>,
}

impl Anomaly {
    /// "likely cause: ... (fact: key=value on platform)", or "cause unknown".
    pub fn explanation(&self) -> String {
        if self.causes.is_empty() {
            return "cause unknown: no recorded fact explains it".to_string();
        }
        let parts: Vec<String> = self
            .causes
            .iter()
            .map(|c| {
                if c.facts.is_empty() {
                    c.text.clone()
                } else {
                    let facts: Vec<String> = c
                        .facts
                        .iter()
                        .map(|f| format!("{}={} on {}", f.key, f.value, f.platform))
                        .collect();
                    format!("{} (fact: {})", c.text, facts.join(", "))
                }
            })
            .collect();
        format!("likely cause: {}", parts.join("; also: "))
    }
}

/// A rule: its id, title, the detector, and the fact keys it reads (for the documentation).
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    /// What it looks for, in one sentence.
    pub detects: &'static str,
    pub facts_read: &'static [&'static str],
    pub(crate) detector: fn(&Context, &mut Vec<Anomaly>),
}

/// Run every rule of [`RULES`] over the evidence, in rule order.
pub fn detect_anomalies(evidence: &Evidence, cfg: &AnomalyConfig) -> Vec<Anomaly> {
    let ctx = Context { ev: evidence, cfg };
    let mut out = Vec::new();
    for rule in RULES {
        (rule.detector)(&ctx, &mut out);
    }
    out
}

/// How a platform compares with the baseline on one series.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Versus<'a> {
    pub series: &'a Series<'a>,
    /// > 1: worse than the baseline.
    pub times_worse: f64,
    pub ci: Interval,
}

/// The evidence with helpers the rules share.
pub(crate) struct Context<'a> {
    pub ev: &'a Evidence<'a>,
    pub cfg: &'a AnomalyConfig,
}

impl<'a> Context<'a> {
    /// Platforms other than the baseline, in order.
    pub(crate) fn guests(&self) -> impl Iterator<Item = &'a PlatformFacts<'a>> + '_ {
        self.ev
            .platforms
            .iter()
            .filter(|p| p.name != self.ev.baseline)
    }

    pub(crate) fn baseline(&self) -> Option<&'a PlatformFacts<'a>> {
        self.ev
            .platforms
            .iter()
            .find(|p| p.name == self.ev.baseline)
    }

    pub(crate) fn series_of(&self, platform: &str) -> impl Iterator<Item = &'a Series<'a>> + '_ {
        let platform = platform.to_string();
        self.ev
            .series
            .iter()
            .filter(move |s| s.platform == platform)
    }

    fn baseline_series(&self, workload: &str, metric: &str) -> Option<&'a Series<'a>> {
        self.ev.series.iter().find(|s| {
            s.platform == self.ev.baseline && s.workload == workload && s.metric == metric
        })
    }

    /// `s` (a guest's series) against the baseline's series of the same metric.
    pub(crate) fn versus(&self, s: &'a Series<'a>) -> Option<Versus<'a>> {
        let direction = s.direction?;
        let base = self.baseline_series(s.workload, s.metric)?;
        let r = ratio_of_medians(base.values, s.values, &self.cfg.bootstrap)?;
        let times_worse = direction.times_worse(r.point);
        times_worse.is_finite().then(|| Versus {
            series: s,
            times_worse,
            ci: direction.times_worse_interval(&r.ci),
        })
    }

    /// Every series of `platform` in `class`, against the baseline.
    pub(crate) fn versus_class(&self, platform: &str, class: WorkloadClass) -> Vec<Versus<'a>> {
        self.series_of(platform)
            .filter(|s| classify(s.workload) == class)
            .filter_map(|s| self.versus(s))
            .collect()
    }
}

/// Geometric mean of times-worse.
pub(crate) fn geomean(v: &[Versus]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    Some((v.iter().map(|x| x.times_worse.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// A factor for a sentence: `2.31x`.
pub(crate) fn times(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}x")
    } else if x >= 10.0 {
        format!("{x:.1}x")
    } else {
        format!("{x:.2}x")
    }
}

#[cfg(test)]
mod tests;
