//! The job a machine runs for the controller ([`Job`]) and how it runs it ([`exec_job`]):
//! `hvbench-executor`, on a machine reached over SSH (a lab host included), prepares the job's
//! platform with its real driver, runs the trial or the isolation cell, and writes every event
//! as a frame on its stdout, which the controller reads over the SSH channel.

use crate::guest::cache::Cache;
use crate::trial::console::TrialEnd;
use crate::trial::interrupt;
use crate::{Platform, TrialRequest};
use hvbench_proto::AgentPlan;
use hvbench_proto::{encode, Event, Message};
use hvbench_spec::{GuestSpec, PlatformSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a machine runs for the controller: one trial of one platform (or one isolation cell),
/// with the machine's own drivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The platform as it runs on the machine (`host` and `lab` cleared).
    pub platform: PlatformSpec,
    pub guest: GuestSpec,
    pub plan: AgentPlan,
    /// An isolation cell to run instead of one trial of `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<crate::isolation::Cell>,
}

/// Where [`exec_job`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOptions {
    /// Names the timing facts (`LABEL.ready_s`, ...) and the `(LABEL)` failures exec_job adds.
    pub label: &'static str,
}

impl ExecOptions {
    /// On a machine reached over SSH (`hvbench-executor`).
    pub const REMOTE: ExecOptions = ExecOptions { label: "remote" };
}

/// The pseudo-workload of the failure [`exec_job`] sends when the guest trial it ran did not
/// complete: the controller reads the trial's own reason from it (`(remote trial)`).
pub fn trial_failure(label: &str) -> String {
    format!("({label} trial)")
}

/// Prepare the job's platform with its real driver (its private files under `workdir`, created
/// if missing), run one trial or the job's isolation cell, and write everything — the driver's
/// facts, the guest's frames, a failure — as frames on `out`. Returns whether the trial
/// completed; an interrupt ([`crate::trial::interrupt`]) tears the guests down and fails it.
pub fn exec_job(
    job: &Job,
    cache: &Cache,
    workdir: &Path,
    opts: &ExecOptions,
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let started = Instant::now();
    let label = opts.label;
    let workdir = workdir.to_path_buf();
    std::fs::create_dir_all(&workdir)?;
    // Kept until the job ends, the cell's too.
    let mut platform = match crate::builder::local(
        &job.platform,
        &job.platform.name,
        &job.guest,
        &job.plan,
        cache,
        &workdir,
    ) {
        Ok(p) => p,
        Err(e) => {
            send(
                out,
                &Message::Failed {
                    workload: format!("({label})"),
                    reason: format!("{e}"),
                },
            )?;
            return Ok(false);
        }
    };
    let facts = ready_facts(platform.as_ref(), opts, started);
    send(out, &Message::Facts { facts })?;
    // Preparation (a kernel download, an image build) does not look at the flag: start no
    // guest once the controller is gone or hvbench was asked to stop.
    if let Some(sig) = interrupt::requested() {
        send(
            out,
            &Message::Failed {
                workload: format!("({label})"),
                reason: format!(
                    "interrupted by {} before the trial started",
                    interrupt::signal_name(sig)
                ),
            },
        )?;
        return Ok(false);
    }
    let timeout = Duration::from_secs(job.guest.timeout_s);
    match &job.cell {
        Some(cell) => exec_cell(job, cell, cache, &workdir, timeout, label, out),
        None => exec_trial(job, platform.as_mut(), &workdir, timeout, label, out),
    }
}

