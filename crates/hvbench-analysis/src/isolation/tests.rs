//! Unit tests of the isolation analysis on hand-built rows: cell names, degradation and its
//! verdicts, Holm over the whole matrix, DNR and not-run cells, overlap and aggressor throughput.

use super::*;

const HIGHER: Option<Better> = Some(Better::Higher);
const LOWER: Option<Better> = Some(Better::Lower);

/// A victim's metric and which way it improves.
#[derive(Clone, Copy)]
struct Metric {
    name: &'static str,
    direction: Option<Better>,
}

const LATENCY: Metric = Metric {
    name: "latency",
    direction: LOWER,
};
const BANDWIDTH: Metric = Metric {
    name: "bandwidth",
    direction: HIGHER,
};

/// Owned rows, borrowed as an [`IsolationInput`].
#[derive(Default)]
struct Rows {
    trials: Vec<(String, u32, String, String, TrialState)>,
    samples: Vec<Sample>,
    declared: Vec<DeclaredIsolation>,
}

struct Sample {
    platform: String,
    round: u32,
    scenario: String,
    guest: String,
    workload: String,
    metric: String,
    direction: Option<Better>,
    warmup: bool,
    value: f64,
    elapsed_ns: u64,
    at_ms: Option<u64>,
}

impl Rows {
    fn trial(&mut self, platform: &str, round: u32, scenario: &str, guest: &str, ok: bool) {
        let state = if ok {
            TrialState::Ok
        } else {
            TrialState::Failed
        };
        self.trials
            .push((platform.into(), round, scenario.into(), guest.into(), state));
    }

    /// A victim trial per round, with `per_round` windows of 100 ms each, back to back
    /// from 1000 ms, `center` ± 1 % deterministically, after one warm-up.
    fn victim(
        &mut self,
        platform: &str,
        scenario: &str,
        rounds: u32,
        per_round: u32,
        metric: Metric,
        center: f64,
    ) {
        for round in 0..rounds {
            self.trial(platform, round, scenario, VICTIM_GUEST, true);
            for i in 0..=per_round {
                let jitter = 1.0 + f64::from((round * 7 + i * 3) % 11) / 500.0 - 0.01;
                self.samples.push(Sample {
                    platform: platform.into(),
                    round,
                    scenario: scenario.into(),
                    guest: VICTIM_GUEST.into(),
                    workload: "w".into(),
                    metric: metric.name.into(),
                    direction: metric.direction,
                    warmup: i == 0,
                    value: if i == 0 { 1e9 } else { center * jitter },
                    elapsed_ns: 100_000_000,
                    at_ms: Some(1000 + 100 * u64::from(i)),
                });
            }
        }
    }

    /// One aggressor's 500 ms windows within `span_ms`: ending at its start + 500, ... up to its
    /// end.
    fn aggressor(
        &mut self,
        platform: &str,
        scenario: &str,
        round: u32,
        guest: &str,
        span_ms: std::ops::RangeInclusive<u64>,
        value: f64,
    ) {
        self.trial(platform, round, scenario, guest, true);
        let mut end = span_ms.start() + 500;
        while end <= *span_ms.end() {
            self.samples.push(Sample {
                platform: platform.into(),
                round,
                scenario: scenario.into(),
                guest: guest.into(),
                workload: "stress-cpu".into(),
                metric: "throughput".into(),
                direction: HIGHER,
                warmup: false,
                value,
                elapsed_ns: 500_000_000,
                at_ms: Some(end),
            });
            end += 500;
        }
    }

