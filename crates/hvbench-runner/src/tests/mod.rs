//! The runner's unit tests: scheduling, bookkeeping of samples and failures, the stop rule,
//! resume, and isolation cells, with scripted platforms that replay fixed consoles; machines
//! (several at once) in `machines.rs`.

mod machines;

use super::*;
use crate::plan::trial_timeout;
use crate::sinks::CellSink;
use hvbench_platform::isolation::{Cell, VICTIM};
use hvbench_platform::TrialRequest;
use hvbench_proto::names::Role;
use hvbench_proto::{Event, InstanceEvent, Message};
use hvbench_store::{NewSample, RunStatus, LAB_FAULT};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn host_trials_are_not_held_to_a_tight_guest_timeout() {
    assert_eq!(trial_timeout(1, false), Duration::from_secs(1));
    assert_eq!(trial_timeout(1, true), Duration::from_secs(60));
    assert_eq!(trial_timeout(600, true), Duration::from_secs(600));
}
use hvbench_proto::{encode, Better};
use std::collections::BTreeMap;

#[test]
fn every_round_visits_every_platform_once() {
    let s = schedule(3, 50, 7);
    assert_eq!(s.len(), 50);
    for round in &s {
        let mut r = round.clone();
        r.sort();
        assert_eq!(r, vec![0, 1, 2]);
    }
    // Randomized: over 50 rounds, more than one order occurs, and the first platform varies.
    let firsts: std::collections::BTreeSet<usize> = s.iter().map(|r| r[0]).collect();
    assert!(firsts.len() > 1);
    assert_eq!(
        schedule(3, 50, 7),
        s,
        "the same seed gives the same schedule"
    );
}

/// A platform that replays a fixed console script, to test the runner's bookkeeping.
struct Scripted {
    name: &'static str,
    fail_round: Option<u32>,
    round: u32,
}

impl Platform for Scripted {
    fn name(&self) -> &str {
        self.name
    }
    fn driver(&self) -> &'static str {
        "host"
    }
    fn boots_guest(&self) -> bool {
        false
    }
    fn facts(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("accel".to_string(), "none".to_string())])
    }
    fn run_trial(&mut self, _req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        let round = self.round;
        self.round += 1;
        let mut console = b"noise\n".to_vec();
        for (i, warmup) in [(0, true), (1, false)] {
            console.extend(encode(&Message::Sample {
                workload: "syscall".into(),
                metric: "latency".into(),
                unit: "ns".into(),
                better: Better::Lower,
                warmup,
                index: i,
                value: 100.0 + round as f64,
                iterations: 10,
                elapsed_ns: 1000,
            }));
        }
        console.extend(b"HVB/1 5 00000000 junk\n");
        let mut d = hvbench_proto::Decoder::new();
        for ev in d.push(&console) {
            on_event(ev);
        }
        if self.fail_round == Some(round) {
            TrialEnd::Failed("guest hung".into())
        } else {
            TrialEnd::Completed
        }
    }
}

#[test]
fn samples_failures_and_bad_frames_are_stored() {
    let mut plan = Plan::default_plan();
    plan.repetitions = 3;
    plan.seed = Some(1);
    let store = Store::open_in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut platforms: Vec<Box<dyn Platform>> = vec![
        Box::new(Scripted {
            name: "a",
            fail_round: None,
            round: 0,
        }),
        Box::new(Scripted {
            name: "b",
            fail_round: Some(1),
            round: 0,
        }),
    ];
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let out = run(&plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    assert_eq!((out.trials_ok, out.trials_failed, out.samples), (5, 1, 6));
    let samples = store.samples(out.run).unwrap();
    assert_eq!(samples.len(), 12, "warm-ups are stored too, marked");
    assert_eq!(samples.iter().filter(|s| s.warmup).count(), 6);
    let failures = store.failures(out.run).unwrap();
    assert!(failures
        .iter()
        .any(|f| f.workload.is_none() && f.reason == "guest hung" && f.platform == "b"));
    assert_eq!(
        failures
            .iter()
            .filter(|f| f.workload.as_deref() == Some("(console)"))
            .count(),
        6
    );
    let run = store.run(out.run).unwrap();
    assert_eq!(run.status, RunStatus::Complete);
    assert!(run.plan_json.contains("\"seed\": 1"));
    assert_eq!(out.rounds, 3);
}

fn scripted(name: &'static str) -> Box<dyn Platform> {
    Box::new(Scripted {
        name,
        fail_round: None,
        round: 0,
    })
}

#[test]
fn the_stop_rule_ends_the_campaign_once_intervals_are_narrow() {
    let mut plan = Plan::default_plan();
    plan.repetitions = 8;
    plan.seed = Some(1);
    let dir = tempfile::tempdir().unwrap();
    let opts = |target| Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: Some(StopRule {
            min_rounds: 3,
            max_rounds: 6,
            target_relative_width: target,
        }),
    };
    // Each round's value is 100 + round: after 3 rounds the median's interval is
    // [100, 102], 2 % of 101 wide, within a 5 % target: stop at the minimum.
    let store = Store::open_in_memory().unwrap();
    let mut platforms = vec![scripted("a"), scripted("b")];
    let out = run(&plan, &mut platforms, &store, &opts(0.05), &mut Quiet).unwrap();
    assert_eq!((out.rounds, out.trials_ok), (3, 6));
    // A 1 % target is never met by a sample that grows 1 % a round: stop at the maximum.
    let store = Store::open_in_memory().unwrap();
    let mut platforms = vec![scripted("a"), scripted("b")];
    let out = run(&plan, &mut platforms, &store, &opts(0.01), &mut Quiet).unwrap();
    assert_eq!((out.rounds, out.trials_ok), (6, 12));
    assert_eq!(store.run(out.run).unwrap().status, RunStatus::Complete);
}

