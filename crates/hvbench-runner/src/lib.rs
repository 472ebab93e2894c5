//! Campaign scheduling: randomized multiple interleaved trials (every round visits every
//! platform, in a fresh random order, so that drift in the machine — thermal, background load —
//! spreads over all platforms instead of biasing one), and every sample committed to the store
//! the moment it arrives.

use hvbench_analysis::{stop_decision, BootstrapConfig, StopRule};
use hvbench_platform::{interrupt, Platform, TrialEnd, TrialRequest};
use hvbench_proto::{Event, Message};
use hvbench_spec::Plan;
use hvbench_store::{
    NewSample, PlatformId, RunEventKind, RunId, RunStatus, Store, StoreError, TrialId,
};
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
    /// Ctrl-C or SIGTERM: the trial in flight was closed as interrupted, the run marked so.
    #[error("run {run} interrupted by {}", interrupt::signal_name(*signal))]
    Interrupted { run: RunId, signal: i32 },
    /// The platforms given to [`resume`] are not those the run started with.
    #[error("run {run} ran on the platforms [{stored}], but this resume prepared [{given}]")]
    PlatformsChanged {
        run: RunId,
        stored: String,
        given: String,
    },
    #[error("run {0} has no seed stored with its plan, so its schedule cannot be recomputed")]
    NoSeed(RunId),
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

/// What a finished campaign did. After a resume, the counts cover the whole run, the trials
/// finished before the resume included.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub run: RunId,
    pub trials_ok: u32,
    pub trials_failed: u32,
    pub samples: u32,
    pub seed: u64,
    /// Rounds run: the plan's `repetitions`, or fewer when the stop rule ended the campaign.
    pub rounds: u32,
    /// Trials finished before this invocation (0 for a new run), not run again.
    pub trials_skipped: u32,
}

/// `[guest] timeout_s` limits one guest boot. The host agent boots nothing, so its trials get
/// at least [`HOST_TRIAL_MIN_TIMEOUT`]: a guest timeout tuned tight to catch hung guests must
/// not fail the baseline on a loaded machine. A hung host agent is still killed.
fn trial_timeout(guest_timeout_s: u64, is_host: bool) -> Duration {
    let t = Duration::from_secs(guest_timeout_s);
    if is_host {
        t.max(HOST_TRIAL_MIN_TIMEOUT)
    } else {
        t
    }
}

const HOST_TRIAL_MIN_TIMEOUT: Duration = Duration::from_secs(60);

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

/// The plan as stored with a run: with the seed its schedule was drawn from.
pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("plan serialises")
}

/// Run a whole campaign: create the run, record each platform's facts, then the rounds.
/// A failed trial (guest hang, crash) is recorded and the campaign goes on; only a store that
/// cannot be written, or a signal to stop, stops it.
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
    let run = store.create_run(
        &plan.name,
        &opts.hvbench_version,
        &plan.source,
        &plan_json(&stored_plan),
    )?;
    let ids = register_platforms(run, platforms, store)?;
    let campaign = Campaign {
        run,
        seed,
        ids,
        finished: BTreeMap::new(),
        stored: BTreeMap::new(),
    };
    campaign.go(plan, platforms, store, opts, progress)
}