    fn analyze(&self) -> IsolationAnalysis {
        let trials: Vec<IsolationTrial> = self
            .trials
            .iter()
            .map(|(p, r, s, g, st)| IsolationTrial {
                platform: p,
                round: *r,
                scenario: s,
                guest: g,
                state: *st,
            })
            .collect();
        let samples: Vec<IsolationSample> = self
            .samples
            .iter()
            .map(|s| IsolationSample {
                platform: &s.platform,
                round: s.round,
                scenario: &s.scenario,
                guest: &s.guest,
                workload: &s.workload,
                metric: &s.metric,
                unit: if s.guest == VICTIM_GUEST {
                    "ns"
                } else {
                    "ops/s"
                },
                direction: s.direction,
                warmup: s.warmup,
                value: s.value,
                elapsed_ns: s.elapsed_ns,
                at_ms: s.at_ms,
            })
            .collect();
        isolation_matrices(
            &IsolationInput {
                platforms: &["host", "kvm"],
                trials: &trials,
                samples: &samples,
                declared: &self.declared,
            },
            &VerdictConfig::default(),
            &BootstrapConfig {
                resamples: 1_000,
                ..BootstrapConfig::default()
            },
        )
    }
}

fn only_cell<'a>(a: &'a IsolationAnalysis, platform: &str) -> &'a IsolationCell {
    let row = a.matrices[0]
        .rows
        .iter()
        .find(|r| r.platform == platform)
        .unwrap();
    &row.cells[0]
}

#[test]
fn cells_parse_and_battery_scenarios_do_not() {
    assert_eq!(
        parse_cell("noisy/none"),
        Some(CellName {
            scenario: "noisy",
            stress: None
        })
    );
    let c = parse_cell("noisy/disk[size_mib=64]/pinned-apart").unwrap();
    assert_eq!(
        c.stress,
        Some(Stress {
            stressor: "disk[size_mib=64]",
            placement: "pinned-apart"
        })
    );
    assert_eq!(parse_cell("baseline"), None);
    assert_eq!(parse_cell("noisy/cpu"), None);
    assert!(!is_isolation_scenario("baseline") && is_isolation_scenario("a/none"));
}

#[test]
fn lower_is_better_degradation_is_significant_with_its_interval() {
    let mut r = Rows::default();
    r.victim("host", "iso/none", 5, 4, LATENCY, 100.0);
    r.victim("host", "iso/cpu/shared", 5, 4, LATENCY, 138.0);
    for round in 0..5 {
        r.aggressor("host", "iso/cpu/shared", round, "aggressor1", 0..=3000, 5e6);
    }
    let a = r.analyze();
    assert_eq!(a.tests, 1);
    let m = &a.matrices[0];
    assert_eq!(m.scenario, "iso");
    assert_eq!(m.stressors, ["cpu"]);
    let row = &m.rows[0];
    assert_eq!((row.baseline.n, row.baseline.trials.total), (20, 5));
    let c = &row.cells[0];
    let d = c.degradation().expect("measured");
    assert!((d.pct.unwrap() - 38.0).abs() < 0.5, "{d:?}");
    let ci = d.ci_pct.unwrap();
    assert!(ci.lo < d.pct.unwrap() && d.pct.unwrap() < ci.hi && ci.lo > 30.0 && ci.hi < 45.0);
    assert_eq!((d.n_baseline, d.n_stressed), (20, 20));
    assert!(d.p_holm.unwrap() < 0.001);
    assert_eq!(d.verdict, IsolationVerdict::Degraded);
    // The aggressor ran through every measured window.
    assert_eq!(
        c.overlap,
        Overlap {
            covered: 20,
            total: 20
        }
    );
    let t = c.aggressor_throughput.as_ref().unwrap();
    assert_eq!((t.median, t.unit.as_str()), (5e6, "ops/s"));
    assert_eq!(
        c.aggressor_trials,
        TrialTally {
            total: 5,
            failed: 0,
            unfinished: 0
        }
    );
}

