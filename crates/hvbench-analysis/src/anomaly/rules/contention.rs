//! The isolation-cell rules: a victim's steal time rising with its aggressor, and the victim
//! waiting runnable behind the aggressor under Xen's credit2 rate limit and time slice. Both
//! compare the victim's counters in a stress cell (`<iso>/<stressor>/<placement>`) with its
//! counters alone (`<iso>/none`), on the same workload and metric.

use super::finding;
use crate::anomaly::facts::cause;
use crate::anomaly::profiles::{cite, counter, pct};
use crate::anomaly::{Anomaly, Cause, Context, CounterRef};
use crate::counters::{ExitProfile, PerOp};
use crate::isolation::{parse_cell, NO_STRESS, VICTIM_GUEST};
use hvbench_proto::names::Placement;

/// The victim's profile in a stress cell, its profile alone, and the cell's placement.
struct Pair<'a> {
    cell: &'a ExitProfile,
    alone: &'a ExitProfile,
    placement: &'a str,
}

/// Every stress-cell profile of the victim on `platform` that has a profile alone.
fn victim_pairs<'a>(ctx: &Context<'a>, platform: &str) -> Vec<Pair<'a>> {
    let victims: Vec<&'a ExitProfile> = ctx
        .ev
        .counters
        .iter()
        .filter(|p| p.platform == platform && p.guest == VICTIM_GUEST && p.windows > 0)
        .collect();
    victims
        .iter()
        .filter_map(|p| {
            let cell = parse_cell(&p.scenario)?;
            let stress = cell.stress?;
            let alone_name = format!("{}/{NO_STRESS}", cell.scenario);
            let alone = victims.iter().find(|a| {
                a.scenario == alone_name && a.workload == p.workload && a.metric == p.metric
            })?;
            Some(Pair {
                cell: p,
                alone,
                placement: stress.placement,
            })
        })
        .collect()
}

/// A fraction that "rises": by `steal_rise` of the window at least, to twice its level alone.
fn rises(ctx: &Context, cell: f64, alone: f64) -> bool {
    cell - alone >= ctx.cfg.steal_rise && cell >= 2.0 * alone
}

fn add_workload(workloads: &mut Vec<String>, w: &str) {
    if !workloads.iter().any(|x| x == w) {
        workloads.push(w.to_string());
    }
}

/// Steal time is CPU time the hypervisor gave to someone else while the guest's vCPU was ready
/// to run (the guest's /proc/stat). Fires when the victim's steal fraction in a stress cell
/// rises above its level alone.
pub(super) fn steal_in_isolation(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let mut seen = Vec::new();
        let mut workloads = Vec::new();
        let mut shared: Vec<CounterRef> = Vec::new();
        let mut apart: Vec<(&str, Vec<CounterRef>)> = Vec::new();
        for pair in victim_pairs(ctx, g.name) {
            let (Some(cell), Some(alone)) = (&pair.cell.steal_fraction, &pair.alone.steal_fraction)
            else {
                continue;
            };
            if !rises(ctx, cell.median, alone.median) {
                continue;
            }
            seen.push(format!(
                "{} on {} / {}: {} of the windows, against {} alone",
                pair.cell.scenario,
                pair.cell.workload,
                pair.cell.metric,
                pct(cell.median),
                pct(alone.median)
            ));
            add_workload(&mut workloads, &pair.cell.workload);
            let refs = vec![cite(pair.cell, cell), cite(pair.alone, alone)];
            if pair.placement == Placement::Shared.as_str() {
                shared.extend(refs);
            } else {
                match apart.iter_mut().find(|(p, _)| *p == pair.placement) {
                    Some((_, r)) => r.extend(refs),
                    None => apart.push((pair.placement, refs)),
                }
            }
        }
        if seen.is_empty() {
            continue;
        }
        let mut a = finding(
            "steal-in-isolation",
            g,
            workloads,
            format!(
                "the victim's steal time rises with its aggressor: {}",
                seen.join("; ")
            ),
        );
        if !shared.is_empty() {
            a.causes.push(Cause {
                text: "the aggressor runs on the victim's CPUs (placement shared): the hypervisor hands the \
                       victim's CPU time to it while the victim is ready to run, which the victim counts as steal"
                    .to_string(),
                facts: Vec::new(),
                counters: shared,
            });
        }
        for (placement, counters) in apart {
            a.causes.push(Cause {
                text: format!(
                    "steal rises although the aggressor is placed {placement}: the hypervisor's own work for \
                     the aggressor (its back-ends, dom0 or QEMU threads, interrupts) runs on the victim's CPUs"
                ),
                facts: Vec::new(),
                counters,
            });
        }
        out.push(a);
    }
}

/// The fraction of a vCPU's time spent runnable (ready, not running), from `xen.trace`'s
/// `runnable_ns` and `running_ns`, with the runnable counter.
fn runnable_fraction(p: &ExitProfile) -> Option<(f64, &PerOp)> {
    let wait = counter(p, Some("xen.trace"), "runnable_ns")?;
    let run = counter(p, Some("xen.trace"), "running_ns")?;
    let total = wait.median + run.median;
    (total > 0.0).then(|| (wait.median / total, wait))
}

const CREDIT2_KEYS: &[&str] = &["xen.credit2.ratelimit_us", "xen.credit2.timeslice_ms"];

/// credit2's rate limit (`sched_ratelimit_us`, `xl sched-credit2 -s`) lets a running vCPU keep
/// its CPU that long before a woken one may preempt it, and its time slice bounds a turn:
/// under contention a woken victim waits behind the aggressor, which shows as latency tails.
/// Fires on a platform with credit2 facts whose victim spends a rising share of its time
/// runnable (`xen.trace` `runnable_ns` against `running_ns`) in a stress cell.
pub(super) fn credit2_tails(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        if !CREDIT2_KEYS.iter().any(|k| g.facts.contains_key(*k)) {
            continue;
        }
        let mut seen = Vec::new();
        let mut workloads = Vec::new();
        let mut counters = Vec::new();
        for pair in victim_pairs(ctx, g.name) {
            let (Some((cell, c)), Some((alone, a0))) =
                (runnable_fraction(pair.cell), runnable_fraction(pair.alone))
            else {
                continue;
            };
            if !rises(ctx, cell, alone) {
                continue;
            }
            seen.push(format!(
                "{} on {} / {}: runnable {} of its vCPU time, against {} alone",
                pair.cell.scenario,
                pair.cell.workload,
                pair.cell.metric,
                pct(cell),
                pct(alone)
            ));
            add_workload(&mut workloads, &pair.cell.workload);
            counters.push(cite(pair.cell, c));
            counters.push(cite(pair.alone, a0));
        }
        if seen.is_empty() {
            continue;
        }
        let mut a = finding(
            "credit2-tails",
            g,
            workloads,
            format!(
                "the victim waits runnable behind its aggressor: {}",
                seen.join("; ")
            ),
        );
        let mut c = cause(
            "credit2's rate limit lets a running vCPU keep its CPU at least ratelimit_us before a woken vCPU \
             may preempt it, and its time slice bounds each turn: under contention the victim's wake-ups wait \
             behind the aggressor, which stretches its latency tail",
            g,
            CREDIT2_KEYS,
        );
        c.counters = counters;
        a.causes.push(c);
        out.push(a);
    }
}
