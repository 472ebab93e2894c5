//! `hvbench selftest fidelity`: does each workload measure what the established tool measures?
//!
//! On this host, each workload runs side by side with the tool that measures the same quantity
//! (`perf bench`, `sysbench`, `stress-ng`, `cyclictest`), interleaved: several rounds, and in
//! each round both run back to back, the order alternating from round to round so that a drift
//! of the machine does not favour either side. The table gives both medians in hvbench's unit,
//! their ratio, and the spread of the per-round ratios. Where the tool's figure is defined
//! differently but convertibly (perf's memcpy GiB/s against STREAM's read+write MB/s) it is
//! converted, and the conversion is printed; where no tool measures the same quantity the row
//! says so instead of comparing unlike figures.
//!
//! hvbench's side is the embedded agent in host mode, exactly as `hvbench run` starts it.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hvbench_platform::cache::Cache;
use hvbench_proto::{Decoder, Event, Message, PLAN_VERSION};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The Debian packages that provide the reference tools, in the order rows use them.
pub const PACKAGES: &str = "linux-perf sysbench stress-ng rt-tests";

#[derive(Subcommand)]
pub enum Selftest {
    /// Run each workload beside the established tool that measures the same quantity on this
    /// host (perf bench, sysbench, stress-ng, cyclictest), interleaved, and print how far apart
    /// they are.
    Fidelity(FidelityArgs),
}

#[derive(Args)]
pub struct FidelityArgs {
    /// Rounds; in each, hvbench and the tool run back to back, the order alternating.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// A smoke run: one round, short windows and loops, and the stress-ng STREAM row (which
    /// needs 5 s) left out. Checks that everything runs; the numbers mean little.
    #[arg(long)]
    quick: bool,
    /// Only the rows whose workload column contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
    /// A comparable pair is "ok" when the ratio of medians is within this many percent of 1.
    #[arg(long, default_value_t = 5.0)]
    tolerance_pct: f64,
}

pub fn run(cmd: Selftest) -> Result<ExitCode> {
    match cmd {
        Selftest::Fidelity(args) => fidelity(&args),
    }
}

/// How hard a row works: the full measurement, or the `--quick` smoke run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effort {
    Full,
    Quick,
}

impl Effort {
    /// Scale a loop count or duration down for a quick run.
    fn n(self, full: u64) -> u64 {
        match self {
            Effort::Full => full,
            Effort::Quick => (full / 10).max(1),
        }
    }
}

/// One reference command: the program, the package it comes in, its arguments.
#[derive(Debug, Clone)]
struct Tool {
    program: &'static str,
    package: &'static str,
    args: Vec<String>,
}

