//! What a campaign visits, planned before anything runs: the isolation cells of a plan on each
//! platform, the alternatives of a round (battery trials and cells), the seeded visiting order,
//! and each trial's time limit.

use hvbench_analysis::rng::SplitMix64;
use hvbench_platform::isolation::Cell;
use hvbench_platform::Platform;
use hvbench_proto::AgentPlan;
use hvbench_spec::{Placement, Plan};
use std::time::Duration;

/// `[guest] timeout_s` limits one guest boot. The host agent boots nothing, so its trials get
/// at least [`HOST_TRIAL_MIN_TIMEOUT`]: a guest timeout tuned tight to catch hung guests must
/// not fail the baseline on a loaded machine. A hung host agent is still killed.
pub(crate) fn trial_timeout(guest_timeout_s: u64, is_host: bool) -> Duration {
    let t = Duration::from_secs(guest_timeout_s);
    if is_host {
        t.max(HOST_TRIAL_MIN_TIMEOUT)
    } else {
        t
    }
}

const HOST_TRIAL_MIN_TIMEOUT: Duration = Duration::from_secs(60);

/// How often an aggressor reports its rate (its heartbeat).
pub const AGGRESSOR_REPORT_MS: u64 = 500;

/// One isolation cell of the plan on one platform.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCell {
    pub platform: String,
    pub cell: Cell,
}

/// Every isolation cell of `plan`, scenario by scenario, platform by platform, in the order
/// of the experiment file. Aggressors are asked to run for three guest timeouts: they are
/// stopped as soon as their victim is done, and the limit only ends a forgotten one.
pub fn isolation_cells(plan: &Plan) -> Vec<PlannedCell> {
    let mut out = Vec::new();
    let stress_ms = plan.guest.timeout_s.max(60) * 3 * 1000;
    for iso in &plan.isolation {
        let victim = iso.victim_plan(plan);
        for platform in &iso.platforms {
            for c in iso.cells() {
                let aggressor = c.stressor.as_ref().map(|st| AgentPlan {
                    workloads: Vec::new(),
                    stress: Some(st.stress_plan(stress_ms, AGGRESSOR_REPORT_MS)),
                    evidence: false,
                    ..victim.clone()
                });
                out.push(PlannedCell {
                    platform: platform.clone(),
                    cell: Cell {
                        scenario: c.scenario.clone(),
                        victim: victim.clone(),
                        aggressor,
                        aggressors: iso.aggressors,
                        pinned_apart: c.placement == Some(Placement::PinnedApart),
                        weight: iso.aggressor_weight,
                        cap_pct: iso.aggressor_cap_pct,
                        settle_ms: iso.settle_ms,
                        victim_cpus: plan.guest.vcpus,
                    },
                });
            }
        }
    }
    out
}

