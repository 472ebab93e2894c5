//! Campaign scheduling: randomized multiple interleaved trials (every round visits every
//! platform, in a fresh random order, so that drift in the machine — thermal, background load —
//! spreads over all platforms instead of biasing one), and every sample committed to the store
//! the moment it arrives.

use hvbench_analysis::{stop_decision, BootstrapConfig, StopRule};
use hvbench_platform::{Platform, TrialEnd, TrialRequest};
use hvbench_proto::{Event, Message};
use hvbench_spec::Plan;
use hvbench_store::{NewSample, PlatformId, RunId, RunStatus, Store, StoreError, TrialId};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot write to the store; the run stops so that no result is silently lost")]
    Store(#[from] StoreError),
    #[error("cannot create the console log directory {0}")]
    Logs(PathBuf, #[source] std::io::Error),
}

/// Told about the campaign as it goes (a progress bar, or nothing).
pub trait Progress {
    fn start(&mut self, _run: RunId, _trials: u64) {}
    fn trial_started(&mut self, _round: u32, _platform: &str) {}
    fn trial_finished(&mut self, _round: u32, _platform: &str, _end: &TrialEnd, _samples: u32) {}
    fn finish(&mut self) {}
}

/// A progress sink that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

pub struct Options {
    /// Where each trial's raw console is kept (`<dir>/run-<id>/r<round>-<platform>.log`).
    pub logs_dir: PathBuf,
    pub hvbench_version: String,
    /// Stop before the plan's last round once every (platform, workload, metric) median's
    /// interval is narrow enough ([`hvbench_analysis::stop_decision`]); None runs every round.
    pub stop: Option<StopRule>,
}

/// What a finished campaign did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub run: RunId,
    pub trials_ok: u32,
    pub trials_failed: u32,
    pub samples: u32,
    pub seed: u64,
    /// Rounds run: the plan's `repetitions`, or fewer when the stop rule ended the campaign.
    pub rounds: u32,
}

/// The visiting order: for each round, a permutation of `0..platforms`, drawn from `seed`.
pub fn schedule(platforms: usize, rounds: u32, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..rounds)
        .map(|_| {
            let mut order: Vec<usize> = (0..platforms).collect();
            order.shuffle(&mut rng);
            order
        })
        .collect()
}

