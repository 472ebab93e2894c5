//! The rules the field knows, each fired by the fact or counter that shows it: XPTI on 64-bit
//! PV guests, the L1TF flush on VM entry, an emulated TSC, KVM halt polling, and Xen block rings
//! running full. The isolation-cell rules (credit2 tails, steal time) are in `contention.rs`.
//!
//! Counters come from the profiles of [`crate::counters`] (the keys are listed there); facts
//! from the drivers' evidence collectors (`xen.spec.*` from `xl dmesg`, `kvm.*` from the KVM
//! module's parameters, `cpu.vuln.*` from the guest's /sys/devices/system/cpu/vulnerabilities).

use super::{finding, worse_text};
use crate::anomaly::facts::{cause, get, is_on, number};
use crate::anomaly::profiles::{battery_profile, cite, counter, num, per_op};
use crate::anomaly::{Anomaly, Cause, Context, CounterRef, PlatformFacts, Versus};
use crate::classes::{classify, WorkloadClass};
use hvbench_proto::facts as key;

/// The kernel paths that enter and leave the guest kernel (system calls, faults, context
/// switches): XPTI's page-table switch is paid on each.
const KERNEL_ENTRY_PATHS: &[&str] = &[
    "syscall",
    "fork-exit",
    "fork-exec",
    "mmap",
    "page-fault",
    "pipe-switch",
    "futex-wake",
];

/// Whether `xen.spec.xpti` (Xen's boot line "XPTI (64-bit PV only): Dom0 disabled, DomU enabled
/// (with PCID)") says XPTI is on for DomU; None when it does not say.
fn xpti_domu_on(p: &PlatformFacts) -> Option<bool> {
    let v = get(p, key::XEN_SPEC_XPTI)?;
    let domu = v
        .split(',')
        .find_map(|part| part.trim().strip_prefix("DomU"))
        .map(|s| s.trim_start().to_ascii_lowercase());
    match domu {
        Some(s) if s.starts_with("enabled") => Some(true),
        Some(s) if s.starts_with("disabled") => Some(false),
        Some(_) => None,
        None => is_on(v).then_some(true),
    }
}

/// The comparisons of `g` on `workloads` whose times-worse interval lies wholly above
/// `evidence_cost_factor`.
fn costly<'a>(ctx: &Context<'a>, g: &str, pick: impl Fn(&str) -> bool) -> Vec<Versus<'a>> {
    ctx.series_of(g)
        .filter(|s| pick(s.workload))
        .filter_map(|s| ctx.versus(s))
        .filter(|v| v.ci.lo > ctx.cfg.evidence_cost_factor)
        .collect()
}

fn workloads_of(hits: &[Versus]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for v in hits {
        if !names.iter().any(|n| n == v.series.workload) {
            names.push(v.series.workload.to_string());
        }
    }
    names
}

/// XPTI, Xen's Meltdown mitigation for 64-bit PV guests (XSA-254): with it on for DomU, every
/// guest kernel entry and exit switches page tables in Xen. Fires on a PV guest whose XPTI is
/// on and whose kernel paths cost more than `evidence_cost_factor` times the host's.
pub(super) fn xpti_pv(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let pv = get(g, key::XEN_GUEST_TYPE).is_some_and(|t| t.eq_ignore_ascii_case("pv"));
        if !pv || xpti_domu_on(g) != Some(true) {
            continue;
        }
        let hits = costly(ctx, g.name, |w| KERNEL_ENTRY_PATHS.contains(&w));
        if hits.is_empty() {
            continue;
        }
        let list: Vec<String> = hits.iter().map(worse_text).collect();
        let mut a = finding(
            "xpti-pv",
            g,
            workloads_of(&hits),
            format!(
                "kernel entries of the PV guest cost {} the host's, with XPTI on for DomU",
                list.join(", ")
            ),
        );
        a.causes.push(cause(
            "XPTI (Xen's Meltdown mitigation for 64-bit PV guests, XSA-254) is on for DomU: every system call, \
             interrupt and exception of the PV guest switches page tables in Xen and loses TLB entries \
             (fewer with PCID); PVH and HVM guests are not subject to it",
            g,
            &[key::XEN_SPEC_XPTI, key::XEN_GUEST_TYPE],
        ));
        out.push(a);
    }
}

