//! The privileged-path rules: slow time calls (no vDSO fast path) and system call / fork cost
//! far above CPU cost (a deprivileged guest kernel, shadow paging). Both compare a kernel-bound
//! workload with the host and read the guest kernel's and hypervisor's facts.

use super::{anomaly, costs_more, tcg_cause, worse_text};
use crate::anomaly::facts::{cause, get, is_hardware_virtualized, is_off};
use crate::anomaly::paging::{paging, Paging};
use crate::anomaly::{geomean, times, Anomaly, Context, Versus};
use crate::classes::WorkloadClass;
use hvbench_proto::facts as key;

pub(super) fn slow_time_calls(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let slow: Vec<Versus> = ctx
            .series_of(g.name)
            .filter(|s| s.workload == "clock-gettime")
            .filter_map(|s| ctx.versus(s))
            .filter(|v| v.ci.lo > ctx.cfg.slow_time_factor)
            .collect();
        if slow.is_empty() {
            continue;
        }
        let list: Vec<String> = slow.iter().map(worse_text).collect();
        let clocks = match (
            get(g, key::CLOCKSOURCE),
            ctx.baseline().and_then(|h| get(h, key::CLOCKSOURCE)),
        ) {
            (Some(gc), Some(hc)) => format!(" (clocksource {gc} in the guest, {hc} on the host)"),
            _ => String::new(),
        };
        let mut a = anomaly(
            1,
            g,
            &slow.iter().collect::<Vec<_>>(),
            format!("{} of the host's cost{clocks}", list.join(", ")),
        );
        if let Some(cs) = get(g, key::CLOCKSOURCE) {
            match cs.to_ascii_lowercase().as_str() {
                "hpet" | "acpi_pm" | "pit" | "jiffies" | "refined-jiffies" => a.causes.push(cause(
                    format!(
                        "the guest's clocksource is {cs}, which has no vDSO fast path: every clock_gettime becomes a \
                         system call that reads an emulated timer device (a VM exit each time)"
                    ),
                    g,
                    &[key::CLOCKSOURCE],
                )),
                "xen" => a.causes.push(cause(
                    "the guest's clocksource is xen (pvclock): the vDSO reads it only when the hypervisor maps a \
                     stable time page; otherwise clock_gettime falls back to a system call",
                    g,
                    &[key::CLOCKSOURCE],
                )),
                _ => {}
            }
        }
        if get(g, key::VDSO).is_some_and(is_off) {
            a.causes.push(cause(
                "the guest's vDSO is disabled: clock_gettime is a system call",
                g,
                &[key::VDSO],
            ));
        }
        for k in [key::KERNEL_CMDLINE, key::GUEST_CMDLINE] {
            if get(g, k).is_some_and(|c| c.split_whitespace().any(|w| w == "vdso=0")) {
                a.causes.push(cause(
                    format!(
                        "the guest kernel boots with vdso=0 ({k}): clock_gettime is a system call"
                    ),
                    g,
                    &[k],
                ));
                break;
            }
        }
        a.causes.extend(tcg_cause(
            g,
            "every clock read, and the system call it may fall back to, is emulated instruction by \
             instruction (whatever the hypervisor's TSC mode)",
        ));
        out.push(a);
    }
}

/// Kernel paths whose cost the privileged-mode design of a platform drives.
const KERNEL_PATHS: &[&str] = &[
    "syscall",
    "fork-exit",
    "fork-exec",
    "mmap",
    "page-fault",
    "pipe-switch",
    "futex-wake",
];

/// Of those, the ones that update page tables.
const PAGE_TABLE_PATHS: &[&str] = &["fork-exit", "fork-exec", "mmap", "page-fault"];

pub(super) fn kernel_path_cost(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let Some(cpu) = geomean(&ctx.versus_class(g.name, WorkloadClass::Cpu)) else {
            continue; // no CPU workload: nothing to compare with
        };
        let bar = ctx.cfg.kernel_vs_cpu_factor * cpu.max(1.0);
        let hits: Vec<Versus> = ctx
            .series_of(g.name)
            .filter(|s| KERNEL_PATHS.contains(&s.workload))
            .filter_map(|s| ctx.versus(s))
            .filter(|v| v.ci.lo > bar)
            .collect();
        let Some(mut a) = costs_more(2, g, &hits, |list| {
            format!(
                "{list} of the host's cost, against {} on CPU work",
                times(cpu)
            )
        }) else {
            continue;
        };
        if get(g, key::XEN_GUEST_TYPE).is_some_and(|t| t.eq_ignore_ascii_case("pv")) {
            a.causes.push(cause(
                "a Xen PV guest: its kernel runs deprivileged, so every system call passes through Xen and every \
                 page-table update (fork, mmap, page faults) is a hypercall; PVH and HVM guests avoid this",
                g,
                &[key::XEN_GUEST_TYPE],
            ));
        }
        if get(g, key::KVM_MODULE).is_some_and(|m| m.contains("pvm")) {
            a.causes.push(cause(
                "KVM's PVM module runs the guest kernel deprivileged, like Xen PV: system calls and page-table \
                 updates switch through the hypervisor",
                g,
                &[key::KVM_MODULE],
            ));
        }
        let touches_page_tables = hits
            .iter()
            .any(|v| PAGE_TABLE_PATHS.contains(&v.series.workload));
        // The paging of the machine that runs g's hypervisor, from that machine's facts only.
        if touches_page_tables && is_hardware_virtualized(g) {
            let support = paging(ctx, g);
            if let (Some(what), Paging::Shadow { on, key: k }) =
                (support.shadow_text(g.name), &support)
            {
                a.causes.push(cause(
                    format!(
                        "{what}: the hypervisor shadows the guest's page tables, so fork, mmap and page \
                         faults trap to it"
                    ),
                    on,
                    &[k],
                ));
            }
            a.next.extend(support.next_step(g));
        }
        a.causes.extend(tcg_cause(
            g,
            "user code is translated into fast host code, but system calls, privileged instructions and \
             page-table walks run through slow emulation helpers",
        ));
        out.push(a);
    }
}
