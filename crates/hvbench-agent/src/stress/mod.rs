//! Stressors: the aggressors of the isolation experiments (DESIGN.md, "Isolation
//! experiments"). Each one loads one resource for a bounded time and reports its own work
//! rate, so the host can tell an aggressor that ran from one that was starved or died:
//! `hvbench-agent --stress KIND --duration-ms N [--param k=v ...]` ([`crate::cli`]) runs one
//! and prints `Log` frames (if any), one `Sample` (workload `stress-KIND`, metric
//! `throughput`, never a warm-up) and `Done`.
//!
//! Every stressor checks its deadline at least every few milliseconds of work, so it stops
//! within ~100 ms of the end of its duration, and cleans up after itself (children reaped,
//! scratch files removed, memory freed) before it returns.

mod cache;
mod cpu;
mod disk;
mod fork_bomb;
mod mem_bandwidth;
mod memory_bomb;

use crate::frames::FrameWriter;
use hvbench_proto::catalog::Better;
use hvbench_proto::Message;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The stressor kinds, as spelled on the command line.
pub const KINDS: &[&str] = &[
    "cpu",
    "mem-bandwidth",
    "cache",
    "memory-bomb",
    "fork-bomb",
    "disk",
];

/// The metric every stressor reports.
pub const METRIC: &str = "throughput";

/// The longest duration accepted: a day.
pub const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;

const MIB: u64 = 1 << 20;
/// The largest size parameter accepted, in MiB (1 TiB).
const MAX_SIZE_MIB: u64 = 1 << 20;

/// One stressor and its parameters, checked; defaults that depend on the machine (free
/// memory, the scratch directory) are resolved when it runs.
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
}

/// What one stressor run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The work rate, in `unit`.
    pub value: f64,
    pub unit: &'static str,
    /// Units of work done (operations, elements copied, pages touched, forks, MiB written).
    pub iterations: u64,
    /// How long the work phase lasted.
    pub elapsed: Duration,
    /// Diagnostics for `Log` frames.
    pub logs: Vec<String>,
}

impl Outcome {
    /// `amount` per second of `elapsed` (never divided by zero).
    fn rate(
        iterations: u64,
        amount: f64,
        elapsed: Duration,
        unit: &'static str,
        logs: Vec<String>,
    ) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Outcome {
            value: amount / secs,
            unit,
            iterations,
            elapsed,
            logs,
        }
    }
}

/// Take `name` from `params` as an integer in `min..=max`, or `default` when absent.
fn int_param(
    params: &mut BTreeMap<String, String>,
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, String> {
    let Some(text) = params.remove(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(format!(
            "bad parameter {name}={text}: want an integer from {min} to {max}"
        )),
    }
}

impl Stressor {
    /// Check a kind and its `--param` values; absent parameters take their defaults.
    pub fn from_args(kind: &str, params: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut params = params.clone();
        let (stressor, known): (Stressor, &[&str]) = match kind {
            "cpu" => (Stressor::Cpu, &[]),
            "mem-bandwidth" => (
                Stressor::MemBandwidth {
                    size_mib: int_param(&mut params, "size_mib", 1, MAX_SIZE_MIB)?.unwrap_or(256),
                },
                &["size_mib"],
            ),
            "cache" => (
                Stressor::Cache {
                    size_mib: int_param(&mut params, "size_mib", 1, MAX_SIZE_MIB)?.unwrap_or(32),
                },
                &["size_mib"],
            ),
            "memory-bomb" => (
                Stressor::MemoryBomb {
                    max_mib: int_param(&mut params, "max_mib", 1, MAX_SIZE_MIB)?,
                },
                &["max_mib"],
            ),
            "fork-bomb" => (
                Stressor::ForkBomb {
                    max_children: int_param(&mut params, "max_children", 1, 4096)?.unwrap_or(64),
                },
                &["max_children"],
            ),
            "disk" => (
                Stressor::Disk {
                    size_mib: int_param(&mut params, "size_mib", 1, MAX_SIZE_MIB)?.unwrap_or(256),
                },
                &["size_mib"],
            ),
            _ => {
                return Err(format!(
                    "unknown stress kind `{kind}`; known: {}",
                    KINDS.join(", ")
                ))
            }
        };
        if let Some(name) = params.keys().next() {
            let takes = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(format!(
                "unknown parameter `{name}` for stress kind `{kind}` (it takes: {takes})"
            ));
        }
        Ok(stressor)
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
        }
    }

    /// The `workload` of its `Sample` frame: `stress-KIND`.
    pub fn label(&self) -> String {
        format!("stress-{}", self.kind())
    }

    /// Run for `duration`, then clean up. The error is a reason for a `Failed` frame.
    pub fn run(&self, duration: Duration) -> Result<Outcome, String> {
        let until = Instant::now() + duration;
        match *self {
            Stressor::Cpu => Ok(cpu::run(until)),
            Stressor::MemBandwidth { size_mib } => mem_bandwidth::run(size_mib, until),
            Stressor::Cache { size_mib } => cache::run(size_mib, until),
            Stressor::MemoryBomb { max_mib } => {
                let max_mib = match max_mib {
                    Some(m) => m,
                    None => memory_bomb::default_max_mib()?,
                };
                Ok(memory_bomb::run(max_mib, until))
            }
            Stressor::ForkBomb { max_children } => Ok(fork_bomb::run(max_children, until).0),
            Stressor::Disk { size_mib } => disk::run(&scratch_base(), size_mib, true, until),
        }
    }
}