#[test]
fn higher_is_better_loses_throughput_and_twice_as_slow_is_dramatic() {
    let mut r = Rows::default();
    r.victim("host", "iso/none", 5, 4, BANDWIDTH, 1000.0);
    r.victim("host", "iso/mem-bandwidth/shared", 5, 4, BANDWIDTH, 600.0);
    r.victim("kvm", "iso/none", 5, 4, LATENCY, 10.0);
    r.victim("kvm", "iso/mem-bandwidth/shared", 5, 4, LATENCY, 25.0);
    let a = r.analyze();
    let host = a.matrices[0]
        .rows
        .iter()
        .find(|r| r.platform == "host" && r.metric == "bandwidth")
        .unwrap();
    let d = host.cells[0].degradation().unwrap();
    // (1 - 600/1000) * 100
    assert!((d.pct.unwrap() - 40.0).abs() < 0.5, "{d:?}");
    assert_eq!(d.verdict, IsolationVerdict::Degraded);
    let kvm = a.matrices[0]
        .rows
        .iter()
        .find(|r| r.platform == "kvm" && r.metric == "latency")
        .unwrap();
    let d = kvm.cells[0].degradation().unwrap();
    assert!((d.pct.unwrap() - 150.0).abs() < 2.0, "{d:?}");
    assert_eq!(d.verdict, IsolationVerdict::Dramatic);
    // Rows exist for every (platform, metric) of the scenario: kvm has no bandwidth data.
    let kvm_bw = a.matrices[0]
        .rows
        .iter()
        .find(|r| r.platform == "kvm" && r.metric == "bandwidth")
        .unwrap();
    assert_eq!(kvm_bw.cells[0].outcome, CellOutcome::NoData);
    // No aggressor samples: no throughput, no window covered.
    assert_eq!(host.cells[0].aggressor_throughput, None);
    assert_eq!(
        host.cells[0].overlap,
        Overlap {
            covered: 0,
            total: 20
        }
    );
}

#[test]
fn same_distribution_is_no_significant_difference() {
    let mut r = Rows::default();
    r.victim("host", "iso/none", 5, 4, LATENCY, 100.0);
    r.victim("host", "iso/cpu/pinned-apart", 5, 4, LATENCY, 100.0);
    let d = only_cell(&r.analyze(), "host")
        .degradation()
        .unwrap()
        .clone();
    assert_eq!(
        d.verdict,
        IsolationVerdict::NoSignificantDifference,
        "{d:?}"
    );
    assert!(d.pct.unwrap().abs() < 1.0 && d.ci_pct.unwrap().contains(0.0));
}

#[test]
fn holm_counts_the_whole_isolation_matrix() {
    // 5 windows against 5 alone: p = 2 / C(10, 5) = 0.0079, significant. Among 10 cells
    // Holm's first step needs 0.005: every cell is "too few samples", whatever the effect.
    let mut r = Rows::default();
    r.victim("host", "iso/none", 1, 5, LATENCY, 100.0);
    r.victim("host", "iso/cpu/shared", 1, 5, LATENCY, 300.0);
    let alone = r.analyze();
    let d = only_cell(&alone, "host").degradation().unwrap().clone();
    assert_eq!((d.verdict, alone.tests), (IsolationVerdict::Dramatic, 1));
    for k in 1..10 {
        r.victim("host", &format!("iso/s{k}/shared"), 1, 5, LATENCY, 300.0);
    }
    let many = r.analyze();
    assert_eq!(many.tests, 10);
    for c in &many.matrices[0].rows[0].cells {
        let d = c.degradation().unwrap();
        assert_eq!(d.verdict, IsolationVerdict::TooFewSamples, "{c:?}");
        assert!((d.pct.unwrap() - 200.0).abs() < 5.0);
    }
}