impl Tool {
    fn new(program: &'static str, package: &'static str, args: &[&str]) -> Self {
        Tool {
            program,
            package,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn command_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether the two sides measure the same quantity.
#[derive(Debug, Clone)]
enum Kinship {
    /// The same quantity; the note says how the tool's figure was brought to hvbench's unit.
    Same { conversion: &'static str },
    /// Not the same quantity: both figures are shown, no ratio is judged, the note says why.
    Unlike { why: &'static str },
}

/// One row of the table.
struct Row {
    /// What is compared, as the table names it.
    name: String,
    /// The units of hvbench's and the reference's figures (the same for comparable rows).
    unit: &'static str,
    reference_unit: &'static str,
    /// Workloads for the agent, and how their medians make hvbench's figure.
    hvbench: Vec<Value>,
    combine_hvbench: fn(&[f64]) -> Option<f64>,
    /// Reference commands, and how their outputs make the reference figure (in `unit`).
    tools: Vec<Tool>,
    parse_reference: fn(&[String]) -> Option<f64>,
    kinship: Kinship,
}

impl Row {
    fn reference_line(&self) -> String {
        self.tools
            .iter()
            .map(Tool::command_line)
            .collect::<Vec<_>>()
            .join(" ; ")
    }
}

fn first(values: &[f64]) -> Option<f64> {
    values.first().copied()
}

/// The speedup of the all-CPU run over the one-thread run.
fn speedup(values: &[f64]) -> Option<f64> {
    match values {
        [one, all] if *one > 0.0 => Some(all / one),
        _ => None,
    }
}

/// STREAM bytes per element of copy, scale, add, triad (McCalpin's counting).
const STREAM_BYTES: [f64; 4] = [16.0, 16.0, 24.0, 24.0];

/// The rate of the four STREAM kernels run one after the other over the same arrays, as
/// stress-ng's stream stressor runs them: all bytes over all the time, which is the harmonic
/// combination of the four rates weighted by their bytes.
fn stream_mix(rates: &[f64]) -> Option<f64> {
    if rates.len() != 4 || rates.iter().any(|&r| r <= 0.0) {
        return None;
    }
    let bytes: f64 = STREAM_BYTES.iter().sum();
    let time: f64 = STREAM_BYTES.iter().zip(rates).map(|(b, r)| b / r).sum();
    Some(bytes / time)
}

/// A number that follows `key` on some line of `text` (`key` may be a prefix of the line's
/// text before the number, or the words just after it).
fn number_before(text: &str, suffix: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let before = line.trim().strip_suffix(suffix)?;
        before.split_whitespace().last()?.parse().ok()
    })
}

fn number_after(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()?.parse().ok()
    })
}

/// `perf bench syscall basic` / `sched pipe`: "N usecs/op" -> ns per op.
fn perf_usecs_per_op(outputs: &[String]) -> Option<f64> {
    number_before(outputs.first()?, "usecs/op").map(|us| us * 1e3)
}

/// `perf bench mem memcpy`: perf prints bytes copied per second with binary prefixes
/// (its print_bps divides by 1024 per step) under decimal-looking labels. STREAM counts a copy
/// as read + write: 2 x the bytes copied, in MB of 10^6 bytes.
fn perf_memcpy_as_stream_copy(outputs: &[String]) -> Option<f64> {
    let text = outputs.first()?;
    let scales = [
        ("GB/sec", 1u64 << 30),
        ("MB/sec", 1 << 20),
        ("KB/sec", 1 << 10),
        ("bytes/sec", 1),
    ];
    scales.iter().find_map(|(label, scale)| {
        number_before(text, label).map(|v| v * *scale as f64 * 2.0 / 1e6)
    })
}

/// `sysbench cpu`: "events per second: N".
fn sysbench_events(outputs: &[String]) -> Option<f64> {
    number_after(outputs.first()?, "events per second:")
}

fn sysbench_speedup(outputs: &[String]) -> Option<f64> {
    let one = number_after(outputs.first()?, "events per second:")?;
    let all = number_after(outputs.get(1)?, "events per second:")?;
    (one > 0.0).then(|| all / one)
}

/// `stress-ng --stream --metrics`: read + write rate, in stress-ng's MB (2^20 bytes: its `MB`
/// is 1024 x 1024), to MB/s of 10^6 bytes.
fn stress_ng_stream(outputs: &[String]) -> Option<f64> {
    let text = outputs.first()?;
    let read = number_before_words(text, "memory read rate")?;
    let write = number_before_words(text, "memory write rate")?;
    Some((read + write) * (1u64 << 20) as f64 / 1e6)
}

/// The number just before `words` on a `stress-ng: metrc:` line (0.15 writes
/// `stream 8693.73 memory read rate (MB per sec)`).
fn number_before_words(text: &str, words: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let at = line.find(words)?;
        line[..at].split_whitespace().last()?.parse().ok()
    })
}

/// `stress-ng --fork --metrics`: bogo ops/s (real time) -> µs per fork.
fn stress_ng_fork(outputs: &[String]) -> Option<f64> {
    let line = outputs
        .first()?
        .lines()
        .find(|l| l.contains("metrc:") && l.split_whitespace().nth(3) == Some("fork"))?;
    // stressor, bogo ops, real time, usr time, sys time, bogo ops/s (real time), ...
    let fields: Vec<&str> = line.split_whitespace().collect();
    let per_s: f64 = fields.get(8)?.parse().ok()?;
    (per_s > 0.0).then(|| 1e6 / per_s)
}

/// `cyclictest -q`: "... Avg:   21 Max: ..." in µs.
fn cyclictest_avg(outputs: &[String]) -> Option<f64> {
    number_after(outputs.first()?, "Avg:")
}

