//! Campaign scheduling: randomized multiple interleaved trials (every round visits every
//! platform, in a fresh random order, so that drift in the machine — thermal, background load —
//! spreads over all platforms instead of biasing one), and every sample committed to the store
//! the moment it arrives.
//!
//! The crate's rooms (docs/architecture.md, "Runner"): [`plan`](crate::plan) turns a plan into
//! what a round visits and the seeded schedule; `campaign` runs the rounds and closes trials;
//! `sinks` write a trial's or a cell's frames to the store as they arrive. This file holds the
//! entry points ([`run`], [`resume`]) and what callers see (options, outcome, errors).

mod campaign;
mod plan;
mod sinks;
#[cfg(test)]
mod tests;

pub use hvbench_proto::names::BATTERY_SCENARIO;
pub use plan::{
    cell_plans, isolation_cells, plan_json, schedule, PlannedCell, AGGRESSOR_REPORT_MS,
};

pub use campaign::MAX_LAB_FAULTS;
use campaign::{Campaign, StoredSamples};
use hvbench_analysis::StopRule;
use hvbench_platform::trial::interrupt;
use hvbench_platform::{Platform, TrialEnd};
use hvbench_proto::names::Role;
use hvbench_spec::Plan;
use hvbench_store::{PlatformId, RunEventKind, RunId, Store, StoreError};
use std::collections::BTreeMap;
use std::path::PathBuf;

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
pub trait Progress: Send {
    fn start(&mut self, _run: RunId, _trials: u64) {}
    fn trial_started(&mut self, _round: u32, _platform: &str) {}
    fn trial_finished(&mut self, _round: u32, _platform: &str, _end: &TrialEnd, _samples: u32) {}
    /// The lab failed under a trial, which runs again.
    fn lab_fault(&mut self, _round: u32, _platform: &str, _reason: &str) {}
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
    /// Trials lost with their machine or its connection: recorded as interrupted, the run left
    /// interrupted, and run again by `--resume`.
    pub trials_lost: u32,
    /// Times the lab failed under a trial of this invocation, which then ran again
    /// (docs/architecture.md, "The lab"); each is a trial set aside as interrupted.
    pub lab_faults: u32,
    pub samples: u32,
    pub seed: u64,
    /// Rounds run: the plan's `repetitions`, or fewer when the stop rule ended the campaign.
    pub rounds: u32,
    /// Trials finished before this invocation (0 for a new run), not run again.
    pub trials_skipped: u32,
}

impl Outcome {
    pub(crate) fn empty(run: RunId, seed: u64) -> Outcome {
        Outcome {
            run,
            trials_ok: 0,
            trials_failed: 0,
            trials_lost: 0,
            lab_faults: 0,
            samples: 0,
            seed,
            rounds: 0,
            trials_skipped: 0,
        }
    }
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
    let seed = plan.seed.unwrap_or_else(plan::fresh_seed);
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
        if Role::is_aggressor_name(&t.guest) {
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