/// Continue an interrupted run: `plan` is the plan stored with it (seed included) and
/// `platforms` the platforms it started with, in the same order. The schedule is drawn again
/// from the stored seed, and only the (round, platform) trials that did not finish are run:
/// a trial left 'running' by a crash is closed as interrupted first, and run again.
pub fn resume(
    run: RunId,
    plan: &Plan,
    platforms: &mut [Box<dyn Platform>],
    store: &Store,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Outcome, RunnerError> {
    let seed = plan.seed.ok_or(RunnerError::NoSeed(run))?;
    let stored: Vec<String> = store.platforms(run)?.into_iter().map(|p| p.name).collect();
    let given: Vec<String> = platforms.iter().map(|p| p.name().to_string()).collect();
    if stored != given {
        return Err(RunnerError::PlatformsChanged {
            run,
            stored: stored.join(", "),
            given: given.join(", "),
        });
    }
    let stale = store.interrupt_stale_trials(
        run,
        "interrupted: hvbench stopped during this trial (killed, crashed, or the machine went down)",
    )?;
    if stale > 0 {
        store.record_event(
            run,
            RunEventKind::Interrupted,
            &format!("found {stale} trial(s) left running by an hvbench that did not finish"),
        )?;
    }
    let mut finished = BTreeMap::new();
    for t in store.finished_trials(run)? {
        finished.insert((t.platform, t.round), t.ok);
    }
    let mut stored_samples: StoredSamples = BTreeMap::new();
    for s in store.samples(run)? {
        if !s.warmup && finished.contains_key(&(s.platform.clone(), s.round)) {
            stored_samples
                .entry((s.platform, s.round))
                .or_default()
                .push((s.workload, s.metric, s.value));
        }
    }
    store.reopen_run(run)?;
    store.record_event(
        run,
        RunEventKind::Resumed,
        &format!(
            "resumed by hvbench {} with {} trial(s) already finished",
            opts.hvbench_version,
            finished.len()
        ),
    )?;
    let ids = register_platforms(run, platforms, store)?;
    let campaign = Campaign {
        run,
        seed,
        ids,
        finished,
        stored: stored_samples,
    };
    campaign.go(plan, platforms, store, opts, progress)
}

/// Each platform's id in the run, with the facts its driver knows before any trial.
fn register_platforms(
    run: RunId,
    platforms: &[Box<dyn Platform>],
    store: &Store,
) -> Result<Vec<PlatformId>, RunnerError> {
    let mut ids: Vec<PlatformId> = Vec::with_capacity(platforms.len());
    for p in platforms.iter() {
        let id = store.platform(run, p.name(), p.driver())?;
        let facts = p.facts();
        store.set_facts(id, facts.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Measured samples of finished trials by (platform, round): (workload, metric, value).
type StoredSamples = BTreeMap<(String, u32), Vec<(String, String, f64)>>;

/// One invocation's share of a run: the rounds, skipping trials that finished before.
struct Campaign {
    run: RunId,
    seed: u64,
    ids: Vec<PlatformId>,
    /// (platform, round) -> completed (true) or failed (false), from before this invocation.
    finished: BTreeMap<(String, u32), bool>,
    /// The measured samples of those trials, (workload, metric, value), for the stop rule.
    stored: StoredSamples,
}

impl Campaign {
    fn go(
        self,
        plan: &Plan,
        platforms: &mut [Box<dyn Platform>],
        store: &Store,
        opts: &Options,
        progress: &mut dyn Progress,
    ) -> Result<Outcome, RunnerError> {
        let run = self.run;
        let logs = opts.logs_dir.join(format!("run-{run}"));
        if let Err(e) = std::fs::create_dir_all(&logs) {
            let _ = store.finish_run(run, RunStatus::Failed);
            return Err(RunnerError::Logs(logs, e));
        }
        let mut out = Outcome {
            run,
            trials_ok: 0,
            trials_failed: 0,
            samples: 0,
            seed: self.seed,
            rounds: 0,
            trials_skipped: 0,
        };
        let result = self.rounds(plan, platforms, store, opts, progress, &logs, &mut out);
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
            Err(RunnerError::Interrupted { run, signal }) => {
                // Best effort: if the store cannot be written, resume finds the run 'running'.
                let _ = store.record_event(
                    run,
                    RunEventKind::Interrupted,
                    &format!("by {}", interrupt::signal_name(signal)),
                );
                let _ = store.finish_run(run, RunStatus::Interrupted);
                Err(RunnerError::Interrupted { run, signal })
            }
            Err(e) => {
                let _ = store.finish_run(run, RunStatus::Failed);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rounds(
        &self,
        plan: &Plan,
        platforms: &mut [Box<dyn Platform>],
        store: &Store,
        opts: &Options,
        progress: &mut dyn Progress,
        logs: &std::path::Path,
        out: &mut Outcome,
    ) -> Result<(), RunnerError> {
        let agent_plan = plan.agent_plan();
        let order = schedule(platforms.len(), plan.repetitions, self.seed);
        let total: u64 = order.iter().map(|r| r.len() as u64).sum();
        progress.start(self.run, total.saturating_sub(self.finished.len() as u64));
        // Measured values so far per (platform, workload, metric), for the stop rule.
        let mut measured: BTreeMap<(PlatformId, String, String), Vec<f64>> = BTreeMap::new();
        let stopped = |out: &Outcome| match interrupt::requested() {
            Some(signal) => Err(RunnerError::Interrupted {
                run: out.run,
                signal,
            }),
            None => Ok(()),
        };
        for (round, visit) in order.iter().enumerate() {
            let round = round as u32;
            for &i in visit {
                let platform = &mut platforms[i];
                let name = platform.name().to_string();
                let key = (name.clone(), round);
                if let Some(&ok) = self.finished.get(&key) {
                    // Finished before this invocation: count it, feed the stop rule, skip it.
                    out.trials_skipped += 1;
                    if ok {
                        out.trials_ok += 1;
                    } else {
                        out.trials_failed += 1;
                    }
                    for (workload, metric, value) in self.stored.get(&key).into_iter().flatten() {
                        out.samples += 1;
                        measured
                            .entry((self.ids[i], workload.clone(), metric.clone()))
                            .or_default()
                            .push(*value);
                    }
                    continue;
                }
                stopped(out)?;
                progress.trial_started(round, &name);
                let guest = if platform.driver() == "host" {
                    "host"
                } else {
                    "guest0"
                };
                let trial = store.start_trial(self.ids[i], round, guest, "baseline")?;
                let req = TrialRequest {
                    plan: &agent_plan,
                    timeout: trial_timeout(plan.guest.timeout_s, guest == "host"),
                    console_log: Some(logs.join(format!("r{round}-{name}.log"))),
                };
                let mut sink = TrialSink {
                    store,
                    trial,
                    platform: self.ids[i],
                    samples: 0,
                    error: None,
                    measured: &mut measured,
                };
                let end = platform.run_trial(&req, &mut |ev| sink.event(ev));
                if let Some(e) = sink.error.take() {
                    return Err(RunnerError::Store(e));
                }
                let samples = sink.samples;
                match (&end, interrupt::requested()) {
                    (TrialEnd::Completed, _) => {
                        store.finish_trial(trial, None)?;
                        out.trials_ok += 1;
                    }
                    (TrialEnd::Failed(reason), Some(signal)) => {
                        // Cut short by the signal, not by the platform: run again on resume.
                        store.interrupt_trial(trial, reason)?;
                        return Err(RunnerError::Interrupted {
                            run: self.run,
                            signal,
                        });
                    }
                    (TrialEnd::Failed(reason), None) => {
                        store.finish_trial(trial, Some(reason))?;
                        out.trials_failed += 1;
                    }
                }
                out.samples += samples;
                progress.trial_finished(round, &name, &end, samples);
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
                        at_ms: None,
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
            Event::Frame(Message::Log { .. })
            | Event::Frame(Message::Done { .. })
            | Event::Frame(Message::Instance { .. }) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
