//! Stressors: the aggressors of the isolation experiments (docs/architecture.md, "Isolation
//! experiments"). Each one loads one resource and reports its own work rate, so the host can
//! tell an aggressor that ran from one that was starved or died.
//!
//! A stressor runs in windows ([`drive`]): it is set up once, then loads its resource window
//! after window, its state (buffers, memory held, children, scratch file, connections) kept
//! from one to the next, and each window ends in one `Sample` (workload `stress-KIND`, metric
//! `throughput`, never a warm-up) written the moment the window ends: the host reads these as
//! the aggressor's heartbeat. It stops when its duration is over or when the stop flag is set
//! (SIGTERM or SIGINT, see [`stop`]), then cleans up (children reaped, scratch files removed,
//! connections closed) and reports what clean-up had to say. Two ways in:
//!
//! - `hvbench-agent --stress KIND --duration-ms N [--report-ms M] [--param k=v ...]`
//!   ([`crate::cli`], [`run_and_report`]): one window for the whole duration unless
//!   `--report-ms` asks for more, then `Done`;
//! - an agent plan with `stress` set ([`run_aggressor`]): an isolation cell's aggressor, in a
//!   guest or on a host, between the run's `Facts` and `Done`.
//!
//! Every stressor looks at its deadline and the stop flag at least every few milliseconds of
//! work, so it stops within ~100 ms.
//!
//! This file holds what every stressor shares and `Stressor::start`, which picks the kind's
//! implementation (one file per kind); running one in windows is in `driver`.

mod cache;
mod cpu;
mod disk;
mod driver;
mod fork_bomb;
mod mem_bandwidth;
mod memory_bomb;
mod net;
pub mod stop;
mod stress_ng;

pub use driver::{drive, run_aggressor, run_and_report, Schedule};

use crate::workloads::Env;
use hvbench_proto::catalog::{self, StressorDef};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The stressor kinds this agent implements, as spelled on the command line: those of
/// [`catalog::STRESSORS`], in its order (a test checks).
pub const KINDS: &[&str] = &[
    "cpu",
    "mem-bandwidth",
    "cache",
    "memory-bomb",
    "fork-bomb",
    "disk",
    "net",
    "stress-ng",
];

/// The metric every stressor reports.
pub const METRIC: &str = "throughput";

/// The longest duration accepted: a day.
pub const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;

/// The shortest report window accepted. Shorter windows would be mostly clock reads and
/// frames, and a guest's serial console could not carry their samples as fast as they come.
pub const MIN_REPORT_MS: u64 = 10;

const MIB: u64 = 1 << 20;

/// One stressor and its parameters, checked; defaults that depend on the machine (free
/// memory, the scratch directory) are resolved when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stressor {
    /// Spin an integer loop.
    Cpu,
    /// STREAM copy between two arrays of `size_mib` MiB each.
    MemBandwidth { size_mib: u64 },
    /// A random read-modify-write walk over a buffer of `size_mib` MiB.
    Cache { size_mib: u64 },
    /// Allocate and touch memory up to `max_mib` (default: 90% of MemAvailable).
    MemoryBomb { max_mib: Option<u64> },
    /// Fork children that exit at once, at most `max_children` alive at a time.
    ForkBomb { max_children: u64 },
    /// 1 MiB `O_DIRECT` writes cycling over a scratch file of `size_mib` MiB.
    Disk { size_mib: u64 },
    /// Bulk TCP to the plan's peer over `streams` connections.
    Net { streams: u64 },
    /// Debian's stress-ng from the tools tree running `stressor` (one of
    /// [`catalog::STRESS_NG_STRESSORS`]) with `instances` copies running.
    StressNg { stressor: String, instances: u32 },
}

/// The work one window of a stressor did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Units of work: operations, elements copied, pages touched, forks, MiB written, 128 KiB
    /// chunks sent.
    pub iterations: u64,
    /// The same work in the numerator of the stressor's unit (MB for MB/s, Mbit for Mbit/s).
    pub amount: f64,
}

impl Work {
    /// `amount` per second of `elapsed` (never divided by zero).
    pub fn rate(&self, elapsed: Duration) -> f64 {
        self.amount / elapsed.as_secs_f64().max(1e-9)
    }
}