fn agent_workload(name: &str, params: Value) -> Value {
    json!({"name": name, "params": params})
}

/// The table's rows, in print order. `llc_bytes` sizes the memory rows as STREAM asks (arrays
/// of 4x the last-level cache), the same on both sides.
fn rows(effort: Effort, llc_bytes: u64, cpus: usize) -> Vec<Row> {
    let stream_mib = (4 * llc_bytes).div_ceil(1 << 20).max(1);
    let (copy_mib, copy_loops) = match effort {
        Effort::Full => (stream_mib, 10),
        Effort::Quick => (16, 2),
    };
    let sysbench_time = match effort {
        Effort::Full => "--time=3",
        Effort::Quick => "--time=1",
    };
    let stress_time = match effort {
        Effort::Full => "5",
        Effort::Quick => "1",
    };
    let mut rows = vec![
        Row {
            name: "syscall".into(),
            unit: "ns",
            reference_unit: "ns",
            hvbench: vec![agent_workload("syscall", json!({}))],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "perf",
                "linux-perf",
                &[
                    "bench",
                    "syscall",
                    "basic",
                    "--loop",
                    &effort.n(5_000_000).to_string(),
                ],
            )],
            parse_reference: perf_usecs_per_op,
            kinship: Kinship::Same {
                conversion: "perf: usecs/op x 1000; both time getppid(2)",
            },
        },
        Row {
            name: "pipe-switch".into(),
            unit: "ns",
            reference_unit: "ns",
            hvbench: vec![agent_workload("pipe-switch", json!({}))],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "perf",
                "linux-perf",
                &[
                    "bench",
                    "sched",
                    "pipe",
                    "--loop",
                    &effort.n(50_000).to_string(),
                ],
            )],
            parse_reference: perf_usecs_per_op,
            kinship: Kinship::Same {
                conversion: "perf: usecs/op (one op = one round trip between two processes) x 1000",
            },
        },
        Row {
            name: format!("mem-bandwidth copy, {copy_mib} MiB"),
            unit: "MB/s",
            reference_unit: "MB/s",
            hvbench: vec![agent_workload(
                "mem-bandwidth",
                json!({"kernel": "copy", "size_mib": copy_mib}),
            )],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "perf",
                "linux-perf",
                &[
                    "bench",
                    "mem",
                    "memcpy",
                    "-f",
                    "default",
                    "--size",
                    &format!("{copy_mib}MB"),
                    "--nr_loops",
                    &copy_loops.to_string(),
                ],
            )],
            parse_reference: perf_memcpy_as_stream_copy,
            kinship: Kinship::Same {
                conversion:
                    "perf: GB/sec is GiB (2^30) of bytes copied; STREAM counts read + write, \
                             so x 2^30 x 2 / 10^6",
            },
        },
        Row {
            name: format!("cpu-int speedup, {cpus} threads"),
            unit: "x",
            reference_unit: "x",
            hvbench: vec![
                agent_workload("cpu-int", json!({"threads": 1})),
                agent_workload("cpu-int", json!({"threads": 0})),
            ],
            combine_hvbench: speedup,
            tools: vec![
                Tool::new(
                    "sysbench",
                    "sysbench",
                    &["cpu", "--threads=1", sysbench_time, "run"],
                ),
                Tool::new(
                    "sysbench",
                    "sysbench",
                    &["cpu", &format!("--threads={cpus}"), sysbench_time, "run"],
                ),
            ],
            parse_reference: sysbench_speedup,
            kinship: Kinship::Same {
                conversion: "both: throughput with one thread per CPU / with one thread (a \
                             CPU-bound loop with no memory traffic)",
            },
        },
        Row {
            name: "cpu-int".into(),
            unit: "Mop/s",
            reference_unit: "events/s",
            hvbench: vec![agent_workload("cpu-int", json!({"threads": 1}))],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "sysbench",
                "sysbench",
                &["cpu", "--threads=1", sysbench_time, "run"],
            )],
            parse_reference: sysbench_events,
            kinship: Kinship::Unlike {
                why: "sysbench counts prime searches by trial division (events/s), hvbench \
                      dependent integer operations (Mop/s); only their speedups compare",
            },
        },
        Row {
            name: "timer-overshoot, 100 µs".into(),
            unit: "µs",
            reference_unit: "µs",
            hvbench: vec![agent_workload("timer-overshoot", json!({"sleep_us": 100}))],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "cyclictest",
                "rt-tests",
                &[
                    "--relative",
                    "--interval=100",
                    &format!("--loops={}", effort.n(20_000)),
                    "--quiet",
                    "--laptop",
                    "--priority=1",
                ],
            )],
            parse_reference: cyclictest_avg,
            kinship: Kinship::Same {
                conversion: "cyclictest: Avg latency of relative clock_nanosleep, µs (whole µs); \
                             it runs SCHED_FIFO (no timer slack), the agent SCHED_OTHER with \
                             1 ns slack; --laptop leaves cpu_dma_latency alone, as the agent does",
            },
        },
        Row {
            name: "fork-exit".into(),
            unit: "µs",
            reference_unit: "µs",
            hvbench: vec![agent_workload("fork-exit", json!({}))],
            combine_hvbench: first,
            tools: vec![Tool::new(
                "stress-ng",
                "stress-ng",
                &["--fork", "1", "--metrics", "--timeout", stress_time],
            )],
            parse_reference: stress_ng_fork,
            kinship: Kinship::Unlike {
                why: "fork's cost grows with the parent's mappings: stress-ng's parent is a \
                      large dynamically linked process that also does bookkeeping per fork, \
                      the agent a small static one",
            },
        },
    ];
    if effort == Effort::Full {
        rows.push(Row {
            name: format!("mem-bandwidth STREAM mix, {stream_mib} MiB"),
            unit: "MB/s",
            reference_unit: "MB/s",
            hvbench: ["copy", "scale", "add", "triad"]
                .iter()
                .map(|k| {
                    agent_workload(
                        "mem-bandwidth",
                        json!({"kernel": k, "size_mib": stream_mib}),
                    )
                })
                .collect(),
            combine_hvbench: stream_mix,
            tools: vec![Tool::new(
                "stress-ng",
                "stress-ng",
                &[
                    "--stream",
                    "1",
                    "--stream-l3-size",
                    &llc_bytes.to_string(),
                    "--metrics",
                    "--timeout",
                    "6",
                ],
            )],
            parse_reference: stress_ng_stream,
            kinship: Kinship::Same {
                conversion: "stress-ng: (read + write) MB/s with MB = 2^20, x 2^20 / 10^6; its \
                             loop runs copy, scale, add, triad in turn, so hvbench's four rates \
                             are combined as all bytes over all time",
            },
        });
    }
    rows
}

