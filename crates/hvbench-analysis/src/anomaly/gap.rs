//! Explanations that account for the difference they explain.
//!
//! An anomaly of a cost rule says that a guest platform P is N times worse than the host on a
//! metric. When another guest Q of the same run is much better on that metric (the anomaly's
//! [`Peer`]), whatever P and Q share cannot explain the gap between them: the same emulated lab,
//! the same host, the same fact value. Such causes move to [`Anomaly::shared`]; the causes
//! become what differs: hypervisor entries per operation (and by reason) or steal time counted
//! beside the same workload, and the recorded facts whose values differ (mitigations, time
//! sources, guest type, halt polling, command line). Where nothing differs the cause is
//! unknown, and [`next_steps`] says what to look at next.

use super::facts::{fact, get, is_emulated, EMULATION_KEYS};
use super::profiles::{
    battery_profile, cite, markedly_above, num, pct, per_op, reason_name, reason_per_op,
};
use super::{Anomaly, Cause, Context, CounterRef, FactRef, Peer, PlatformFacts, Versus, RULES};
use crate::counters::{ExitProfile, PerOp};
use hvbench_proto::facts as key;

/// Fact keys whose different values on two guests can explain a gap between them, with what a
/// difference means.
const DIFFERING_KEYS: &[(&str, &str)] = &[
    ("cpu.vuln.", "a different mitigation is in force"),
    ("clocksource", "a different time source"),
    ("xen.guest_type", "a different Xen guest type"),
    ("xen.spec.xpti", "XPTI is set differently"),
    (key::XEN_TSC_MODE, "a different TSC mode"),
    (
        key::XEN_VTSC,
        "Xen emulates the TSC on one and not the other",
    ),
    ("cpu.tsc_flags", "different TSC features reach the guest"),
    ("kvm.halt_poll_ns", "a different halt-polling window"),
    ("guest.cmdline", "a different guest kernel command line"),
];

/// What the fact `key` stands for when it differs; None for keys that explain no gap.
fn differing_key(key: &str) -> Option<&'static str> {
    DIFFERING_KEYS
        .iter()
        .find(|(k, _)| {
            if k.ends_with('.') {
                key.starts_with(k)
            } else {
                key == *k
            }
        })
        .map(|(_, what)| *what)
}

/// Find the anomaly's peer; with one, keep only the causes that differ from it and add the
/// measured and recorded differences; without one, add the platform's own hypervisor entries.
pub(super) fn account_for_peer(ctx: &Context, a: &mut Anomaly) {
    let Some(p) = ctx.ev.platforms.iter().find(|x| x.name == a.platform) else {
        return;
    };
    let Some((peer, q)) = find_peer(ctx, a) else {
        let own = entries_against_host(ctx, p, a).filter(|c| !already_counted(c, &a.causes));
        a.causes.extend(own);
        return;
    };
    let (kept, shared): (Vec<Cause>, Vec<Cause>) = std::mem::take(&mut a.causes)
        .into_iter()
        .partition(|c| !is_shared(c, p, q));
    a.causes = kept;
    a.shared = shared;
    for c in counter_differences(ctx, p, q, &peer) {
        if !already_counted(&c, &a.causes) {
            a.causes.push(c);
        }
    }
    let differing = fact_differences(p, q, &a.causes);
    a.causes.extend(differing);
    a.peer = Some(peer);
}

/// The platform's worst comparison with the baseline on `workload`, when it is worse.
fn worst<'a>(ctx: &Context<'a>, platform: &str, workload: &str) -> Option<Versus<'a>> {
    ctx.series_of(platform)
        .filter(|s| s.workload == workload)
        .filter_map(|s| ctx.versus(s))
        .filter(|v| v.times_worse > 1.0)
        .max_by(|x, y| x.times_worse.total_cmp(&y.times_worse))
}

/// The guest with the largest gap below the anomaly's platform, on the platform's worst metric
/// of one of the anomaly's workloads: at least `peer_gap_factor` times better, intervals apart.
fn find_peer<'a>(ctx: &Context<'a>, a: &Anomaly) -> Option<(Peer, &'a PlatformFacts<'a>)> {
    let mut best: Option<(f64, Peer, &'a PlatformFacts<'a>)> = None;
    for w in &a.workloads {
        let Some(mine) = worst(ctx, &a.platform, w) else {
            continue;
        };
        for q in ctx.guests().filter(|q| q.name != a.platform) {
            let Some(theirs) = ctx
                .series_of(q.name)
                .find(|s| s.workload == *w && s.metric == mine.series.metric)
                .and_then(|s| ctx.versus(s))
            else {
                continue;
            };
            let gap = mine.times_worse / theirs.times_worse.max(f64::MIN_POSITIVE);
            let apart = mine.ci.lo > theirs.ci.hi;
            if gap >= ctx.cfg.peer_gap_factor
                && apart
                && best.as_ref().is_none_or(|(g, _, _)| gap > *g)
            {
                let peer = Peer {
                    platform: q.name.to_string(),
                    workload: w.clone(),
                    metric: mine.series.metric.to_string(),
                    times_worse: mine.times_worse,
                    peer_times_worse: theirs.times_worse,
                };
                best = Some((gap, peer, q));
            }
        }
    }
    best.map(|(_, peer, q)| (peer, q))
}