#[test]
fn resume_runs_only_unfinished_trials_once() {
    let mut plan = Plan::default_plan();
    plan.repetitions = 3;
    plan.seed = Some(5);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let store = Store::open_in_memory().unwrap();
    // As a killed hvbench leaves it: round 0 done on both, round 1 in flight on `a`.
    let run = store
        .create_run(&plan.name, "test", &plan.source, &plan_json(&plan))
        .unwrap();
    let a = store.platform(run, "a", "host").unwrap();
    let b = store.platform(run, "b", "host").unwrap();
    for p in [a, b] {
        let t = store.start_trial(p, 0, "host", "baseline").unwrap();
        store.finish_trial(t, None).unwrap();
    }
    let stale = store.start_trial(a, 1, "host", "baseline").unwrap();
    store
        .insert_sample(
            stale,
            &NewSample {
                workload: "syscall",
                metric: "latency",
                unit: "ns",
                better: "lower",
                warmup: false,
                index: 1,
                value: 1.0,
                iterations: 1,
                elapsed_ns: 1,
                at_ms: None,
            },
        )
        .unwrap();
    let mut platforms = vec![scripted("a"), scripted("b")];
    let out = resume(run, &plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    assert_eq!((out.trials_ok, out.trials_skipped, out.rounds), (6, 2, 3));
    let trials = store.trials(run).unwrap();
    assert_eq!(trials.len(), 7, "4 new trials beside the 3 stored");
    assert!(trials[2]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("interrupted"));
    let samples = store.samples(run).unwrap();
    assert!(
        samples.iter().all(|s| s.value != 1.0),
        "the stale sample is replaced"
    );
    assert_eq!(samples.len(), 8, "2 per new trial");
    assert_eq!(store.run(run).unwrap().status, RunStatus::Complete);
    let kinds: Vec<String> = store
        .events(run)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["interrupted", "resumed"]);
    // Other platforms than the run's are refused.
    let mut wrong = vec![scripted("b"), scripted("a")];
    assert!(matches!(
        resume(run, &plan, &mut wrong, &store, &opts, &mut Quiet),
        Err(RunnerError::PlatformsChanged { .. })
    ));
}

/// A platform whose cells replay a script: an aggressor that reports and is stopped, a
/// victim that reports (or, in `dead_round`, dies).
struct ScriptedCells {
    dead_round: Option<u32>,
    cells_run: Vec<String>,
}