/// Where the disk stressor makes its private directory: `$HVBENCH_SCRATCH_DIR`, else
/// `/var/tmp`.
pub fn scratch_base() -> PathBuf {
    std::env::var_os("HVBENCH_SCRATCH_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::workloads::disk::DEFAULT_SCRATCH_BASE))
}

/// Run `stressor` for `duration` and write its frames: `Log`s, then one `Sample` (or one
/// `Failed`), then `Done`. Returns whether it ran.
pub fn run_and_report<W: Write>(
    stressor: &Stressor,
    duration: Duration,
    out: W,
) -> io::Result<bool> {
    let mut frames = FrameWriter::new(out);
    let label = stressor.label();
    let ran = match stressor.run(duration) {
        Ok(outcome) => {
            for line in &outcome.logs {
                frames.log(format!("{label}: {line}"))?;
            }
            frames.send(&Message::Sample {
                workload: label,
                metric: METRIC.to_string(),
                unit: outcome.unit.to_string(),
                better: Better::Higher,
                warmup: false,
                index: 0,
                value: outcome.value,
                iterations: outcome.iterations,
                elapsed_ns: u64::try_from(outcome.elapsed.as_nanos()).unwrap_or(u64::MAX),
            })?;
            true
        }
        Err(reason) => {
            frames.failed(&label, reason)?;
            false
        }
    };
    frames.done()?;
    Ok(ran)
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
mod tests {
    use super::*;
    use hvbench_proto::{Decoder, Event};

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kinds_and_params_are_checked() {
        for kind in KINDS {
            let s = Stressor::from_args(kind, &BTreeMap::new()).unwrap();
            assert_eq!(s.kind(), *kind);
            assert_eq!(s.label(), format!("stress-{kind}"));
        }
        assert_eq!(
            Stressor::from_args("mem-bandwidth", &BTreeMap::new()),
            Ok(Stressor::MemBandwidth { size_mib: 256 })
        );
        assert_eq!(
            Stressor::from_args("cache", &BTreeMap::new()),
            Ok(Stressor::Cache { size_mib: 32 })
        );
        assert_eq!(
            Stressor::from_args("fork-bomb", &args(&[("max_children", "8")])),
            Ok(Stressor::ForkBomb { max_children: 8 })
        );
        let e = Stressor::from_args("net", &BTreeMap::new()).unwrap_err();
        assert!(
            e.contains("unknown stress kind `net`") && e.contains("fork-bomb"),
            "{e}"
        );
        let e = Stressor::from_args("cpu", &args(&[("size_mib", "1")])).unwrap_err();
        assert!(e.contains("unknown parameter `size_mib`"), "{e}");
        let e = Stressor::from_args("disk", &args(&[("size_mib", "0")])).unwrap_err();
        assert!(e.contains("bad parameter size_mib=0"), "{e}");
        let e = Stressor::from_args("cache", &args(&[("size_mib", "lots")])).unwrap_err();
        assert!(e.contains("want an integer"), "{e}");
    }

    #[test]
    fn report_is_logs_then_one_sample_then_done() {
        let mut out = Vec::new();
        let ran = run_and_report(&Stressor::Cpu, Duration::from_millis(50), &mut out).unwrap();
        assert!(ran);
        let mut decoder = Decoder::new();
        let mut events = decoder.push(&out);
        events.extend(decoder.finish());
        let messages: Vec<Message> = events
            .into_iter()
            .map(|e| match e {
                Event::Frame(m) => m,
                Event::Bad { error, .. } => panic!("bad frame: {error}"),
            })
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        match &messages[0] {
            Message::Sample {
                workload,
                metric,
                better,
                warmup,
                value,
                ..
            } => {
                assert_eq!((workload.as_str(), metric.as_str()), ("stress-cpu", METRIC));
                assert_eq!((*better, *warmup), (Better::Higher, false));
                assert!(value.is_finite() && *value > 0.0);
            }
            m => panic!("not a sample: {m:?}"),
        }
        assert_eq!(
            messages[1],
            Message::Done {
                samples: 1,
                failures: 0
            }
        );
    }

    /// Check a stressor's outcome: a positive finite rate, and it stopped in time.
    pub(super) fn check(outcome: &Outcome, duration: Duration, started: Instant) {
        assert!(
            outcome.value.is_finite() && outcome.value > 0.0,
            "{outcome:?}"
        );
        assert!(outcome.iterations > 0, "{outcome:?}");
        let took = started.elapsed();
        assert!(
            took < duration + Duration::from_millis(400),
            "ran {took:?} for a {duration:?} duration"
        );
    }
}
