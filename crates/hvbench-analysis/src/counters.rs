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
//! - source `uncounted`: a window run with nothing counting (`value`, `iterations`,
//!   `elapsed_ns`), for [`CountingCost`].
//!
//! "Reasons" are the keys starting with `exit.`, `hypercall.` or `pv.`: every entry into the
//! hypervisor the sources could tell apart. Their sum is a platform's hypervisor entries per
//! operation.

use crate::bootstrap::{BootstrapConfig, Interval};
use serde::Serialize;

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
    /// "higher" or "lower": which way the metric is better.
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

/// What counting cost: the measured windows (counted) against the uncounted window of each
/// agent run, in the metric's direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountingCost {
    pub platform: String,
    pub workload: String,
    pub metric: String,
    pub counted_median: f64,
    pub uncounted_median: f64,
    /// > 1: counted windows are worse (slower) than uncounted ones by this factor.
    pub times_worse: f64,
    pub uncounted_windows: usize,
}

/// Every profile and cost of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CounterSummary {
    pub profiles: Vec<ExitProfile>,
    pub costs: Vec<CountingCost>,
}
