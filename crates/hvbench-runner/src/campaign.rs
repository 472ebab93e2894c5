//! One invocation's share of a run: the rounds in their seeded order, each battery trial or
//! isolation cell handed to its platform, its frames to a sink, its trials closed (completed,
//! failed with the reason, or interrupted by a signal), and the stop rule after each round.

use crate::plan::{alternatives, by_boot, schedule, trial_timeout, Alternative};
use crate::sinks::{CellSink, Measured, TrialSink};
use crate::{isolation_cells, Options, Outcome, Progress, RunnerError};
use hvbench_analysis::{stop_decision, BootstrapConfig};
use hvbench_platform::trial::interrupt;
use hvbench_platform::{Platform, TrialEnd, TrialRequest};
use hvbench_proto::names::{Role, BATTERY_SCENARIO};
use hvbench_spec::Plan;
use hvbench_store::{BootRow, PlatformId, RunEventKind, RunId, RunStatus, Store, TrialId};
use std::collections::{BTreeMap, BTreeSet};

/// What a campaign's rounds run with: the plan, the store, the options and the directory of
/// this run's logs.
struct Setup<'a> {
    plan: &'a Plan,
    store: &'a Store,
    opts: &'a Options,
    logs: &'a std::path::Path,
}

/// Measured samples of finished battery trials by (platform, round): (workload, metric, value).
pub(crate) type StoredSamples = BTreeMap<(String, u32), Vec<(String, String, f64)>>;

/// One invocation's share of a run: the rounds, skipping trials that finished before.
pub(crate) struct Campaign {
    pub(crate) run: RunId,
    pub(crate) seed: u64,
    pub(crate) ids: Vec<PlatformId>,
    /// (platform, scenario, round) -> completed (true) or failed (false), from before this
    /// invocation; a cell counts by its victim.
    pub(crate) finished: BTreeMap<(String, String, u32), bool>,
    /// The measured samples of those trials, (workload, metric, value), for the stop rule.
    pub(crate) stored: StoredSamples,
}

