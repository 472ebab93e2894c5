//! Campaign scheduling: randomized multiple interleaved trials (every round visits every
//! platform, in a fresh random order, so that drift in the machine — thermal, background load —
//! spreads over all platforms instead of biasing one), and every sample committed to the store
//! the moment it arrives.

use hvbench_analysis::{stop_decision, BootstrapConfig, StopRule};
use hvbench_platform::isolation::{Cell, VICTIM};
use hvbench_platform::{interrupt, Platform, TrialEnd, TrialRequest};
use hvbench_proto::{AgentPlan, Event, InstanceEvent, Message};
use hvbench_spec::{Placement, Plan};
use hvbench_store::{
    NewSample, PlatformId, RunEventKind, RunId, RunStatus, Store, StoreError, TrialId,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
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

/// The scenario of battery trials (the ordinary platform comparison).
pub const BATTERY_SCENARIO: &str = "baseline";

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
enum Alternative {
    Battery(usize),
    Cell { platform: usize, cell: usize },
}

/// The alternatives of `plan` over `platforms`: battery trials first (when the plan has
/// workloads), then the cells; each round visits them all in a random order.
fn alternatives(
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
        // A cell is finished when its victim is; its aggressors go with it.
        if t.guest != VICTIM && t.guest.starts_with("aggressor") {
            continue;
        }
        finished.insert((t.platform, t.scenario, t.round), t.ok);
    }
    let mut stored_samples: StoredSamples = BTreeMap::new();
    for s in store.samples(run)? {
        if !s.warmup
            && s.scenario == BATTERY_SCENARIO
            && finished.contains_key(&(s.platform.clone(), s.scenario.clone(), s.round))
        {
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

/// Measured samples of finished battery trials by (platform, round): (workload, metric, value).
type StoredSamples = BTreeMap<(String, u32), Vec<(String, String, f64)>>;

/// One invocation's share of a run: the rounds, skipping trials that finished before.
struct Campaign {
    run: RunId,
    seed: u64,
    ids: Vec<PlatformId>,
    /// (platform, scenario, round) -> completed (true) or failed (false), from before this
    /// invocation; a cell counts by its victim.
    finished: BTreeMap<(String, String, u32), bool>,
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
        let cells = isolation_cells(plan);
        let alts = alternatives(plan, platforms, &cells);
        let order = schedule(alts.len(), plan.repetitions, self.seed);
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
            for &a in visit {
                let (i, scenario) = match &alts[a] {
                    Alternative::Battery(i) => (*i, BATTERY_SCENARIO.to_string()),
                    Alternative::Cell { platform, cell } => {
                        (*platform, cells[*cell].cell.scenario.clone())
                    }
                };
                let platform = &mut platforms[i];
                let name = platform.name().to_string();
                let key = (name.clone(), scenario.clone(), round);
                if let Some(&ok) = self.finished.get(&key) {
                    // Finished before this invocation: count it, feed the stop rule, skip it.
                    out.trials_skipped += 1;
                    if ok {
                        out.trials_ok += 1;
                    } else {
                        out.trials_failed += 1;
                    }
                    if scenario == BATTERY_SCENARIO {
                        for (workload, metric, value) in self
                            .stored
                            .get(&(name.clone(), round))
                            .into_iter()
                            .flatten()
                        {
                            out.samples += 1;
                            measured
                                .entry((self.ids[i], workload.clone(), metric.clone()))
                                .or_default()
                                .push(*value);
                        }
                    }
                    continue;
                }
                stopped(out)?;
                let timeout = trial_timeout(plan.guest.timeout_s, platform.driver() == "host");
                let (end, samples) = match &alts[a] {
                    Alternative::Battery(_) => {
                        progress.trial_started(round, &name);
                        let guest = if platform.driver() == "host" {
                            "host"
                        } else {
                            "guest0"
                        };
                        let trial =
                            store.start_trial(self.ids[i], round, guest, BATTERY_SCENARIO)?;
                        let req = TrialRequest {
                            plan: &agent_plan,
                            timeout,
                            console_log: Some(logs.join(format!("r{round}-{name}.log"))),
                            stop: None,
                            place: None,
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
                        self.close(store, &[trial], &end)?;
                        (end, samples)
                    }
                    Alternative::Cell { cell, .. } => {
                        let cell = &cells[*cell].cell;
                        let label = format!("{name} {}", cell.scenario);
                        progress.trial_started(round, &label);
                        let dir = logs.join(format!(
                            "r{round}-{name}-{}",
                            cell.scenario.replace('/', "-")
                        ));
                        if let Err(e) = std::fs::create_dir_all(&dir) {
                            return Err(RunnerError::Logs(dir, e));
                        }
                        let victim =
                            store.start_trial(self.ids[i], round, VICTIM, &cell.scenario)?;
                        let mut sink = CellSink {
                            store,
                            platform: self.ids[i],
                            round,
                            scenario: &cell.scenario,
                            trials: BTreeMap::from([(VICTIM.to_string(), victim)]),
                            ended: BTreeSet::new(),
                            samples: 0,
                            error: None,
                        };
                        let end =
                            platform.run_cell(cell, timeout, Some(&dir), &mut |m| sink.message(m));
                        if let Some(e) = sink.error.take() {
                            return Err(RunnerError::Store(e));
                        }
                        let open: Vec<TrialId> = sink
                            .trials
                            .iter()
                            .filter(|(n, _)| !sink.ended.contains(*n))
                            .map(|(_, t)| *t)
                            .collect();
                        // Instances the cell never heard end stopped reporting with it (a lab
                        // host that died or hung): DNR.
                        let end_for_open = match &end {
                            TrialEnd::Failed(r) => TrialEnd::Failed(format!(
                                "DNR: the cell ended without this instance's end: {r}"
                            )),
                            TrialEnd::Completed => TrialEnd::Completed,
                        };
                        self.close(store, &open, &end_for_open)?;
                        // The cell's outcome is its victim's.
                        let victim_ok = store
                            .trials(self.run)?
                            .into_iter()
                            .find(|t| t.id == victim)
                            .is_some_and(|t| t.status == "ok");
                        let end = if victim_ok {
                            TrialEnd::Completed
                        } else {
                            match end {
                                TrialEnd::Completed => {
                                    TrialEnd::Failed("the victim did not report".into())
                                }
                                failed => failed,
                            }
                        };
                        (end, sink.samples)
                    }
                };
                match end {
                    TrialEnd::Completed => out.trials_ok += 1,
                    TrialEnd::Failed(_) => out.trials_failed += 1,
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

    /// Close the trials still open after a battery trial or a cell ended: completed, failed
    /// with the reason, or — when a signal cut them short — interrupted, to be run again on
    /// resume (and the campaign stops).
    fn close(&self, store: &Store, open: &[TrialId], end: &TrialEnd) -> Result<(), RunnerError> {
        match (end, interrupt::requested()) {
            (TrialEnd::Completed, _) => {
                for &t in open {
                    store.finish_trial(t, None)?;
                }
                Ok(())
            }
            (TrialEnd::Failed(reason), Some(signal)) => {
                for &t in open {
                    store.interrupt_trial(t, reason)?;
                }
                Err(RunnerError::Interrupted {
                    run: self.run,
                    signal,
                })
            }
            (TrialEnd::Failed(reason), None) => {
                for &t in open {
                    store.finish_trial(t, Some(reason))?;
                }
                Ok(())
            }
        }
    }
}

/// Writes an isolation cell's `Instance` frames to the store as they arrive: one trial per
/// instance (guest `victim`, `aggressor1`, ...) of the cell's scenario, every sample with its
/// arrival time, the placement each instance got as facts
/// (`isolation.<scenario>.<instance>.<key>`).
struct CellSink<'a> {
    store: &'a Store,
    platform: PlatformId,
    round: u32,
    scenario: &'a str,
    trials: BTreeMap<String, TrialId>,
    ended: BTreeSet<String>,
    /// The victim's measured samples.
    samples: u32,
    error: Option<StoreError>,
}

impl CellSink<'_> {
    fn message(&mut self, m: Message) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(m) {
            self.error = Some(e);
        }
    }

    fn trial(&mut self, instance: &str) -> Result<TrialId, StoreError> {
        if let Some(&t) = self.trials.get(instance) {
            return Ok(t);
        }
        let t = self
            .store
            .start_trial(self.platform, self.round, instance, self.scenario)?;
        self.trials.insert(instance.to_string(), t);
        Ok(t)
    }

    fn write(&mut self, m: Message) -> Result<(), StoreError> {
        let (instance, at_ms, event) = match m {
            Message::Instance {
                instance,
                at_ms,
                event,
            } => (instance, at_ms, event),
            // The lab host's own facts (boot time) and failures (it could not prepare).
            Message::Facts { facts } => {
                return self.store.set_facts(
                    self.platform,
                    facts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
            }
            Message::Failed { workload, reason } => {
                let victim = self.trial(VICTIM)?;
                return self
                    .store
                    .record_workload_failure(victim, &workload, &reason);
            }
            _ => return Ok(()),
        };
        if instance != VICTIM && !is_aggressor(&instance) {
            // Only the co-scheduler writes these; anything else is not to be trusted.
            let victim = self.trial(VICTIM)?;
            return self.store.record_workload_failure(
                victim,
                "(console)",
                &format!("frame for an unknown instance `{instance}` ignored"),
            );
        }
        let trial = self.trial(&instance)?;
        let prefix = format!("isolation.{}.{instance}.", self.scenario);
        match event {
            InstanceEvent::Started { placement } => {
                let facts: Vec<(String, String)> = placement
                    .into_iter()
                    .map(|(k, v)| (format!("{prefix}{k}"), v))
                    .collect();
                self.store.set_facts(
                    self.platform,
                    facts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )?;
            }
            InstanceEvent::Frame { message } => match *message {
                m @ Message::Sample { .. } => {
                    store_sample(self.store, trial, &m, Some(at_ms))?;
                    if instance == VICTIM && matches!(m, Message::Sample { warmup: false, .. }) {
                        self.samples += 1;
                    }
                }
                Message::Facts { facts } => {
                    // What the hypervisor says it applied is the instance's; the victim's
                    // view of its machine is the platform's, as in a battery trial.
                    let facts: Vec<(String, String)> = facts
                        .into_iter()
                        .filter_map(|(k, v)| {
                            if k.starts_with("xen.applied.") {
                                Some((format!("{prefix}{k}"), v))
                            } else {
                                (instance == VICTIM).then_some((k, v))
                            }
                        })
                        .collect();
                    self.store.set_facts(
                        self.platform,
                        facts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )?;
                }
                Message::Failed { workload, reason } => {
                    self.store
                        .record_workload_failure(trial, &workload, &reason)?;
                }
                _ => {}
            },
            InstanceEvent::Bad { error, excerpt } => {
                self.store.record_workload_failure(
                    trial,
                    "(console)",
                    &format!("untrusted frame ignored: {error}; it began: {excerpt}"),
                )?;
            }
            InstanceEvent::Ended {
                ok,
                stopped,
                reason,
            } => {
                if !ok && interrupt::requested().is_some() {
                    // Cut short by Ctrl-C or SIGTERM: left open, closed as interrupted, and
                    // run again on resume.
                    return Ok(());
                }
                let reason = reason.unwrap_or_else(|| "stopped reporting".to_string());
                let failure = if instance == VICTIM {
                    (!ok).then(|| format!("DNR: the victim stopped reporting: {reason}"))
                } else if stopped {
                    // Asked to stop once the victim was done: it outlasted the victim.
                    None
                } else {
                    Some(format!(
                        "DNR: the aggressor stopped before the victim finished: {reason}"
                    ))
                };
                self.store.finish_trial(trial, failure.as_deref())?;
                self.ended.insert(instance);
            }
        }
        Ok(())
    }
}

/// Commit `m` if it is a sample (`at_ms`: its arrival in an isolation cell).
fn store_sample(
    store: &Store,
    trial: TrialId,
    m: &Message,
    at_ms: Option<u64>,
) -> Result<(), StoreError> {
    if let Message::Sample {
        workload,
        metric,
        unit,
        better,
        warmup,
        index,
        value,
        iterations,
        elapsed_ns,
    } = m
    {
        store.insert_sample(
            trial,
            &NewSample {
                workload,
                metric,
                unit,
                better: better.as_str(),
                warmup: *warmup,
                index: *index,
                value: *value,
                iterations: *iterations,
                elapsed_ns: *elapsed_ns,
                at_ms,
            },
        )?;
    }
    Ok(())
}

fn is_aggressor(instance: &str) -> bool {
    instance
        .strip_prefix("aggressor")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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
            Event::Frame(m @ Message::Sample { .. }) => {
                store_sample(self.store, self.trial, &m, None)?;
                if let Message::Sample {
                    workload,
                    metric,
                    warmup: false,
                    value,
                    ..
                } = m
                {
                    self.samples += 1;
                    self.measured
                        .entry((self.platform, workload, metric))
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
        assert!(samples.iter().any(|s| s.guest == "aggressor1"
            && s.workload == "stress-cpu"
            && s.at_ms == Some(500)));
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
            trials: BTreeMap::from([(VICTIM.to_string(), victim)]),
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
}
