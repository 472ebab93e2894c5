//! redis-benchmark (Debian 12: redis-tools 7.0.15), `-t get,set --csv`.
//!
//! Output format: redis-benchmark's `--csv` ("Output in CSV format", redis.io's "Redis
//! benchmark" page); 7.0 prints a header `"test","rps","avg_latency_ms","min_latency_ms",
//! "p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` and one row per test,
//! every field quoted (`fixtures/redis-benchmark.csv`).
//!
//! Seen on the real tool: when the server cannot be reached, redis-benchmark 7.0 prints "Could not
//! connect to Redis at HOST:PORT: Connection refused" on stderr and then never exits, spinning
//! at 100% CPU: run it under a time limit.

use super::{check_host, check_range, clip, first_line, number, positive, ToolError, ToolMetric};
use hvbench_proto::catalog::Better;

const TOOL: &str = "redis-benchmark";

/// The tests hvbench runs, as the CSV names them.
const TESTS: [&str; 2] = ["GET", "SET"];

/// A GET and SET benchmark against a redis-server someone else started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisBenchmarkParams {
    pub host: String,
    /// Default 6379, redis's.
    pub port: u16,
    /// `-n`, requests per test. Default 100000, redis-benchmark's.
    pub requests: u32,
    /// `-c`, parallel connections. Default 50, redis-benchmark's.
    pub clients: u32,
}

impl RedisBenchmarkParams {
    /// The defaults against `host`.
    pub fn new(host: impl Into<String>) -> Self {
        RedisBenchmarkParams {
            host: host.into(),
            port: 6379,
            requests: 100_000,
            clients: 50,
        }
    }

    /// The command line, `redis-benchmark` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        check_host(TOOL, "host", &self.host)?;
        check_range(TOOL, "port", self.port, 1, u16::MAX)?;
        check_range(TOOL, "requests", self.requests, 1, 1_000_000_000)?;
        check_range(TOOL, "clients", self.clients, 1, 10_000)?;
        Ok(vec![
            "redis-benchmark".to_string(),
            "-h".to_string(),
            self.host.clone(),
            "-p".to_string(),
            self.port.to_string(),
            "-n".to_string(),
            self.requests.to_string(),
            "-c".to_string(),
            self.clients.to_string(),
            "-t".to_string(),
            "get,set".to_string(),
            "--csv".to_string(),
        ])
    }
}

/// Split one CSV line of quoted fields (`"a","b"`); `None` when a quote is left open or a field
/// is not quoted, as in a line cut short. redis-benchmark quotes every field and none holds a
/// quote or a comma.
fn fields(line: &str) -> Option<Vec<&str>> {
    line.split(',')
        .map(|f| f.strip_prefix('"').and_then(|f| f.strip_suffix('"')))
        .collect()
}