/// What one row measured over the rounds.
#[derive(Debug, Default)]
struct Outcome {
    hvbench: Vec<f64>,
    reference: Vec<f64>,
    /// Why the row has no figures, when it has none.
    skipped: Option<String>,
}

fn fidelity(args: &FidelityArgs) -> Result<ExitCode> {
    let effort = if args.quick {
        Effort::Quick
    } else {
        Effort::Full
    };
    let rounds = if args.quick { 1 } else { args.rounds.max(1) };
    let agent = hvbench_platform::agent::agent_path(&Cache::from_env())?;
    let llc = last_level_cache_bytes(Path::new("/sys"), 0).unwrap_or(16 << 20);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows: Vec<Row> = rows(effort, llc, cpus)
        .into_iter()
        .filter(|r| args.only.is_empty() || args.only.iter().any(|o| r.name.contains(o)))
        .collect();
    if rows.is_empty() {
        bail!("no row matches --only {:?}", args.only);
    }
    let mut outcomes: Vec<Outcome> = rows.iter().map(|_| Outcome::default()).collect();
    for (row, outcome) in rows.iter().zip(outcomes.iter_mut()) {
        if let Some(missing) = row.tools.iter().find(|t| find_program(t.program).is_none()) {
            outcome.skipped = Some(format!(
                "`{}` not found: apt-get install {}",
                missing.program, missing.package
            ));
        }
    }
    let window_ms = match effort {
        Effort::Full => 300,
        Effort::Quick => 20,
    };
    for round in 0..rounds {
        for (i, (row, outcome)) in rows.iter().zip(outcomes.iter_mut()).enumerate() {
            if outcome.skipped.is_some() {
                continue;
            }
            eprintln!("round {}/{rounds}: {}", round + 1, row.name);
            // Alternate which side goes first, by round (and by row, so that neighbours differ).
            let hvbench_first = (round as usize + i).is_multiple_of(2);
            let result = if hvbench_first {
                measure_hvbench(&agent, row, window_ms)
                    .and_then(|h| measure_reference(row).map(|r| (h, r)))
            } else {
                measure_reference(row)
                    .and_then(|r| measure_hvbench(&agent, row, window_ms).map(|h| (h, r)))
            };
            match result {
                Ok((h, r)) => {
                    outcome.hvbench.push(h);
                    outcome.reference.push(r);
                }
                Err(e) => outcome.skipped = Some(format!("{e:#}")),
            }
        }
    }
    print!(
        "{}",
        render(&rows, &outcomes, args.tolerance_pct, rounds, llc)
    );
    let missing: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| o.skipped.as_deref())
        .filter(|s| s.contains("not found"))
        .collect();
    if !missing.is_empty() {
        println!("\nSome tools are missing: apt-get install {PACKAGES}");
    }
    Ok(ExitCode::SUCCESS)
}

