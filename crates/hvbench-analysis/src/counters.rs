//! Evidence beside the samples (docs/architecture.md, "Evidence"): the counters collected over
//! each measured window — VM exits by reason, hypervisor events, host-side CPU time, the
//! guest's steal time — turned into **per-operation** figures with intervals, per platform and
//! workload, and the cost of counting itself.
//!
//! A window's counter is a total over the span its source counted (`span_ns`, on the source's
//! own clock), which need not coincide with the agent's window (the collector starts when it
//! sees the window's first mark). Per operation is therefore a rate times the window's time per
//! operation: `value / span_ns * elapsed_ns / iterations`. That holds whatever the lag, as long
//! as the workload runs steadily through its window, which is what a calibrated window is.
//!
//! Counter keys (written by the collectors, see `hvbench_platform::evidence`):
//! - source `kvm.exits`: `exit.<reason>` (the `kvm:kvm_exit` tracepoint, by exit reason);
//! - source `kvm.stats`: KVM's binary statistics summed over the VM's vCPUs (`exits`,
//!   `io_exits`, `mmio_exits`, `halt_exits`, `irq_exits`, `halt_poll_success_ns`, ...);
//! - source `xen.trace`: `exit.<reason>` (HVM and PVH guests), `hypercall.<name>` and
//!   `pv.<event>` (PV guests), `running_ns` and `runnable_ns` of the guest's vCPUs,
//!   `dom0.running_ns`;
//! - source `host.threads`: `vcpu_cpu_ns` and `other_cpu_ns` (the VM's host-side threads);
//! - source `xen.top`: block back-end counters of the guest's domain (`vbd_oo`, ...);
//! - source `guest`: `steal_ns` (the guest's own /proc/stat);
//! - source `counted`: the agent's own measurement of a counted window (`value`, `iterations`,
//!   `elapsed_ns`). Counted windows are extra windows after the measured ones: the measured
//!   windows (the samples) are never counted beside, so counting cannot distort the results;
//!   the counted window's value against the samples is [`CountingCost`].
//!
//! "Reasons" are the keys starting with `exit.`, `hypercall.` or `pv.`: every entry into the
//! hypervisor the sources could tell apart. Their sum is a platform's hypervisor entries per
//! operation.

use crate::bootstrap::{summarize, BootstrapConfig, Interval};
use crate::descriptive::median;
use crate::isolation::parse_cell;
use hvbench_proto::Better;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One stored sample, as the report reads it from the store.
#[derive(Debug, Clone, Copy)]
pub struct WindowSample<'a> {
    pub platform: &'a str,
    pub scenario: &'a str,
    /// The role of the agent run: `guest0`, `host`, `victim`, `aggressor1`, ...
    pub guest: &'a str,
    pub round: u32,
    pub workload: &'a str,
    pub metric: &'a str,
    pub index: u32,
    pub warmup: bool,
    pub value: f64,
    /// Which way the metric is better, as stored: `higher` or `lower` (`hvbench_proto::Better`).
    pub better: &'a str,
    pub iterations: u64,
    pub elapsed_ns: u64,
}

/// One stored counter of one window; its window's sample has the same platform, scenario,
/// guest, round, workload, metric and index.
#[derive(Debug, Clone, Copy)]
pub struct WindowCounter<'a> {
    pub platform: &'a str,
    pub scenario: &'a str,
    pub guest: &'a str,
    pub round: u32,
    pub workload: &'a str,
    pub metric: &'a str,
    pub index: u32,
    pub source: &'a str,
    pub key: &'a str,
    pub value: f64,
    pub span_ns: u64,
}

/// A counter per operation over a platform's windows: the median and its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerOp {
    /// `exit.cpuid`, `hypercall.iret`, `vcpu_cpu_ns`, ... (the total: `entries`).
    pub key: String,
    /// Where it was counted (`kvm.exits`, `xen.trace`, ...).
    pub source: String,
    pub median: f64,
    /// None with fewer than two windows.
    pub ci: Option<Interval>,
    /// Windows it was counted in.
    pub n: usize,
}

