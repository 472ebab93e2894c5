//! The anomaly rules (docs/architecture.md, "Analysis and report"), each a detector plus the facts that explain it.
//!
//! This file holds the table of rules and the helpers every rule shares (an anomaly's header,
//! the "times worse" texts, the software-emulation cause); the detectors live by family: I/O
//! (`io.rs`), kernel paths and time calls (`kernel.rs`), memory (`memory.rs`), vCPU scheduling
//! and noise (`scheduling.rs`).

mod io;
mod kernel;
mod memory;
mod scheduling;

use super::facts::{cause, get, is_tcg};
use super::{times, Anomaly, Cause, PlatformFacts, Rule, Versus};
use io::{guest_faster_io, io_latency_vs_bulk};
use kernel::{kernel_path_cost, slow_time_calls};
use memory::tlb_nested_paging;
use scheduling::{noisy, smp_scaling_collapse};

pub use memory::working_set_bytes;
pub use scheduling::parallelism;

/// Every rule, in the order the report lists their findings.
pub const RULES: &[Rule] = &[
    Rule {
        id: "guest-faster-io",
        title: "guest faster than host on I/O",
        detects: "a disk metric whose guest/host interval lies wholly on the better side of 1",
        facts_read: &[
            "qemu.disk_cache",
            "disk.o_direct",
            "disk.file_mib",
            "mem.total_kib",
        ],
        detector: guest_faster_io,
    },
    Rule {
        id: "slow-time-calls",
        title: "slow time calls",
        detects: "clock-gettime cost whose guest/host interval lies wholly above 3x",
        facts_read: &[
            "clocksource",
            "vdso",
            "kernel.cmdline",
            "guest.cmdline",
            "accel",
        ],
        detector: slow_time_calls,
    },
    Rule {
        id: "kernel-path-cost",
        title: "system call / fork cost far above CPU cost",
        detects: "a kernel path (syscall, fork, mmap, page faults, pipes, futex) whose guest/host \
                  interval lies wholly above 2x the CPU workloads' ratio",
        facts_read: &["xen.guest_type", "kvm.module", "cpu.flags", "accel"],
        detector: kernel_path_cost,
    },
    Rule {
        id: "tlb-nested-paging",
        title: "TLB / nested paging",
        detects:
            "a mem-latency curve (metrics latency@SIZE) whose guest/host ratio beyond the TLB's \
                  reach is 25% above the ratio within it",
        facts_read: &["thp.enabled", "cpu.flags", "accel"],
        detector: tlb_nested_paging,
    },
    Rule {
        id: "smp-scaling-collapse",
        title: "SMP scaling collapse",
        detects:
            "metrics NAME@Nvcpu of one workload whose guest/host ratio at the most vCPUs is 25% \
                  above the ratio at the fewest",
        facts_read: &[
            "guest.vcpus",
            "cpu.count",
            "*.pinning",
            "cpu.steal_pct",
            "accel",
        ],
        detector: smp_scaling_collapse,
    },
    Rule {
        id: "noisy",
        title: "bimodal or high variance",
        detects: "a series with a coefficient of variation above 10% or a gap splitting it in two",
        facts_read: &[
            "cpu.governor",
            "cpu.steal_pct",
            "host.loadavg",
            "cpu.count",
            "accel",
            "host.emulated",
        ],
        detector: noisy,
    },
    Rule {
        id: "io-latency-vs-bulk",
        title: "I/O latency far worse than bulk",
        detects:
            "net-rr latency, or random/4K disk IOPS, whose guest/host interval lies wholly above \
                  2x the bulk transfers' ratio (net-bulk, sequential disk)",
        facts_read: &[
            "qemu.nic",
            "qemu.vhost",
            "qemu.disk_if",
            "qemu.iothreads",
            "accel",
        ],
        detector: io_latency_vs_bulk,
    },
];

fn anomaly(rule: usize, p: &PlatformFacts, workloads: &[&Versus], seen: String) -> Anomaly {
    let mut names: Vec<String> = Vec::new();
    for v in workloads {
        if !names.iter().any(|n| n == v.series.workload) {
            names.push(v.series.workload.to_string());
        }
    }
    Anomaly {
        rule: RULES[rule].id,
        title: RULES[rule].title,
        platform: p.name.to_string(),
        workloads: names,
        seen,
        causes: Vec::new(),
    }
}

/// An anomaly of rule `rule` for the comparisons `hits` that cost more than their reference:
/// None when there are none; else its headline, `headline(list)`, gets the hits listed as
/// [`worse_text`] writes them.
fn costs_more(
    rule: usize,
    p: &PlatformFacts,
    hits: &[Versus],
    headline: impl FnOnce(String) -> String,
) -> Option<Anomaly> {
    if hits.is_empty() {
        return None;
    }
    let list: Vec<String> = hits.iter().map(worse_text).collect();
    Some(anomaly(
        rule,
        p,
        &hits.iter().collect::<Vec<_>>(),
        headline(list.join(", ")),
    ))
}

/// `disk-randread / iops 3.10x (95% CI 2.90x-3.30x)`, with the factor as given.
fn described(v: &Versus, factor: f64, lo: f64, hi: f64) -> String {
    format!(
        "{} / {} {} (CI {}-{})",
        v.series.workload,
        v.series.metric,
        times(factor),
        times(lo),
        times(hi)
    )
}

fn worse_text(v: &Versus) -> String {
    described(v, v.times_worse, v.ci.lo, v.ci.hi)
}

fn better_text(v: &Versus) -> String {
    described(v, 1.0 / v.times_worse, 1.0 / v.ci.hi, 1.0 / v.ci.lo)
}

/// Software emulation under the platform: QEMU's TCG directly, or the lab host (a Xen or KVM
/// host that hvbench runs nested under TCG), where the same emulator runs everything beneath.
fn tcg_cause(p: &PlatformFacts, what: &str) -> Option<Cause> {
    if is_tcg(p) {
        return Some(cause(
            format!("QEMU's software emulation (accel=tcg): {what}"),
            p,
            &["accel"],
        ));
    }
    get(p, "lab").filter(|l| !l.trim().is_empty()).map(|_| {
        cause(
            format!("the hypervisor runs inside hvbench's emulated lab host, nested under QEMU's software emulation: {what}"),
            p,
            &["lab"],
        )
    })
}
