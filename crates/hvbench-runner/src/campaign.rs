//! One invocation's share of a run: the rounds in their seeded order, each battery trial or
//! isolation cell handed to its platform, its frames to a sink, its trials closed (completed,
//! failed with the reason, or interrupted by a signal), and the stop rule after each round.

use crate::plan::{alternatives, schedule, trial_timeout, Alternative};
use crate::sinks::{CellSink, TrialSink};
use crate::{isolation_cells, Options, Outcome, Progress, RunnerError};
use hvbench_analysis::{stop_decision, BootstrapConfig};
use hvbench_platform::{interrupt, Platform, TrialEnd, TrialRequest};
use hvbench_proto::names::{Role, BATTERY_SCENARIO};
use hvbench_spec::Plan;
use hvbench_store::{PlatformId, RunEventKind, RunId, RunStatus, Store, TrialId};
use std::collections::{BTreeMap, BTreeSet};

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
                let boots_guest = platform.boots_guest();
                let timeout = trial_timeout(plan.guest.timeout_s, !boots_guest);
                let (end, samples) = match &alts[a] {
                    Alternative::Battery(_) => {
                        progress.trial_started(round, &name);
                        let role = if boots_guest {
                            Role::Guest
                        } else {
                            Role::HostProcess
                        };
                        let trial = store.start_trial(
                            self.ids[i],
                            round,
                            &role.name(),
                            BATTERY_SCENARIO,
                        )?;
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
                        let victim = store.start_trial(
                            self.ids[i],
                            round,
                            &Role::Victim.name(),
                            &cell.scenario,
                        )?;
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
