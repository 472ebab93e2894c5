//! Where a trial's frames go as they arrive: every sample committed to the store at once, facts
//! to the platform, failures, tools' raw output and untrusted frames recorded with the trial. A battery trial has
//! one agent; an isolation cell has a victim and aggressors, each its own trial, whose
//! `Instance` frames carry their arrival time and end (DNR when one stops too early). Both
//! record an agent's frame through [`record_frame`], the one decoding path.

use hvbench_platform::trial::interrupt;
use hvbench_proto::names::{Role, CONSOLE_WORKLOAD};
use hvbench_proto::{Event, InstanceEvent, Message};
use hvbench_store::{NewCounters, NewSample, PlatformId, Store, StoreError, TrialId};
use std::collections::{BTreeMap, BTreeSet};

/// Measured values so far per (platform, workload, metric), for the stop rule.
pub(crate) type Measured = BTreeMap<(PlatformId, String, String), Vec<f64>>;

/// What [`record_frame`] does with an agent's facts.
enum FactsTo<'p> {
    /// Every fact is the platform's (a battery agent, a cell's victim).
    Platform,
    /// Only what the hypervisor says it applied to the instance, keyed under the instance's
    /// prefix (`isolation.<scenario>.<instance>.`); an aggressor's view of its machine is not
    /// the platform's.
    InstanceOnly(&'p str),
    /// The victim: the hypervisor's applications under the prefix, the rest the platform's.
    Victim(&'p str),
}

/// Record one decoded agent frame of `trial` (`at_ms`: its arrival in an isolation cell).
/// Returns the measured (not warm-up) sample it carried, if any.
fn record_frame(
    store: &Store,
    platform: PlatformId,
    trial: TrialId,
    m: Message,
    at_ms: Option<u64>,
    facts_to: FactsTo<'_>,
) -> Result<Option<(String, String, f64)>, StoreError> {
    match m {
        Message::Sample {
            workload,
            metric,
            unit,
            better,
            warmup,
            index,
            value,
            iterations,
            elapsed_ns,
        } => {
            store.insert_sample(
                trial,
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
                    at_ms,
                },
            )?;
            return Ok((!warmup).then_some((workload, metric, value)));
        }
        Message::Facts { facts } => {
            let facts: Vec<(String, String)> = match facts_to {
                FactsTo::Platform => facts.into_iter().collect(),
                FactsTo::InstanceOnly(prefix) | FactsTo::Victim(prefix) => facts
                    .into_iter()
                    .filter_map(|(k, v)| {
                        if k.starts_with("xen.applied.") || k.starts_with("libvirt.applied.") {
                            Some((format!("{prefix}{k}"), v))
                        } else {
                            matches!(facts_to, FactsTo::Victim(_)).then_some((k, v))
                        }
                    })
                    .collect(),
            };
            store.set_facts(
                platform,
                facts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
        }
        Message::Hello {
            agent_version,
            mode,
        } => {
            if matches!(facts_to, FactsTo::Platform) {
                store.set_facts(
                    platform,
                    [
                        ("agent.version", agent_version.as_str()),
                        ("agent.mode", &mode),
                    ],
                )?;
            }
        }
        Message::Failed { workload, reason } => {
            store.record_workload_failure(trial, &workload, &reason)?;
        }
        Message::Counters {
            workload,
            metric,
            index,
            source,
            span_ns,
            values,
        } => {
            store.insert_counters(
                trial,
                &NewCounters {
                    workload: &workload,
                    metric: &metric,
                    index,
                    source: &source,
                    span_ns,
                    values: &values,
                },
            )?;
        }
        Message::Output {
            workload,
            window,
            output,
        } => {
            store.insert_tool_output(trial, &workload, &window, &output)?;
        }
        Message::Log { .. }
        | Message::Done { .. }
        | Message::Instance { .. }
        | Message::Window { .. } => {}
    }
    Ok(None)
}

/// Record a frame that failed to decode: it is untrusted and only noted.
fn record_bad_frame(
    store: &Store,
    trial: TrialId,
    error: &impl std::fmt::Display,
    excerpt: &str,
) -> Result<(), StoreError> {
    store.record_workload_failure(
        trial,
        CONSOLE_WORKLOAD,
        &format!("untrusted frame ignored: {error}; it began: {excerpt}"),
    )
}

/// Writes an isolation cell's `Instance` frames to the store as they arrive: one trial per
/// instance (guest `victim`, `aggressor1`, ...) of the cell's scenario, every sample with its
/// arrival time, the placement each instance got as facts
/// (`isolation.<scenario>.<instance>.<key>`).
pub(crate) struct CellSink<'a> {
    pub(crate) store: &'a Store,
    pub(crate) platform: PlatformId,
    pub(crate) round: u32,
    pub(crate) scenario: &'a str,
    pub(crate) trials: BTreeMap<Role, TrialId>,
    pub(crate) ended: BTreeSet<Role>,
    /// The victim's measured samples.
    pub(crate) samples: u32,
    pub(crate) error: Option<StoreError>,
}

