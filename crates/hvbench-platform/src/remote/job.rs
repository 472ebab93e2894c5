//! The job a machine runs for the controller ([`Job`]) and how it runs it ([`exec_job`]):
//! `hvbench-executor`, on a machine reached over SSH (a lab host included), prepares the job's
//! platform with its real driver, runs the trial or the isolation cell, and writes every event
//! as a frame on its stdout, which the controller reads over the SSH channel.

use crate::cache::Cache;
use crate::console::TrialEnd;
use crate::{interrupt, Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::AgentPlan;
use hvbench_proto::{encode, Event, Message};
use hvbench_spec::{Driver, GuestSpec, PlatformSpec};
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

/// Where [`exec_job`] runs, and what that allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOptions {
    /// Whether the `host` driver may run (on a machine reached over SSH: its baseline).
    pub allow_host: bool,
    /// Names the timing facts (`LABEL.ready_s`, ...) and the `(LABEL)` failures exec_job adds.
    pub label: &'static str,
}

impl ExecOptions {
    /// On a machine reached over SSH (`hvbench-executor`).
    pub const REMOTE: ExecOptions = ExecOptions {
        allow_host: true,
        label: "remote",
    };
}

/// The pseudo-workload of the failure [`exec_job`] sends when the guest trial it ran did not
/// complete: the controller reads the trial's own reason from it (`(remote trial)`).
pub fn trial_failure(label: &str) -> String {
    format!("({label} trial)")
}

/// Prepare the job's platform with its real driver (its private files under `workdir`, created
/// if missing), run one trial or the job's isolation cell, and write everything — the driver's
/// facts, the guest's frames, a failure — as frames on `out`. Returns whether the trial
/// completed; an interrupt ([`crate::interrupt`]) tears the guests down and fails it.
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
    let prepared: Result<Box<dyn Platform>> = match &job.platform.driver {
        Driver::Host if !opts.allow_host => Err(PlatformError::unavailable(
            "the host driver cannot run in the lab",
            "remove `lab = true`",
        )),
        _ => crate::isolation::prepare_local(
            &job.platform,
            &job.platform.name,
            &job.guest,
            &job.plan,
            cache,
            &workdir,
        ),
    };
    let mut platform = match prepared {
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
    let mut facts = platform.facts();
    facts.insert(
        format!("{label}.ready_s"),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    // The lab host booted for this job alone: its uptime is its boot time plus preparation.
    if !opts.allow_host {
        if let Ok(up) = std::fs::read_to_string("/proc/uptime") {
            if let Some(s) = up.split_whitespace().next() {
                facts.insert(format!("{label}.boot_to_ready_s"), s.to_string());
            }
        }
    }
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
    let mut write_error = None;
    let trial_started = Instant::now();
    let timeout = Duration::from_secs(job.guest.timeout_s);
    if let Some(cell) = &job.cell {
        let mut factory = crate::isolation::LocalFactory {
            spec: job.platform.clone(),
            guest: job.guest.clone(),
            cache: cache.clone(),
            workdir: workdir.clone(),
        };
        let end =
            crate::isolation::run_cell(cell, &mut factory, timeout, Some(&workdir), &mut |m| {
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
        return Ok(end == TrialEnd::Completed);
    }
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
