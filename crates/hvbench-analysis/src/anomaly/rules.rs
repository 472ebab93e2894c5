//! The rules of DESIGN.md's anomaly table, each a detector plus the facts that explain it.

use super::facts::{
    cause, get, is_hardware_virtualized, is_off, is_on, is_tcg, lacks_two_dimensional_paging,
    number, selected,
};
use super::{geomean, times, Anomaly, Cause, Context, PlatformFacts, Rule, Versus};
use crate::classes::WorkloadClass;
use crate::variability::variability;

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

// ---------------------------------------------------------------------------------------------

fn guest_faster_io(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let faster: Vec<Versus> = ctx
            .versus_class(g.name, WorkloadClass::Disk)
            .into_iter()
            .filter(|v| v.ci.hi < 1.0)
            .collect();
        if faster.is_empty() {
            continue;
        }
        let list: Vec<String> = faster.iter().map(better_text).collect();
        let mut a = anomaly(
            0,
            g,
            &faster.iter().collect::<Vec<_>>(),
            format!(
                "{} beats the bare host it runs on: {} better than {}",
                g.name,
                list.join(", "),
                ctx.ev.baseline
            ),
        );
        if let Some(mode) = get(g, "qemu.disk_cache") {
            let m = mode.to_ascii_lowercase();
            let text = match m.as_str() {
                "writeback" => Some("QEMU opens the disk image with cache=writeback: the guest's reads and writes are \
                                     served by the host's page cache, so the guest measures the host's memory, not the disk"),
                "unsafe" => Some("QEMU opens the disk image with cache=unsafe: the host's page cache serves the guest's I/O \
                                  and even its flushes are ignored"),
                "writethrough" => Some("QEMU opens the disk image with cache=writethrough: the guest's reads are served by \
                                        the host's page cache"),
                _ => None,
            };
            if let Some(t) = text {
                a.causes.push(cause(t, g, &["qemu.disk_cache"]));
            }
        }
        // The workload's own parameters reach the rules as facts `plan.WORKLOAD.PARAM`.
        let plan_key = |v: &Versus, param: &str| format!("plan.{}.{param}", v.series.workload);
        let buffered = faster
            .iter()
            .map(|v| plan_key(v, "mode"))
            .find(|k| get(g, k).is_some_and(|m| m.eq_ignore_ascii_case("buffered")));
        if let Some(key) = buffered {
            a.causes.push(cause(
                "the disk workload ran buffered (mode=buffered, no O_DIRECT): the guest's own page cache answers \
                 repeated reads",
                g,
                &[key.as_str()],
            ));
        } else if get(g, "disk.o_direct").is_some_and(is_off) {
            a.causes.push(cause(
                "the guest's disk test ran without O_DIRECT: the guest's own page cache answers repeated reads",
                g,
                &["disk.o_direct"],
            ));
        }
        let size_key = faster
            .iter()
            .map(|v| plan_key(v, "size_mib"))
            .chain(["disk.file_mib".to_string()])
            .find(|k| get(g, k).is_some());
        let file_mib = size_key.as_deref().and_then(|k| get(g, k)).and_then(number);
        let host = ctx.baseline();
        let host_mib = host
            .and_then(|h| get(h, "mem.total_kib"))
            .and_then(number)
            .map(|kib| kib / 1024.0);
        if let (Some(file), Some(mem), Some(h), Some(key)) = (file_mib, host_mib, host, &size_key) {
            if file < mem {
                let mut c = cause(
                    format!(
                        "the test region ({file:.0} MiB) fits in the host's memory ({mem:.0} MiB), so a host-side cache \
                         can hold all of it"
                    ),
                    g,
                    &[key.as_str()],
                );
                c.facts.extend(super::facts::fact(h, "mem.total_kib"));
                a.causes.push(c);
            }
        }
        out.push(a);
    }
}