impl Campaign {
    pub(crate) fn go(
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
        let mut out = Outcome::empty(run, self.seed);
        let setup = Setup {
            plan,
            store,
            opts,
            logs: &logs,
        };
        let result = self.rounds(&setup, platforms, progress, &mut out);
        progress.finish();
        match result {
            Ok(()) if out.trials_lost > 0 => {
                // Trials lost with their machine are run again by `--resume`: the run is left
                // interrupted, not complete.
                store.record_event(
                    run,
                    RunEventKind::Interrupted,
                    &format!(
                        "{} trial(s) lost with their machine or its connection",
                        out.trials_lost
                    ),
                )?;
                store.finish_run(run, RunStatus::Interrupted)?;
                Ok(out)
            }
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

    /// The rounds: every machine's alternatives in their own seeded order, the machines at
    /// once (one thread each; a round ends when every machine has finished it, then the stop
    /// rule looks at everything measured so far).
    fn rounds(
        &self,
        setup: &Setup<'_>,
        platforms: &mut [Box<dyn Platform>],
        progress: &mut dyn Progress,
        out: &mut Outcome,
    ) -> Result<(), RunnerError> {
        let &Setup {
            plan,
            store,
            opts,
            logs,
        } = setup;
        let agent_plan = plan.agent_plan();
        let cells = isolation_cells(plan);
        let alts = alternatives(plan, platforms, &cells);
        let machines = machine_groups(platforms, &alts);
        // Dual-boot machines: a round's trials grouped by boot, the boots in ABBA order.
        let declared: Vec<String> = plan
            .hosts
            .iter()
            .flat_map(|h| h.boots.iter().map(|b| b.name.clone()))
            .collect();
        let boots: Vec<Option<String>> = platforms
            .iter()
            .map(|p| p.boot().map(str::to_string))
            .collect();
        let boot_of = |a: usize| boots[alts[a].platform()].clone();
        let orders: Vec<Vec<Vec<usize>>> = machines
            .iter()
            .enumerate()
            .map(|(g, group)| {
                schedule(
                    group.len(),
                    plan.repetitions,
                    group_seed(self.seed, g, machines.len()),
                )
                .into_iter()
                .enumerate()
                .map(|(r, round)| {
                    let visit: Vec<usize> = round.into_iter().map(|k| group[k]).collect();
                    by_boot(&visit, boot_of, &declared, r as u32)
                })
                .collect()
            })
            .collect();
        let total: u64 = orders.iter().flatten().map(|r| r.len() as u64).sum();
        progress.start(self.run, total.saturating_sub(self.finished.len() as u64));
        // Each platform goes to the one thread of its machine.
        let mut owned: Vec<BTreeMap<usize, &mut Box<dyn Platform>>> =
            machines.iter().map(|_| BTreeMap::new()).collect();
        for (i, p) in platforms.iter_mut().enumerate() {
            if let Some(g) = machines
                .iter()
                .position(|group| group.iter().any(|&a| alts[a].platform() == i))
            {
                owned[g].insert(i, p);
            }
        }
        let shared = Shared {
            plan,
            agent_plan: &agent_plan,
            cells: &cells,
            alts: &alts,
            store,
            logs,
            out: std::sync::Mutex::new(std::mem::replace(out, Outcome::empty(self.run, self.seed))),
            progress: std::sync::Mutex::new(progress),
            measured: std::sync::Mutex::new(BTreeMap::new()),
            failed: std::sync::atomic::AtomicBool::new(false),
            stop_now: std::sync::atomic::AtomicBool::new(false),
            barrier: std::sync::Barrier::new(owned.len().max(1)),
        };
        let results: Vec<Result<(), RunnerError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = owned
                .into_iter()
                .zip(&orders)
                .enumerate()
                .map(|(g, (mut mine, order))| {
                    let shared = &shared;
                    scope.spawn(move || self.machine_rounds(shared, g == 0, order, &mut mine, opts))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        *out = shared.out.into_inner().unwrap_or_else(|e| e.into_inner());
        // A store error first (the run cannot go on), then an interruption.
        let mut first_err = None;
        for r in results {
            match (r, &first_err) {
                (Ok(()), _) => {}
                (Err(e @ RunnerError::Store(_)), Some(RunnerError::Interrupted { .. }) | None) => {
                    first_err = Some(e)
                }
                (Err(e), None) => first_err = Some(e),
                (Err(_), Some(_)) => {}
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// One machine's rounds, in step with the other machines' threads.
    fn machine_rounds(
        &self,
        shared: &Shared<'_>,
        leader: bool,
        order: &[Vec<usize>],
        mine: &mut BTreeMap<usize, &mut Box<dyn Platform>>,
        opts: &Options,
    ) -> Result<(), RunnerError> {
        use std::sync::atomic::Ordering;
        let mut result = Ok(());
        for (round, visit) in order.iter().enumerate() {
            let round = round as u32;
            for &a in visit {
                if result.is_err() || shared.failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = shared.alts[a].platform();
                let platform = mine
                    .get_mut(&i)
                    .expect("a machine's thread owns its platforms");
                if let Err(e) = self.visit(shared, round, a, platform) {
                    shared.failed.store(true, Ordering::SeqCst);
                    result = Err(e);
                }
            }
            // Every machine has finished the round (or given up): the leader decides whether
            // another is needed; all threads take part in both waits whatever happened, so
            // that none is left waiting.
            shared.barrier.wait();
            if leader {
                let mut out = shared.out.lock().unwrap_or_else(|e| e.into_inner());
                out.rounds = round + 1;
                if let Some(rule) = &opts.stop {
                    let measured = shared.measured.lock().unwrap_or_else(|e| e.into_inner());
                    let series: Vec<&[f64]> = measured.values().map(Vec::as_slice).collect();
                    let cfg = BootstrapConfig::default();
                    if !stop_decision(&series, out.rounds, rule, &cfg).need_more_rounds() {
                        shared.stop_now.store(true, Ordering::SeqCst);
                    }
                }
            }
            shared.barrier.wait();
            if shared.stop_now.load(Ordering::SeqCst) || shared.failed.load(Ordering::SeqCst) {
                break;
            }
        }
        result
    }

    /// Run (or count, when it finished before this invocation) alternative `a` of `round`.
    fn visit(
        &self,
        shared: &Shared<'_>,
        round: u32,
        a: usize,
        platform: &mut Box<dyn Platform>,
    ) -> Result<(), RunnerError> {
        let (i, scenario) = match &shared.alts[a] {
            Alternative::Battery(i) => (*i, BATTERY_SCENARIO.to_string()),
            Alternative::Cell { platform, cell } => {
                (*platform, shared.cells[*cell].cell.scenario.clone())
            }
        };
        let name = platform.name().to_string();
        let key = (name.clone(), scenario.clone(), round);
        if let Some(&ok) = self.finished.get(&key) {
            self.count_finished(shared, round, i, &name, &scenario, ok);
            return Ok(());
        }
        if let Some(signal) = interrupt::requested() {
            return Err(RunnerError::Interrupted {
                run: self.run,
                signal,
            });
        }
        let boots_guest = platform.boots_guest();
        let mut attempt = Try {
            round,
            i,
            name: &name,
            boots_guest,
            timeout: trial_timeout(shared.plan.guest.timeout_s, !boots_guest),
            faults: 0,
        };
        let (end, samples) = loop {
            let (end, samples) = match &shared.alts[a] {
                Alternative::Battery(_) => self.battery_trial(shared, &attempt, platform)?,
                Alternative::Cell { cell, .. } => {
                    self.cell_trial(shared, &attempt, *cell, platform)?
                }
            };
            // A lab fault (docs/architecture.md, "The lab"): recorded (its trials are set aside as
            // interrupted, with the fault as their reason) and the trial runs again, at most
            // MAX_LAB_FAULTS times; `settle` made the last one a failure.
            if let TrialEnd::LabFault(reason) = &end {
                attempt.faults += 1;
                shared.lock_out().lab_faults += 1;
                shared.progress(|p| p.lab_fault(round, &name, reason));
                continue;
            }
            break (end, samples);
        };
        count_end(shared, &end, samples);
        shared.progress(|p| p.trial_finished(round, &name, &end, samples));
        Ok(())
    }

    /// A trial that finished before this invocation: counted, and its stored battery samples
    /// fed to the stop rule.
    fn count_finished(
        &self,
        shared: &Shared<'_>,
        round: u32,
        i: usize,
        name: &str,
        scenario: &str,
        ok: bool,
    ) {
        // Finished before this invocation: count it, feed the stop rule, skip it.
        let mut out = shared.lock_out();
        out.trials_skipped += 1;
        if ok {
            out.trials_ok += 1;
        } else {
            out.trials_failed += 1;
        }
        if scenario == BATTERY_SCENARIO {
            let mut measured = shared.measured.lock().unwrap_or_else(|e| e.into_inner());
            for (workload, metric, value) in self
                .stored
                .get(&(name.to_string(), round))
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
    }

    /// One try of a battery trial: its end (before a lab fault is retried) and its samples.
    fn battery_trial(
        &self,
        shared: &Shared<'_>,
        attempt: &Try<'_>,
        platform: &mut Box<dyn Platform>,
    ) -> Result<(TrialEnd, u32), RunnerError> {
        let (store, logs, round, i, name) = (
            shared.store,
            shared.logs,
            attempt.round,
            attempt.i,
            attempt.name,
        );
        shared.progress(|p| p.trial_started(round, name));
        let role = if attempt.boots_guest {
            Role::Guest
        } else {
            Role::HostProcess
        };
        let trial = store.start_trial(self.ids[i], round, &role.name(), BATTERY_SCENARIO)?;
        let req = TrialRequest {
            plan: shared.agent_plan,
            timeout: attempt.timeout,
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
            measured: &shared.measured,
        };
        let end = settle(
            platform.run_trial(&req, &mut |ev| sink.event(ev)),
            attempt.faults,
        );
        self.record_boots(store, self.ids[i], platform)?;
        if let Some(e) = sink.error.take() {
            return Err(RunnerError::Store(e));
        }
        let samples = sink.samples;
        self.close(store, &[trial], &end)?;
        Ok((end, samples))
    }

    /// One try of isolation cell `cell`: its end, which is its victim's (before a lab fault is
    /// retried), and its samples.
    fn cell_trial(
        &self,
        shared: &Shared<'_>,
        attempt: &Try<'_>,
        cell: usize,
        platform: &mut Box<dyn Platform>,
    ) -> Result<(TrialEnd, u32), RunnerError> {
        let (store, logs, round, i, name) = (
            shared.store,
            shared.logs,
            attempt.round,
            attempt.i,
            attempt.name,
        );
        let cell = &shared.cells[cell].cell;
        let label = format!("{name} {}", cell.scenario);
        shared.progress(|p| p.trial_started(round, &label));
        let dir = logs.join(format!(
            "r{round}-{name}-{}",
            cell.scenario.replace('/', "-")
        ));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Err(RunnerError::Logs(dir, e));
        }
        let victim = store.start_trial(self.ids[i], round, &Role::Victim.name(), &cell.scenario)?;
        let mut sink = CellSink {
            store,
            platform: self.ids[i],
            round,
            scenario: &cell.scenario,
            trials: BTreeMap::from([(Role::Victim, victim)]),
            ended: BTreeSet::new(),
            samples: 0,
            error: None,
        };
        let end = settle(
            platform.run_cell(cell, attempt.timeout, Some(&dir), &mut |m| sink.message(m)),
            attempt.faults,
        );
        self.record_boots(store, self.ids[i], platform)?;
        if let Some(e) = sink.error.take() {
            return Err(RunnerError::Store(e));
        }
        // A lab fault runs the whole cell again: every trial of this one is set aside.
        let open: Vec<TrialId> = sink
            .trials
            .iter()
            .filter(|(n, _)| !sink.ended.contains(*n) || matches!(end, TrialEnd::LabFault(_)))
            .map(|(_, t)| *t)
            .collect();
        // Instances the cell never heard end stopped reporting with it (a lab host or
        // a remote machine that died or hung): DNR.
        let end_for_open = match &end {
            TrialEnd::Failed(r) => TrialEnd::Failed(format!(
                "DNR: the cell ended without this instance's end: {r}"
            )),
            // Lost with its machine: the cell runs again on resume.
            TrialEnd::Lost(r) => TrialEnd::Lost(r.clone()),
            TrialEnd::LabFault(r) => TrialEnd::LabFault(r.clone()),
            TrialEnd::Completed => TrialEnd::Completed,
        };
        self.close(store, &open, &end_for_open)?;
        // The cell's outcome is its victim's.
        let victim_ok = store
            .trials(self.run)?
            .into_iter()
            .find(|t| t.id == victim)
            .is_some_and(|t| t.status == "ok");
        let end = if matches!(end, TrialEnd::LabFault(_)) {
            end
        } else if victim_ok {
            TrialEnd::Completed
        } else {
            match end {
                TrialEnd::Completed => TrialEnd::Failed("the victim did not report".into()),
                failed => failed,
            }
        };
        Ok((end, sink.samples))
    }

    /// After a trial on a dual-boot machine: its boots into the store, and the platform's
    /// facts again (it is prepared, and its facts completed, in its own boot).
    fn record_boots(
        &self,
        store: &Store,
        id: PlatformId,
        platform: &mut Box<dyn Platform>,
    ) -> Result<(), RunnerError> {
        if platform.boot().is_none() {
            return Ok(());
        }
        for b in platform.take_boots() {
            store.record_boot(
                self.run,
                &BootRow {
                    host: b.host,
                    entry: b.entry,
                    at_ms: b.at_ms as i64,
                    seconds: b.seconds,
                    reboot: b.reboot,
                    boot_id: b.boot_id,
                    kernel: b.kernel,
                    hypervisor: b.hypervisor,
                    ok: b.ok,
                    detail: b.detail,
                },
            )?;
        }
        let facts = platform.facts();
        store.set_facts(id, facts.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
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
            (
                TrialEnd::Failed(reason) | TrialEnd::Lost(reason) | TrialEnd::LabFault(reason),
                Some(signal),
            ) => {
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
            // The lab failed under the trial: set aside as interrupted, the fault its reason;
            // the trial runs again at once (a later trial of its round replaces it).
            (TrialEnd::LabFault(reason), None) => {
                for &t in open {
                    store.interrupt_trial(t, &format!("{LAB_FAULT}{reason}"))?;
                }
                Ok(())
            }
            // The machine or its connection was lost: interrupted, so that `--resume` runs the
            // trial again; the campaign goes on with the other trials.
            (TrialEnd::Lost(reason), None) => {
                for &t in open {
                    store.interrupt_trial(t, reason)?;
                }
                Ok(())
            }
        }
    }
}

/// A trial the lab failed under runs again at most this many times; the last fault fails it.
pub const MAX_LAB_FAULTS: u32 = 2;

use hvbench_store::LAB_FAULT;

/// A lab fault past [`MAX_LAB_FAULTS`] (`faults` before this one) is a failure of the trial.
fn settle(end: TrialEnd, faults: u32) -> TrialEnd {
    match end {
        TrialEnd::LabFault(r) if faults >= MAX_LAB_FAULTS => TrialEnd::Failed(format!(
            "{LAB_FAULT}{r} (the lab failed under this trial {} times in a row; not run again)",
            faults + 1
        )),
        end => end,
    }
}

/// A visit's trial counted in the outcome by how it ended.
fn count_end(shared: &Shared<'_>, end: &TrialEnd, samples: u32) {
    let mut out = shared.lock_out();
    match end {
        TrialEnd::Completed => out.trials_ok += 1,
        TrialEnd::Failed(_) => out.trials_failed += 1,
        TrialEnd::Lost(_) => out.trials_lost += 1,
        TrialEnd::LabFault(_) => unreachable!("a lab fault runs the trial again"),
    }
    out.samples += samples;
}

/// One visit's trial, tried again after a lab fault: its round, platform and timeout, and the
/// lab faults so far.
struct Try<'a> {
    round: u32,
    /// The platform's index.
    i: usize,
    name: &'a str,
    boots_guest: bool,
    timeout: std::time::Duration,
    faults: u32,
}

/// What the machines' threads of one campaign share.
struct Shared<'a> {
    plan: &'a Plan,
    agent_plan: &'a hvbench_proto::AgentPlan,
    cells: &'a [crate::PlannedCell],
    alts: &'a [Alternative],
    store: &'a Store,
    logs: &'a std::path::Path,
    out: std::sync::Mutex<Outcome>,
    progress: std::sync::Mutex<&'a mut dyn Progress>,
    /// Measured values so far per (platform, workload, metric), for the stop rule.
    measured: std::sync::Mutex<Measured>,
    /// A thread failed (the store, a signal): the others stop at their next trial.
    failed: std::sync::atomic::AtomicBool,
    /// The stop rule says no more rounds are needed.
    stop_now: std::sync::atomic::AtomicBool,
    /// The end of a round, for every machine's thread.
    barrier: std::sync::Barrier,
}

impl Shared<'_> {
    fn lock_out(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn progress(&self, f: impl FnOnce(&mut dyn Progress)) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut **p);
    }
}

/// The alternatives by machine: this machine's first (platforms without one), then each other
/// machine in the order of its first platform; alternative indices in order.
fn machine_groups(platforms: &[Box<dyn Platform>], alts: &[Alternative]) -> Vec<Vec<usize>> {
    let mut keys: Vec<Option<String>> = vec![None];
    let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
    for (a, alt) in alts.iter().enumerate() {
        let key = platforms[alt.platform()].machine().map(str::to_string);
        let g = match keys.iter().position(|k| *k == key) {
            Some(g) => g,
            None => {
                keys.push(key);
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[g].push(a);
    }
    groups.retain(|g| !g.is_empty());
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    groups
}

/// The seed of machine `g`'s schedule: the run's own when there is one machine (so that runs
/// on one machine keep their schedules), else one drawn from it per machine.
pub(crate) fn group_seed(seed: u64, g: usize, machines: usize) -> u64 {
    if machines <= 1 {
        seed
    } else {
        hvbench_analysis::rng::SplitMix64::new(
            seed ^ (g as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
        .next_u64()
    }
}
