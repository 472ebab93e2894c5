//! The battery's groups: which scenarios are the battery, each (scenario, workload, metric)
//! with every platform's values and summary, the failures that explain a gap, the trial counts,
//! and the comparisons with each platform's baseline (Holm over the whole battery).

#[allow(unused_imports)]
use super::*;

/// Which stored scenarios make the battery.
pub(super) struct Battery {
    /// Some sample or trial has scenario "baseline": the battery is that scenario alone.
    baseline_only: bool,
}

impl Battery {
    pub(super) fn of(input: &ReportInput) -> Battery {
        Battery {
            baseline_only: input
                .samples
                .iter()
                .map(|s| s.scenario.as_str())
                .chain(input.trials.iter().map(|t| t.scenario.as_str()))
                .any(|s| s == BASELINE_SCENARIO),
        }
    }

    pub(super) fn includes(&self, scenario: &str) -> bool {
        if self.baseline_only {
            scenario == BASELINE_SCENARIO
        } else {
            !is_isolation_scenario(scenario)
        }
    }
}

/// Measured values (warm-ups excluded) of one group, per platform.
pub(super) struct Collected<'a> {
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    values: HashMap<&'a str, Vec<f64>>,
}

/// Groups in the order their first sample arrived. A group exists as soon as any sample of it
/// exists, warm-ups included, so that a platform with only warm-ups shows as "no data".
pub(super) fn groups(
    input: &ReportInput,
    battery: &Battery,
    platforms: &[Platform],
    baseline: Option<&Baseline>,
    compared_with: &[Option<usize>],
    incomplete: bool,
    cfg: &BootstrapConfig,
) -> Vec<Group> {
    let mut order: Vec<Collected> = Vec::new();
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for s in input
        .samples
        .iter()
        .filter(|s| battery.includes(&s.scenario))
    {
        let key = (s.scenario.as_str(), s.workload.as_str(), s.metric.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            order.push(Collected {
                scenario: &s.scenario,
                workload: &s.workload,
                metric: &s.metric,
                unit: &s.unit,
                better: &s.better,
                values: HashMap::new(),
            });
            order.len() - 1
        });
        if !s.warmup {
            order[i]
                .values
                .entry(s.platform.as_str())
                .or_default()
                .push(s.value);
        }
    }

    order
        .into_iter()
        .map(|c| {
            let values: Vec<Vec<f64>> = platforms
                .iter()
                .map(|p| c.values.get(p.name).cloned().unwrap_or_default())
                .collect();
            let outcomes = platforms
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    match c
                        .values
                        .get(p.name)
                        .and_then(|v| summarize(v, cfg).map(|s| (v, s)))
                    {
                        Some((v, summary)) => {
                            let ratio = match compared_with[i] {
                                None if baseline.is_some() => Some(Ratio {
                                    point: 1.0,
                                    ci: Interval { lo: 1.0, hi: 1.0 },
                                }),
                                None => None,
                                Some(b) => c
                                    .values
                                    .get(platforms[b].name)
                                    .and_then(|b| ratio_of_medians(b, v, cfg)),
                            };
                            let outliers = mad_outliers(v, DEFAULT_MAD_THRESHOLD).len();
                            Outcome::Measured {
                                summary,
                                ratio,
                                outliers,
                            }
                        }
                        None if !incomplete
                            || input
                                .failures
                                .iter()
                                .any(|f| explains(f, p.name, c.workload)) =>
                        {
                            Outcome::NoData(Missing::SeeFailures)
                        }
                        None => Outcome::NoData(Missing::NotYet),
                    }
                })
                .collect();
            Group {
                scenario: c.scenario.to_string(),
                workload: c.workload.to_string(),
                metric: c.metric.to_string(),
                unit: c.unit.to_string(),
                better: c.better.to_string(),
                outcomes,
                comparisons: vec![None; values.len()],
                values,
            }
        })
        .collect()
}

/// Whether failure `f` may explain missing data of `workload` on `platform`.
pub(super) fn explains(f: &FailureRow, platform: &str, workload: &str) -> bool {
    f.platform == platform && f.workload.as_deref().is_none_or(|w| w == workload)
}

/// Workloads named by failures with no sample anywhere (an isolation victim's sample counts:
/// failures do not say which scenario they belong to).
pub(super) fn unmeasured_workloads<'a>(input: &'a ReportInput, groups: &[Group]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for w in input.failures.iter().filter_map(|f| f.workload.as_deref()) {
        let measured =
            groups.iter().any(|g| g.workload == w) || input.samples.iter().any(|s| s.workload == w);
        if !measured && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

pub(super) fn trial_counts(
    input: &ReportInput,
    platforms: &[Platform],
    scenario: impl Fn(&str) -> bool,
) -> Vec<TrialCounts> {
    platforms
        .iter()
        .map(|p| {
            let mut c = TrialCounts::default();
            for t in input
                .trials
                .iter()
                .filter(|t| t.platform == p.name && scenario(&t.scenario))
            {
                match t.status.as_str() {
                    "ok" => c.ok += 1,
                    "failed" => c.failed += 1,
                    _ => c.unfinished += 1,
                }
            }
            c
        })
        .collect()
}

/// Compare every platform with its baseline on every group, as one battery (Holm across all of
/// it); returns the battery's size.
pub(super) fn compare(
    groups: &mut [Group],
    compared_with: &[Option<usize>],
    verdict_cfg: &VerdictConfig,
    cfg: &BootstrapConfig,
) -> usize {
    let mut slots: Vec<(usize, usize)> = Vec::new();
    let mut pairs: Vec<PairInput> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for (pi, v) in g.values.iter().enumerate() {
            let Some(bi) = compared_with[pi] else {
                continue;
            };
            let base = &g.values[bi];
            if base.is_empty() || v.is_empty() {
                continue;
            }
            slots.push((gi, pi));
            pairs.push(PairInput {
                baseline: base,
                other: v,
                direction: g.direction(),
            });
        }
    }
    let comparisons = compare_battery(&pairs, verdict_cfg, cfg);
    let m = comparisons
        .iter()
        .filter(|c| c.p_adjusted.is_some())
        .count();
    for ((gi, pi), c) in slots.into_iter().zip(comparisons) {
        groups[gi].comparisons[pi] = Some(c);
    }
    m
}