/// Parse redis-benchmark's CSV: for GET and SET (lower-case in the names), `get-rps`
/// (requests/s) and, when the header has the columns (7.0 has), `get-p50` and `get-p99` (ms).
/// Both tests must be there: the argv asks for both, so one missing means the run was cut short.
pub fn parse(output: &str) -> Result<Vec<ToolMetric>, ToolError> {
    if output.trim().is_empty() {
        return Err(ToolError::Empty { tool: TOOL });
    }
    let mut lines = output.lines().map(str::trim).filter(|l| !l.is_empty());
    let header_line = lines.next().unwrap_or("");
    let header = fields(header_line)
        .filter(|h| h.first() == Some(&"test") && h.contains(&"rps"))
        .ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: format!(
                "no CSV header `\"test\",\"rps\",...` (run with --csv?); {}",
                first_line(output)
            ),
        })?;
    let column = |name: &str| header.iter().position(|h| *h == name);
    let rps_at = column("rps").unwrap_or(1);
    let latencies: Vec<(&str, usize)> = [("p50", "p50_latency_ms"), ("p99", "p99_latency_ms")]
        .into_iter()
        .filter_map(|(short, long)| column(long).map(|at| (short, at)))
        .collect();
    let mut rows = Vec::new();
    for line in lines {
        let row = fields(line).ok_or_else(|| ToolError::Truncated {
            tool: TOOL,
            detail: format!("the row `{}` is not whole", clip(line, 80)),
        })?;
        if row.len() != header.len() {
            return Err(ToolError::Truncated {
                tool: TOOL,
                detail: format!(
                    "the row `{}` has {} of {} fields",
                    clip(line, 80),
                    row.len(),
                    header.len()
                ),
            });
        }
        rows.push(row);
    }
    let mut metrics = Vec::new();
    for test in TESTS {
        let row = rows
            .iter()
            .find(|r| r[0] == test)
            .ok_or_else(|| ToolError::Missing {
                tool: TOOL,
                field: format!("{test} row (cut short, or not run with -t get,set?)"),
            })?;
        let lower = test.to_ascii_lowercase();
        let field = format!("{test} rps");
        let rps = positive(TOOL, &field, number(TOOL, &field, row[rps_at])?)?;
        metrics.push(ToolMetric::new(
            format!("{lower}-rps"),
            "requests/s",
            Better::Higher,
            rps,
        ));
        for (short, at) in &latencies {
            let field = format!("{test} {short} latency");
            let ms = positive(TOOL, &field, number(TOOL, &field, row[*at])?)?;
            metrics.push(ToolMetric::new(
                format!("{lower}-{short}"),
                "ms",
                Better::Lower,
                ms,
            ));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    #[test]
    fn get_and_set() {
        let m = parse(&fixture("redis-benchmark.csv")).unwrap();
        assert_eq!(
            m,
            [
                ToolMetric::new("get-rps", "requests/s", Better::Higher, 51546.39),
                ToolMetric::new("get-p50", "ms", Better::Lower, 0.119),
                ToolMetric::new("get-p99", "ms", Better::Lower, 0.231),
                ToolMetric::new("set-rps", "requests/s", Better::Higher, 51150.89),
                ToolMetric::new("set-p50", "ms", Better::Lower, 0.127),
                ToolMetric::new("set-p99", "ms", Better::Lower, 0.223),
            ]
        );
    }

    #[test]
    fn older_csv_without_latency_columns() {
        // redis-benchmark before 6.2 printed only "test","rps": the rates alone.
        let m = parse("\"test\",\"rps\"\n\"SET\",\"100.5\"\n\"GET\",\"200.25\"\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            ToolMetric::new("get-rps", "requests/s", Better::Higher, 200.25)
        );
    }

    #[test]
    fn refused_connection_output_is_an_error() {
        // What it prints (stderr) when the server is gone; its stdout then stays empty.
        let err = parse(&fixture("redis-benchmark-error-refused.txt")).unwrap_err();
        assert!(matches!(err, ToolError::Format { .. }), "{err:?}");
        assert!(
            err.to_string().contains("Could not connect to Redis"),
            "{err}"
        );
        assert_eq!(
            parse(""),
            Err(ToolError::Empty {
                tool: "redis-benchmark"
            })
        );
    }

    #[test]
    fn cut_short_and_garbage_are_errors() {
        let text = fixture("redis-benchmark.csv");
        for cut in cuts(&text) {
            assert!(parse(cut).is_err(), "parsed when cut at {}", cut.len());
        }
        // cut at every byte: never a success before the last row is whole
        let whole = text.trim_end().len();
        for at in 0..whole {
            assert!(parse(&text[..at]).is_err(), "parsed when cut at {at}");
        }
        assert!(parse(&text[..whole]).is_ok());
        assert!(matches!(
            parse("garbage\n1,2,3\n"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse(&fixture("fio-randread.json")),
            Err(ToolError::Format { .. })
        ));
        let zero = text.replace("51546.39", "0.00");
        assert!(matches!(parse(&zero), Err(ToolError::BadValue { .. })));
        let word = text.replace("51546.39", "fast");
        assert!(matches!(parse(&word), Err(ToolError::BadValue { .. })));
    }

    #[test]
    fn argv_defaults_and_bad_values() {
        assert_eq!(
            RedisBenchmarkParams::new("127.0.0.1").argv().unwrap(),
            [
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-p",
                "6379",
                "-n",
                "100000",
                "-c",
                "50",
                "-t",
                "get,set",
                "--csv"
            ]
        );
        for p in [
            RedisBenchmarkParams::new(""),
            RedisBenchmarkParams::new("--csv"),
            RedisBenchmarkParams {
                port: 0,
                ..RedisBenchmarkParams::new("h")
            },
            RedisBenchmarkParams {
                requests: 0,
                ..RedisBenchmarkParams::new("h")
            },
            RedisBenchmarkParams {
                clients: 0,
                ..RedisBenchmarkParams::new("h")
            },
        ] {
            assert!(matches!(p.argv(), Err(ToolError::Param { .. })), "{p:?}");
        }
    }
}