/// A cause resting only on facts that `q` shares with `p`: facts of another platform (the host
/// both run on), emulation facts when both are emulated, or the same value on `q`.
fn is_shared(c: &Cause, p: &PlatformFacts, q: &PlatformFacts) -> bool {
    let fact_shared = |f: &FactRef| {
        f.platform != p.name
            || (EMULATION_KEYS.contains(&f.key.as_str()) && is_emulated(p) && is_emulated(q))
            || fact(q, &f.key).is_some_and(|g| g.value == f.value)
    };
    c.counters.is_empty() && !c.facts.is_empty() && c.facts.iter().all(fact_shared)
}

/// Whether every counter `c` cites on the anomaly's platform is cited by one of `causes`
/// already (a rule that counted the same reasons says more than the generic sentence).
fn already_counted(c: &Cause, causes: &[Cause]) -> bool {
    let platform = c.counters.first().map(|r| r.platform.as_str());
    let cited = |r: &CounterRef| causes.iter().flat_map(|x| &x.counters).any(|x| x == r);
    c.counters
        .iter()
        .filter(|r| Some(r.platform.as_str()) == platform)
        .all(cited)
}

/// The reasons of `mine` that are markedly above the same reasons of `theirs` (0 where
/// `theirs` has none), the largest difference first, at most `n`.
fn top_reasons<'p>(
    ctx: &Context,
    mine: &'p ExitProfile,
    theirs: Option<&ExitProfile>,
    n: usize,
) -> Vec<&'p PerOp> {
    let other = |r: &PerOp| theirs.and_then(|t| reason_per_op(t, &r.key)).unwrap_or(0.0);
    let mut top: Vec<&PerOp> = mine
        .reasons
        .iter()
        .filter(|r| markedly_above(ctx, r.median, other(r)))
        .collect();
    top.sort_by(|x, y| (y.median - other(y)).total_cmp(&(x.median - other(x))));
    top.truncate(n);
    top
}

/// `12.0 hypervisor entries per syscall on xen-pvh (top: rdtsc 11.0)`.
fn entries_text(total: &PerOp, top: &[&PerOp], workload: &str, platform: &str) -> String {
    let top = if top.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = top
            .iter()
            .map(|r| format!("{} {}", reason_name(&r.key), num(r.median)))
            .collect();
        format!(" (top: {})", list.join(", "))
    };
    format!(
        "{} hypervisor entries {} on {platform}{top}",
        num(total.median),
        per_op(workload)
    )
}

/// The counters that differ markedly between `p` and `q` beside the peer's metric: hypervisor
/// entries per operation (with the reasons that differ most), and steal time.
fn counter_differences(
    ctx: &Context,
    p: &PlatformFacts,
    q: &PlatformFacts,
    peer: &Peer,
) -> Vec<Cause> {
    let (Some(mine), Some(theirs)) = (
        battery_profile(ctx, p.name, &peer.workload, &peer.metric),
        battery_profile(ctx, q.name, &peer.workload, &peer.metric),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(me), Some(them)) = (&mine.entries, &theirs.entries) {
        if markedly_above(ctx, me.median, them.median) {
            let top = top_reasons(ctx, mine, Some(theirs), 2);
            let mut counters: Vec<_> = top.iter().map(|r| cite(mine, r)).collect();
            if counters.is_empty() {
                counters.push(cite(mine, me));
            }
            counters.push(cite(theirs, them));
            out.push(Cause {
                text: format!(
                    "{}, against {} on {}: each entry is a round trip through the hypervisor",
                    entries_text(me, &top, &peer.workload, p.name),
                    num(them.median),
                    q.name
                ),
                facts: Vec::new(),
                counters,
            });
        }
    }
    if let (Some(me), Some(them)) = (&mine.steal_fraction, &theirs.steal_fraction) {
        if me.median - them.median >= ctx.cfg.steal_rise && me.median >= 2.0 * them.median {
            out.push(Cause {
                text: format!(
                    "steal time is {} of the windows on {}, against {} on {}: the hypervisor ran \
                     something else on its vCPUs",
                    pct(me.median),
                    p.name,
                    pct(them.median),
                    q.name
                ),
                facts: Vec::new(),
                counters: vec![cite(mine, me), cite(theirs, them)],
            });
        }
    }
    out
}

