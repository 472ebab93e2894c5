//! Running a stressor in windows: its [`Schedule`] (duration and report grid), [`drive`]
//! (set up, one `Sample` per window, clean up, failures as `Failed` frames), and the two ways
//! in, `--stress` ([`run_and_report`]) and an aggressor plan ([`run_aggressor`]).

use super::{label, Running, Stressor, MAX_DURATION_MS, METRIC, MIN_REPORT_MS};
use crate::frames::FrameWriter;
use crate::panics;
use crate::workloads::Env;
use hvbench_proto::catalog::Better;
use hvbench_proto::{Message, StressPlan};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a stressor runs and how its windows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// From the start of set-up to the end of the last window.
    pub duration: Duration,
    /// The length of each window; `None`: one window for the whole duration.
    pub report: Option<Duration>,
}

impl Schedule {
    /// An aggressor plan's schedule, checked: `duration_ms` from 1 to [`MAX_DURATION_MS`],
    /// `report_ms` from [`MIN_REPORT_MS`] to [`MAX_DURATION_MS`].
    pub fn from_plan(plan: &StressPlan) -> Result<Self, String> {
        if !(1..=MAX_DURATION_MS).contains(&plan.duration_ms) {
            return Err(format!(
                "bad duration_ms {}: want 1 to {MAX_DURATION_MS}",
                plan.duration_ms
            ));
        }
        if !(MIN_REPORT_MS..=MAX_DURATION_MS).contains(&plan.report_ms) {
            return Err(format!(
                "bad report_ms {}: want {MIN_REPORT_MS} to {MAX_DURATION_MS}",
                plan.report_ms
            ));
        }
        Ok(Schedule {
            duration: Duration::from_millis(plan.duration_ms),
            report: Some(Duration::from_millis(plan.report_ms)),
        })
    }

    /// The end of the window that starts at `now`: the next multiple of the report period
    /// after `now`, counted from `first` (the start of the first window), so windows do not
    /// drift however late each one ends; never after `end`.
    pub(super) fn window_end(&self, first: Instant, now: Instant, end: Instant) -> Instant {
        let Some(period) = self.report.filter(|p| !p.is_zero()) else {
            return end;
        };
        let done = now.saturating_duration_since(first).as_nanos() / period.as_nanos();
        u32::try_from(done + 1)
            .ok()
            .and_then(|k| period.checked_mul(k))
            .and_then(|offset| first.checked_add(offset))
            .map_or(end, |t| t.min(end))
    }
}

/// Run `stressor` on `schedule` until its duration is over or `stop` is set, writing a
/// `Sample` per window (`Log`s before it, if the stressor had anything to say), then clean
/// up and write what clean-up said. A stressor that cannot start, fails in a window or
/// panics gets a `Failed` frame instead (after clean-up). `Done` is the caller's. Returns
/// whether it ran without failing; the error is from writing `frames`.
pub fn drive<W: Write>(
    stressor: &Stressor,
    env: &Env<'_>,
    schedule: Schedule,
    stop: &AtomicBool,
    frames: &mut FrameWriter<W>,
) -> io::Result<bool> {
    drive_started(stressor, || stressor.start(env), schedule, stop, frames)
}