/// Whether a Xen `Other:` settings list holds `L1D_FLUSH` (Xen flushes L1D on VM entry).
fn xen_flushes_l1d(text: &str) -> bool {
    text.split(';').any(|msg| {
        msg.split_once("Other:")
            .is_some_and(|(_, rest)| rest.split_whitespace().any(|w| w == "L1D_FLUSH"))
    })
}

/// The fact that says the hypervisor flushes the L1 data cache on VM entry for `g`, if any.
fn l1d_flush_key(g: &PlatformFacts) -> Option<&'static str> {
    if get(g, key::KVM_VMENTRY_L1D_FLUSH)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "always" | "cond"))
    {
        return Some(key::KVM_VMENTRY_L1D_FLUSH);
    }
    let hvm = get(g, key::XEN_GUEST_TYPE)
        .is_some_and(|t| t.eq_ignore_ascii_case("hvm") || t.eq_ignore_ascii_case("pvh"));
    if !hvm {
        return None; // PV guests are covered by shadow paging (xen.spec.l1tf_shadow) instead
    }
    [key::XEN_SPEC_L1D_FLUSH, key::XEN_SPEC_SETTINGS]
        .into_iter()
        .find(|k| get(g, k).is_some_and(xen_flushes_l1d))
}

/// The L1TF mitigation (XSA-273; Linux Documentation/admin-guide/hw-vuln/l1tf.rst): KVM
/// (`vmentry_l1d_flush=cond|always`) or Xen (`L1D_FLUSH`) flushes L1D on VM entry. It shows as
/// cost on exit-heavy workloads: fires on workloads with at least one hypervisor entry per
/// operation (counted) that cost more than `evidence_cost_factor` times the host's. A guest
/// that reports `cpu.vuln.l1tf: Not affected` is exempt.
pub(super) fn l1tf_flush(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let Some(flush_key) = l1d_flush_key(g) else {
            continue;
        };
        if get(g, key::CPU_VULN_L1TF)
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("not affected"))
        {
            continue;
        }
        let mut hits = Vec::new();
        let mut counters: Vec<CounterRef> = Vec::new();
        for v in costly(ctx, g.name, |_| true) {
            let Some(profile) = battery_profile(ctx, g.name, v.series.workload, v.series.metric)
            else {
                continue;
            };
            if let Some(e) = profile.entries.as_ref().filter(|e| e.median >= 1.0) {
                hits.push((v, e.median));
                counters.push(cite(profile, e));
            }
        }
        if hits.is_empty() {
            continue;
        }
        let list: Vec<String> = hits
            .iter()
            .map(|(v, e)| {
                format!(
                    "{} with {} hypervisor entries {}",
                    worse_text(v),
                    num(*e),
                    per_op(v.series.workload)
                )
            })
            .collect();
        let versus: Vec<Versus> = hits.iter().map(|(v, _)| *v).collect();
        let mut a = finding(
            "l1tf-flush",
            g,
            workloads_of(&versus),
            format!(
                "exit-heavy workloads cost more than the host's: {}",
                list.join(", ")
            ),
        );
        let mut c = cause(
            "the hypervisor flushes the L1 data cache on every VM entry (the L1TF mitigation, XSA-273; Linux \
             Documentation/admin-guide/hw-vuln/l1tf.rst): each entry refills L1D, so cost grows with the \
             entries per operation",
            g,
            &[flush_key, key::CPU_VULN_L1TF],
        );
        c.counters = counters;
        a.causes.push(c);
        out.push(a);
    }
}

/// What a Xen TSC mode (xen-tscmode(7)) says of the guest's TSC reads: Some(true) for
/// `always_emulate` (1), Some(false) for `native` and `native_paravirt` (2, 3), None for
/// `default` (0), where Xen decides by the hardware, and for anything else.
fn mode_emulates(mode: &str) -> Option<bool> {
    let m = mode.trim().to_ascii_lowercase();
    if m.contains("emulat") || m == "1" {
        Some(true)
    } else if m.starts_with("native") || m == "2" || m == "3" {
        Some(false)
    } else {
        None
    }
}