/// The facts of [`DIFFERING_KEYS`] recorded on both `p` and `q` with different values, except
/// those `kept` causes already cite.
fn fact_differences(p: &PlatformFacts, q: &PlatformFacts, kept: &[Cause]) -> Vec<Cause> {
    let cited = |key: &str| {
        kept.iter()
            .flat_map(|c| &c.facts)
            .any(|f| f.platform == p.name && f.key == key)
    };
    p.facts
        .keys()
        .filter_map(|key| {
            let what = differing_key(key)?;
            let (mine, theirs) = (fact(p, key)?, fact(q, key)?);
            (mine.value != theirs.value && !cited(key)).then(|| Cause {
                text: format!("{key} differs between {} and {}: {what}", p.name, q.name),
                facts: vec![mine, theirs],
                counters: Vec::new(),
            })
        })
        .collect()
}

/// Without a peer: the platform's own hypervisor entries beside its worst metric of the
/// anomaly's workloads, when they reach `counter_difference` per operation (a bare host makes
/// no such round trips).
fn entries_against_host(ctx: &Context, p: &PlatformFacts, a: &Anomaly) -> Option<Cause> {
    a.workloads.iter().find_map(|w| {
        let v = worst(ctx, p.name, w)?;
        let profile = battery_profile(ctx, p.name, w, v.series.metric)?;
        let total = profile.entries.as_ref()?;
        if total.median < ctx.cfg.counter_difference {
            return None;
        }
        let top = top_reasons(ctx, profile, None, 2);
        let mut counters: Vec<_> = top.iter().map(|r| cite(profile, r)).collect();
        if counters.is_empty() {
            counters.push(cite(profile, total));
        }
        Some(Cause {
            text: format!(
                "{}: round trips through the hypervisor that the baseline ({}) does not make",
                entries_text(total, &top, w, p.name),
                ctx.ev.baseline
            ),
            facts: Vec::new(),
            counters,
        })
    })
}

/// What to look at next when nothing recorded explains the anomaly.
pub(super) fn next_steps(ctx: &Context, a: &Anomaly) -> Vec<String> {
    let Some(p) = ctx.ev.platforms.iter().find(|x| x.name == a.platform) else {
        return Vec::new();
    };
    let gap_rule = RULES.iter().any(|r| r.id == a.rule && r.gap);
    let has_vuln = |x: &PlatformFacts| x.facts.keys().any(|k| k.starts_with("cpu.vuln."));
    let mut next = Vec::new();
    if let Some(peer) = &a.peer {
        let Some(q) = ctx.ev.platforms.iter().find(|x| x.name == peer.platform) else {
            return next;
        };
        let counted = |x: &PlatformFacts| {
            battery_profile(ctx, x.name, &peer.workload, &peer.metric).is_some()
        };
        if counted(p) && counted(q) {
            next.push(format!(
                "look at the exits by reason on {} and {}: their counts agree, so compare the time \
                 each takes (xenalyze, perf kvm stat)",
                p.name, q.name
            ));
        } else {
            next.push(format!(
                "run with evidence on to count hypervisor entries {} by reason on {} and {}",
                per_op(&peer.workload),
                p.name,
                q.name
            ));
        }
        if has_vuln(p) && has_vuln(q) {
            next.push(
                "compare the hypervisors' own mitigations (xen.spec.*, kvm.vmentry_l1d_flush): \
                 the guests' cpu.vuln.* agree"
                    .to_string(),
            );
        } else {
            next.push("record cpu.vuln.* in both guests and compare them".to_string());
        }
        if get(p, "clocksource").is_none() || get(q, "clocksource").is_none() {
            next.push("record each guest's clocksource".to_string());
        }
    } else if gap_rule {
        let counted = a
            .workloads
            .iter()
            .any(|w| super::profiles::battery_profiles(ctx, p.name).any(|x| &x.workload == w));
        next.push(if counted {
            "look at the exits by reason and the time each takes (xenalyze, perf kvm stat)"
                .to_string()
        } else {
            "run with evidence on to count hypervisor entries per operation by reason".to_string()
        });
        next.push(format!(
            "compare {}'s cpu.vuln.* and clocksource with another guest's on the same host",
            p.name
        ));
    } else if a.rule == "guest-faster-io" {
        next.push(
            "record qemu.disk_cache, whether the workload used O_DIRECT (plan.WORKLOAD.mode) and the \
             size of its file against the host's memory"
                .to_string(),
        );
    } else {
        next.push(
            "run with evidence on to see steal time and exits beside each window, and record \
             cpu.governor and host.loadavg"
                .to_string(),
        );
    }
    next
}