/// hvbench's figure for one round: one agent run of the row's workloads (1 warm-up and 3
/// measured windows each), each workload's median, combined.
fn measure_hvbench(agent: &Path, row: &Row, window_ms: u64) -> Result<f64> {
    let workloads: Vec<Value> = row
        .hvbench
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut w = w.clone();
            w["id"] = json!(format!("w{i}"));
            w
        })
        .collect();
    let plan = json!({
        "version": PLAN_VERSION,
        "warmup": 1,
        "samples": 3,
        "min_window_ms": window_ms,
        "workloads": workloads,
    });
    let mut child = Command::new(agent)
        .args(["--plan", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the agent {}", agent.display()))?;
    child
        .stdin
        .take()
        .context("agent stdin")?
        .write_all(plan.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the agent failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut decoder = Decoder::new();
    let mut events = decoder.push(&out.stdout);
    events.extend(decoder.finish());
    let mut per_workload: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    for event in events {
        match event {
            Event::Frame(Message::Sample {
                workload,
                warmup: false,
                value,
                ..
            }) => {
                let i: usize = workload
                    .strip_prefix('w')
                    .and_then(|n| n.parse().ok())
                    .context("a sample for a workload not asked for")?;
                per_workload[i].push(value);
            }
            Event::Frame(Message::Failed { workload, reason }) => {
                bail!("hvbench's {workload} failed: {reason}")
            }
            _ => {}
        }
    }
    let medians: Vec<f64> = per_workload
        .iter_mut()
        .map(|v| median(v))
        .collect::<Option<_>>()
        .context("the agent sent no samples")?;
    (row.combine_hvbench)(&medians).context("hvbench's figures do not combine")
}

/// The reference figure for one round: every tool command of the row, outputs parsed.
fn measure_reference(row: &Row) -> Result<f64> {
    let mut outputs = Vec::new();
    for tool in &row.tools {
        let out = Command::new(tool.program)
            .args(&tool.args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run `{}`", tool.command_line()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                tool.command_line(),
                out.status,
                last_lines(&text, 3)
            );
        }
        outputs.push(text);
    }
    (row.parse_reference)(&outputs).with_context(|| {
        format!(
            "cannot read a figure from `{}`: {}",
            row.reference_line(),
            last_lines(outputs.last().map_or("", String::as_str), 3)
        )
    })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// A program on PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The highest-level data or unified cache of `cpu`, from sysfs (as stress-ng and the agent
/// read it).
fn last_level_cache_bytes(sys: &Path, cpu: usize) -> Option<u64> {
    let dir = sys.join(format!("devices/system/cpu/cpu{cpu}/cache"));
    let mut best: Option<(u32, u64)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok();
        if read("type").is_some_and(|t| t.trim() == "Instruction") {
            continue;
        }
        let level = read("level").and_then(|l| l.trim().parse::<u32>().ok());
        let size = read("size").and_then(|s| {
            let s = s.trim();
            let (n, scale) = match s.strip_suffix('K') {
                Some(n) => (n, 1024),
                None => match s.strip_suffix('M') {
                    Some(n) => (n, 1 << 20),
                    None => (s, 1),
                },
            };
            n.parse::<u64>().ok().map(|n| n * scale)
        });
        if let (Some(level), Some(size)) = (level, size) {
            if best.is_none_or(|(l, _)| level > l) {
                best = Some((level, size));
            }
        }
    }
    best.map(|(_, size)| size)
}

/// The table, then the notes on what each reference figure is.
fn render(rows: &[Row], outcomes: &[Outcome], tolerance_pct: f64, rounds: u32, llc: u64) -> String {
    let mut table: Vec<[String; 8]> = vec![[
        "workload".into(),
        "reference (tool, command)".into(),
        "hvbench".into(),
        "reference".into(),
        "unit".into(),
        "ratio".into(),
        "per-round ratio".into(),
        "verdict".into(),
    ]];
    let (mut ok, mut comparable) = (0, 0);
    let mut notes = Vec::new();
    for (i, (row, o)) in rows.iter().zip(outcomes).enumerate() {
        let mark = format!("[{}]", i + 1);
        let fmt = |v: f64| format_value(v);
        let mut h = o.hvbench.clone();
        let mut r = o.reference.clone();
        let (hm, rm) = (median(&mut h), median(&mut r));
        let ratios: Vec<f64> = o
            .hvbench
            .iter()
            .zip(&o.reference)
            .map(|(a, b)| a / b)
            .collect();
        let spread = match (
            ratios.iter().copied().reduce(f64::min),
            ratios.iter().copied().reduce(f64::max),
        ) {
            (Some(lo), Some(hi)) => format!("{lo:.3}-{hi:.3}"),
            _ => "-".into(),
        };
        let (ratio, verdict) = match (&o.skipped, hm, rm, &row.kinship) {
            (Some(why), _, _, _) => ("-".to_string(), format!("skipped: {why}")),
            (None, Some(a), Some(b), Kinship::Same { .. }) => {
                comparable += 1;
                let q = a / b;
                let within = (q - 1.0).abs() * 100.0 <= tolerance_pct;
                ok += usize::from(within);
                (
                    format!("{q:.3}"),
                    if within {
                        format!("ok (within {tolerance_pct}%)")
                    } else {
                        format!("MISS (off by {:+.1}%)", (q - 1.0) * 100.0)
                    },
                )
            }
            (None, _, _, Kinship::Unlike { .. }) => {
                ("n/c".to_string(), "not the same quantity".to_string())
            }
            _ => ("-".to_string(), "no figures".to_string()),
        };
        let unit = if row.unit == row.reference_unit {
            row.unit.to_string()
        } else {
            format!("{} vs {}", row.unit, row.reference_unit)
        };
        table.push([
            format!("{} {mark}", row.name),
            row.reference_line(),
            hm.map_or("-".into(), fmt),
            rm.map_or("-".into(), fmt),
            unit,
            ratio,
            spread,
            verdict,
        ]);
        let note = match &row.kinship {
            Kinship::Same { conversion } => format!("{mark} {conversion}"),
            Kinship::Unlike { why } => format!("{mark} not comparable: {why}"),
        };
        notes.push(note);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "hvbench fidelity on this host: {rounds} round(s), hvbench and the reference back to \
         back in each, order alternating; last-level cache {} KiB\n\n",
        llc / 1024
    ));
    out.push_str(&markdown_table(&table));
    out.push('\n');
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{ok} of {comparable} comparable pairs within {tolerance_pct}%. Not compared, for want of a \
         tool measuring the same quantity: mem-latency, page-fault, mmap, clock-gettime, \
         fork-exec (stress-ng's exec stressor refuses root and execs a larger binary), futex-wake \
         (perf's futex benchmarks time the wake call, not the wake-up), cpu-float, cpuid, port-io.\n"
    ));
    out
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn markdown_table(rows: &[[String; 8]]) -> String {
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<String> {
        vec![text.to_string()]
    }

    #[test]
    fn perf_outputs_are_read_and_converted() {
        let syscall = "# Running 'syscall/basic' benchmark:\n# Executed 1000000 getppid() calls\n     Total time: 0.173 [sec]\n\n       0.173935 usecs/op\n        5749274 ops/sec\n";
        assert!((perf_usecs_per_op(&one(syscall)).unwrap() - 173.935).abs() < 1e-9);
        let memcpy = "# function 'default' (Default memcpy() provided by glibc)\n# Copying 64MB bytes ...\n\n       7.550498 GB/sec\n";
        let mbs = perf_memcpy_as_stream_copy(&one(memcpy)).unwrap();
        // 7.550498 GiB/s copied = 8107.2 MB/s copied; STREAM counts twice that.
        assert!(
            (mbs - 7.550498 * 1073741824.0 * 2.0 / 1e6).abs() < 1e-6,
            "{mbs}"
        );
    }

    #[test]
    fn sysbench_stress_ng_and_cyclictest_outputs_are_read() {
        let sb = |eps: &str| {
            format!("CPU speed:\n    events per second:  {eps}\n\nGeneral statistics:\n")
        };
        assert_eq!(sysbench_events(&one(&sb("4397.35"))), Some(4397.35));
        let s = sysbench_speedup(&[sb("1000"), sb("1950")]).unwrap();
        assert!((s - 1.95).abs() < 1e-12);
        let stream = "stress-ng: metrc: [15038] stream              8693.73 memory read rate (MB per sec) (geometic mean of 1 instances)\nstress-ng: metrc: [15038] stream              5795.82 memory write rate (MB per sec) (geometic mean of 1 instances)\n";
        let v = stress_ng_stream(&one(stream)).unwrap();
        assert!((v - (8693.73 + 5795.82) * 1.048576).abs() < 1e-6, "{v}");
        let fork = "stress-ng: metrc: [16371] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s CPU used per       RSS Max\nstress-ng: metrc: [16371] fork               4787      3.00      0.98      0.96      1595.63        2467.18        64.67          2596\n";
        assert!((stress_ng_fork(&one(fork)).unwrap() - 1e6 / 1595.63).abs() < 1e-9);
        let cyc =
            "T: 0 ( 1995) P: 1 I:100 C:  10000 Min:      8 Act:   26 Avg:   19 Max:     428\n";
        assert_eq!(cyclictest_avg(&one(cyc)), Some(19.0));
        assert_eq!(cyclictest_avg(&one("garbage")), None);
    }

    #[test]
    fn stream_mix_is_all_bytes_over_all_time() {
        // Equal rates combine to that rate.
        assert!((stream_mix(&[1000.0; 4]).unwrap() - 1000.0).abs() < 1e-9);
        // 80 bytes: 16/100 + 16/100 + 24/200 + 24/200 = 0.56 time units -> 142.857.
        let v = stream_mix(&[100.0, 100.0, 200.0, 200.0]).unwrap();
        assert!((v - 80.0 / 0.56).abs() < 1e-9);
        assert_eq!(stream_mix(&[1.0, 2.0]), None);
        assert_eq!(speedup(&[100.0, 190.0]), Some(1.9));
    }

    #[test]
    fn rows_say_what_they_compare() {
        let full = rows(Effort::Full, 32 << 20, 2);
        assert!(full.iter().any(|r| r.name.contains("STREAM mix, 128 MiB")));
        assert!(full
            .iter()
            .any(|r| r.reference_line().contains("--size 128MB")));
        let quick = rows(Effort::Quick, 32 << 20, 2);
        assert!(
            quick.len() < full.len(),
            "quick leaves the 5 s stress-ng row out"
        );
        let outcomes: Vec<Outcome> = quick
            .iter()
            .map(|_| Outcome {
                hvbench: vec![10.0, 11.0],
                reference: vec![10.0, 10.0],
                skipped: None,
            })
            .collect();
        let text = render(&quick, &outcomes, 5.0, 2, 32 << 20);
        assert!(text.contains("| syscall [1]"), "{text}");
        assert!(
            text.contains("MISS (off by +5.0%)") || text.contains("ok (within 5%)"),
            "{text}"
        );
        assert!(text.contains("n/c"), "{text}");
        assert!(text.contains("1.000-1.100"), "{text}");
    }
}