#[test]
fn a_victim_that_never_reported_is_dnr_and_a_cell_without_trials_is_not_run() {
    let mut r = Rows::default();
    r.declared.push(DeclaredIsolation {
        name: "iso".into(),
        stressors: vec!["fork-bomb".into(), "cpu".into()],
        placements: vec!["shared".into(), "pinned-apart".into()],
        platforms: vec![],
    });
    r.victim("host", "iso/none", 3, 4, LATENCY, 100.0);
    for round in 0..3 {
        r.trial("host", round, "iso/fork-bomb/shared", VICTIM_GUEST, false);
        r.trial(
            "host",
            round,
            "iso/fork-bomb/shared",
            "aggressor1",
            round != 1,
        );
    }
    // The baseline itself did not report on kvm.
    r.trial("kvm", 0, "iso/none", VICTIM_GUEST, false);
    r.victim("kvm", "iso/cpu/shared", 1, 4, LATENCY, 100.0);
    let a = r.analyze();
    let m = &a.matrices[0];
    assert_eq!(m.stressors, ["fork-bomb", "cpu"]);
    assert_eq!(m.placements, ["shared", "pinned-apart"]);
    let host = m.rows.iter().find(|r| r.platform == "host").unwrap();
    let fb = m.cell(host, "fork-bomb", "shared").unwrap();
    assert_eq!(fb.outcome, CellOutcome::DidNotReport);
    assert_eq!(
        fb.victim_trials,
        TrialTally {
            total: 3,
            failed: 3,
            unfinished: 0
        }
    );
    assert_eq!(
        fb.aggressor_trials,
        TrialTally {
            total: 3,
            failed: 1,
            unfinished: 0
        }
    );
    assert_eq!(fb.overlap, Overlap::default());
    assert_eq!(
        m.cell(host, "cpu", "pinned-apart").unwrap().outcome,
        CellOutcome::NotRun
    );
    let kvm = m.rows.iter().find(|r| r.platform == "kvm").unwrap();
    assert_eq!(
        kvm.baseline.trials,
        TrialTally {
            total: 1,
            failed: 1,
            unfinished: 0
        }
    );
    assert_eq!(kvm.baseline.n, 0);
    assert_eq!(
        m.cell(kvm, "cpu", "shared").unwrap().outcome,
        CellOutcome::NoBaseline
    );
    assert_eq!(a.tests, 0);
    let json = serde_json::to_value(fb).unwrap();
    assert_eq!(json["outcome"], "dnr");
    assert_eq!(json["victim_trials"]["failed"], 3);
}

#[test]
fn overlap_counts_only_windows_inside_every_aggressors_span() {
    // Victim windows: [1000, 1100], ... [1300, 1400] in each of 2 rounds.
    let mut r = Rows::default();
    r.victim("host", "iso/none", 2, 4, LATENCY, 100.0);
    r.victim("host", "iso/cpu/shared", 2, 4, LATENCY, 120.0);
    // Round 0: aggressor1 covers everything, aggressor2 only up to 1250 ms: 2 windows
    // ([1000, 1100], [1100, 1200]) lie within the span both were reporting.
    r.aggressor("host", "iso/cpu/shared", 0, "aggressor1", 0..=3000, 7.0);
    r.aggressor("host", "iso/cpu/shared", 0, "aggressor2", 250..=1250, 9.0);
    // Round 1: aggressor2 died before reporting a window.
    r.aggressor("host", "iso/cpu/shared", 1, "aggressor1", 0..=3000, 7.0);
    r.trial("host", 1, "iso/cpu/shared", "aggressor2", false);
    let c = only_cell(&r.analyze(), "host").clone();
    assert_eq!(
        c.overlap,
        Overlap {
            covered: 2,
            total: 8
        }
    );
    assert_eq!(
        c.aggressor_trials,
        TrialTally {
            total: 4,
            failed: 1,
            unfinished: 0
        }
    );
    // Overlapping aggressor windows: round 0 aggressor1 [500,1000]? no (ends at 1000, the
    // victim starts at 1000), [1000,1500] yes; aggressor2 [750,1250] yes; round 1
    // aggressor1 [1000,1500] yes: 7, 9, 7 -> median 7.
    let t = c.aggressor_throughput.unwrap();
    assert_eq!((t.median, t.n), (7.0, 3));
}