/// Run a whole campaign: create the run, record each platform's facts, then the rounds.
/// A failed trial (guest hang, crash) is recorded and the campaign goes on; only a store that
/// cannot be written stops it.
pub fn run(
    plan: &Plan,
    platforms: &mut [Box<dyn Platform>],
    store: &Store,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Outcome, RunnerError> {
    let seed = plan.seed.unwrap_or_else(|| rand::thread_rng().gen());
    let mut stored_plan = plan.clone();
    stored_plan.seed = Some(seed);
    let plan_json = serde_json::to_string_pretty(&stored_plan).expect("plan serialises");
    let run = store.create_run(&plan.name, &opts.hvbench_version, &plan.source, &plan_json)?;
    let logs = opts.logs_dir.join(format!("run-{run}"));
    std::fs::create_dir_all(&logs).map_err(|e| RunnerError::Logs(logs.clone(), e))?;

    let mut ids: Vec<PlatformId> = Vec::with_capacity(platforms.len());
    for p in platforms.iter() {
        let id = store.platform(run, p.name(), p.driver())?;
        let facts = p.facts();
        store.set_facts(id, facts.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        ids.push(id);
    }

    let agent_plan = plan.agent_plan();
    let order = schedule(platforms.len(), plan.repetitions, seed);
    progress.start(run, order.iter().map(|r| r.len() as u64).sum());
    let mut out = Outcome {
        run,
        trials_ok: 0,
        trials_failed: 0,
        samples: 0,
        seed,
        rounds: 0,
    };
    // Measured values so far per (platform, workload, metric), for the stop rule.
    let mut measured: BTreeMap<(PlatformId, String, String), Vec<f64>> = BTreeMap::new();
    let result = (|| {
        for (round, visit) in order.iter().enumerate() {
            let round = round as u32;
            for &i in visit {
                let platform = &mut platforms[i];
                let name = platform.name().to_string();
                progress.trial_started(round, &name);
                let guest = if platform.driver() == "host" {
                    "host"
                } else {
                    "guest0"
                };
                let trial = store.start_trial(ids[i], round, guest, "baseline")?;
                let req = TrialRequest {
                    plan: &agent_plan,
                    timeout: Duration::from_secs(plan.guest.timeout_s),
                    console_log: Some(logs.join(format!("r{round}-{name}.log"))),
                };
                let mut sink = TrialSink {
                    store,
                    trial,
                    platform: ids[i],
                    samples: 0,
                    error: None,
                    measured: &mut measured,
                };
                let end = platform.run_trial(&req, &mut |ev| sink.event(ev));
                if let Some(e) = sink.error.take() {
                    return Err(RunnerError::Store(e));
                }
                match &end {
                    TrialEnd::Completed => {
                        store.finish_trial(trial, None)?;
                        out.trials_ok += 1;
                    }
                    TrialEnd::Failed(reason) => {
                        store.finish_trial(trial, Some(reason))?;
                        out.trials_failed += 1;
                    }
                }
                out.samples += sink.samples;
                progress.trial_finished(round, &name, &end, sink.samples);
            }
            out.rounds = round + 1;
            if let Some(rule) = &opts.stop {
                let series: Vec<&[f64]> = measured.values().map(Vec::as_slice).collect();
                let cfg = BootstrapConfig::default();
                if !stop_decision(&series, out.rounds, rule, &cfg).need_more_rounds() {
                    break;
                }
            }
        }
        Ok(())
    })();
    progress.finish();
    match result {
        Ok(()) => {
            let status = if out.trials_ok == 0 {
                RunStatus::Failed
            } else {
                RunStatus::Complete
            };
            store.finish_run(run, status)?;
            Ok(out)
        }
        Err(e) => {
            let _ = store.finish_run(run, RunStatus::Failed);
            Err(e)
        }
    }
}

/// Writes one trial's events to the store as they arrive.
struct TrialSink<'a> {
    store: &'a Store,
    trial: TrialId,
    platform: PlatformId,
    samples: u32,
    error: Option<StoreError>,
    measured: &'a mut BTreeMap<(PlatformId, String, String), Vec<f64>>,
}

impl TrialSink<'_> {
    fn event(&mut self, ev: Event) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(ev) {
            self.error = Some(e);
        }
    }

    fn write(&mut self, ev: Event) -> Result<(), StoreError> {
        match ev {
            Event::Frame(Message::Sample {
                workload,
                metric,
                unit,
                better,
                warmup,
                index,
                value,
                iterations,
                elapsed_ns,
            }) => {
                self.store.insert_sample(
                    self.trial,
                    &NewSample {
                        workload: &workload,
                        metric: &metric,
                        unit: &unit,
                        better: better.as_str(),
                        warmup,
                        index,
                        value,
                        iterations,
                        elapsed_ns,
                    },
                )?;
                if !warmup {
                    self.samples += 1;
                    self.measured
                        .entry((self.platform, workload.clone(), metric.clone()))
                        .or_default()
                        .push(value);
                }
            }
            Event::Frame(Message::Facts { facts }) => {
                self.store.set_facts(
                    self.platform,
                    facts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )?;
            }
            Event::Frame(Message::Hello {
                agent_version,
                mode,
            }) => {
                self.store.set_facts(
                    self.platform,
                    [
                        ("agent.version", agent_version.as_str()),
                        ("agent.mode", &mode),
                    ],
                )?;
            }
            Event::Frame(Message::Failed { workload, reason }) => {
                self.store
                    .record_workload_failure(self.trial, &workload, &reason)?;
            }
            Event::Bad { error, excerpt } => {
                self.store.record_workload_failure(
                    self.trial,
                    "(console)",
                    &format!("untrusted frame ignored: {error}; it began: {excerpt}"),
                )?;
            }
            Event::Frame(Message::Log { .. }) | Event::Frame(Message::Done { .. }) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        fn facts(&self) -> BTreeMap<String, String> {
            BTreeMap::from([("accel".to_string(), "none".to_string())])
        }
        fn run_trial(
            &mut self,
            _req: &TrialRequest<'_>,
            on_event: &mut dyn FnMut(Event),
        ) -> TrialEnd {
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
}
