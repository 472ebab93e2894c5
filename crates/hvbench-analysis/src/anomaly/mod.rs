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
//! worse" in the metric's direction ([`crate::Better::times_worse`]).
//!
//! An explanation must account for the difference it explains. Where another guest platform
//! did much better on the same workload (the anomaly's [`Peer`]), a cause both share (the same
//! emulated lab, the same host) cannot explain the gap: it moves to [`Anomaly::shared`], and
//! the causes become what was measured or recorded to differ between the two (hypervisor
//! entries per operation by reason, steal time, mitigations, time sources, the guest type);
//! see `gap.rs`. Where nothing differs the cause is unknown and [`Anomaly::next`] says what to
//! look at next.

mod facts;
mod gap;
mod paging;
mod profiles;
mod rules;

use crate::bootstrap::{ratio_of_medians, BootstrapConfig, Interval};
use crate::classes::{classify, WorkloadClass};
use crate::counters::ExitProfile;
use crate::variability::VariabilityConfig;
use hvbench_proto::names::BATTERY_SCENARIO;
use hvbench_proto::Better;
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
    pub direction: Option<Better>,
    pub values: &'a [f64],
}

/// What the rules look at: the baseline's name, every platform's facts, every series (of one
/// scenario, normally "baseline"), and the counters collected beside the windows.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub baseline: &'a str,
    pub platforms: &'a [PlatformFacts<'a>],
    pub series: &'a [Series<'a>],
    /// Counters per operation ([`crate::counters::summarize_counters`]'s profiles); may be
    /// empty. The battery's comparisons read those of battery scenarios (not isolation cells);
    /// the isolation rules read the cells' (`<iso>/none`, `<iso>/<stressor>/<placement>`).
    pub counters: &'a [ExitProfile],
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
    /// Another guest is the anomaly's peer when the platform's times-worse is at least this
    /// many times the peer's on the same metric, their intervals apart (2x).
    pub peer_gap_factor: f64,
    /// A counter per operation "differs" between two platforms at this ratio (2x) ...
    pub counter_ratio: f64,
    /// ... or this absolute difference per operation (0.5).
    pub counter_difference: f64,
    /// A workload shows a mitigation's or an emulation's cost when its times-worse interval
    /// lies wholly above this (2x).
    pub evidence_cost_factor: f64,
    /// A victim's steal time "rises" with its aggressor when it grows by this fraction of the
    /// window (0.02 = 2 points) and to at least twice its level alone.
    pub steal_rise: f64,
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
            peer_gap_factor: 2.0,
            counter_ratio: 2.0,
            counter_difference: 0.5,
            evidence_cost_factor: 2.0,
            steal_rise: 0.02,
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

/// A counter that supports a cause: `key` from `source`, per operation, on a platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterRef {
    pub platform: String,
    /// The scenario it was counted in (`baseline`, `<iso>/<stressor>/<placement>`, ...).
    pub scenario: String,
    pub workload: String,
    /// Where it was counted: `kvm.exits`, `xen.trace`, `guest`, ...
    pub source: String,
    /// `entries`, `exit.rdtsc`, `halt_poll_success_ns`, `steal_fraction`, ...
    pub key: String,
    /// The median per operation (for `steal_fraction`: the fraction of the window).
    pub per_op: f64,
}

/// A likely cause and the facts and counters behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    pub text: String,
    pub facts: Vec<FactRef>,
    /// Counters that show it; empty for a cause that rests on facts alone.
    pub counters: Vec<CounterRef>,
}

/// The guest platform that did much better than the anomaly's platform on the same metric:
/// what the anomaly's causes have to tell apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    pub platform: String,
    pub workload: String,
    pub metric: String,
    /// The anomaly's platform against the baseline.
    pub times_worse: f64,
    /// The peer against the baseline.
    pub peer_times_worse: f64,
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
    /// Likely causes, most specific first; with a peer, only what differs from it; empty:
    /// cause unknown.
    pub causes: Vec<Cause>,
    /// The guest that did much better on the same metric, when there is one.
    pub peer: Option<Peer>,
    /// Causes the platform shares with its peer: true of it, but no explanation of the gap.
    pub shared: Vec<Cause>,
    /// What to look at next: with no cause, what could find one; with causes, what a rule
    /// could not tell from the recorded facts (the paging support of an unrecorded machine).
    pub next: Vec<String>,
}

