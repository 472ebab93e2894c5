//! sysbench 1.0.20 (Debian 12), its `cpu`, `memory` and `threads` tests, text output.
//!
//! Output format: the report sysbench 1.0 prints at the end of a run (sysbench's README, "General
//! command line options" and the per-test options; the layout as in `fixtures/sysbench-*.txt`):
//! a `General statistics:` section (`total time:`, `total number of events:`), `Latency (ms):`
//! (`avg:`, `95th percentile:`) and last `Threads fairness:` (`execution time (avg/stddev):`),
//! which is how a report that is whole is told from one cut short. `cpu` adds `events per
//! second:`; `memory` adds `Total operations: N (R per second)` and `X MiB transferred (R
//! MiB/sec)`. Errors are lines starting `FATAL:`.

use super::{check_range, first_line, number, positive, ToolError, ToolMetric};
use hvbench_proto::catalog::Better;

const TOOL: &str = "sysbench";

/// `sysbench memory --memory-oper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryOper {
    Read,
    #[default]
    Write,
}

/// Which test, with its own options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysbenchTest {
    /// `--cpu-max-prime` (sysbench's default 10000).
    Cpu { max_prime: u32 },
    /// `--memory-block-size` in KiB (sysbench's default 1), `--memory-total-size` in MiB
    /// (default 102400, so that the time limit ends the run), `--memory-oper`.
    Memory {
        block_size_kib: u32,
        total_size_mib: u64,
        oper: MemoryOper,
    },
    /// `--thread-yields` (default 1000), `--thread-locks` (default 8).
    Threads { yields: u32, locks: u32 },
}

/// Which of the three reports [`parse`] expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysbenchKind {
    Cpu,
    Memory,
    Threads,
}

impl SysbenchTest {
    pub fn cpu() -> Self {
        SysbenchTest::Cpu { max_prime: 10_000 }
    }
    pub fn memory() -> Self {
        SysbenchTest::Memory {
            block_size_kib: 1,
            total_size_mib: 102_400,
            oper: MemoryOper::Write,
        }
    }
    pub fn threads() -> Self {
        SysbenchTest::Threads {
            yields: 1000,
            locks: 8,
        }
    }
    pub fn kind(&self) -> SysbenchKind {
        match self {
            SysbenchTest::Cpu { .. } => SysbenchKind::Cpu,
            SysbenchTest::Memory { .. } => SysbenchKind::Memory,
            SysbenchTest::Threads { .. } => SysbenchKind::Threads,
        }
    }
}

/// One sysbench run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysbenchParams {
    pub test: SysbenchTest,
    /// `--time`, seconds. Default 10.
    pub time_s: u32,
    /// `--threads`. Default 1.
    pub threads: u32,
}

impl SysbenchParams {
    /// The defaults of `test`: 10 s, one thread.
    pub fn new(test: SysbenchTest) -> Self {
        SysbenchParams {
            test,
            time_s: 10,
            threads: 1,
        }
    }