impl Platform for ScriptedCells {
    fn name(&self) -> &str {
        "h"
    }
    fn driver(&self) -> &'static str {
        "host"
    }
    fn boots_guest(&self) -> bool {
        false
    }
    fn facts(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    fn run_trial(&mut self, _: &TrialRequest<'_>, _: &mut dyn FnMut(Event)) -> TrialEnd {
        TrialEnd::Completed
    }
    fn run_cell(
        &mut self,
        cell: &Cell,
        _timeout: Duration,
        _logs: Option<&std::path::Path>,
        on: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        let round = self
            .cells_run
            .iter()
            .filter(|c| **c == cell.scenario)
            .count() as u32;
        self.cells_run.push(cell.scenario.clone());
        let mut say = |instance: &str, at_ms: u64, event: InstanceEvent| {
            on(Message::Instance {
                instance: instance.into(),
                at_ms,
                event,
            })
        };
        let sample = |workload: &str, value: f64| InstanceEvent::Frame {
            message: Box::new(Message::Sample {
                workload: workload.into(),
                metric: "throughput".into(),
                unit: "op/s".into(),
                better: Better::Higher,
                warmup: false,
                index: 0,
                value,
                iterations: 1,
                elapsed_ns: 500_000_000,
            }),
        };
        if cell.aggressor.is_some() {
            say(
                "aggressor1",
                0,
                InstanceEvent::Started {
                    placement: BTreeMap::from([("cpus".into(), "0".into())]),
                },
            );
            say("aggressor1", 500, sample("stress-cpu", 7.0));
        }
        say(
            VICTIM,
            600,
            InstanceEvent::Started {
                placement: BTreeMap::new(),
            },
        );
        let dead = self.dead_round == Some(round) && cell.aggressor.is_some();
        if dead {
            say(
                VICTIM,
                900,
                InstanceEvent::Ended {
                    ok: false,
                    stopped: false,
                    reason: Some("guest died".into()),
                },
            );
        } else {
            say(VICTIM, 1200, sample("cpu-int", 100.0));
            say(
                VICTIM,
                1300,
                InstanceEvent::Ended {
                    ok: true,
                    stopped: false,
                    reason: None,
                },
            );
        }
        if cell.aggressor.is_some() {
            say(
                "aggressor1",
                1400,
                InstanceEvent::Ended {
                    ok: true,
                    stopped: true,
                    reason: None,
                },
            );
        }
        TrialEnd::Completed
    }
}

fn isolation_plan() -> Plan {
    let mut plan = hvbench_spec::parse(
        "t",
        "name = \"iso\"\nrepetitions = 2\nseed = 3\n[[platform]]\nname = \"h\"\ndriver = \"host\"\n\
         [[isolation]]\nname = \"noisy\"\nvictim = [\"cpu-int\"]\nstressors = [\"cpu\"]\n",
    )
    .unwrap();
    plan.seed = Some(3);
    plan
}

#[test]
fn cells_store_one_trial_per_instance_with_times_and_dnr() {
    let plan = isolation_plan();
    let cells = isolation_cells(&plan);
    let names: Vec<&str> = cells.iter().map(|c| c.cell.scenario.as_str()).collect();
    assert_eq!(
        names,
        ["noisy/none", "noisy/cpu/shared", "noisy/cpu/pinned-apart"]
    );
    let stress = cells[1]
        .cell
        .aggressor
        .as_ref()
        .unwrap()
        .stress
        .as_ref()
        .unwrap();
    assert_eq!(
        (stress.kind.as_str(), stress.report_ms),
        ("cpu", AGGRESSOR_REPORT_MS)
    );
    assert!(cells[0].cell.aggressor.is_none());
    assert!(cells[2].cell.pinned_apart && !cells[1].cell.pinned_apart);

    let store = Store::open_in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let mut platforms: Vec<Box<dyn Platform>> = vec![Box::new(ScriptedCells {
        dead_round: Some(1),
        cells_run: Vec::new(),
    })];
    let out = run(&plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    // No [[workload]]: no battery trials; 3 cells x 2 rounds, 2 of them with a dead victim.
    assert_eq!((out.trials_ok, out.trials_failed), (4, 2));
    let trials = store.trials(out.run).unwrap();
    assert!(trials.iter().all(|t| t.scenario.starts_with("noisy/")));
    let victims: Vec<_> = trials.iter().filter(|t| t.guest == VICTIM).collect();
    assert_eq!(victims.len(), 6);
    let dnr: Vec<_> = victims.iter().filter(|t| t.status == "failed").collect();
    assert_eq!(dnr.len(), 2);
    assert!(dnr.iter().all(|t| t.round == 1
        && t.reason
            .as_deref()
            .unwrap()
            .starts_with("DNR: the victim stopped reporting: guest died")));
    let aggressors: Vec<_> = trials.iter().filter(|t| t.guest == "aggressor1").collect();
    assert_eq!(aggressors.len(), 4);
    assert!(
        aggressors.iter().all(|t| t.status == "ok"),
        "stopped after the victim: ok"
    );
    let samples = store.samples(out.run).unwrap();
    assert!(samples.iter().all(|s| s.at_ms.is_some()));
    assert!(samples
        .iter()
        .any(|s| s.guest == "aggressor1" && s.workload == "stress-cpu" && s.at_ms == Some(500)));
    let facts = &store.platforms(out.run).unwrap()[0].facts;
    assert_eq!(facts["isolation.noisy/cpu/shared.aggressor1.cpus"], "0");

    // Resume skips every finished cell, DNR ones included.
    let mut again: Vec<Box<dyn Platform>> = vec![Box::new(ScriptedCells {
        dead_round: None,
        cells_run: Vec::new(),
    })];
    let mut stored = plan.clone();
    stored.seed = Some(out.seed);
    let resumed = resume(out.run, &stored, &mut again, &store, &opts, &mut Quiet).unwrap();
    assert_eq!(resumed.trials_skipped, 6);
    assert_eq!(store.trials(out.run).unwrap().len(), trials.len());
}

#[test]
fn an_aggressor_that_dies_early_is_dnr() {
    let store = Store::open_in_memory().unwrap();
    let run = store.create_run("x", "t", "", "{}").unwrap();
    let p = store.platform(run, "h", "host").unwrap();
    let victim = store.start_trial(p, 0, VICTIM, "n/cpu/shared").unwrap();
    let mut sink = CellSink {
        store: &store,
        platform: p,
        round: 0,
        scenario: "n/cpu/shared",
        trials: BTreeMap::from([(Role::Victim, victim)]),
        ended: BTreeSet::new(),
        samples: 0,
        error: None,
    };
    sink.message(Message::Instance {
        instance: "aggressor1".into(),
        at_ms: 10,
        event: InstanceEvent::Ended {
            ok: false,
            stopped: false,
            reason: Some("killed".into()),
        },
    });
    sink.message(Message::Instance {
        instance: "intruder".into(),
        at_ms: 10,
        event: InstanceEvent::Started {
            placement: BTreeMap::new(),
        },
    });
    assert!(sink.error.is_none());
    let trials = store.trials(run).unwrap();
    let a = trials.iter().find(|t| t.guest == "aggressor1").unwrap();
    assert_eq!(a.status, "failed");
    assert!(a
        .reason
        .as_deref()
        .unwrap()
        .starts_with("DNR: the aggressor stopped"));
    assert_eq!(trials.len(), 2, "no trial for an unknown instance");
    assert!(store
        .failures(run)
        .unwrap()
        .iter()
        .any(|f| f.reason.contains("unknown instance `intruder`")));
}

/// A platform whose first `faults` trials the lab fails under (after a sample arrived).
struct LabFaulty {
    faults: u32,
    calls: u32,
}

impl Platform for LabFaulty {
    fn name(&self) -> &str {
        "lab-kvm"
    }
    fn driver(&self) -> &'static str {
        "qemu"
    }
    fn facts(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("lab".to_string(), "kvm".to_string())])
    }
    fn run_trial(&mut self, _req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        let call = self.calls;
        self.calls += 1;
        let console = encode(&Message::Sample {
            workload: "syscall".into(),
            metric: "latency".into(),
            unit: "ns".into(),
            better: Better::Lower,
            warmup: false,
            index: 0,
            value: 100.0 + call as f64,
            iterations: 10,
            elapsed_ns: 1000,
        });
        for ev in hvbench_proto::Decoder::new().push(&console) {
            on_event(ev);
        }
        if call < self.faults {
            TrialEnd::LabFault("the nested guest was lost under the emulator".into())
        } else {
            TrialEnd::Completed
        }
    }
}