/// A stressor that is set up and loading its resource. Dropping it also cleans up (an early
/// return must not leave children or files behind); [`Running::finish`] does so and says how
/// it went.
trait Running {
    /// Load the resource until `until` or until `stop` is set, and say what was done. Every
    /// stressor but `net` does at least one unit of work, however late it is called.
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String>;
    /// Diagnostics gathered since the last call, for `Log` frames.
    fn take_logs(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Stop for good: reap, remove, close. Returns diagnostics for `Log` frames. A stressor
    /// whose clean-up is its `Drop` has nothing to add.
    fn finish(self: Box<Self>) -> Vec<String> {
        Vec::new()
    }
}

/// Whether a window is over: its deadline has passed or the stressor was told to stop.
fn over(until: Instant, stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed) || Instant::now() >= until
}

/// Take `name` from `params` as an integer in the catalog's range for it, or `None` when
/// absent.
fn int_param(
    def: &StressorDef,
    params: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<u64>, String> {
    let Some(&(_, min, max)) = def.params.iter().find(|(n, ..)| *n == name) else {
        return Err(format!(
            "stress kind `{}` has no parameter `{name}` in the catalog (an agent bug)",
            def.kind
        ));
    };
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(format!(
            "bad parameter {name}={text}: want an integer from {min} to {max}"
        )),
    }
}

/// Take `name` from `params` as one of the catalog's names for it, or its default when absent.
fn choice_param(
    def: &StressorDef,
    params: &BTreeMap<String, String>,
    name: &str,
) -> Result<String, String> {
    let Some(&(_, choices, default)) = def.choices.iter().find(|(n, ..)| *n == name) else {
        return Err(format!(
            "stress kind `{}` has no parameter `{name}` in the catalog (an agent bug)",
            def.kind
        ));
    };
    match params.get(name).map(|v| v.trim()) {
        None => Ok(default.to_string()),
        Some(v) if choices.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(format!(
            "bad parameter {name}={v}: want one of {}",
            choices.join(", ")
        )),
    }
}

impl Stressor {
    /// Check a kind and its parameters against [`catalog::STRESSORS`]; absent parameters take
    /// this agent's defaults.
    pub fn from_args(kind: &str, params: &BTreeMap<String, String>) -> Result<Self, String> {
        let def = catalog::stressor(kind)
            .ok_or_else(|| format!("unknown stress kind `{kind}`; known: {}", KINDS.join(", ")))?;
        let names = def.param_names();
        if let Some(name) = params.keys().find(|k| !names.contains(&k.as_str())) {
            let takes = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            return Err(format!(
                "unknown parameter `{name}` for stress kind `{kind}` (it takes: {takes})"
            ));
        }
        let int = |name| int_param(def, params, name);
        Ok(match kind {
            "cpu" => Stressor::Cpu,
            "mem-bandwidth" => Stressor::MemBandwidth {
                size_mib: int("size_mib")?.unwrap_or(256),
            },
            "cache" => Stressor::Cache {
                size_mib: int("size_mib")?.unwrap_or(32),
            },
            "memory-bomb" => Stressor::MemoryBomb {
                max_mib: int("max_mib")?,
            },
            "fork-bomb" => Stressor::ForkBomb {
                max_children: int("max_children")?.unwrap_or(64),
            },
            "disk" => Stressor::Disk {
                size_mib: int("size_mib")?.unwrap_or(256),
            },
            "net" => Stressor::Net {
                streams: int("streams")?.unwrap_or(1),
            },
            "stress-ng" => Stressor::StressNg {
                stressor: choice_param(def, params, "stressor")?,
                // The catalog's range (1 to 4096) fits.
                instances: int("instances")?.map_or(1, |w| w as u32),
            },
            other => {
                return Err(format!(
                "stress kind `{other}` is in the catalog but not implemented by this agent ({})",
                crate::AGENT_VERSION
            ))
            }
        })
    }