/// What was counted beside one metric of one workload on one platform (one scenario and role).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExitProfile {
    pub platform: String,
    pub scenario: String,
    pub guest: String,
    pub workload: String,
    pub metric: String,
    /// Windows with counters.
    pub windows: usize,
    /// Hypervisor entries per operation (the sum of the reasons), when any source told them
    /// apart; else KVM's own `exits` statistic.
    pub entries: Option<PerOp>,
    /// Entries per operation by reason, most frequent first.
    pub reasons: Vec<PerOp>,
    /// The guest's steal time as a fraction of its windows (0.02 = 2 %).
    pub steal_fraction: Option<PerOp>,
    /// Everything else counted, per operation (`kvm.stats` keys, host-side CPU ns, ...).
    pub other: Vec<PerOp>,
    /// The sources that counted.
    pub sources: Vec<String>,
}

/// What counting cost: the counted window of each agent run against its measured windows
/// (which nothing counts), in the metric's direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountingCost {
    pub platform: String,
    pub workload: String,
    pub metric: String,
    pub counted_median: f64,
    pub uncounted_median: f64,
    /// > 1: counted windows are worse (slower) than uncounted ones by this factor.
    pub times_worse: f64,
    pub counted_windows: usize,
}

/// Every profile and cost of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CounterSummary {
    pub profiles: Vec<ExitProfile>,
    pub costs: Vec<CountingCost>,
}

/// The source whose `steal_ns` is the guest's own steal time.
const GUEST_SOURCE: &str = "guest";
/// The source of the agent's counted windows: their own measurement (`value`, `iterations`,
/// `elapsed_ns`), the window every other source's counters of that index belong to.
pub const COUNTED_SOURCE: &str = "counted";
/// The key of [`ExitProfile::entries`].
pub const ENTRIES_KEY: &str = "entries";
/// Key prefixes of the reasons: every entry into the hypervisor a source told apart.
pub const REASON_PREFIXES: [&str; 3] = ["exit.", "hypercall.", "pv."];
/// Sources of reasons, the preferred first, for [`ExitProfile::entries`].
const ENTRY_SOURCES: [&str; 2] = ["kvm.exits", "xen.trace"];

/// Whether a counter key is a reason (an entry into the hypervisor of a kind).
pub fn is_reason(key: &str) -> bool {
    REASON_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// A window's operations and length.
#[derive(Default, Clone, Copy)]
struct Win {
    iterations: u64,
    elapsed_ns: u64,
}

/// A window's identity within one agent run's metric: (round, index).
type WindowId = (u32, u32);

/// (platform, scenario, guest, workload, metric).
type ProfileKey<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// What one profile gathers before it is summarized.
#[derive(Default)]
struct Gathered<'a> {
    windows: BTreeSet<WindowId>,
    /// Per (source, key), the per-operation value of each window it was counted in.
    per_op: BTreeMap<(&'a str, &'a str), Vec<f64>>,
    /// Per source, per window, the sum of its reasons per operation.
    reason_sums: BTreeMap<&'a str, BTreeMap<WindowId, f64>>,
    steal: Vec<f64>,
    sources: BTreeSet<&'a str>,
}

