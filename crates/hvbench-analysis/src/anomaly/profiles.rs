//! Reading the counter profiles for the rules ([`crate::counters::ExitProfile`]): which profile
//! stands beside a battery series, a counter of it by source and key, the [`CounterRef`] that
//! cites it, and per-operation numbers for a sentence.

use super::{Context, CounterRef};
use crate::counters::{ExitProfile, PerOp};
use crate::isolation::is_isolation_scenario;

/// The profile counted beside `workload` / `metric` of `platform` in a battery scenario (not an
/// isolation cell): the metric's own, else another metric of the same workload's windows.
pub(crate) fn battery_profile<'a>(
    ctx: &Context<'a>,
    platform: &str,
    workload: &str,
    metric: &str,
) -> Option<&'a ExitProfile> {
    let of_workload = || {
        ctx.ev.counters.iter().filter(move |p| {
            p.platform == platform
                && p.workload == workload
                && p.windows > 0
                && !is_isolation_scenario(&p.scenario)
        })
    };
    of_workload()
        .find(|p| p.metric == metric)
        .or_else(|| of_workload().next())
}

/// Every battery profile of `platform` (any workload).
pub(crate) fn battery_profiles<'a>(
    ctx: &Context<'a>,
    platform: &'a str,
) -> impl Iterator<Item = &'a ExitProfile> + 'a {
    ctx.ev.counters.iter().filter(move |p| {
        p.platform == platform && p.windows > 0 && !is_isolation_scenario(&p.scenario)
    })
}

/// A counter of `profile` counted by `source` (any source when None) under `key`: among the
/// reasons, then everything else, then the total (`entries`).
pub(crate) fn counter<'a>(
    profile: &'a ExitProfile,
    source: Option<&str>,
    key: &str,
) -> Option<&'a PerOp> {
    profile
        .reasons
        .iter()
        .chain(&profile.other)
        .chain(&profile.entries)
        .find(|c| c.key == key && source.is_none_or(|s| c.source == s))
}

/// The median per operation of `key` across the reasons of `profile`, 0 when the profile's
/// sources told reasons apart but not this one; None when it has no reasons at all.
pub(crate) fn reason_per_op(profile: &ExitProfile, key: &str) -> Option<f64> {
    if profile.reasons.is_empty() && profile.entries.is_none() {
        return None;
    }
    Some(
        profile
            .reasons
            .iter()
            .find(|r| r.key == key)
            .map_or(0.0, |r| r.median),
    )
}

/// The reference to `counter` of `profile`, for a cause.
pub(crate) fn cite(profile: &ExitProfile, counter: &PerOp) -> CounterRef {
    CounterRef {
        platform: profile.platform.clone(),
        scenario: profile.scenario.clone(),
        workload: profile.workload.clone(),
        source: counter.source.clone(),
        key: counter.key.clone(),
        per_op: counter.median,
    }
}

/// Whether `a` per operation is markedly above `b`: at least `ratio` times it, or at least
/// `difference` more.
pub(crate) fn markedly_above(ctx: &Context, a: f64, b: f64) -> bool {
    a > b && a > 0.0 && (a >= ctx.cfg.counter_ratio * b || a - b >= ctx.cfg.counter_difference)
}

/// A reason's name for a sentence: `exit.rdtsc` -> `rdtsc`, `hypercall.mmu_update` ->
/// `hypercall mmu_update`, `pv.emulate_privop` -> `pv emulate_privop`.
pub(crate) fn reason_name(key: &str) -> String {
    if let Some(r) = key.strip_prefix("exit.") {
        r.to_string()
    } else if let Some((kind, name)) = key.split_once('.') {
        format!("{kind} {name}")
    } else {
        key.to_string()
    }
}

/// "per syscall", "per clock-gettime op".
pub(crate) fn per_op(workload: &str) -> String {
    if workload == "syscall" {
        "per syscall".to_string()
    } else {
        format!("per {workload} op")
    }
}

/// A count per operation for a sentence: `158`, `12.0`, `0.5`, `0.012`, `0`.
pub(crate) fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        // Two significant digits, trailing zeros dropped.
        let decimals = (1 - a.log10().floor() as i32).max(1) as usize;
        let s = format!("{x:.decimals$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A fraction as a percentage: `0.183` -> `18.3%`.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(num(12.0), "12.0");
        assert_eq!(num(158.4), "158");
        assert_eq!(num(0.01), "0.01");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(0.0123), "0.012");
        assert_eq!(num(0.0), "0");
        assert_eq!(reason_name("exit.rdtsc"), "rdtsc");
        assert_eq!(reason_name("hypercall.mmu_update"), "hypercall mmu_update");
        assert_eq!(per_op("syscall"), "per syscall");
        assert_eq!(per_op("fork-exit"), "per fork-exit op");
        assert_eq!(pct(0.183), "18.3%");
    }
}
