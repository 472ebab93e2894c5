//! One workload of a run: set it up (its facts in a `Facts` frame), calibrate, then send its
//! warm-up and measured windows as `Sample` frames, one metric or each point of a curve;
//! set-up failures, panics and non-finite values become `Failed` frames.

use crate::frames::FrameWriter;
use crate::harness::{self, Window};
use crate::panics;
use crate::workloads::{self, Workload};
use hvbench_proto::{AgentPlan, Message, WorkloadDef, WorkloadRequest};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Set one workload up, then measure it. Set-up failures and panics become `Failed` frames.
pub(super) fn run_workload<W: Write>(
    plan: &AgentPlan,
    request: &WorkloadRequest,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let name = request.name.as_str();
    let label = request.label();
    let env = workloads::Env {
        peer: plan.peer.as_deref(),
    };
    let prepared = catch_unwind(|| workloads::prepare_with(name, &request.params, &env));
    match prepared {
        Ok(Ok((def, mut workload))) => {
            let facts = workload.facts();
            if !facts.is_empty() {
                let facts = facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                frames.send(&Message::Facts { facts })?;
            }
            measure(plan, def, label, workload.as_mut(), frames)
        }
        Ok(Err(reason)) => frames.failed(label, reason),
        Err(payload) => frames.failed(
            label,
            format!("panicked while setting up: {}", panics::message(&*payload)),
        ),
    }
}

/// Measure every point of the workload: one, under the catalog's metric, or each point of a
/// curve under its own metric (see [`Workload::points`]).
pub(super) fn measure<W: Write>(
    plan: &AgentPlan,
    def: &WorkloadDef,
    label: &str,
    workload: &mut dyn Workload,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let points = workload.points();
    if points.is_empty() {
        return measure_point(plan, def, def.metric, label, workload, frames).map(drop);
    }
    for (point, metric) in points.iter().enumerate() {
        let selected = catch_unwind(AssertUnwindSafe(|| workload.select_point(point)));
        if let Err(payload) = selected {
            return frames.failed(
                label,
                format!(
                    "panicked while setting up {metric}: {}",
                    panics::message(&*payload)
                ),
            );
        }
        if !measure_point(plan, def, metric, label, workload, frames)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Calibrate, then send `plan.warmup` warm-up windows and `plan.samples` measured windows of
/// `metric`. Returns whether it got through them (if not, a `Failed` frame says why).
fn measure_point<W: Write>(
    plan: &AgentPlan,
    def: &WorkloadDef,
    metric: &str,
    label: &str,
    workload: &mut dyn Workload,
    frames: &mut FrameWriter<W>,
) -> io::Result<bool> {
    let failed =
        |frames: &mut FrameWriter<W>, reason: String| frames.failed(label, reason).map(|()| false);
    let Some(windows) = plan.warmup.checked_add(plan.samples) else {
        return failed(frames, "warmup + samples exceeds the window counter".into());
    };
    let min_window = Duration::from_millis(plan.min_window_ms);
    let calibrated = catch_unwind(AssertUnwindSafe(|| {
        harness::calibrate(workload, min_window)
    }));
    let iterations = match calibrated {
        Ok(Ok(window)) => window.iterations,
        Ok(Err(e)) => return failed(frames, format!("{metric}: {e}")),
        Err(payload) => {
            return failed(
                frames,
                format!("panicked while calibrating: {}", panics::message(&*payload)),
            )
        }
    };
    for index in 0..windows {
        let timed = catch_unwind(AssertUnwindSafe(|| {
            let window = harness::time_window(workload, iterations);
            (window, workload.value(window.iterations, window.elapsed))
        }));
        let (window, value) = match timed {
            Ok(timed) => timed,
            Err(payload) => {
                return failed(
                    frames,
                    format!("panicked in window {index}: {}", panics::message(&*payload)),
                )
            }
        };
        if !value.is_finite() {
            return failed(
                frames,
                format!(
                    "window {index} gave a non-finite {metric} ({value}) for {} iterations in {:?}",
                    window.iterations, window.elapsed
                ),
            );
        }
        frames.send(&sample(
            def,
            metric,
            label,
            index < plan.warmup,
            index,
            value,
            window,
        ))?;
    }
    Ok(true)
}

fn sample(
    def: &WorkloadDef,
    metric: &str,
    label: &str,
    warmup: bool,
    index: u32,
    value: f64,
    window: Window,
) -> Message {
    Message::Sample {
        workload: label.to_string(),
        metric: metric.to_string(),
        unit: def.unit.to_string(),
        better: def.better,
        warmup,
        index,
        value,
        iterations: window.iterations,
        elapsed_ns: window.elapsed_ns(),
    }
}