/// Everything counted beside the measured windows, per operation, and what counting cost.
///
/// - A counter joins its window (same platform, scenario, guest, round, workload, metric and
///   index): a counted window (source `counted` gives its iterations and length), or a measured
///   sample (the guest's steal time); counters of warm-ups or of unknown windows are ignored,
///   and so are non-finite values, spans of 0 and windows of 0 iterations or 0 ns.
/// - Per operation: `value / span_ns * elapsed_ns / iterations`; the guest's `steal_ns` is a
///   fraction of its span instead (`value / span_ns`, [`ExitProfile::steal_fraction`]).
/// - One [`ExitProfile`] per (platform, scenario, guest, workload, metric) with counters, in the
///   order of the samples: platforms, then workloads, metrics, scenarios and guests each as
///   first seen.
/// - One [`CountingCost`] per (platform, workload, metric) with counted windows: the median of
///   those counted windows against the median of the measured samples of the same agent runs.
///   Isolation cells with aggressors are left out (what the aggressors do in the counted window
///   is not what they did in the others), the victim alone (`<iso>/none`) counts.
pub fn summarize_counters(
    samples: &[WindowSample],
    counters: &[WindowCounter],
    cfg: &BootstrapConfig,
) -> CounterSummary {
    let ranks = Ranks::of_samples(samples);
    // Every window's (iterations, elapsed_ns): the measured samples' (their steal time), and
    // the counted windows' (every other counter), which the agent sends as `counted`.
    let mut windows: HashMap<(ProfileKey, WindowId), Win> = samples
        .iter()
        .filter(|s| !s.warmup)
        .map(|s| {
            let key = (s.platform, s.scenario, s.guest, s.workload, s.metric);
            let w = Win {
                iterations: s.iterations,
                elapsed_ns: s.elapsed_ns,
            };
            ((key, (s.round, s.index)), w)
        })
        .collect();
    // Per agent run (profile key and round), the counted windows' values.
    let mut counted: BTreeMap<(ProfileKey, u32), Vec<f64>> = BTreeMap::new();
    for c in counters.iter().filter(|c| c.source == COUNTED_SOURCE) {
        let key = (c.platform, c.scenario, c.guest, c.workload, c.metric);
        if !c.value.is_finite() {
            continue;
        }
        let w = windows.entry((key, (c.round, c.index))).or_default();
        match c.key {
            "value" => counted.entry((key, c.round)).or_default().push(c.value),
            "iterations" => w.iterations = c.value as u64,
            "elapsed_ns" => w.elapsed_ns = c.value as u64,
            _ => {}
        }
    }

    let mut gathered: HashMap<ProfileKey, Gathered> = HashMap::new();
    for c in counters {
        let key = (c.platform, c.scenario, c.guest, c.workload, c.metric);
        if !c.value.is_finite() || c.span_ns == 0 || c.source == COUNTED_SOURCE {
            continue;
        }
        let window = (c.round, c.index);
        let Some(s) = windows.get(&(key, window)) else {
            continue;
        };
        let span = c.span_ns as f64;
        if c.source == GUEST_SOURCE && c.key == "steal_ns" {
            gathered.entry(key).or_default().steal.push(c.value / span);
        } else {
            if s.iterations == 0 || s.elapsed_ns == 0 {
                continue;
            }
            let per_op = c.value / span * s.elapsed_ns as f64 / s.iterations as f64;
            if !per_op.is_finite() {
                continue;
            }
            let g = gathered.entry(key).or_default();
            g.per_op.entry((c.source, c.key)).or_default().push(per_op);
            if is_reason(c.key) {
                *g.reason_sums
                    .entry(c.source)
                    .or_default()
                    .entry(window)
                    .or_default() += per_op;
            }
        }
        let g = gathered.entry(key).or_default();
        g.windows.insert(window);
        g.sources.insert(c.source);
    }

    let mut keys: Vec<ProfileKey> = gathered.keys().copied().collect();
    keys.sort_by_key(|k| ranks.of(k));
    let profiles = keys
        .into_iter()
        .map(|k| profile(k, &gathered[&k], cfg))
        .collect();
    CounterSummary {
        profiles,
        costs: costs(samples, &counted, &ranks),
    }
}

fn profile(key: ProfileKey, g: &Gathered, cfg: &BootstrapConfig) -> ExitProfile {
    let (platform, scenario, guest, workload, metric) = key;
    let mut reasons = Vec::new();
    let mut other = Vec::new();
    for (&(source, k), values) in &g.per_op {
        let Some(p) = per_op(source, k, values, cfg) else {
            continue;
        };
        if is_reason(k) {
            reasons.push(p);
        } else {
            other.push(p);
        }
    }
    reasons.sort_by(|a, b| {
        b.median
            .total_cmp(&a.median)
            .then_with(|| a.source.cmp(&b.source))
            .then_with(|| a.key.cmp(&b.key))
    });
    let entry_source = ENTRY_SOURCES
        .iter()
        .copied()
        .find(|s| g.reason_sums.contains_key(s))
        .or_else(|| g.reason_sums.keys().next().copied());
    let entries = match entry_source {
        Some(source) => {
            let sums: Vec<f64> = g.reason_sums[source].values().copied().collect();
            per_op(source, ENTRIES_KEY, &sums, cfg)
        }
        None => g
            .per_op
            .get(&("kvm.stats", "exits"))
            .and_then(|v| per_op("kvm.stats", ENTRIES_KEY, v, cfg)),
    };
    ExitProfile {
        platform: platform.to_string(),
        scenario: scenario.to_string(),
        guest: guest.to_string(),
        workload: workload.to_string(),
        metric: metric.to_string(),
        windows: g.windows.len(),
        entries,
        reasons,
        steal_fraction: per_op(GUEST_SOURCE, "steal_ns", &g.steal, cfg),
        other,
        sources: g.sources.iter().map(|s| s.to_string()).collect(),
    }
}

