//! The field's own benchmark tools, as Debian 12 ships them: for each tool, a builder of its
//! command line from checked parameters and a parser of its real output into metrics.
//!
//! This module is pure: it runs nothing. Whoever runs a tool builds the argv here, runs it
//! (with a time limit: `redis-benchmark` 7.0 never exits when its server is unreachable, see
//! `fixtures/README.md`), calls [`check_exit`] with its exit status and stderr, then hands the
//! tool's output to the tool's parser. Every parser either returns every metric it promises or a
//! [`ToolError`]; a value that is missing, not finite or zero where zero is impossible is an
//! error, never a silent zero.
//!
//! | tool | builder | parser | metrics |
//! |------|---------|--------|---------|
//! | fio 3.33 | [`fio::FioParams::argv`] | [`fio::parse`] | per direction: IOPS, MiB/s, clat p50/p99 µs |
//! | iperf3 3.12 | [`iperf3::Iperf3Params::argv`] | [`iperf3::parse`] | sent/received Gbit/s, retransmits |
//! | sysbench 1.0.20 | [`sysbench::SysbenchParams::argv`] | [`sysbench::parse`] | cpu events/s; memory MiB/s, ops/s; threads events/s, latency |
//! | stress-ng 0.15.06 | [`stress_ng::StressNgParams::argv`] | [`stress_ng::parse`] | bogo-ops/s (real, usr+sys) |
//! | redis-benchmark 7.0 | [`redis_benchmark::RedisBenchmarkParams::argv`] | [`redis_benchmark::parse`] | GET/SET requests/s, p50/p99 ms |
//! | pgbench 15 | [`pgbench::PgbenchInit::argv`], [`pgbench::PgbenchRun::argv`] | [`pgbench::parse_init`], [`pgbench::parse_run`] | tps, latency average ms |
//!
//! The fixtures the tests parse are real outputs; `fixtures/README.md` names the command and the
//! package version that produced each.

pub mod fio;
pub mod iperf3;
pub mod pgbench;
pub mod redis_benchmark;
pub mod stress_ng;
pub mod sysbench;

use hvbench_proto::catalog::Better;
use std::fmt;

/// One metric a tool's output gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolMetric {
    /// The metric's name, e.g. `read-iops` (each parser documents its names).
    pub metric: String,
    pub unit: &'static str,
    pub better: Better,
    /// Always finite; never a stand-in for something the output did not say.
    pub value: f64,
}

impl ToolMetric {
    pub(crate) fn new(
        metric: impl Into<String>,
        unit: &'static str,
        better: Better,
        value: f64,
    ) -> Self {
        ToolMetric {
            metric: metric.into(),
            unit,
            better,
            value,
        }
    }
}