/// The fact keys that say how Xen treats a domain's TSC, the most direct first.
const TSC_KEYS: &[&str] = &[
    key::XEN_VTSC,
    key::XEN_TSC_MODE,
    key::XEN_TSC_MODE_CONFIGURED,
];

/// Whether the platform's own facts show its guest's TSC reads emulated (true) or native
/// (false), and the fact that shows it: `xen.vtsc` (`emulated` / `native`, what Xen did) before
/// the domain's `xen.tsc_mode` and the mode hvbench configured; None when none of them says
/// (absent, or `default`).
fn tsc_reads_emulated(g: &PlatformFacts) -> Option<(bool, &'static str)> {
    if let Some(v) = get(g, key::XEN_VTSC) {
        let v = v.to_ascii_lowercase();
        if v.starts_with("emulat") {
            return Some((true, key::XEN_VTSC));
        }
        if v.starts_with("native") {
            return Some((false, key::XEN_VTSC));
        }
    }
    [key::XEN_TSC_MODE, key::XEN_TSC_MODE_CONFIGURED]
        .into_iter()
        .find_map(|k| get(g, k).and_then(mode_emulates).map(|e| (e, k)))
}

/// Time reads that trap: the platform's own facts showing Xen emulating the guest's TSC
/// (`xen.vtsc`, `xen.tsc_mode`, `xen.tsc_mode.configured`; xen-tscmode(7)), or, whatever they
/// say, `rdtsc`/`rdtscp` exits counted beside clock-gettime (at least one per call). Fires on
/// the counter alone, or on the facts when clock-gettime is slower than the host's. A `default`
/// mode says nothing either way (Xen decides by the hardware), so it explains nothing.
pub(super) fn tsc_emulation(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let slow: Option<Versus> = ctx
            .series_of(g.name)
            .filter(|s| s.workload == "clock-gettime")
            .filter_map(|s| ctx.versus(s))
            .filter(|v| v.ci.lo > 1.0)
            .max_by(|x, y| x.times_worse.total_cmp(&y.times_worse));
        let metric = slow.map_or("latency", |v| v.series.metric);
        let trapping: Vec<(&crate::counters::ExitProfile, &crate::counters::PerOp)> =
            battery_profile(ctx, g.name, "clock-gettime", metric)
                .map(|p| {
                    p.reasons
                        .iter()
                        .filter(|r| r.key.ends_with("rdtsc") || r.key.ends_with("rdtscp"))
                        .map(|r| (p, r))
                        .collect()
                })
                .unwrap_or_default();
        let traps: f64 = trapping.iter().map(|(_, r)| r.median).sum();
        let counted = traps >= 1.0;
        let said = tsc_reads_emulated(g);
        let facts_emulate = said.is_some_and(|(e, _)| e);
        if !(counted || (facts_emulate && slow.is_some())) {
            continue;
        }
        let mut seen = Vec::new();
        if counted {
            seen.push(format!(
                "{} TSC-read exits per clock-gettime call",
                num(traps)
            ));
        }
        if let Some(v) = &slow {
            seen.push(format!("{} of the host's cost", worse_text(v)));
        }
        let mut a = finding(
            "tsc-emulation",
            g,
            vec!["clock-gettime".to_string()],
            format!("time reads trap into the hypervisor: {}", seen.join("; ")),
        );
        if facts_emulate {
            a.causes.push(cause(
                "guest TSC reads are emulated: Xen traps every rdtsc of the guest (xen-tscmode(7)), so even the \
                 vDSO's clock_gettime costs a hypervisor entry",
                g,
                TSC_KEYS,
            ));
        }
        if counted {
            let native = match said {
                Some((false, k)) => format!(
                    "; the platform's {k} says the TSC is not emulated, so something other than Xen's TSC mode \
                     traps them"
                ),
                _ => String::new(),
            };
            let mut keys = TSC_KEYS.to_vec();
            keys.push(key::CLOCKSOURCE);
            let mut c = cause(
                format!(
                    "{} rdtsc/rdtscp exits per clock-gettime call: the guest's time reads trap instead of \
                     reading the TSC directly{native}",
                    num(traps)
                ),
                g,
                &keys,
            );
            c.counters = trapping.iter().map(|(p, r)| cite(p, r)).collect();
            a.causes.push(c);
        }
        out.push(a);
    }
}