fn run_lab_faulty(faults: u32, rounds: u32) -> (Store, Outcome) {
    let mut plan = Plan::default_plan();
    plan.repetitions = rounds;
    plan.seed = Some(1);
    let store = Store::open_in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut platforms: Vec<Box<dyn Platform>> = vec![Box::new(LabFaulty { faults, calls: 0 })];
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let out = run(&plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    (store, out)
}

#[test]
fn a_lab_fault_is_recorded_and_the_trial_runs_again() {
    let (store, out) = run_lab_faulty(1, 2);
    assert_eq!(
        (out.trials_ok, out.trials_failed, out.lab_faults),
        (2, 0, 1)
    );
    // The faulted attempt's sample is stored but left out: one value per round counts.
    let values: Vec<f64> = store
        .samples(out.run)
        .unwrap()
        .iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(values.len(), 2, "{values:?}");
    assert!(
        !values.contains(&100.0),
        "the faulted attempt's sample counted: {values:?}"
    );
    let failures = store.failures(out.run).unwrap();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].reason.starts_with(LAB_FAULT),
        "{}",
        failures[0].reason
    );
    assert!(failures[0].reason.contains("nested guest was lost"));
    assert_eq!(store.run(out.run).unwrap().status, RunStatus::Complete);
}

#[test]
fn a_trial_the_lab_keeps_failing_under_fails_after_its_reruns() {
    let (store, out) = run_lab_faulty(u32::MAX, 1);
    assert_eq!(out.lab_faults, MAX_LAB_FAULTS);
    assert_eq!((out.trials_ok, out.trials_failed), (0, 1));
    let failures = store.failures(out.run).unwrap();
    assert_eq!(failures.len(), MAX_LAB_FAULTS as usize + 1);
    let last = &failures.last().unwrap().reason;
    assert!(last.contains("3 times in a row; not run again"), "{last}");
}
