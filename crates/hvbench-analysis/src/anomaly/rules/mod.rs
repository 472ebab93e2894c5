//! The anomaly rules (docs/architecture.md, "Analysis and report"), each a detector plus the facts that explain it.
//!
//! This file holds the table of rules and the helpers every rule shares (an anomaly's header,
//! the "times worse" texts, the software-emulation cause); the detectors live by family: I/O
//! (`io.rs`), kernel paths and time calls (`kernel.rs`), memory (`memory.rs`), vCPU scheduling
//! and noise (`scheduling.rs`), the mitigations, time sources and back-ends that facts and
//! counters show (`evidence.rs`), and contention in isolation cells (`contention.rs`).

mod contention;
mod evidence;
mod io;
mod kernel;
mod memory;
mod scheduling;

use super::facts::{cause, get};
use super::{times, Anomaly, Cause, PlatformFacts, Rule, Versus};
use contention::{credit2_tails, steal_in_isolation};
use evidence::{halt_polling, l1tf_flush, tsc_emulation, xen_block_ring_full, xpti_pv};
use hvbench_proto::facts as key;
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
        gap: false,
        detector: guest_faster_io,
    },
    Rule {
        id: "slow-time-calls",
        title: "slow time calls",
        detects: "clock-gettime cost whose guest/host interval lies wholly above 3x",
        facts_read: &[
            key::CLOCKSOURCE,
            key::VDSO,
            key::KERNEL_CMDLINE,
            key::GUEST_CMDLINE,
            key::ACCEL,
        ],
        gap: true,
        detector: slow_time_calls,
    },
    Rule {
        id: "kernel-path-cost",
        title: "system call / fork cost far above CPU cost",
        detects: "a kernel path (syscall, fork, mmap, page faults, pipes, futex) whose guest/host \
                  interval lies wholly above 2x the CPU workloads' ratio",
        facts_read: &[
            key::XEN_GUEST_TYPE,
            key::KVM_MODULE,
            key::XEN_VIRT_CAPS,
            key::HOST_CPU_VIRT_FLAGS,
            key::CPU_FLAGS,
            key::MACHINE,
            key::BOOT_ENTRY,
            key::LAB,
            key::ACCEL,
        ],
        gap: true,
        detector: kernel_path_cost,
    },
    Rule {
        id: "tlb-nested-paging",
        title: "TLB / nested paging",
        detects:
            "a mem-latency curve (metrics latency@SIZE) whose guest/host ratio beyond the TLB's \
                  reach is 25% above the ratio within it",
        facts_read: &[
            key::THP_ENABLED,
            key::XEN_VIRT_CAPS,
            key::HOST_CPU_VIRT_FLAGS,
            key::CPU_FLAGS,
            key::MACHINE,
            key::BOOT_ENTRY,
            key::LAB,
            key::ACCEL,
        ],
        gap: true,
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
            key::ACCEL,
        ],
        gap: true,
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
            key::ACCEL,
            key::HOST_EMULATED,
        ],
        gap: false,
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
            key::NET_VHOST,
            key::NET_BACKEND,
            "qemu.disk_if",
            "qemu.iothreads",
            key::ACCEL,
        ],
        gap: true,
        detector: io_latency_vs_bulk,
    },
    Rule {
        id: "xpti-pv",
        title: "XPTI on a 64-bit PV guest",
        detects: "a Xen PV guest with XPTI on for DomU (XSA-254) whose kernel paths (syscall, fork, \
                  page faults, context switches) cost wholly above 2x the host's",
        facts_read: &[key::XEN_GUEST_TYPE, key::XEN_SPEC_XPTI],
        gap: true,
        detector: xpti_pv,
    },
    Rule {
        id: "l1tf-flush",
        title: "L1TF flush on VM entry",
        detects: "a guest whose hypervisor flushes L1D on VM entry (XSA-273), on workloads with at \
                  least one hypervisor entry per operation (counted) costing wholly above 2x the host's",
        facts_read: &[
            key::KVM_VMENTRY_L1D_FLUSH,
            key::XEN_SPEC_L1D_FLUSH,
            key::XEN_SPEC_SETTINGS,
            key::XEN_GUEST_TYPE,
            key::CPU_VULN_L1TF,
        ],
        gap: true,
        detector: l1tf_flush,
    },
    Rule {
        id: "tsc-emulation",
        title: "time reads trap (emulated TSC)",
        detects: "rdtsc/rdtscp exits counted at one or more per clock-gettime call, or the \
                  platform's own Xen facts (xen.vtsc, else its tsc_mode) showing its TSC emulated \
                  while clock-gettime is slower than the host's",
        facts_read: &[
            key::XEN_VTSC,
            key::XEN_TSC_MODE,
            key::XEN_TSC_MODE_CONFIGURED,
            key::CLOCKSOURCE,
        ],
        gap: true,
        detector: tsc_emulation,
    },
    Rule {
        id: "halt-polling",
        title: "KVM halt polling",
        detects: "kvm.halt_poll_ns above 0 with polls counted (kvm.stats halt_poll_success_ns or \
                  halt_successful_poll above 0) beside any workload",
        facts_read: &[key::KVM_HALT_POLL_NS],
        gap: false,
        detector: halt_polling,
    },
    Rule {
        id: "credit2-tails",
        title: "credit2 rate limit under contention",
        detects: "in an isolation cell, the victim's runnable share of its vCPU time (xen.trace \
                  runnable_ns, running_ns) rising 2 points and 2x above its level alone, on credit2",
        facts_read: &["xen.credit2.ratelimit_us", "xen.credit2.timeslice_ms"],
        gap: false,
        detector: credit2_tails,
    },
    Rule {
        id: "steal-in-isolation",
        title: "victim's steal time rises with its aggressor",
        detects: "in an isolation cell, the victim's steal time (guest steal_ns) rising 2 points and \
                  2x above its level in <iso>/none",
        facts_read: &[],
        gap: false,
        detector: steal_in_isolation,
    },
    Rule {
        id: "xen-block-ring-full",
        title: "Xen block ring full",
        detects: "xentop's vbd_oo (block back-end out of requests) above 0 beside a disk workload",
        facts_read: &[],
        gap: false,
        detector: xen_block_ring_full,
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
        peer: None,
        shared: Vec::new(),
        next: Vec::new(),
    }
}

/// An anomaly of the rule `id` (which must be in [`RULES`]) on `p`.
fn finding(id: &'static str, p: &PlatformFacts, workloads: Vec<String>, seen: String) -> Anomaly {
    let i = RULES
        .iter()
        .position(|r| r.id == id)
        .unwrap_or_else(|| panic!("rule {id} is not in RULES"));
    let mut a = anomaly(i, p, &[], seen);
    a.workloads = workloads;
    a
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
    if key::is_tcg(p.facts) {
        return Some(cause(
            format!("QEMU's software emulation (accel=tcg): {what}"),
            p,
            &[key::ACCEL],
        ));
    }
    get(p, key::LAB).filter(|l| !l.trim().is_empty()).map(|_| {
        cause(
            format!("the hypervisor runs inside hvbench's emulated lab host, nested under QEMU's software emulation: {what}"),
            p,
            &[key::LAB],
        )
    })
}