/// What was wrong with a tool's parameters or its output. Its [`fmt::Display`] says so in words
/// a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolError {
    /// A parameter for the command line was out of range or malformed.
    Param {
        tool: &'static str,
        param: &'static str,
        reason: String,
    },
    /// The output was empty: the tool printed nothing where its report should be.
    Empty { tool: &'static str },
    /// The output stops before the end of the tool's report.
    Truncated { tool: &'static str, detail: String },
    /// The output is not what this tool prints (another tool, another version, another mode).
    Format { tool: &'static str, detail: String },
    /// The report lacks a field this parser needs.
    Missing { tool: &'static str, field: String },
    /// A field holds a value that cannot be a measurement (not a number, not finite, zero).
    BadValue {
        tool: &'static str,
        field: String,
        value: String,
        reason: &'static str,
    },
    /// The tool itself reported an error; `message` is its own words.
    Reported { tool: &'static str, message: String },
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Param {
                tool,
                param,
                reason,
            } => write!(f, "{tool}: bad parameter `{param}`: {reason}"),
            ToolError::Empty { tool } => write!(
                f,
                "{tool} printed nothing to parse; did it start, and was its standard output captured?"
            ),
            ToolError::Truncated { tool, detail } => write!(
                f,
                "{tool}'s output is cut short ({detail}); was it killed or its output lost?"
            ),
            ToolError::Format { tool, detail } => write!(
                f,
                "{tool}'s output is not in the expected format ({detail}); is it the right tool, \
                 version and output mode?"
            ),
            ToolError::Missing { tool, field } => {
                write!(f, "{tool}'s output has no {field}")
            }
            ToolError::BadValue {
                tool,
                field,
                value,
                reason,
            } => write!(f, "{tool}'s {field} is `{value}`: {reason}"),
            ToolError::Reported { tool, message } => write!(f, "{tool} reported an error: {message}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// After running a tool: a nonzero exit status (or death by a signal: `code` None) is an error
/// carrying the last lines of its stderr, the tool's own words. Call it before the parser:
/// some tools print a report that looks whole and only say on stderr, with a nonzero status,
/// that it is not (pgbench 15: "Run was aborted; the above results are incomplete."). Not
/// enough on its own: iperf3 3.12 exits 0 on errors in `--json` mode (its parser checks the
/// JSON's `error`).
pub fn check_exit(tool: &'static str, code: Option<i32>, stderr: &str) -> Result<(), ToolError> {
    if code == Some(0) {
        return Ok(());
    }
    let tail: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
    let status = match code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    };
    let message = if tail.is_empty() {
        format!("{status}, nothing on stderr")
    } else {
        format!("{status}: {}", clip(&tail, 400))
    };
    Err(ToolError::Reported { tool, message })
}

/// `text` cut to at most `max` characters, marked when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The first non-blank line of `text`, clipped, quoted, for an error message.
pub(crate) fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    format!("it begins with `{}`", clip(line, 120))
}

/// `value` if it is finite and above zero: rates, sizes and latencies are never zero in a run
/// that measured something.
pub(crate) fn positive(tool: &'static str, field: &str, value: f64) -> Result<f64, ToolError> {
    if !value.is_finite() {
        return Err(ToolError::BadValue {
            tool,
            field: field.to_string(),
            value: value.to_string(),
            reason: "not a finite number",
        });
    }
    if value <= 0.0 {
        return Err(ToolError::BadValue {
            tool,
            field: field.to_string(),
            value: value.to_string(),
            reason: "zero or negative, impossible for a run that measured something",
        });
    }
    Ok(value)
}

/// Parse a number the tool printed as text (`"3136.53"`); [`ToolError::BadValue`] when it is
/// not one.
pub(crate) fn number(tool: &'static str, field: &str, text: &str) -> Result<f64, ToolError> {
    text.trim().parse::<f64>().map_err(|_| ToolError::BadValue {
        tool,
        field: field.to_string(),
        value: clip(text.trim(), 60),
        reason: "not a number",
    })
}

/// Parse a tool's JSON report: an empty input, a cut-short document and something else
/// entirely are told apart. Text before the first line that opens the object (a warning some
/// tools print on stdout) is skipped, and so is text after the object.
pub(crate) fn parse_json(tool: &'static str, text: &str) -> Result<serde_json::Value, ToolError> {
    if text.trim().is_empty() {
        return Err(ToolError::Empty { tool });
    }
    let start = text
        .lines()
        .scan(0usize, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.starts_with('{'))
        .map(|(at, _)| at)
        .ok_or_else(|| ToolError::Format {
            tool,
            detail: format!("no JSON object; {}", first_line(text)),
        })?;
    // The first JSON value; whatever follows it (a warning printed after the report) is left.
    let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter();
    let first: Result<serde_json::Value, serde_json::Error> = match values.next() {
        Some(first) => first,
        None => {
            return Err(ToolError::Format {
                tool,
                detail: "no JSON value".to_string(),
            })
        }
    };
    first.map_err(|e| {
        if e.is_eof() {
            ToolError::Truncated {
                tool,
                detail: format!("the JSON ends early: {e}"),
            }
        } else {
            ToolError::Format {
                tool,
                detail: format!("bad JSON: {e}"),
            }
        }
    })
}

/// Walk `path` (object keys) down from `value`; [`ToolError::Missing`] names the whole path.
pub(crate) fn json_at<'a>(
    tool: &'static str,
    value: &'a serde_json::Value,
    path: &[&str],
) -> Result<&'a serde_json::Value, ToolError> {
    let mut at = value;
    for key in path {
        at = at.get(key).ok_or_else(|| ToolError::Missing {
            tool,
            field: format!("`{}`", path.join(".")),
        })?;
    }
    Ok(at)
}

/// The number at `path`; [`ToolError::BadValue`] when it is there but not a number.
pub(crate) fn json_f64(
    tool: &'static str,
    value: &serde_json::Value,
    path: &[&str],
) -> Result<f64, ToolError> {
    let at = json_at(tool, value, path)?;
    at.as_f64().ok_or_else(|| ToolError::BadValue {
        tool,
        field: format!("`{}`", path.join(".")),
        value: clip(&at.to_string(), 60),
        reason: "not a number",
    })
}

/// A parameter check for the argv builders.
pub(crate) fn param_error(
    tool: &'static str,
    param: &'static str,
    reason: impl Into<String>,
) -> ToolError {
    ToolError::Param {
        tool,
        param,
        reason: reason.into(),
    }
}

/// Check a host name or address given to a tool: not empty, no white space, no control
/// characters, and not starting with `-` (the tool would take it for an option).
pub(crate) fn check_host(
    tool: &'static str,
    param: &'static str,
    host: &str,
) -> Result<(), ToolError> {
    if host.is_empty() {
        return Err(param_error(
            tool,
            param,
            "empty; give a host name or an address",
        ));
    }
    if host.starts_with('-') {
        return Err(param_error(
            tool,
            param,
            format!("`{host}` starts with `-`, it would be read as an option"),
        ));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(param_error(
            tool,
            param,
            format!(
                "`{}` holds white space or control characters",
                host.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// Check an integer parameter against an inclusive range.
pub(crate) fn check_range<T: PartialOrd + fmt::Display + Copy>(
    tool: &'static str,
    param: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ToolError> {
    if value < min || value > max {
        return Err(param_error(
            tool,
            param,
            format!("{value} is out of range, allowed {min} to {max}"),
        ));
    }
    Ok(())
}

/// A fixture's text, for the parsers' tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tools/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// For the tests: `text` cut at a few points (a fraction of its length each, on a character
/// boundary), each of which must give an error.
#[cfg(test)]
pub(crate) fn cuts(text: &str) -> Vec<&str> {
    [0.1, 0.3, 0.5, 0.7, 0.9, 0.97]
        .iter()
        .map(|f| {
            let mut at = (text.len() as f64 * f) as usize;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            &text[..at]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_exit_keeps_the_tools_words() {
        assert_eq!(check_exit("pgbench", Some(0), "noise"), Ok(()));
        let err =
            check_exit("pgbench", Some(1), &fixture("pgbench-error-nodb.stderr")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit status 1"), "{text}");
        assert!(
            text.contains("database \"nosuchdb\" does not exist"),
            "{text}"
        );
        let err = check_exit("redis-benchmark", None, "").unwrap_err();
        assert!(
            err.to_string()
                .contains("killed by a signal, nothing on stderr"),
            "{err}"
        );
    }

    /// The argv each builder returns, run for real (`fixtures/README.md`, "Round trip"): the
    /// tool accepted it and its output parses.
    #[test]
    fn builders_argv_runs_and_parses() {
        fn line(argv: Vec<String>) -> String {
            argv.join(" ")
        }
        let mut fio = fio::FioParams::new("/root/hvs/fio.dat");
        fio.size_mib = 64;
        fio.runtime_s = 2;
        assert_eq!(
            line(fio.argv().unwrap()),
            "fio --name=hvbench --filename=/root/hvs/fio.dat --rw=randread --bs=4096 --iodepth=1 \
             --ioengine=psync --direct=1 --size=64M --runtime=2 --time_based --output-format=json"
        );
        assert_eq!(
            fio::parse(&fixture("argv-fio-randread.json"))
                .unwrap()
                .len(),
            4
        );

        use sysbench::{MemoryOper, SysbenchKind, SysbenchParams, SysbenchTest};
        let short = |test| SysbenchParams {
            time_s: 2,
            ..SysbenchParams::new(test)
        };
        let memory = SysbenchTest::Memory {
            block_size_kib: 1024,
            total_size_mib: 102_400,
            oper: MemoryOper::Read,
        };
        for (test, kind, file, command, metrics) in [
            (
                SysbenchTest::cpu(),
                SysbenchKind::Cpu,
                "argv-sysbench-cpu.txt",
                "sysbench cpu --time=2 --threads=1 --events=0 --cpu-max-prime=10000 run",
                1,
            ),
            (
                memory,
                SysbenchKind::Memory,
                "argv-sysbench-memory.txt",
                "sysbench memory --time=2 --threads=1 --events=0 --memory-block-size=1024K \
                 --memory-total-size=102400M --memory-oper=read run",
                2,
            ),
            (
                SysbenchTest::threads(),
                SysbenchKind::Threads,
                "argv-sysbench-threads.txt",
                "sysbench threads --time=2 --threads=1 --events=0 --thread-yields=1000 \
                 --thread-locks=8 run",
                2,
            ),
        ] {
            assert_eq!(line(short(test).argv().unwrap()), command);
            assert_eq!(
                parse_len(sysbench::parse(kind, &fixture(file))),
                metrics,
                "{file}"
            );
        }

        let sng = stress_ng::StressNgParams {
            timeout_s: 2,
            ..stress_ng::StressNgParams::new("cpu", "FILE")
        };
        assert_eq!(
            line(sng.argv().unwrap()),
            "stress-ng --cpu 1 --timeout 2s --metrics --yaml FILE"
        );
        assert_eq!(
            parse_len(stress_ng::parse(&fixture("argv-stress-ng-cpu.yaml"), "cpu")),
            2
        );

        let iperf = iperf3::Iperf3Params {
            port: 5299,
            duration_s: 2,
            reverse: true,
            ..iperf3::Iperf3Params::new("127.0.0.1")
        };
        assert_eq!(
            line(iperf.argv().unwrap()),
            "iperf3 --client 127.0.0.1 --port 5299 --time 2 --json --reverse"
        );
        assert_eq!(
            parse_len(iperf3::parse(&fixture("argv-iperf3-reverse.json"))),
            3
        );

        let redis = redis_benchmark::RedisBenchmarkParams {
            port: 6399,
            requests: 20_000,
            clients: 10,
            ..redis_benchmark::RedisBenchmarkParams::new("127.0.0.1")
        };
        assert_eq!(
            line(redis.argv().unwrap()),
            "redis-benchmark -h 127.0.0.1 -p 6399 -n 20000 -c 10 -t get,set --csv"
        );
        assert_eq!(
            parse_len(redis_benchmark::parse(&fixture("argv-redis-benchmark.csv"))),
            6
        );

        let conn = pgbench::PgConn {
            host: Some("SOCKETDIR".to_string()),
            port: Some(5499),
            user: Some("postgres".to_string()),
            dbname: "bench".to_string(),
        };
        let init = pgbench::PgbenchInit {
            scale: 1,
            ..pgbench::PgbenchInit::new(conn.clone())
        };
        assert_eq!(
            line(init.argv().unwrap()),
            "pgbench -i -s 1 -h SOCKETDIR -p 5499 -U postgres bench"
        );
        assert_eq!(
            pgbench::parse_init(&fixture("argv-pgbench-init.txt")),
            Ok(())
        );
        let run = pgbench::PgbenchRun {
            time_s: 2,
            clients: 2,
            select_only: true,
            ..pgbench::PgbenchRun::new(conn)
        };
        assert_eq!(
            line(run.argv().unwrap()),
            "pgbench -T 2 -c 2 -j 1 -S -h SOCKETDIR -p 5499 -U postgres bench"
        );
        assert_eq!(
            parse_len(pgbench::parse_run(&fixture("argv-pgbench-select-only.txt"))),
            2
        );
    }

    fn parse_len(result: Result<Vec<ToolMetric>, ToolError>) -> usize {
        result.unwrap().len()
    }

    /// Every real output, cut at every byte before its end, gives an error, never metrics.
    #[test]
    fn every_fixture_cut_anywhere_is_an_error() {
        type Parser = fn(&str) -> bool;
        let cases: [(&str, Parser); 14] = [
            ("fio-randread.json", |t| fio::parse(t).is_ok()),
            ("fio-randwrite.json", |t| fio::parse(t).is_ok()),
            ("fio-randrw-libaio.json", |t| fio::parse(t).is_ok()),
            ("iperf3-tcp.json", |t| iperf3::parse(t).is_ok()),
            ("iperf3-tcp-reverse.json", |t| iperf3::parse(t).is_ok()),
            ("sysbench-cpu.txt", |t| {
                sysbench::parse(sysbench::SysbenchKind::Cpu, t).is_ok()
            }),
            ("sysbench-memory.txt", |t| {
                sysbench::parse(sysbench::SysbenchKind::Memory, t).is_ok()
            }),
            ("sysbench-threads.txt", |t| {
                sysbench::parse(sysbench::SysbenchKind::Threads, t).is_ok()
            }),
            ("stress-ng-cpu.yaml", |t| stress_ng::parse(t, "cpu").is_ok()),
            ("stress-ng-vm-matrix.yaml", |t| {
                stress_ng::parse(t, "matrix").is_ok()
            }),
            ("redis-benchmark.csv", |t| redis_benchmark::parse(t).is_ok()),
            ("pgbench-tpcb.txt", |t| pgbench::parse_run(t).is_ok()),
            ("pgbench-select-only.txt", |t| pgbench::parse_run(t).is_ok()),
            ("pgbench-init.txt", |t| pgbench::parse_init(t).is_ok()),
        ];
        for (name, parses) in cases {
            let text = fixture(name);
            assert!(parses(&text), "{name} whole");
            let whole = text.trim_end().len();
            for at in (0..whole).filter(|at| text.is_char_boundary(*at)) {
                assert!(
                    !parses(&text[..at]),
                    "{name} parsed when cut at byte {at} of {}",
                    text.len()
                );
            }
        }
    }

    #[test]
    fn positive_refuses_zero_and_nan() {
        assert!(positive("t", "f", 0.0).is_err());
        assert!(positive("t", "f", -1.0).is_err());
        assert!(positive("t", "f", f64::NAN).is_err());
        assert!(positive("t", "f", f64::INFINITY).is_err());
        assert_eq!(positive("t", "f", 2.5), Ok(2.5));
    }

    #[test]
    fn json_kinds_of_wrong() {
        assert_eq!(parse_json("t", " \n"), Err(ToolError::Empty { tool: "t" }));
        assert!(matches!(
            parse_json("t", "{\"a\": [1,"),
            Err(ToolError::Truncated { .. })
        ));
        assert!(matches!(
            parse_json("t", "hello"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse_json("t", "{\"a\": ]}"),
            Err(ToolError::Format { .. })
        ));
        assert!(parse_json("t", "warning: x\n{\"a\": 1}\n").is_ok());
        assert!(parse_json("t", "{\"a\": 1}\nfio: file hash not empty on exit\n").is_ok());
    }
}
