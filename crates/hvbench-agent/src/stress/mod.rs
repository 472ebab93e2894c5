//! Stressors: the aggressors of the isolation experiments (DESIGN.md, "Isolation
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

mod cache;
mod cpu;
mod disk;
mod fork_bomb;
mod mem_bandwidth;
mod memory_bomb;
mod net;
pub mod stop;

use crate::frames::FrameWriter;
use crate::panics;
use crate::workloads::Env;
use hvbench_proto::catalog::{self, Better, StressorDef};
use hvbench_proto::{Message, StressPlan};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    /// Stop for good: reap, remove, close. Returns diagnostics for `Log` frames.
    fn finish(self: Box<Self>) -> Vec<String>;
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

impl Stressor {
    /// Check a kind and its parameters against [`catalog::STRESSORS`]; absent parameters take
    /// this agent's defaults.
    pub fn from_args(kind: &str, params: &BTreeMap<String, String>) -> Result<Self, String> {
        let def = catalog::stressor(kind)
            .ok_or_else(|| format!("unknown stress kind `{kind}`; known: {}", KINDS.join(", ")))?;
        if let Some(name) = params
            .keys()
            .find(|k| !def.params.iter().any(|(n, ..)| n == k))
        {
            let takes = if def.params.is_empty() {
                "none".to_string()
            } else {
                let names: Vec<&str> = def.params.iter().map(|(n, ..)| *n).collect();
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
        }
    }

    /// Set it up (allocate, open, connect); the error is a reason for a `Failed` frame.
    fn start(&self, env: &Env<'_>) -> Result<Box<dyn Running>, String> {
        Ok(match *self {
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
    fn window_end(&self, first: Instant, now: Instant, end: Instant) -> Instant {
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
fn drive_started<W: Write>(
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
/// `stress-KIND` with the reason), then [`drive`] it. `peer` is the plan's, for `net`.
pub fn run_aggressor<W: Write>(
    plan: &StressPlan,
    peer: Option<&str>,
    stop: &AtomicBool,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let checked = Stressor::from_args(&plan.kind, &plan.params)
        .and_then(|stressor| Ok((stressor, Schedule::from_plan(plan)?)));
    match checked {
        Ok((stressor, schedule)) => {
            drive(&stressor, &Env { peer }, schedule, stop, frames).map(drop)
        }
        Err(reason) => frames.failed(&label(&plan.kind), reason),
    }
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
mod tests {
    use super::*;
    use hvbench_proto::{Decoder, Event};
    use std::sync::Arc;

    #[test]
    fn buffers_are_cut_to_half_the_available_memory() {
        let mut logs = Vec::new();
        assert_eq!(fit(256, 2, Some(300), &mut logs), 75);
        assert!(logs[0].contains("cut to 75"), "{logs:?}");
        assert_eq!(fit(32, 1, Some(300), &mut logs), 32);
        assert_eq!(fit(256, 2, None, &mut logs), 256);
        assert_eq!(logs.len(), 1);
    }

    /// Run one window of `d` on `running` and check it: work was done, and the window ended
    /// on time.
    pub(super) fn check(running: &mut dyn Running, d: Duration) -> Work {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let work = running.window(started + d, &stop).unwrap();
        let took = started.elapsed();
        assert!(
            took >= d && took < d + Duration::from_millis(300),
            "a {d:?} window took {took:?}"
        );
        assert!(
            work.iterations > 0 && work.amount > 0.0 && work.rate(took).is_finite(),
            "{work:?}"
        );
        work
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub(super) fn decode(bytes: &[u8]) -> Vec<Message> {
        let mut decoder = Decoder::new();
        let mut events = decoder.push(bytes);
        events.extend(decoder.finish());
        events
            .into_iter()
            .map(|e| match e {
                Event::Frame(m) => m,
                Event::Bad { error, .. } => panic!("bad frame: {error}"),
            })
            .collect()
    }

    /// The (index, unit, value, iterations, elapsed) of every sample, checking the fields
    /// every stressor sample shares.
    fn samples(messages: &[Message], kind: &str) -> Vec<(u32, String, f64, u64, u64)> {
        messages
            .iter()
            .filter_map(|m| match m {
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
                    assert_eq!(workload, &format!("stress-{kind}"));
                    assert_eq!(metric, METRIC);
                    assert_eq!((*better, *warmup), (Better::Higher, false));
                    assert!(value.is_finite() && *value >= 0.0, "{m:?}");
                    Some((*index, unit.clone(), *value, *iterations, *elapsed_ns))
                }
                _ => None,
            })
            .collect()
    }

    fn run(stressor: &Stressor, schedule: Schedule, stop: &AtomicBool) -> Vec<Message> {
        let mut out = Vec::new();
        run_and_report(stressor, &Env::default(), schedule, stop, &mut out).unwrap();
        decode(&out)
    }

    fn millis(duration: u64, report: Option<u64>) -> Schedule {
        Schedule {
            duration: Duration::from_millis(duration),
            report: report.map(Duration::from_millis),
        }
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
        assert_eq!(
            Stressor::from_args("net", &BTreeMap::new()),
            Ok(Stressor::Net { streams: 1 })
        );
        let e = Stressor::from_args("network", &BTreeMap::new()).unwrap_err();
        assert!(
            e.contains("unknown stress kind `network`") && e.contains("fork-bomb, disk, net"),
            "{e}"
        );
        let e = Stressor::from_args("cpu", &args(&[("size_mib", "1")])).unwrap_err();
        assert!(
            e.contains("unknown parameter `size_mib`") && e.contains("takes: none"),
            "{e}"
        );
        let e = Stressor::from_args("disk", &args(&[("size_mib", "0")])).unwrap_err();
        assert!(e.contains("bad parameter size_mib=0"), "{e}");
        let e = Stressor::from_args("cache", &args(&[("size_mib", "lots")])).unwrap_err();
        assert!(e.contains("want an integer"), "{e}");
    }

    #[test]
    fn kinds_and_params_match_the_catalog() {
        let catalog_kinds: Vec<&str> = catalog::STRESSORS.iter().map(|s| s.kind).collect();
        assert_eq!(KINDS, catalog_kinds.as_slice());
        for def in catalog::STRESSORS {
            let s = Stressor::from_args(def.kind, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{}: {e}", def.kind));
            assert_eq!(s.kind(), def.kind);
            for &(name, min, max) in def.params {
                for ok in [min, max] {
                    let given = args(&[(name, &ok.to_string())]);
                    assert!(
                        Stressor::from_args(def.kind, &given).is_ok(),
                        "{} {name}={ok}",
                        def.kind
                    );
                }
                let mut beyond = vec![max + 1];
                if min > 0 {
                    beyond.push(min - 1);
                }
                for bad in beyond {
                    let given = args(&[(name, &bad.to_string())]);
                    let e = Stressor::from_args(def.kind, &given).unwrap_err();
                    assert!(e.contains(&format!("{min} to {max}")), "{e}");
                }
            }
        }
    }

    #[test]
    fn one_window_without_a_report_period() {
        let stop = AtomicBool::new(false);
        let messages = run(&Stressor::Cpu, millis(50, None), &stop);
        assert_eq!(messages.len(), 2, "{messages:?}");
        let s = samples(&messages, "cpu");
        assert_eq!(s.len(), 1);
        let (index, unit, value, iterations, elapsed_ns) = &s[0];
        assert_eq!((*index, unit.as_str()), (0, "ops/s"));
        assert!(*value > 0.0 && *iterations > 0 && *elapsed_ns > 0);
        assert_eq!(
            messages[1],
            Message::Done {
                samples: 1,
                failures: 0
            }
        );
    }

    #[test]
    fn periodic_windows_each_report_their_own_rate() {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let messages = run(&Stressor::Cpu, millis(1200, Some(300)), &stop);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1200) && took < Duration::from_millis(1600),
            "{took:?}"
        );
        let s = samples(&messages, "cpu");
        assert!((3..=5).contains(&s.len()), "{messages:?}");
        for (i, (index, _, value, iterations, elapsed_ns)) in s.iter().enumerate() {
            assert_eq!(*index as usize, i);
            assert!(*value > 0.0 && *iterations > 0);
            // Each sample is one window, not the run so far.
            assert!(*elapsed_ns < 500_000_000, "window {i}: {elapsed_ns} ns");
        }
        assert_eq!(
            messages.last(),
            Some(&Message::Done {
                samples: s.len() as u32,
                failures: 0
            })
        );
    }

    #[test]
    fn windows_end_on_the_report_grid() {
        let schedule = millis(1000, Some(300));
        let first = Instant::now();
        let end = first + schedule.duration;
        let at = |ms| first + Duration::from_millis(ms);
        assert_eq!(schedule.window_end(first, first, end), at(300));
        // A window that ran late ends on the next grid line, not 300 ms after its start.
        assert_eq!(schedule.window_end(first, at(310), end), at(600));
        assert_eq!(schedule.window_end(first, at(650), end), at(900));
        assert_eq!(schedule.window_end(first, at(950), end), end);
        assert_eq!(millis(1000, None).window_end(first, at(10), end), end);
    }

    /// Stop `stressor`, running on a long schedule, `after` into its run; returns its frames
    /// and how long it took to stop.
    fn stopped_after(
        stressor: &Stressor,
        report: Option<u64>,
        after: Duration,
    ) -> (Vec<Message>, Duration) {
        stopped_after_start(stressor, || stressor.start(&Env::default()), report, after)
    }

    /// [`stopped_after`], set up by `start`.
    pub(super) fn stopped_after_start(
        stressor: &Stressor,
        start: impl FnOnce() -> Result<Box<dyn Running>, String>,
        report: Option<u64>,
        after: Duration,
    ) -> (Vec<Message>, Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let setter = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                stop.store(true, Ordering::Relaxed);
                Instant::now()
            })
        };
        let mut out = Vec::new();
        let mut frames = FrameWriter::new(&mut out);
        drive_started(stressor, start, millis(60_000, report), &stop, &mut frames).unwrap();
        frames.done().unwrap();
        let returned = Instant::now();
        let set_at = setter.join().unwrap();
        (decode(&out), returned.saturating_duration_since(set_at))
    }

    #[test]
    fn the_stop_flag_ends_a_long_run_soon() {
        for stressor in [
            Stressor::Cpu,
            Stressor::Cache { size_mib: 2 },
            Stressor::MemBandwidth { size_mib: 4 },
            Stressor::MemoryBomb { max_mib: Some(64) },
            Stressor::ForkBomb { max_children: 4 },
        ] {
            let (messages, lag) = stopped_after(&stressor, Some(100), Duration::from_millis(250));
            assert!(lag < Duration::from_millis(300), "{stressor:?}: {lag:?}");
            let s = samples(&messages, stressor.kind());
            assert!(!s.is_empty(), "{stressor:?}: {messages:?}");
            assert!(s.iter().all(|(_, unit, ..)| unit == stressor.unit()));
            assert_eq!(
                messages.last(),
                Some(&Message::Done {
                    samples: s.len() as u32,
                    failures: 0
                }),
                "{stressor:?}"
            );
        }
    }

    fn aggressor(plan: &StressPlan, peer: Option<&str>) -> Vec<Message> {
        let mut out = Vec::new();
        let mut frames = FrameWriter::new(&mut out);
        run_aggressor(plan, peer, &AtomicBool::new(false), &mut frames).unwrap();
        frames.done().unwrap();
        decode(&out)
    }

    fn stress_plan(kind: &str, params: &[(&str, &str)], duration_ms: u64) -> StressPlan {
        StressPlan {
            kind: kind.into(),
            params: args(params),
            duration_ms,
            report_ms: 50,
        }
    }

    #[test]
    fn a_bad_aggressor_plan_is_one_failure() {
        let bad = [
            (stress_plan("network", &[], 100), "unknown stress kind"),
            (stress_plan("cpu", &[("x", "1")], 100), "unknown parameter"),
            (
                stress_plan("cache", &[("size_mib", "0")], 100),
                "bad parameter",
            ),
            (stress_plan("cpu", &[], 0), "bad duration_ms 0"),
            (
                StressPlan {
                    report_ms: 0,
                    ..stress_plan("cpu", &[], 100)
                },
                "bad report_ms 0",
            ),
            (stress_plan("net", &[], 100), "no network peer"),
        ];
        for (plan, want) in bad {
            let messages = aggressor(&plan, None);
            assert_eq!(messages.len(), 2, "{messages:?}");
            match &messages[0] {
                Message::Failed { workload, reason } => {
                    assert_eq!(workload, &format!("stress-{}", plan.kind));
                    assert!(reason.contains(want), "{reason}");
                }
                m => panic!("not a failure: {m:?}"),
            }
            assert_eq!(
                messages[1],
                Message::Done {
                    samples: 0,
                    failures: 1
                }
            );
        }
    }

    #[test]
    fn an_aggressor_plan_sends_periodic_samples() {
        let messages = aggressor(&stress_plan("cache", &[("size_mib", "1")], 230), None);
        let s = samples(&messages, "cache");
        assert!((3..=6).contains(&s.len()), "{messages:?}");
        assert!(s.iter().enumerate().all(|(i, w)| w.0 as usize == i));
    }
}