impl CellSink<'_> {
    pub(crate) fn message(&mut self, m: Message) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(m) {
            self.error = Some(e);
        }
    }

    fn trial(&mut self, role: Role) -> Result<TrialId, StoreError> {
        if let Some(&t) = self.trials.get(&role) {
            return Ok(t);
        }
        let t = self
            .store
            .start_trial(self.platform, self.round, &role.name(), self.scenario)?;
        self.trials.insert(role, t);
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
                let victim = self.trial(Role::Victim)?;
                return self
                    .store
                    .record_workload_failure(victim, &workload, &reason);
            }
            _ => return Ok(()),
        };
        let role = match Role::parse(&instance) {
            Some(r @ (Role::Victim | Role::Aggressor(_))) => r,
            _ => {
                // Only the co-scheduler writes these; anything else is not to be trusted.
                let victim = self.trial(Role::Victim)?;
                return self.store.record_workload_failure(
                    victim,
                    CONSOLE_WORKLOAD,
                    &format!("frame for an unknown instance `{instance}` ignored"),
                );
            }
        };
        let trial = self.trial(role)?;
        let prefix = format!("isolation.{}.{role}.", self.scenario);
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
            InstanceEvent::Frame { message } => {
                // The victim's view of its machine is the platform's, as in a battery trial.
                let facts_to = if role == Role::Victim {
                    FactsTo::Victim(&prefix)
                } else {
                    FactsTo::InstanceOnly(&prefix)
                };
                let measured = record_frame(
                    self.store,
                    self.platform,
                    trial,
                    *message,
                    Some(at_ms),
                    facts_to,
                )?;
                if role == Role::Victim && measured.is_some() {
                    self.samples += 1;
                }
            }
            InstanceEvent::Bad { error, excerpt } => {
                record_bad_frame(self.store, trial, &error, &excerpt)?;
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
                let failure = if role == Role::Victim {
                    (!ok).then(|| format!("DNR: the victim stopped reporting: {reason}"))
                } else if stopped {
                    // Asked to stop once the victim was done: it outlasted the victim.
                    None
                } else if ok {
                    // Its agent said Done on its own: its stressor failed (the failure is
                    // recorded from its frame) or its run was over.
                    Some(
                        "DNR: the aggressor finished (its agent said done) before the victim did"
                            .to_string(),
                    )
                } else {
                    Some(format!(
                        "DNR: the aggressor stopped before the victim finished: {reason}"
                    ))
                };
                self.store.finish_trial(trial, failure.as_deref())?;
                self.ended.insert(role);
            }
        }
        Ok(())
    }
}

/// Writes one trial's events to the store as they arrive.
pub(crate) struct TrialSink<'a> {
    pub(crate) store: &'a Store,
    pub(crate) trial: TrialId,
    pub(crate) platform: PlatformId,
    pub(crate) samples: u32,
    pub(crate) error: Option<StoreError>,
    pub(crate) measured: &'a std::sync::Mutex<Measured>,
}

impl TrialSink<'_> {
    pub(crate) fn event(&mut self, ev: Event) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(ev) {
            self.error = Some(e);
        }
    }

    fn write(&mut self, ev: Event) -> Result<(), StoreError> {
        match ev {
            Event::Frame(m) => {
                let measured = record_frame(
                    self.store,
                    self.platform,
                    self.trial,
                    m,
                    None,
                    FactsTo::Platform,
                )?;
                if let Some((workload, metric, value)) = measured {
                    self.samples += 1;
                    self.measured
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry((self.platform, workload, metric))
                        .or_default()
                        .push(value);
                }
            }
            Event::Bad { error, excerpt } => {
                record_bad_frame(self.store, self.trial, &error, &excerpt)?;
            }
        }
        Ok(())
    }
}