    /// The kind, as spelled on the command line.
    pub fn kind(&self) -> &'static str {
        match self {
            Stressor::Cpu => "cpu",
            Stressor::MemBandwidth { .. } => "mem-bandwidth",
            Stressor::Cache { .. } => "cache",
            Stressor::MemoryBomb { .. } => "memory-bomb",
            Stressor::ForkBomb { .. } => "fork-bomb",
            Stressor::Disk { .. } => "disk",
            Stressor::Net { .. } => "net",
            Stressor::StressNg { .. } => "stress-ng",
        }
    }

    /// The `workload` of its frames: `stress-KIND`.
    pub fn label(&self) -> String {
        label(self.kind())
    }

    /// The unit of its `Sample` frames.
    pub fn unit(&self) -> &'static str {
        match self {
            Stressor::Cpu | Stressor::Cache { .. } => "ops/s",
            Stressor::MemBandwidth { .. } | Stressor::MemoryBomb { .. } | Stressor::Disk { .. } => {
                "MB/s"
            }
            Stressor::ForkBomb { .. } => "forks/s",
            Stressor::Net { .. } => "Mbit/s",
            Stressor::StressNg { .. } => "bogo-ops/s",
        }
    }

    /// Whether a window of no work measured nothing rather than a rate of 0: a stress-ng run
    /// counts at least one bogo-op once its stressor runs, so none means it never ran (cut
    /// short while starting); a `net` window that sent nothing is a real 0.
    pub fn zero_is_unmeasured(&self) -> bool {
        matches!(self, Stressor::StressNg { .. })
    }

    /// Set it up (allocate, open, connect); the error is a reason for a `Failed` frame.
    fn start(&self, env: &Env<'_>) -> Result<Box<dyn Running>, String> {
        Ok(match *self {
            Stressor::StressNg {
                ref stressor,
                instances,
            } => {
                let root = env.tools_root.ok_or(
                    "no tools tree: the platform gave this agent none (plan.tools_root is not set)",
                )?;
                Box::new(stress_ng::StressNg::new(root, stressor, instances)?)
            }
            Stressor::Cpu => Box::new(cpu::Cpu::new()),
            Stressor::MemBandwidth { size_mib } => {
                Box::new(mem_bandwidth::StreamCopy::new(size_mib)?)
            }
            Stressor::Cache { size_mib } => Box::new(cache::Walk::new(size_mib)?),
            Stressor::MemoryBomb { max_mib } => {
                let max_mib = match max_mib {
                    Some(m) => m,
                    None => memory_bomb::default_max_mib()?,
                };
                Box::new(memory_bomb::Bomb::new(max_mib))
            }
            Stressor::ForkBomb { max_children } => Box::new(fork_bomb::Bomb::new(max_children)),
            Stressor::Disk { size_mib } => {
                Box::new(disk::Hog::new(&scratch_base(), size_mib, true)?)
            }
            Stressor::Net { streams } => Box::new(net::Hog::new(env.peer, streams)?),
        })
    }
}

fn label(kind: &str) -> String {
    format!("stress-{kind}")
}

/// Where the disk stressor makes its private directory: `$HVBENCH_SCRATCH_DIR`, else
/// `/var/tmp`.
pub fn scratch_base() -> PathBuf {
    std::env::var_os("HVBENCH_SCRATCH_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::workloads::disk::DEFAULT_SCRATCH_BASE))
}

/// `size_mib` for each of `arrays` buffers, cut down so that together they take at most half
/// of MemAvailable: in a small guest the agent is PID 1, which the OOM killer cannot kill, so a
/// stressor that asked for more than the guest has would panic the guest's kernel instead of
/// loading its memory. The cut is said in `logs`.
fn fit_to_memory(size_mib: u64, arrays: u64, logs: &mut Vec<String>) -> u64 {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| crate::facts::meminfo_kib(&m, "MemAvailable"))
        .map(|kib| kib / 1024);
    fit(size_mib, arrays, available, logs)
}

fn fit(size_mib: u64, arrays: u64, available_mib: Option<u64>, logs: &mut Vec<String>) -> u64 {
    let Some(available) = available_mib else {
        return size_mib;
    };
    let cap = (available / 2 / arrays.max(1)).max(1);
    if size_mib > cap {
        logs.push(format!(
            "size_mib={size_mib} cut to {cap}: {arrays} x {size_mib} MiB would not leave half of the {available} MiB available"
        ));
        cap
    } else {
        size_mib
    }
}

/// A vector of `n` copies of `value`, or an error instead of an abort when memory is refused.
fn try_filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>, String> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| format!("cannot allocate {what}: {e}"))?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(test)]
mod tests;