/// The plans of the isolation cells that run on `platform` (victims and aggressors), for
/// drivers that build guest images ahead.
pub fn cell_plans(plan: &Plan, platform: &str) -> Vec<AgentPlan> {
    let mut out: Vec<AgentPlan> = Vec::new();
    for c in isolation_cells(plan) {
        if c.platform != platform {
            continue;
        }
        for p in std::iter::once(c.cell.victim).chain(c.cell.aggressor) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// What one round visits: a battery trial of a platform, or an isolation cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Alternative {
    Battery(usize),
    Cell { platform: usize, cell: usize },
}

impl Alternative {
    /// The platform (index) it runs on.
    pub(crate) fn platform(&self) -> usize {
        match self {
            Alternative::Battery(i) => *i,
            Alternative::Cell { platform, .. } => *platform,
        }
    }
}

/// The alternatives of `plan` over `platforms`: battery trials first (when the plan has
/// workloads), then the cells; each round visits them all in a random order.
pub(crate) fn alternatives(
    plan: &Plan,
    platforms: &[Box<dyn Platform>],
    cells: &[PlannedCell],
) -> Vec<Alternative> {
    let mut out = Vec::new();
    if !plan.workloads.is_empty() {
        out.extend((0..platforms.len()).map(Alternative::Battery));
    }
    for (i, c) in cells.iter().enumerate() {
        if let Some(p) = platforms.iter().position(|p| p.name() == c.platform) {
            out.push(Alternative::Cell {
                platform: p,
                cell: i,
            });
        }
    }
    out
}

/// The visiting order: for each round, a permutation of `0..alternatives`, drawn from `seed`.
///
/// The generator and the shuffle are hvbench's own and fixed (SplitMix64 and Fisher-Yates as
/// written in [`hvbench_analysis::rng`]), so the same seed gives the same schedule on every
/// build and after any dependency upgrade: a stored run's `--resume` and a rerun with the
/// stored seed visit trials in the stored order.
pub fn schedule(alternatives: usize, rounds: u32, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64::new(seed);
    (0..rounds)
        .map(|_| {
            let mut order: Vec<usize> = (0..alternatives).collect();
            rng.shuffle(&mut order);
            order
        })
        .collect()
}

/// One round's visits on one machine, grouped by the boot entry their platform needs (a
/// dual-boot machine, docs/architecture.md "Dual-boot hosts"): visits that need no boot first,
/// then each boot's visits, the boots in ABBA order ([`hvbench_platform::remote::boot::boot_order`]
/// over `declared`, the entries in the order the experiment file declares them). Within a
/// boot the visits keep the round's seeded random order.
pub(crate) fn by_boot(
    visit: &[usize],
    boot_of: impl Fn(usize) -> Option<String>,
    declared: &[String],
    round: u32,
) -> Vec<usize> {
    let mut out: Vec<usize> = visit
        .iter()
        .copied()
        .filter(|&a| boot_of(a).is_none())
        .collect();
    let mut used: Vec<String> = declared
        .iter()
        .filter(|b| visit.iter().any(|&a| boot_of(a).as_ref() == Some(*b)))
        .cloned()
        .collect();
    // A boot the declaration does not list (it cannot happen after validation) goes last.
    for &a in visit {
        if let Some(b) = boot_of(a) {
            if !used.contains(&b) {
                used.push(b);
            }
        }
    }
    let (listed, extra): (Vec<String>, Vec<String>) =
        used.into_iter().partition(|b| declared.contains(b));
    let order = hvbench_platform::remote::boot::boot_order(&listed, round)
        .into_iter()
        .chain(extra);
    for b in order {
        out.extend(
            visit
                .iter()
                .copied()
                .filter(|&a| boot_of(a).as_deref() == Some(b.as_str())),
        );
    }
    out
}

/// A seed for a run whose plan gives none: from the system's randomness, with the clock as a
/// fallback. It is stored with the run, so the schedule can be drawn again.
pub(crate) fn fresh_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if from_os {
        return u64::from_le_bytes(bytes);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    SplitMix64::new(now.as_nanos() as u64 ^ u64::from(std::process::id())).next_u64()
}

/// The plan as stored with a run: with the seed its schedule was drawn from.
pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("plan serialises")
}

#[cfg(test)]
mod boot_tests {
    use super::*;

    #[test]
    fn a_round_on_a_dual_boot_machine_is_grouped_by_boot_in_abba_order() {
        // Alternatives 0..5: 0 and 3 need xen, 1 and 4 kvm, 2 nothing (a local platform).
        let boot_of = |a: usize| match a {
            0 | 3 => Some("xen".to_string()),
            1 | 4 => Some("kvm".to_string()),
            _ => None,
        };
        let declared = ["xen".to_string(), "kvm".to_string()];
        let visit = [4, 0, 2, 1, 3];
        // Round 0: xen then kvm; the seeded order kept within each boot.
        assert_eq!(by_boot(&visit, boot_of, &declared, 0), [2, 0, 3, 4, 1]);
        // Round 1: kvm then xen.
        assert_eq!(by_boot(&visit, boot_of, &declared, 1), [2, 4, 1, 0, 3]);
        // A round where one boot has nothing left is just the other.
        assert_eq!(by_boot(&[3, 0], boot_of, &declared, 1), [3, 0]);
        // Without boots the seeded order is untouched.
        assert_eq!(by_boot(&visit, |_| None, &[], 0), visit);
    }

    #[test]
    fn the_schedule_of_two_rounds_reboots_at_most_once_per_round() {
        let boot_of = |a: usize| Some(if a.is_multiple_of(2) { "xen" } else { "kvm" }.to_string());
        let declared = ["xen".to_string(), "kvm".to_string()];
        let rounds = schedule(4, 4, 11);
        let seq: Vec<String> = rounds
            .iter()
            .enumerate()
            .flat_map(|(r, v)| by_boot(v, boot_of, &declared, r as u32))
            .map(|a| boot_of(a).unwrap())
            .collect();
        let switches = seq.windows(2).filter(|w| w[0] != w[1]).count();
        // xen xen kvm kvm | kvm kvm xen xen | ...: one switch inside each round, none between.
        assert_eq!(switches, 4, "{seq:?}");
        assert_eq!(seq.first().map(String::as_str), Some("xen"));
    }
}