/// KVM halt polling (Linux Documentation/virt/kvm/halt-polling.rst): a halting vCPU spins up to
/// `halt_poll_ns` before giving up its CPU. Fires on `kvm.halt_poll_ns` > 0 with polls counted
/// (`kvm.stats` `halt_poll_success_ns` or `halt_successful_poll` above zero) in any window.
pub(super) fn halt_polling(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let Some(window) = get(g, key::KVM_HALT_POLL_NS)
            .and_then(number)
            .filter(|n| *n > 0.0)
        else {
            continue;
        };
        let mut seen = Vec::new();
        let mut workloads: Vec<String> = Vec::new();
        let mut counters = Vec::new();
        for p in ctx.ev.counters.iter().filter(|p| p.platform == g.name) {
            let polled = ["halt_poll_success_ns", "halt_successful_poll"]
                .iter()
                .filter_map(|k| counter(p, Some("kvm.stats"), k))
                .filter(|c| c.median > 0.0)
                .collect::<Vec<_>>();
            if polled.is_empty() {
                continue;
            }
            let what: Vec<String> = polled
                .iter()
                .map(|c| format!("{} {}", c.key, num(c.median)))
                .collect();
            seen.push(format!(
                "{} ({}, {}): {} {}",
                p.workload,
                p.scenario,
                p.guest,
                what.join(", "),
                per_op(&p.workload)
            ));
            if !workloads.contains(&p.workload) {
                workloads.push(p.workload.clone());
            }
            counters.extend(polled.iter().map(|c| cite(p, c)));
        }
        if seen.is_empty() {
            continue;
        }
        let mut a = finding(
            "halt-polling",
            g,
            workloads,
            format!(
                "KVM polled instead of halting (halt_poll_ns={window:.0}): {}",
                seen.join("; ")
            ),
        );
        let mut c = cause(
            "KVM halt polling (Linux Documentation/virt/kvm/halt-polling.rst): a halting vCPU spins up to \
             halt_poll_ns before it yields, so a wake-up that arrives meanwhile is served without a halt; \
             latency looks better than a real halt's, and the spinning takes CPU time its neighbours could \
             have used",
            g,
            &[key::KVM_HALT_POLL_NS],
        );
        c.counters = counters;
        a.causes.push(c);
        out.push(a);
    }
}

/// Xen block rings full: `xen.top`'s `vbd_oo` (xentop's VBD_OO, the times the back-end was out
/// of requests) above zero beside a disk workload.
pub(super) fn xen_block_ring_full(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let mut seen = Vec::new();
        let mut workloads: Vec<String> = Vec::new();
        let mut counters = Vec::new();
        for p in ctx.ev.counters.iter().filter(|p| p.platform == g.name) {
            if classify(&p.workload) != WorkloadClass::Disk {
                continue;
            }
            let Some(oo) = counter(p, Some("xen.top"), "vbd_oo").filter(|c| c.median > 0.0) else {
                continue;
            };
            seen.push(format!(
                "{} / {} ({}): {} vbd_oo {}",
                p.workload,
                p.metric,
                p.scenario,
                num(oo.median),
                per_op(&p.workload)
            ));
            if !workloads.contains(&p.workload) {
                workloads.push(p.workload.clone());
            }
            counters.push(cite(p, oo));
        }
        if seen.is_empty() {
            continue;
        }
        let mut a = finding(
            "xen-block-ring-full",
            g,
            workloads,
            format!(
                "the block back-end's ring was full during disk windows: {}",
                seen.join("; ")
            ),
        );
        a.causes.push(Cause {
            text: "the Xen block back-end ran out of request slots (xentop's VBD_OO): the guest's blkfront \
                   had more requests in flight than the shared ring holds, so they waited in the guest; a \
                   larger ring (max_ring_page_order) or more queues would take them"
                .to_string(),
            facts: Vec::new(),
            counters,
        });
        out.push(a);
    }
}
