//! One agent run: `Hello`, `Facts`, each workload's windows (or its failure), `Done`. An
//! aggressor's run (a plan with `stress`) has its stressor's windows instead ([`crate::stress`]).
//! This file holds the run's frame order; one workload's set-up and measured windows are in
//! `measure`.

pub(crate) mod chroot;
mod compile;
mod measure;
mod oltp;
pub(crate) mod tool;

use crate::frames::FrameWriter;
use crate::{facts, stress, Mode, AGENT_VERSION};
use hvbench_proto::{AgentPlan, Message};
use measure::run_workload;
use std::io::{self, Write};

/// The counts of the closing `Done` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// `Sample` frames sent, warm-up windows included.
    pub samples: u32,
    /// `Failed` frames sent.
    pub failures: u32,
}

/// Run a whole plan, writing every frame to `out`. A workload that fails is reported and the
/// run goes on; only an error writing `out` ends it early.
pub fn run_plan<W: Write>(plan: &AgentPlan, mode: Mode, out: W) -> io::Result<RunSummary> {
    let mut frames = FrameWriter::new(out);
    start(mode, &mut frames)?;
    run_planned(plan, &mut frames)?;
    finish(&mut frames)
}

/// The frames of a run whose plan could not be used: `Hello`, `Facts`, a `Failed` frame for
/// the workload `"plan"` with `reason`, and `Done`.
pub fn report_plan_failure<W: Write>(mode: Mode, reason: &str, out: W) -> io::Result<RunSummary> {
    let mut frames = FrameWriter::new(out);
    start(mode, &mut frames)?;
    frames.failed("plan", reason)?;
    finish(&mut frames)
}

/// The opening frames: `Hello` and `Facts`.
pub fn start<W: Write>(mode: Mode, frames: &mut FrameWriter<W>) -> io::Result<()> {
    frames.send(&Message::Hello {
        agent_version: AGENT_VERSION.to_string(),
        mode: mode.as_str().to_string(),
    })?;
    frames.send(&Message::Facts {
        facts: facts::collect(mode),
    })
}

/// What the plan asks for between `Facts` and `Done`: its stressor, until its duration is
/// over or [`stress::stop::flag`] is set, when it is an aggressor's plan (its workloads, if
/// any, are ignored); otherwise its workloads. Installing the signal handlers that set the
/// flag is the caller's ([`stress::stop::install_handlers`]).
pub fn run_planned<W: Write>(plan: &AgentPlan, frames: &mut FrameWriter<W>) -> io::Result<()> {
    match &plan.stress {
        Some(aggressor) => stress::run_aggressor(
            aggressor,
            &crate::workloads::Env {
                peer: plan.peer.as_deref(),
                tools_root: plan.tools_root.as_deref(),
            },
            stress::stop::flag(),
            frames,
        ),
        None => run_workloads(plan, frames),
    }
}

/// Every workload of the plan, in order.
pub fn run_workloads<W: Write>(plan: &AgentPlan, frames: &mut FrameWriter<W>) -> io::Result<()> {
    for request in &plan.workloads {
        run_workload(plan, request, frames)?;
    }
    Ok(())
}

/// The closing `Done` frame.
pub fn finish<W: Write>(frames: &mut FrameWriter<W>) -> io::Result<RunSummary> {
    frames.done()?;
    Ok(RunSummary {
        samples: frames.samples(),
        failures: frames.failures(),
    })
}

#[cfg(test)]
mod tests;