/// The median of `values` (finite ones) with its bootstrap interval (None below two values);
/// None when nothing is finite.
fn per_op(source: &str, key: &str, values: &[f64], cfg: &BootstrapConfig) -> Option<PerOp> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let first = *finite.first()?;
    // Many counters never move (a KVM statistic that stays 0): no resampling needed.
    let (median, ci) = if finite.iter().all(|&v| v == first) {
        (
            first,
            Interval {
                lo: first,
                hi: first,
            },
        )
    } else {
        let s = summarize(&finite, cfg)?;
        (s.median, s.ci)
    };
    Some(PerOp {
        key: key.to_string(),
        source: source.to_string(),
        median,
        ci: (finite.len() >= 2).then_some(ci),
        n: finite.len(),
    })
}

fn costs(
    samples: &[WindowSample],
    counted: &BTreeMap<(ProfileKey, u32), Vec<f64>>,
    ranks: &Ranks,
) -> Vec<CountingCost> {
    // (platform, workload, metric) -> (uncounted values, counted values, direction).
    type Costed = (Vec<f64>, Vec<f64>, Option<Better>);
    let mut by: HashMap<(&str, &str, &str), Costed> = HashMap::new();
    let without_aggressors =
        |scenario: &str| parse_cell(scenario).is_none_or(|cell| cell.stress.is_none());
    // The agent runs with both measured (uncounted) and counted windows.
    let mut compared: BTreeSet<(ProfileKey, u32)> = BTreeSet::new();
    for s in samples.iter().filter(|s| !s.warmup && s.value.is_finite()) {
        let key = (s.platform, s.scenario, s.guest, s.workload, s.metric);
        if !counted.contains_key(&(key, s.round)) || !without_aggressors(s.scenario) {
            continue;
        }
        compared.insert((key, s.round));
        let e = by.entry((s.platform, s.workload, s.metric)).or_default();
        e.0.push(s.value);
        e.2 = e.2.or(Better::parse(s.better));
    }
    for run in &compared {
        let (platform, _, _, workload, metric) = run.0;
        let e = by.entry((platform, workload, metric)).or_default();
        e.1.extend(counted[run].iter().copied());
    }
    let mut out: Vec<CountingCost> = by
        .into_iter()
        .filter_map(|((platform, workload, metric), (unc, cnt, direction))| {
            let (c, u) = (median(&cnt)?, median(&unc)?);
            let times_worse = direction?.times_worse(c / u);
            times_worse.is_finite().then(|| CountingCost {
                platform: platform.to_string(),
                workload: workload.to_string(),
                metric: metric.to_string(),
                counted_median: c,
                uncounted_median: u,
                times_worse,
                counted_windows: cnt.len(),
            })
        })
        .collect();
    fn key(c: &CountingCost) -> ProfileKey<'_> {
        (&c.platform, "", "", &c.workload, &c.metric)
    }
    out.sort_by(|a, b| ranks.of(&key(a)).cmp(&ranks.of(&key(b))));
    out
}

/// Order of first appearance among the samples, per field.
struct Ranks<'a> {
    platforms: HashMap<&'a str, usize>,
    workloads: HashMap<&'a str, usize>,
    metrics: HashMap<&'a str, usize>,
    scenarios: HashMap<&'a str, usize>,
    guests: HashMap<&'a str, usize>,
}

impl<'a> Ranks<'a> {
    fn of_samples(samples: &[WindowSample<'a>]) -> Ranks<'a> {
        fn first_seen<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
            let mut out = HashMap::new();
            for name in names {
                let next = out.len();
                out.entry(name).or_insert(next);
            }
            out
        }
        Ranks {
            platforms: first_seen(samples.iter().map(|s| s.platform)),
            workloads: first_seen(samples.iter().map(|s| s.workload)),
            metrics: first_seen(samples.iter().map(|s| s.metric)),
            scenarios: first_seen(samples.iter().map(|s| s.scenario)),
            guests: first_seen(samples.iter().map(|s| s.guest)),
        }
    }

    fn of<'k>(&self, k: &ProfileKey<'k>) -> (usize, usize, usize, usize, usize, ProfileKey<'k>) {
        let rank =
            |m: &HashMap<&str, usize>, name: &str| m.get(name).copied().unwrap_or(usize::MAX);
        let (platform, scenario, guest, workload, metric) = *k;
        (
            rank(&self.platforms, platform),
            rank(&self.workloads, workload),
            rank(&self.metrics, metric),
            rank(&self.scenarios, scenario),
            rank(&self.guests, guest),
            *k,
        )
    }
}

#[cfg(test)]
mod tests;