/// The prepared platform's facts, with how long preparing took since `started` (and, in the
/// lab, the lab host's uptime).
fn ready_facts(
    platform: &dyn Platform,
    opts: &ExecOptions,
    started: Instant,
) -> BTreeMap<String, String> {
    let label = opts.label;
    let mut facts = platform.facts();
    facts.insert(
        format!("{label}.ready_s"),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    facts
}

/// Run the job's isolation cell, its frames on `out`; whether its victim completed.
fn exec_cell(
    job: &Job,
    cell: &crate::isolation::Cell,
    cache: &Cache,
    workdir: &Path,
    timeout: Duration,
    label: &str,
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let mut write_error = None;
    let trial_started = Instant::now();
    let mut factory = crate::isolation::LocalFactory {
        spec: job.platform.clone(),
        guest: job.guest.clone(),
        cache: cache.clone(),
        workdir: workdir.to_path_buf(),
    };
    let end = crate::isolation::run_cell(cell, &mut factory, timeout, Some(workdir), &mut |m| {
        if write_error.is_none() {
            if let Err(e) = send(out, &m) {
                write_error = Some(e);
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    send_elapsed(out, &format!("{label}.cell_s"), trial_started)?;
    // The outer runner learns the victim's end from its Instance frames; Done ends the
    // executor's part.
    send(
        out,
        &Message::Done {
            samples: 0,
            failures: 0,
        },
    )?;
    Ok(end == TrialEnd::Completed)
}

/// Run one trial of the job's plan on `platform`, its frames on `out`; whether it completed.
fn exec_trial(
    job: &Job,
    platform: &mut dyn Platform,
    workdir: &Path,
    timeout: Duration,
    label: &str,
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let mut write_error = None;
    let trial_started = Instant::now();
    let req = TrialRequest {
        plan: &job.plan,
        timeout,
        console_log: Some(workdir.join("guest-console.log")),
        stop: None,
        place: None,
    };
    let end = platform.run_trial(&req, &mut |ev| {
        let msg = match ev {
            Event::Frame(m) => m,
            Event::Bad { error, excerpt } => Message::Failed {
                workload: hvbench_proto::names::CONSOLE_WORKLOAD.into(),
                reason: format!(
                    "untrusted frame ignored by the {label} executor: {error}; it began: {excerpt}"
                ),
            },
        };
        if write_error.is_none() {
            if let Err(e) = send(out, &msg) {
                write_error = Some(e);
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    send_elapsed(out, &format!("{label}.guest_trial_s"), trial_started)?;
    match end {
        TrialEnd::Completed => Ok(true),
        TrialEnd::Failed(reason) | TrialEnd::Lost(reason) | TrialEnd::LabFault(reason) => {
            send(
                out,
                &Message::Failed {
                    workload: trial_failure(label),
                    reason,
                },
            )?;
            Ok(false)
        }
    }
}

/// Send how long since `started`, in seconds, as the fact `key`.
fn send_elapsed(out: &mut dyn Write, key: &str, started: Instant) -> std::io::Result<()> {
    let facts = BTreeMap::from([(
        key.to_string(),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    )]);
    send(out, &Message::Facts { facts })
}

fn send(out: &mut dyn Write, msg: &Message) -> std::io::Result<()> {
    out.write_all(&encode(msg))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_spec::Driver;

    #[test]
    fn job_round_trips() {
        let job = Job {
            platform: PlatformSpec {
                name: "xen-pv".into(),
                driver: Driver::Xen(hvbench_spec::XenSpec {
                    kind: hvbench_spec::XenGuestType::Pv,
                    tsc_mode: Some(hvbench_spec::TscMode::AlwaysEmulate),
                    ..Default::default()
                }),
                lab: false,
                host: None,
                boot: None,
            },
            guest: GuestSpec::default(),
            plan: AgentPlan {
                version: 1,
                warmup: 0,
                samples: 1,
                min_window_ms: 10,
                workloads: vec![],
                peer: None,
                stress: None,
                evidence: false,
                tools_root: None,
            },
            cell: None,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains("cell"), "a battery job has no cell: {text}");
        // The platform's keys travel flat, as in the spec file, Xen's tsc_mode included.
        assert!(text.contains("\"tsc_mode\":\"always_emulate\""), "{text}");
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        // A cell travels whole.
        let mut with_cell = job.clone();
        with_cell.cell = Some(crate::isolation::Cell {
            scenario: "n/cpu/shared".into(),
            victim: job.plan.clone(),
            aggressor: Some(job.plan.clone()),
            aggressors: 2,
            pinned_apart: false,
            weight: Some(50),
            cap_pct: None,
            settle_ms: 1000,
            victim_cpus: 1,
        });
        let text = serde_json::to_string(&with_cell).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), with_cell);
    }
}
