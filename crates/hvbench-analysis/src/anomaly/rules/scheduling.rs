//! The CPU-sharing rules: SMP scaling that collapses with more vCPUs (overcommit, unpinned
//! vCPUs, steal time) and noisy or bimodal samples (frequency scaling, co-runners), with the
//! parsing of `NAME@Nvcpu` metrics.

use super::{anomaly, tcg_cause, RULES};
use crate::anomaly::facts::{cause, fact, get, is_off, is_on, number};
use crate::anomaly::{times, Anomaly, Context, PlatformFacts, Versus};
use crate::variability::variability;
use hvbench_proto::facts as key;

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

pub(super) fn smp_scaling_collapse(ctx: &Context, out: &mut Vec<Anomaly>) {
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
                    cs.facts.extend(fact(h, "cpu.count"));
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

pub(super) fn noisy(ctx: &Context, out: &mut Vec<Anomaly>) {
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
            peer: None,
            shared: Vec::new(),
            next: Vec::new(),
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
            .find(|q| get(q, key::HOST_EMULATED).is_some_and(is_on))
        {
            a.causes.push(cause(
                "the host itself is emulated or virtualized: its timings inherit another layer's noise",
                q,
                &[key::HOST_EMULATED],
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