fn slow_time_calls(ctx: &Context, out: &mut Vec<Anomaly>) {
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
            get(g, "clocksource"),
            ctx.baseline().and_then(|h| get(h, "clocksource")),
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
        if let Some(cs) = get(g, "clocksource") {
            match cs.to_ascii_lowercase().as_str() {
                "hpet" | "acpi_pm" | "pit" | "jiffies" | "refined-jiffies" => a.causes.push(cause(
                    format!(
                        "the guest's clocksource is {cs}, which has no vDSO fast path: every clock_gettime becomes a \
                         system call that reads an emulated timer device (a VM exit each time)"
                    ),
                    g,
                    &["clocksource"],
                )),
                "xen" => a.causes.push(cause(
                    "the guest's clocksource is xen (pvclock): the vDSO reads it only when the hypervisor maps a \
                     stable time page; otherwise clock_gettime falls back to a system call",
                    g,
                    &["clocksource"],
                )),
                _ => {}
            }
        }
        if get(g, "vdso").is_some_and(is_off) {
            a.causes.push(cause(
                "the guest's vDSO is disabled: clock_gettime is a system call",
                g,
                &["vdso"],
            ));
        }
        for key in ["kernel.cmdline", "guest.cmdline"] {
            if get(g, key).is_some_and(|c| c.split_whitespace().any(|w| w == "vdso=0")) {
                a.causes.push(cause(
                    format!("the guest kernel boots with vdso=0 ({key}): clock_gettime is a system call"),
                    g,
                    &[key],
                ));
                break;
            }
        }
        a.causes.extend(tcg_cause(
            g,
            "reading the time stamp counter is an emulated instruction",
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

fn kernel_path_cost(ctx: &Context, out: &mut Vec<Anomaly>) {
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
        if hits.is_empty() {
            continue;
        }
        let list: Vec<String> = hits.iter().map(worse_text).collect();
        let mut a = anomaly(
            2,
            g,
            &hits.iter().collect::<Vec<_>>(),
            format!(
                "{} of the host's cost, against {} on CPU work",
                list.join(", "),
                times(cpu)
            ),
        );
        if get(g, "xen.guest_type").is_some_and(|t| t.eq_ignore_ascii_case("pv")) {
            a.causes.push(cause(
                "a Xen PV guest: its kernel runs deprivileged, so every system call passes through Xen and every \
                 page-table update (fork, mmap, page faults) is a hypercall; PVH and HVM guests avoid this",
                g,
                &["xen.guest_type"],
            ));
        }
        if get(g, "kvm.module").is_some_and(|m| m.contains("pvm")) {
            a.causes.push(cause(
                "KVM's PVM module runs the guest kernel deprivileged, like Xen PV: system calls and page-table \
                 updates switch through the hypervisor",
                g,
                &["kvm.module"],
            ));
        }
        let touches_page_tables = hits
            .iter()
            .any(|v| PAGE_TABLE_PATHS.contains(&v.series.workload));
        if let Some(h) = ctx.baseline() {
            if touches_page_tables && is_hardware_virtualized(g) && lacks_two_dimensional_paging(h)
            {
                a.causes.push(cause(
                    "the host CPU offers neither EPT nor NPT: the hypervisor shadows the guest's page tables, so \
                     fork, mmap and page faults trap to it",
                    h,
                    &["cpu.flags"],
                ));
            }
        }
        a.causes.extend(tcg_cause(
            g,
            "user code is translated into fast host code, but system calls, privileged instructions and \
             page-table walks run through slow emulation helpers",
        ));
        out.push(a);
    }
}

/// The working set of a mem-latency metric: `latency@64KiB` -> 65536. Units B, K/KB/KiB,
/// M/MB/MiB, G/GB/GiB (all powers of 1024); None without an `@SIZE` suffix.
pub fn working_set_bytes(metric: &str) -> Option<u64> {
    let (_, size) = metric.rsplit_once('@')?;
    let size = size.trim();
    let split = size
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(size.len());
    let n: u64 = size[..split].parse().ok()?;
    let shift = match size[split..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn median_of(mut v: Vec<f64>) -> Option<f64> {
    crate::descriptive::median_in_place(&mut v)
}

fn tlb_nested_paging(ctx: &Context, out: &mut Vec<Anomaly>) {
    let reach = ctx.cfg.tlb_reach_bytes;
    for g in ctx.guests() {
        let curve: Vec<(u64, Versus)> = ctx
            .series_of(g.name)
            .filter(|s| s.workload == "mem-latency")
            .filter_map(|s| Some((working_set_bytes(s.metric)?, ctx.versus(s)?)))
            .collect();
        let Some(within) = median_of(
            curve
                .iter()
                .filter(|(b, _)| *b <= reach)
                .map(|(_, v)| v.times_worse)
                .collect(),
        ) else {
            continue;
        };
        let Some((size, worst)) = curve
            .iter()
            .filter(|(b, _)| *b > reach)
            .max_by(|a, b| a.1.ci.lo.total_cmp(&b.1.ci.lo))
        else {
            continue;
        };
        if worst.ci.lo <= (1.0 + ctx.cfg.tlb_divergence) * within {
            continue;
        }
        let mut a = anomaly(
            3,
            g,
            &[worst],
            format!(
                "memory latency is {} the host's for working sets within the TLB's reach (<= {}) but {} (CI {}-{}) at {}",
                times(within),
                size_text(reach),
                times(worst.times_worse),
                times(worst.ci.lo),
                times(worst.ci.hi),
                size_text(*size)
            ),
        );
        let thp_off = |p: &PlatformFacts| {
            get(p, "thp.enabled").is_some_and(|v| matches!(selected(v), "never" | "madvise"))
        };
        if thp_off(g) {
            a.causes.push(cause(
                "transparent huge pages are not used in the guest: the pointer chase runs on 4 KiB pages, so beyond \
                 the TLB's reach every miss walks the guest's page tables, and under nested paging the host's for \
                 each level (up to 24 memory accesses instead of 4)",
                g,
                &["thp.enabled"],
            ));
        }
        if let Some(h) = ctx.baseline() {
            if thp_off(h) && !is_tcg(g) {
                a.causes.push(cause(
                    "transparent huge pages are not used on the host: the guest's memory is backed by 4 KiB host \
                     pages, which lengthens the second-level (EPT/NPT) walk of every TLB miss",
                    h,
                    &["thp.enabled"],
                ));
            }
            if is_hardware_virtualized(g) && lacks_two_dimensional_paging(h) {
                a.causes.push(cause(
                    "the host CPU offers neither EPT nor NPT: shadow page tables make TLB misses and page-table \
                     updates costly",
                    h,
                    &["cpu.flags"],
                ));
            }
        }
        a.causes.extend(tcg_cause(
            g,
            "every guest memory access goes through QEMU's software TLB (softmmu), whose misses are far dearer \
             than a hardware TLB's",
        ));
        out.push(a);
    }
}

/// The parallelism of a metric: `throughput@4vcpu` -> ("throughput", 4). Suffixes: vcpu(s),
/// cpu(s), thread(s), t; None without one.
pub fn parallelism(metric: &str) -> Option<(&str, u32)> {
    let (base, suffix) = metric.rsplit_once('@')?;
    let split = suffix
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(suffix.len());
    let n: u32 = suffix[..split].parse().ok()?;
    matches!(
        &suffix[split..],
        "vcpu" | "vcpus" | "cpu" | "cpus" | "thread" | "threads" | "t"
    )
    .then_some((base, n))
}

/// (workload, metric without its `@N` suffix).
type WorkloadMetric<'a> = (&'a str, &'a str);

fn smp_scaling_collapse(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let mut curves: Vec<(WorkloadMetric, Vec<(u32, Versus)>)> = Vec::new();
        for s in ctx.series_of(g.name) {
            let (Some((base, n)), Some(v)) = (parallelism(s.metric), ctx.versus(s)) else {
                continue;
            };
            let key = (s.workload, base);
            match curves.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => c.push((n, v)),
                None => curves.push((key, vec![(n, v)])),
            }
        }
        for ((workload, base), mut curve) in curves {
            curve.sort_by_key(|(n, _)| *n);
            let (Some((n_lo, lo)), Some((n_hi, hi))) = (curve.first(), curve.last()) else {
                continue;
            };
            if n_lo == n_hi || hi.ci.lo <= (1.0 + ctx.cfg.smp_collapse) * lo.times_worse {
                continue;
            }
            let mut a = anomaly(
                4,
                g,
                &[hi],
                format!(
                    "{workload} / {base}: the gap to the host grows with vCPUs, {} at {n_lo} to {} (CI {}-{}) at {n_hi}",
                    times(lo.times_worse),
                    times(hi.times_worse),
                    times(hi.ci.lo),
                    times(hi.ci.hi)
                ),
            );
            let vcpus = get(g, "guest.vcpus").and_then(number);
            let host = ctx.baseline();
            let cpus = host.and_then(|h| get(h, "cpu.count")).and_then(number);
            if let (Some(v), Some(c), Some(h)) = (vcpus, cpus, host) {
                if v > c {
                    let mut cs = cause(
                        format!("overcommit: {v} vCPUs on {c} host CPUs"),
                        g,
                        &["guest.vcpus"],
                    );
                    cs.facts.extend(super::facts::fact(h, "cpu.count"));
                    a.causes.push(cs);
                }
            }
            let unpinned: Vec<&str> = g
                .facts
                .iter()
                .filter(|(k, v)| (k.ends_with("pinning") || k.ends_with("pinned")) && is_off(v))
                .map(|(k, _)| k.as_str())
                .collect();
            if !unpinned.is_empty() {
                a.causes.push(cause(
                    "vCPUs are not pinned: the host scheduler moves them and lets them share cores",
                    g,
                    &unpinned,
                ));
            }
            if get(g, "cpu.steal_pct")
                .and_then(number)
                .is_some_and(|s| s > 1.0)
            {
                a.causes.push(cause(
                    "steal time: the hypervisor ran something else on the guest's CPUs",
                    g,
                    &["cpu.steal_pct"],
                ));
            }
            a.causes.extend(tcg_cause(
                g,
                "vCPUs are emulated by host threads that share the host's cores with the translator",
            ));
            out.push(a);
        }
    }
}

fn noisy(ctx: &Context, out: &mut Vec<Anomaly>) {
    for p in ctx.ev.platforms {
        let mut seen = Vec::new();
        let mut workloads: Vec<String> = Vec::new();
        for s in ctx.series_of(p.name) {
            let v = variability(s.values, &ctx.cfg.variability);
            if v.n < 3 || !v.is_noisy() {
                continue;
            }
            let what = match v.bimodal {
                Some(b) => format!(
                    "two groups ({} values near {}, {} near {} {})",
                    b.lower_n,
                    short(b.lower_median),
                    b.upper_n,
                    short(b.upper_median),
                    s.unit
                ),
                None => format!("CV {:.0}% over {} values", v.cv * 100.0, v.n),
            };
            seen.push(format!("{} / {}: {what}", s.workload, s.metric));
            if !workloads.iter().any(|w| w == s.workload) {
                workloads.push(s.workload.to_string());
            }
        }
        if seen.is_empty() {
            continue;
        }
        let mut a = Anomaly {
            rule: RULES[5].id,
            title: RULES[5].title,
            platform: p.name.to_string(),
            workloads,
            seen: format!(
                "samples on {} spread too widely to trust their medians: {}",
                p.name,
                seen.join("; ")
            ),
            causes: Vec::new(),
        };
        // The platform's own facts first, then the host's: a guest's clock and co-runners are
        // the host's.
        let host = ctx.baseline();
        let candidates: Vec<&PlatformFacts> = std::iter::once(p)
            .chain(host.filter(|h| h.name != p.name))
            .collect();
        if let Some(q) = candidates.iter().find(|q| {
            get(q, "cpu.governor").is_some_and(|g| !g.eq_ignore_ascii_case("performance"))
        }) {
            a.causes.push(cause(
                "the CPU frequency governor is not \"performance\": the clock speed changes under the benchmark",
                q,
                &["cpu.governor"],
            ));
        }
        if get(p, "cpu.steal_pct")
            .and_then(number)
            .is_some_and(|s| s > 1.0)
        {
            a.causes.push(cause(
                "steal time: the hypervisor ran something else on this platform's CPUs",
                p,
                &["cpu.steal_pct"],
            ));
        }
        if let Some(q) = candidates.iter().find(|q| {
            let load = get(q, "host.loadavg").and_then(number);
            let cpus = get(q, "cpu.count").and_then(number).unwrap_or(1.0);
            load.is_some_and(|l| l > 0.5 * cpus.max(1.0))
        }) {
            a.causes.push(cause(
                "other load on the machine: co-runners share the cores",
                q,
                &["host.loadavg", "cpu.count"],
            ));
        }
        a.causes.extend(tcg_cause(
            p,
            "translation-cache flushes and the host's scheduling of QEMU's threads make emulated timings noisy",
        ));
        if let Some(q) = candidates
            .iter()
            .find(|q| get(q, "host.emulated").is_some_and(is_on))
        {
            a.causes.push(cause(
                "the host itself is emulated or virtualized: its timings inherit another layer's noise",
                q,
                &["host.emulated"],
            ));
        }
        out.push(a);
    }
}

/// Four significant digits (plain notation) for a value in a sentence.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Which series are small requests and which bulk transfers, per kind of device.
struct IoKind {
    name: &'static str,
    small: fn(&str) -> bool,
    bulk: fn(&str) -> bool,
    model_keys: &'static [&'static str],
}

const IO_KINDS: &[IoKind] = &[
    IoKind {
        name: "network",
        small: |w| w == "net-rr",
        bulk: |w| w == "net-bulk",
        model_keys: &["qemu.nic", "qemu.net_model", "net.model"],
    },
    IoKind {
        name: "disk",
        small: |w| w.starts_with("disk-") && (w.contains("rand") || w.contains("4k")),
        bulk: |w| w.starts_with("disk-") && w.contains("seq") && !w.contains("4k"),
        model_keys: &["qemu.disk_if", "qemu.disk_model", "disk.model"],
    },
];

fn io_latency_vs_bulk(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        for kind in IO_KINDS {
            let versus = |pick: fn(&str) -> bool| -> Vec<Versus> {
                ctx.series_of(g.name)
                    .filter(|s| pick(s.workload))
                    .filter_map(|s| ctx.versus(s))
                    .collect()
            };
            let Some(bulk) = geomean(&versus(kind.bulk)) else {
                continue;
            };
            let bar = ctx.cfg.latency_vs_bulk_factor * bulk.max(1.0);
            let hits: Vec<Versus> = versus(kind.small)
                .into_iter()
                .filter(|v| v.ci.lo > bar)
                .collect();
            if hits.is_empty() {
                continue;
            }
            let list: Vec<String> = hits.iter().map(worse_text).collect();
            let mut a = anomaly(
                6,
                g,
                &hits.iter().collect::<Vec<_>>(),
                format!(
                    "{} small requests: {} of the host's cost, against {} on bulk transfers",
                    kind.name,
                    list.join(", "),
                    times(bulk)
                ),
            );
            if let Some(key) = kind
                .model_keys
                .iter()
                .find(|k| get(g, k).is_some_and(|m| !m.to_ascii_lowercase().contains("virtio")))
            {
                a.causes.push(cause(
                    format!(
                        "an emulated {} device rather than virtio: every request traps into the device model",
                        kind.name
                    ),
                    g,
                    &[key],
                ));
            }
            if kind.name == "network" && get(g, "qemu.vhost").is_some_and(is_off) {
                a.causes.push(cause(
                    "virtio-net without vhost: every packet makes a trip through QEMU's main loop",
                    g,
                    &["qemu.vhost"],
                ));
            }
            if kind.name == "disk"
                && get(g, "qemu.iothreads").is_some_and(|v| v == "0" || is_off(v))
            {
                a.causes.push(cause(
                    "no iothread: disk requests are served by QEMU's main loop, one at a time with everything else",
                    g,
                    &["qemu.iothreads"],
                ));
            }
            a.causes.extend(tcg_cause(
                g,
                "each device access is an emulated exit into QEMU, which per-request latency pays and bulk \
                 transfers amortize",
            ));
            out.push(a);
        }
    }
}