    /// The command line, `sysbench` first. `--events=0`: the time alone ends the run.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        check_range(TOOL, "time_s", self.time_s, 1, 86_400)?;
        check_range(TOOL, "threads", self.threads, 1, 4096)?;
        let name = match self.test {
            SysbenchTest::Cpu { .. } => "cpu",
            SysbenchTest::Memory { .. } => "memory",
            SysbenchTest::Threads { .. } => "threads",
        };
        let mut argv = vec![
            "sysbench".to_string(),
            name.to_string(),
            format!("--time={}", self.time_s),
            format!("--threads={}", self.threads),
            "--events=0".to_string(),
        ];
        match self.test {
            SysbenchTest::Cpu { max_prime } => {
                check_range(TOOL, "cpu max_prime", max_prime, 3, 100_000_000)?;
                argv.push(format!("--cpu-max-prime={max_prime}"));
            }
            SysbenchTest::Memory {
                block_size_kib,
                total_size_mib,
                oper,
            } => {
                check_range(
                    TOOL,
                    "memory block_size_kib",
                    block_size_kib,
                    1,
                    1024 * 1024,
                )?;
                check_range(TOOL, "memory total_size_mib", total_size_mib, 1, 1 << 40)?;
                if u64::from(block_size_kib) > total_size_mib * 1024 {
                    return Err(super::param_error(
                        TOOL,
                        "memory block_size_kib",
                        format!("{block_size_kib} KiB is more than the total size, {total_size_mib} MiB"),
                    ));
                }
                argv.push(format!("--memory-block-size={block_size_kib}K"));
                argv.push(format!("--memory-total-size={total_size_mib}M"));
                let oper = match oper {
                    MemoryOper::Read => "read",
                    MemoryOper::Write => "write",
                };
                argv.push(format!("--memory-oper={oper}"));
            }
            SysbenchTest::Threads { yields, locks } => {
                check_range(TOOL, "threads yields", yields, 1, 1_000_000)?;
                check_range(TOOL, "threads locks", locks, 1, 1_000_000)?;
                argv.push(format!("--thread-yields={yields}"));
                argv.push(format!("--thread-locks={locks}"));
            }
        }
        argv.push("run".to_string());
        Ok(argv)
    }
}

/// The text after `label` on the first line (trimmed) that starts with it.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
}

fn required<'a>(text: &'a str, label: &str) -> Result<&'a str, ToolError> {
    field(text, label).ok_or_else(|| ToolError::Missing {
        tool: TOOL,
        field: format!("`{label}` line"),
    })
}

/// Whether the report's last line, `execution time (avg/stddev):   1.9872/0.00`, is there whole:
/// ended by a newline, its stddev with sysbench's two decimals (`%.4f/%.2f`).
fn report_is_whole(output: &str) -> bool {
    let label = "execution time (avg/stddev):";
    let Some(at) = output.find(label) else {
        return false;
    };
    let Some((value, _)) = output[at + label.len()..].split_once('\n') else {
        return false;
    };
    let Some((avg, stddev)) = value.trim().split_once('/') else {
        return false;
    };
    let two_decimals = stddev
        .split_once('.')
        .is_some_and(|(int, frac)| !int.is_empty() && frac.len() == 2);
    avg.parse::<f64>().is_ok() && stddev.parse::<f64>().is_ok() && two_decimals
}

/// `"N (R per second)"` -> R; `suffix` is what follows R inside the parentheses.
fn rate_in_parens(label: &str, text: &str, suffix: &str) -> Result<f64, ToolError> {
    let inner = text
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|inner| inner.trim().strip_suffix(suffix))
        .ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: format!("`{label}` reads `{text}`, not `N (RATE {suffix})`"),
        })?;
    positive(TOOL, label, number(TOOL, label, inner)?)
}

