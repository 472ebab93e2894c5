//! The catalogue of comparisons: each row names an hvbench workload, the reference command
//! that measures the same quantity, how each side's figures combine, and whether the two are
//! comparable at all.

use super::parse::{
    cyclictest_avg, perf_memcpy_as_stream_copy, perf_usecs_per_op, stress_ng_fork,
    stress_ng_stream, sysbench_events, sysbench_speedup,
};
use serde_json::{json, Value};

/// How hard a row works: the full measurement, or the `--quick` smoke run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effort {
    Full,
    Quick,
}

impl Effort {
    /// Scale a loop count or duration down for a quick run.
    pub(super) fn n(self, full: u64) -> u64 {
        match self {
            Effort::Full => full,
            Effort::Quick => (full / 10).max(1),
        }
    }
}

/// One reference command: the program, the package it comes in, its arguments.
#[derive(Debug, Clone)]
pub(super) struct Tool {
    pub(super) program: &'static str,
    pub(super) package: &'static str,
    pub(super) args: Vec<String>,
}

impl Tool {
    fn new(program: &'static str, package: &'static str, args: &[&str]) -> Self {
        Tool {
            program,
            package,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub(super) fn command_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether the two sides measure the same quantity.
#[derive(Debug, Clone)]
pub(super) enum Kinship {
    /// The same quantity; the note says how the tool's figure was brought to hvbench's unit.
    Same { conversion: &'static str },
    /// Not the same quantity: both figures are shown, no ratio is judged, the note says why.
    Unlike { why: &'static str },
}

/// One row of the table.
pub(super) struct Row {
    /// What is compared, as the table names it.
    pub(super) name: String,
    /// The units of hvbench's and the reference's figures (the same for comparable rows).
    pub(super) unit: &'static str,
    pub(super) reference_unit: &'static str,
    /// Workloads for the agent, and how their medians make hvbench's figure.
    pub(super) hvbench: Vec<Value>,
    pub(super) combine_hvbench: fn(&[f64]) -> Option<f64>,
    /// Reference commands, and how their outputs make the reference figure (in `unit`).
    pub(super) tools: Vec<Tool>,
    pub(super) parse_reference: fn(&[String]) -> Option<f64>,
    pub(super) kinship: Kinship,
}

impl Row {
    pub(super) fn reference_line(&self) -> String {
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

fn agent_workload(name: &str, params: Value) -> Value {
    json!({"name": name, "params": params})
}

/// The table's rows, in print order. `llc_bytes` sizes the memory rows as STREAM asks (arrays
/// of 4x the last-level cache), the same on both sides.
pub(super) fn rows(effort: Effort, llc_bytes: u64, cpus: usize) -> Vec<Row> {
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
        syscall_row(effort),
        pipe_switch_row(effort),
        copy_row(copy_mib, copy_loops),
        cpu_speedup_row(cpus, sysbench_time),
        cpu_int_row(sysbench_time),
        timer_row(effort),
        fork_row(stress_time),
    ];
    if effort == Effort::Full {
        rows.push(stream_mix_row(stream_mib, llc_bytes));
    }
    rows
}

/// The `syscall` row: getppid(2) against `perf bench syscall basic`.
fn syscall_row(effort: Effort) -> Row {
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
    }
}

/// The `pipe-switch` row: a round trip between two processes against `perf bench sched pipe`.
fn pipe_switch_row(effort: Effort) -> Row {
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
    }
}

/// The STREAM copy row against `perf bench mem memcpy` over `copy_mib` MiB.
fn copy_row(copy_mib: u64, copy_loops: u64) -> Row {
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
            conversion: "perf: GB/sec is GiB (2^30) of bytes copied; STREAM counts read + write, \
                         so x 2^30 x 2 / 10^6",
        },
    }
}

/// The speedup of `cpus` threads over one, against sysbench's.
fn cpu_speedup_row(cpus: usize, sysbench_time: &str) -> Row {
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
    }
}

/// The `cpu-int` rate beside sysbench's events: not the same quantity.
fn cpu_int_row(sysbench_time: &str) -> Row {
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
    }
}

/// The overshoot of a 100 µs sleep against cyclictest.
fn timer_row(effort: Effort) -> Row {
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
    }
}

/// The `fork-exit` cost beside stress-ng's fork stressor: not the same quantity.
fn fork_row(stress_time: &str) -> Row {
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
    }
}

/// The four STREAM kernels combined against stress-ng's stream stressor, over `stream_mib` MiB
/// (arrays of 4x the last-level cache of `llc_bytes`).
fn stream_mix_row(stream_mib: u64, llc_bytes: u64) -> Row {
    Row {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