impl Anomaly {
    /// "likely cause: ... (fact: key=value on platform; counter: source key on platform [in
    /// scenario])", or
    /// "cause unknown: ...; next: ...", then what the peer shares, then (with causes) what to
    /// look at next.
    pub fn explanation(&self) -> String {
        let gap = self.peer.as_ref().map(|p| {
            format!(
                "{} against {} the host's on {} / {}",
                times(p.times_worse),
                times(p.peer_times_worse),
                p.workload,
                p.metric
            )
        });
        let mut out = if self.causes.is_empty() {
            let why = match (&self.peer, &gap) {
                (Some(p), Some(gap)) => format!(
                    "no recorded counter or fact differs between {} and {} ({gap})",
                    self.platform, p.platform
                ),
                _ => "no recorded fact or counter explains it".to_string(),
            };
            let next = if self.next.is_empty() {
                String::new()
            } else {
                format!("; next: {}", self.next.join(" / "))
            };
            format!("cause unknown: {why}{next}")
        } else {
            let parts: Vec<String> = self.causes.iter().map(cause_text).collect();
            match (&self.peer, &gap) {
                (Some(p), Some(gap)) => format!(
                    "likely cause of the gap to {} ({gap}): {}",
                    p.platform,
                    parts.join("; also: ")
                ),
                _ => format!("likely cause: {}", parts.join("; also: ")),
            }
        };
        if let (Some(p), false) = (&self.peer, self.shared.is_empty()) {
            let parts: Vec<String> = self.shared.iter().map(cause_text).collect();
            out.push_str(&format!(
                "; shared with {}, so it does not explain the gap: {}",
                p.platform,
                parts.join("; ")
            ));
        }
        if !self.causes.is_empty() && !self.next.is_empty() {
            out.push_str(&format!("; next: {}", self.next.join(" / ")));
        }
        out
    }
}

/// A cause with its facts and counters: `text (fact: k=v on p; counter: source key on p)`.
fn cause_text(c: &Cause) -> String {
    let mut refs = Vec::new();
    if !c.facts.is_empty() {
        let facts: Vec<String> = c
            .facts
            .iter()
            .map(|f| format!("{}={} on {}", f.key, f.value, f.platform))
            .collect();
        refs.push(format!("fact: {}", facts.join(", ")));
    }
    if !c.counters.is_empty() {
        let counters: Vec<String> = c
            .counters
            .iter()
            .map(|r| {
                let cell = if r.scenario.is_empty() || r.scenario == BATTERY_SCENARIO {
                    String::new()
                } else {
                    format!(" in {}", r.scenario)
                };
                format!("{} {} on {}{cell}", r.source, r.key, r.platform)
            })
            .collect();
        refs.push(format!("counter: {}", counters.join(", ")));
    }
    if refs.is_empty() {
        c.text.clone()
    } else {
        format!("{} ({})", c.text, refs.join("; "))
    }
}

/// A rule: its id, title, the detector, and the fact keys it reads (for the documentation).
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    /// What it looks for, in one sentence.
    pub detects: &'static str,
    pub facts_read: &'static [&'static str],
    /// Its anomalies are a cost against the baseline: a guest that did much better on the
    /// same metric is their [`Peer`], and their causes must tell the two apart.
    pub gap: bool,
    pub(crate) detector: fn(&Context, &mut Vec<Anomaly>),
}

/// Run every rule of [`RULES`] over the evidence, in rule order.
pub fn detect_anomalies(evidence: &Evidence, cfg: &AnomalyConfig) -> Vec<Anomaly> {
    let ctx = Context { ev: evidence, cfg };
    let mut out = Vec::new();
    for rule in RULES {
        let from = out.len();
        (rule.detector)(&ctx, &mut out);
        for a in &mut out[from..] {
            if rule.gap {
                gap::account_for_peer(&ctx, a);
            }
            if a.causes.is_empty() {
                let steps = gap::next_steps(&ctx, a);
                a.next.extend(steps);
            }
        }
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
            ci: crate::verdict::times_worse_interval(direction, &r.ci),
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
#[cfg(test)]
mod tests_evidence;
#[cfg(test)]
mod tests_machines;