/// Parse sysbench 1.0's report of a `kind` test:
/// - cpu: `events-per-second` (events/s, `events per second:`);
/// - memory: `transfer` (MiB/s, `MiB transferred (R MiB/sec)`) and `operations` (ops/s,
///   `Total operations: N (R per second)`);
/// - threads: `events-per-second` (events/s, total events over total time, as sysbench prints
///   no rate for it) and `latency-avg` (ms, `Latency (ms): avg:`).
///
/// A `FATAL:` line is [`ToolError::Reported`] with sysbench's words.
pub fn parse(kind: SysbenchKind, output: &str) -> Result<Vec<ToolMetric>, ToolError> {
    if output.trim().is_empty() {
        return Err(ToolError::Empty { tool: TOOL });
    }
    if let Some(fatal) = output
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("FATAL:"))
    {
        return Err(ToolError::Reported {
            tool: TOOL,
            message: fatal.trim().to_string(),
        });
    }
    let first = output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if !first.starts_with("sysbench 1.") {
        return Err(ToolError::Format {
            tool: TOOL,
            detail: format!("no `sysbench 1.x` banner; {}", first_line(output)),
        });
    }
    // The report is printed in one go at the end; its last section's last line marks it whole.
    if !report_is_whole(output) {
        return Err(ToolError::Truncated {
            tool: TOOL,
            detail: "no whole `execution time (avg/stddev):` line ending the `Threads fairness:` \
                     section"
                .to_string(),
        });
    }
    let is_cpu = output.contains("CPU speed:");
    let is_memory = output.contains("MiB transferred");
    let found = match (is_cpu, is_memory) {
        (true, false) => SysbenchKind::Cpu,
        (false, true) => SysbenchKind::Memory,
        (false, false) => SysbenchKind::Threads,
        (true, true) => {
            return Err(ToolError::Format {
                tool: TOOL,
                detail: "both a cpu and a memory report".to_string(),
            })
        }
    };
    if found != kind {
        return Err(ToolError::Format {
            tool: TOOL,
            detail: format!("a {found:?} report where a {kind:?} report was expected"),
        });
    }
    let mut metrics = Vec::new();
    match kind {
        SysbenchKind::Cpu => {
            let label = "events per second:";
            let eps = positive(TOOL, label, number(TOOL, label, required(output, label)?)?)?;
            metrics.push(ToolMetric::new(
                "events-per-second",
                "events/s",
                Better::Higher,
                eps,
            ));
        }
        SysbenchKind::Memory => {
            let line = output
                .lines()
                .map(str::trim)
                .find(|l| l.contains("MiB transferred"))
                .unwrap_or_default();
            let mib_s = rate_in_parens("MiB transferred", line, "MiB/sec")?;
            let label = "Total operations:";
            let ops = rate_in_parens(label, required(output, label)?, "per second")?;
            metrics.push(ToolMetric::new("transfer", "MiB/s", Better::Higher, mib_s));
            metrics.push(ToolMetric::new("operations", "ops/s", Better::Higher, ops));
        }
        SysbenchKind::Threads => {
            let label = "total time:";
            let time = required(output, label)?;
            let time = time.strip_suffix('s').ok_or_else(|| ToolError::Format {
                tool: TOOL,
                detail: format!("`total time:` reads `{time}`, not seconds such as `2.0002s`"),
            })?;
            let time = positive(TOOL, label, number(TOOL, label, time)?)?;
            let label = "total number of events:";
            let events = positive(TOOL, label, number(TOOL, label, required(output, label)?)?)?;
            // `avg:` appears once, under `Latency (ms):`.
            let label = "avg:";
            let avg = positive(
                TOOL,
                "latency avg",
                number(TOOL, "latency avg", required(output, label)?)?,
            )?;
            metrics.push(ToolMetric::new(
                "events-per-second",
                "events/s",
                Better::Higher,
                events / time,
            ));
            metrics.push(ToolMetric::new("latency-avg", "ms", Better::Lower, avg));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    #[test]
    fn cpu() {
        let m = parse(SysbenchKind::Cpu, &fixture("sysbench-cpu.txt")).unwrap();
        assert_eq!(
            m,
            [ToolMetric::new(
                "events-per-second",
                "events/s",
                Better::Higher,
                3136.53
            )]
        );
    }

    #[test]
    fn memory() {
        let m = parse(SysbenchKind::Memory, &fixture("sysbench-memory.txt")).unwrap();
        assert_eq!(
            m,
            [
                ToolMetric::new("transfer", "MiB/s", Better::Higher, 23192.98),
                ToolMetric::new("operations", "ops/s", Better::Higher, 23192.98),
            ]
        );
    }

    #[test]
    fn threads() {
        let m = parse(SysbenchKind::Threads, &fixture("sysbench-threads.txt")).unwrap();
        assert_eq!(m[0].metric, "events-per-second");
        assert!((m[0].value - 3298.0 / 2.0002).abs() < 1e-9, "{m:?}");
        assert_eq!(
            m[1],
            ToolMetric::new("latency-avg", "ms", Better::Lower, 0.61)
        );
    }

    #[test]
    fn the_wrong_report_is_refused() {
        let err = parse(SysbenchKind::Threads, &fixture("sysbench-cpu.txt")).unwrap_err();
        assert!(matches!(err, ToolError::Format { .. }), "{err:?}");
        assert!(parse(SysbenchKind::Cpu, &fixture("sysbench-memory.txt")).is_err());
        assert!(parse(SysbenchKind::Memory, &fixture("sysbench-threads.txt")).is_err());
    }

    #[test]
    fn fatal_is_sysbenchs_error() {
        let err = parse(SysbenchKind::Memory, &fixture("sysbench-error-badopt.txt")).unwrap_err();
        assert_eq!(
            err,
            ToolError::Reported {
                tool: "sysbench",
                message: "Invalid value for memory-block-size: banana".to_string()
            }
        );
        let err = parse(SysbenchKind::Cpu, &fixture("sysbench-error-notest.txt")).unwrap_err();
        assert!(
            err.to_string()
                .contains("Cannot find benchmark 'nosuchtest'"),
            "{err}"
        );
    }

    #[test]
    fn cut_short_garbage_and_empty_are_errors() {
        for (kind, name) in [
            (SysbenchKind::Cpu, "sysbench-cpu.txt"),
            (SysbenchKind::Memory, "sysbench-memory.txt"),
            (SysbenchKind::Threads, "sysbench-threads.txt"),
        ] {
            let text = fixture(name);
            for cut in cuts(&text) {
                assert!(
                    parse(kind, cut).is_err(),
                    "{name} parsed when cut at {}",
                    cut.len()
                );
            }
            assert_eq!(parse(kind, ""), Err(ToolError::Empty { tool: "sysbench" }));
            assert!(matches!(
                parse(kind, "hello\nworld\n"),
                Err(ToolError::Format { .. })
            ));
            let zero = text
                .replace("3136.53", "0.00")
                .replace("23192.98", "0.00")
                .replace("3298\n", "0\n");
            assert!(
                matches!(parse(kind, &zero), Err(ToolError::BadValue { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn argv_defaults_and_bad_values() {
        assert_eq!(
            SysbenchParams::new(SysbenchTest::cpu()).argv().unwrap(),
            [
                "sysbench",
                "cpu",
                "--time=10",
                "--threads=1",
                "--events=0",
                "--cpu-max-prime=10000",
                "run"
            ]
        );
        let mut p = SysbenchParams::new(SysbenchTest::Memory {
            block_size_kib: 1024,
            total_size_mib: 102_400,
            oper: MemoryOper::Read,
        });
        p.time_s = 2;
        assert_eq!(
            p.argv().unwrap(),
            [
                "sysbench",
                "memory",
                "--time=2",
                "--threads=1",
                "--events=0",
                "--memory-block-size=1024K",
                "--memory-total-size=102400M",
                "--memory-oper=read",
                "run"
            ]
        );
        assert_eq!(
            SysbenchParams::new(SysbenchTest::threads()).argv().unwrap()[5..],
            ["--thread-yields=1000", "--thread-locks=8", "run"]
        );
        assert_eq!(SysbenchTest::memory().kind(), SysbenchKind::Memory);
        let bad = [
            SysbenchParams {
                time_s: 0,
                ..SysbenchParams::new(SysbenchTest::cpu())
            },
            SysbenchParams {
                threads: 0,
                ..SysbenchParams::new(SysbenchTest::cpu())
            },
            SysbenchParams::new(SysbenchTest::Cpu { max_prime: 0 }),
            SysbenchParams::new(SysbenchTest::Memory {
                block_size_kib: 0,
                total_size_mib: 1,
                oper: MemoryOper::Write,
            }),
            SysbenchParams::new(SysbenchTest::Memory {
                block_size_kib: 2048,
                total_size_mib: 1,
                oper: MemoryOper::Write,
            }),
            SysbenchParams::new(SysbenchTest::Threads {
                yields: 0,
                locks: 8,
            }),
        ];
        for p in bad {
            assert!(matches!(p.argv(), Err(ToolError::Param { .. })), "{p:?}");
        }
    }
}