/// [`drive`], with `start` to set the stressor up (tests start it on their own terms).
pub(super) fn drive_started<W: Write>(
    stressor: &Stressor,
    start: impl FnOnce() -> Result<Box<dyn Running>, String>,
    schedule: Schedule,
    stop: &AtomicBool,
    frames: &mut FrameWriter<W>,
) -> io::Result<bool> {
    let label = stressor.label();
    let end = Instant::now() + schedule.duration;
    let mut running = match catch_unwind(AssertUnwindSafe(start)) {
        Ok(Ok(running)) => running,
        Ok(Err(reason)) => return frames.failed(&label, reason).map(|()| false),
        Err(payload) => {
            let reason = format!("panicked while setting up: {}", panics::message(&*payload));
            return frames.failed(&label, reason).map(|()| false);
        }
    };
    let windows = catch_unwind(AssertUnwindSafe(|| {
        send_windows(running.as_mut(), stressor, schedule, end, stop, frames)
    }));
    // Clean up whatever happened, before anything else is written.
    let cleanup = catch_unwind(AssertUnwindSafe(move || running.finish()));
    let failure = match windows {
        Ok(Ok(None)) => None,
        Ok(Ok(Some(reason))) => Some(reason),
        Ok(Err(write_error)) => return Err(write_error),
        Err(payload) => Some(format!("panicked: {}", panics::message(&*payload))),
    };
    match cleanup {
        Ok(logs) => {
            for line in logs {
                frames.log(format!("{label}: {line}"))?;
            }
        }
        Err(payload) => frames.log(format!(
            "{label}: panicked while cleaning up: {}",
            panics::message(&*payload)
        ))?,
    }
    match failure {
        None => Ok(true),
        Some(reason) => frames.failed(&label, reason).map(|()| false),
    }
}

/// The windows of one run. `Ok(Some(reason))`: the stressor failed in a window.
fn send_windows<W: Write>(
    running: &mut dyn Running,
    stressor: &Stressor,
    schedule: Schedule,
    end: Instant,
    stop: &AtomicBool,
    frames: &mut FrameWriter<W>,
) -> io::Result<Option<String>> {
    let label = stressor.label();
    let first = Instant::now();
    let mut index = 0u32;
    loop {
        let started = Instant::now();
        let until = schedule.window_end(first, started, end);
        let work = running.window(until, stop);
        let elapsed = started.elapsed();
        for line in running.take_logs() {
            frames.log(format!("{label}: {line}"))?;
        }
        let work = match work {
            Ok(work) => work,
            Err(reason) => return Ok(Some(reason)),
        };
        // A window the stop flag cut short before it did any work measured nothing (a stress-ng
        // run stopped before it could report), nor did a stress-ng run that never got to run
        // its stressor: no sample, rather than a rate of 0 that was never measured. The
        // stressor's log says what happened.
        if work.iterations == 0 {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if stressor.zero_is_unmeasured() {
                if Instant::now() >= end {
                    return Ok(None);
                }
                continue;
            }
        }
        frames.send(&Message::Sample {
            workload: label.clone(),
            metric: METRIC.to_string(),
            unit: stressor.unit().to_string(),
            better: Better::Higher,
            warmup: false,
            index,
            value: work.rate(elapsed),
            iterations: work.iterations,
            elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        })?;
        index = index.saturating_add(1);
        if stop.load(Ordering::Relaxed) || Instant::now() >= end {
            return Ok(None);
        }
    }
}

/// `hvbench-agent --stress`: run `stressor` on `schedule` and write its frames, then `Done`.
/// Returns whether it ran without failing.
pub fn run_and_report<W: Write>(
    stressor: &Stressor,
    env: &Env<'_>,
    schedule: Schedule,
    stop: &AtomicBool,
    out: W,
) -> io::Result<bool> {
    let mut frames = FrameWriter::new(out);
    let ran = drive(stressor, env, schedule, stop, &mut frames)?;
    frames.done()?;
    Ok(ran)
}

/// An aggressor's plan: check its stressor and schedule (a bad one is a `Failed` frame for
/// `stress-KIND` with the reason), then [`drive`] it. `env` is the agent plan's: its peer for
/// `net`, its tools tree for `stress-ng`.
pub fn run_aggressor<W: Write>(
    plan: &StressPlan,
    env: &Env<'_>,
    stop: &AtomicBool,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let checked = Stressor::from_args(&plan.kind, &plan.params)
        .and_then(|stressor| Ok((stressor, Schedule::from_plan(plan)?)));
    match checked {
        Ok((stressor, schedule)) => drive(&stressor, env, schedule, stop, frames).map(drop),
        Err(reason) => frames.failed(&label(&plan.kind), reason),
    }
}
