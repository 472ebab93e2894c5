//! The hvbench agent: runs the workload battery and reports framed samples on stdout.
//!
//! The same static binary runs in two places:
//!
//! - **guest mode**, as `/init` (PID 1) of a guest initramfs: it mounts the pseudo file systems,
//!   reads [`plan::GUEST_PLAN_PATH`], runs it, writes frames on the console and powers off
//!   ([`guest::main`]);
//! - **host mode**, as a plain process: `hvbench-agent --plan FILE` ([`cli::main`]);
//! - **peer mode**, the far end of the network workloads: `hvbench-agent --peer 127.0.0.1:0`
//!   ([`peer::main`]), started by the platform driver for a trial.
//!
//! Either way one run writes `Hello`, `Facts`, the workloads' samples (or failures) and `Done`
//! ([`run::run_plan`]); an isolation experiment's aggressor (a plan with `stress`) writes its
//! stressor's periodic samples instead, until its duration is over or SIGTERM ([`stress`]). A
//! host that wants to run a plan in-process can call [`run::run_plan`] with any
//! [`std::io::Write`].

// A failing workload's panic is caught (`panics`, `harness`) so that PID 1 reports it and goes
// on; with `panic = "abort"` the guest would die instead, so refuse to build that way.
#[cfg(panic = "abort")]
compile_error!(
    "hvbench-agent must be built with panic = \"unwind\": as PID 1 in a guest it catches a \
     failing workload's panic to report it and go on (see the `panics` module)"
);

pub mod cli;
pub mod evidence;
pub mod facts;
pub mod frames;
pub mod guest;
pub mod harness;
pub mod kmod;
pub mod netif;
pub mod panics;
pub mod peer;
pub mod peer_tools;
pub mod plan;
pub mod run;
pub mod stress;
pub mod tools;
pub mod tools_disk;
pub mod workloads;

pub use frames::FrameWriter;
pub use plan::{parse_plan, read_plan, PlanError};
pub use run::{report_plan_failure, run_plan, RunSummary};

/// The version the agent reports in its `Hello` frame.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the agent runs: it changes how it starts and stops, never how it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of a guest: mounts, console and power-off are the agent's job.
    Guest,
    /// A plain process on a host.
    Host,
}

impl Mode {
    /// The spelling used in `Hello.mode` and the `agent.mode` fact.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Guest => "guest",
            Mode::Host => "host",
        }
    }

    /// The mode of this process: PID 1 is a guest's init (as in `main`), anything else a
    /// plain process on a host.
    pub fn current() -> Mode {
        if std::process::id() == 1 {
            Mode::Guest
        } else {
            Mode::Host
        }
    }
}
