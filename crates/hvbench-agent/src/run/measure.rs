//! One workload of a run: set it up (its facts in a `Facts` frame), calibrate, then send its
//! warm-up and measured windows as `Sample` frames, one metric or each point of a curve;
//! set-up failures, panics and non-finite values become `Failed` frames.

use crate::evidence::{self, GuestCounters};
use crate::frames::FrameWriter;
use crate::harness::{self, Window};
use crate::panics;
use crate::workloads::{self, Workload};
use hvbench_proto::{AgentPlan, Message, WindowEdge, WorkloadDef, WorkloadRequest};
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
    if let Some(def) = hvbench_proto::catalog::workload(name)
        .filter(|d| d.class == hvbench_proto::WorkloadClass::General)
    {
        return super::tool::run_tool_workload(plan, def, request, frames);
    }
    let env = workloads::Env {
        peer: plan.peer.as_deref(),
        tools_root: plan.tools_root.as_deref(),
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
        // Nothing counts beside a measured window, not even the guest itself: with evidence on
        // or off, the measured windows and their frames are the same.
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
    if plan.evidence && plan.samples > 0 {
        // At least COUNTED_WINDOW_MS long, whatever the plan's window: a tracer that takes
        // a moment to start (xentrace) must still see most of it. Counters are rates, so the
        // longer window changes no figure per operation.
        let scale = COUNTED_WINDOW_MS.div_ceil(plan.min_window_ms.max(1)).max(1);
        let counted_iterations = iterations.saturating_mul(scale);
        let lead = LEAD_IN_MS.div_ceil(plan.min_window_ms.max(1)).max(1);
        let lead_iterations = iterations.saturating_mul(lead);
        counted_window(
            label,
            metric,
            windows,
            (lead_iterations, counted_iterations),
            workload,
            frames,
        )?;
    }
    Ok(true)
}

/// The shortest counted window, in milliseconds (see [`counted_window`]).
const COUNTED_WINDOW_MS: u64 = 500;

/// How long the workload runs between the counted window's opening mark and its timed part,
/// in milliseconds (see [`counted_window`]).
const LEAD_IN_MS: u64 = 500;

/// Evidence: one more window after the measured ones, marked at both edges so that whatever
/// counts on the machine that runs the guest (VM exits, hypervisor traces) counts beside it
/// and never beside a measured window. Its own measurement goes out as `Counters` from
/// `counted` (never as a sample, so that it never enters the results; against the samples it
/// says what counting cost), then the guest's steal time over it. A window that panics or
/// gives no finite value sends its marks only.
///
/// Between the opening mark and the timed part the workload already runs, untimed, for
/// `lead_in` iterations (about [`LEAD_IN_MS`]): a tracer that starts late after the mark
/// (`xentrace` in a busy dom0 took most of a 0.47 s window once in the lab, and its trace held
/// no exit of the workload) still starts while the workload runs. Counters are rates over the
/// span the tracer saw, so the lead-in, running the same loop, changes no figure per operation.
fn counted_window<W: Write>(
    label: &str,
    metric: &str,
    index: u32,
    (lead_in, iterations): (u64, u64),
    workload: &mut dyn Workload,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let mark = |frames: &mut FrameWriter<W>, edge: WindowEdge| {
        frames.send(&Message::Window {
            workload: label.to_string(),
            metric: metric.to_string(),
            index,
            edge,
        })
    };
    mark(frames, WindowEdge::Begin)?;
    // The mark's bytes leave the console before the window starts, not inside it.
    evidence::drain_console();
    if catch_unwind(AssertUnwindSafe(|| harness::time_window(workload, lead_in))).is_err() {
        return mark(frames, WindowEdge::End);
    }
    let before = GuestCounters::read();
    let timed = catch_unwind(AssertUnwindSafe(|| {
        let window = harness::time_window(workload, iterations);
        (window, workload.value(window.iterations, window.elapsed))
    }));
    let after = GuestCounters::read();
    mark(frames, WindowEdge::End)?;
    let Ok((window, value)) = timed else {
        return Ok(());
    };
    if !value.is_finite() {
        return Ok(());
    }
    let values = [
        ("value", value),
        ("iterations", window.iterations as f64),
        ("elapsed_ns", window.elapsed_ns() as f64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let counters = |source: &str, values| Message::Counters {
        workload: label.to_string(),
        metric: metric.to_string(),
        index,
        source: source.to_string(),
        span_ns: window.elapsed_ns(),
        values,
    };
    frames.send(&counters("counted", values))?;
    frames.send(&counters("guest", before.since(&after)))
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
