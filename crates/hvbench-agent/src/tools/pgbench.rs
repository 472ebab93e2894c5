//! pgbench (Debian 12: PostgreSQL 15.18), initialisation (`-i -s SCALE`) and a timed run
//! (`-T SECS -c CLIENTS -j THREADS`, `-S` for select-only).
//!
//! Output format: the PostgreSQL 15 manual's pgbench page ("Typical output from pgbench looks
//! like", <https://www.postgresql.org/docs/15/pgbench.html>): the run's report ends with
//! `latency average = X ms`, `initial connection time = Y ms` and `tps = Z (without initial
//! connection time)`; initialisation ends with `done in X s (...)`.
//!
//! pgbench 15 prints a report that looks whole even when clients aborted and says so only on
//! stderr with exit status 2 ("Run was aborted; the above results are incomplete."): check the
//! exit status first ([`super::check_exit`]). An error (a database that does not exist) goes to
//! stderr, stdout stays empty, exit status 1.

use super::{
    check_host, check_range, first_line, number, param_error, positive, ToolError, ToolMetric,
};
use hvbench_proto::catalog::Better;

const TOOL: &str = "pgbench";

/// Where pgbench connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConn {
    /// `-h`: a host name, or a unix socket directory (an absolute path). None: libpq's default.
    pub host: Option<String>,
    /// `-p`. None: libpq's default (5432).
    pub port: Option<u16>,
    /// `-U`. None: libpq's default (the OS user).
    pub user: Option<String>,
    /// The database, which must exist.
    pub dbname: String,
}

impl PgConn {
    /// The database `dbname` with libpq's defaults for the rest.
    pub fn new(dbname: impl Into<String>) -> Self {
        PgConn {
            host: None,
            port: None,
            user: None,
            dbname: dbname.into(),
        }
    }

    fn push(&self, argv: &mut Vec<String>) -> Result<(), ToolError> {
        if let Some(host) = &self.host {
            check_host(TOOL, "host", host)?;
            argv.extend(["-h".to_string(), host.clone()]);
        }
        if let Some(port) = self.port {
            check_range(TOOL, "port", port, 1, u16::MAX)?;
            argv.extend(["-p".to_string(), port.to_string()]);
        }
        if let Some(user) = &self.user {
            check_host(TOOL, "user", user)?;
            argv.extend(["-U".to_string(), user.clone()]);
        }
        check_host(TOOL, "dbname", &self.dbname)?;
        argv.push(self.dbname.clone());
        Ok(())
    }
}

/// `pgbench -i -s SCALE`: create and fill the tables (100 000 accounts per scale unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgbenchInit {
    pub conn: PgConn,
    /// Default 10 (about 150 MiB of data).
    pub scale: u32,
}

impl PgbenchInit {
    pub fn new(conn: PgConn) -> Self {
        PgbenchInit { conn, scale: 10 }
    }

    /// The command line, `pgbench` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        check_range(TOOL, "scale", self.scale, 1, 100_000)?;
        let mut argv = vec![
            "pgbench".to_string(),
            "-i".to_string(),
            "-s".to_string(),
            self.scale.to_string(),
        ];
        self.conn.push(&mut argv)?;
        Ok(argv)
    }
}

/// A timed run of pgbench's built-in TPC-B-like script, or its select-only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgbenchRun {
    pub conn: PgConn,
    /// `-T`, seconds. Default 10.
    pub time_s: u32,
    /// `-c`. Default 1.
    pub clients: u32,
    /// `-j`, at most `clients`. Default 1.
    pub threads: u32,
    /// `-S`: the select-only script. Default false.
    pub select_only: bool,
}

impl PgbenchRun {
    pub fn new(conn: PgConn) -> Self {
        PgbenchRun {
            conn,
            time_s: 10,
            clients: 1,
            threads: 1,
            select_only: false,
        }
    }

    /// The command line, `pgbench` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        check_range(TOOL, "time_s", self.time_s, 1, 86_400)?;
        check_range(TOOL, "clients", self.clients, 1, 10_000)?;
        check_range(TOOL, "threads", self.threads, 1, 10_000)?;
        if self.threads > self.clients {
            return Err(param_error(
                TOOL,
                "threads",
                format!(
                    "{} threads for {} clients; pgbench needs threads <= clients",
                    self.threads, self.clients
                ),
            ));
        }
        let mut argv = vec![
            "pgbench".to_string(),
            "-T".to_string(),
            self.time_s.to_string(),
            "-c".to_string(),
            self.clients.to_string(),
            "-j".to_string(),
            self.threads.to_string(),
        ];
        if self.select_only {
            argv.push("-S".to_string());
        }
        self.conn.push(&mut argv)?;
        Ok(argv)
    }
}

fn check_banner_and_errors(output: &str, banner: bool) -> Result<(), ToolError> {
    if output.trim().is_empty() {
        return Err(ToolError::Empty { tool: TOOL });
    }
    if let Some(line) = output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pgbench: error:") || l.starts_with("pgbench: fatal:"))
    {
        let message = line.split_once(": ").map_or(line, |(_, m)| m);
        return Err(ToolError::Reported {
            tool: TOOL,
            message: message.to_string(),
        });
    }
    if banner {
        let first = output
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        if !first.starts_with("pgbench (") {
            return Err(ToolError::Format {
                tool: TOOL,
                detail: format!("no `pgbench (VERSION)` banner; {}", first_line(output)),
            });
        }
    }
    Ok(())
}

/// Parse `pgbench -i`'s output (stdout and stderr together): no metric, an error unless it ends
/// with `done in X s`.
pub fn parse_init(output: &str) -> Result<(), ToolError> {
    check_banner_and_errors(output, false)?;
    let done = output
        .lines()
        .map(str::trim)
        .any(|l| l.starts_with("done in ") && l.ends_with(")."));
    if !done {
        let pgbench_like =
            output.contains("creating tables...") || output.contains("dropping old tables...");
        return Err(if pgbench_like {
            ToolError::Truncated {
                tool: TOOL,
                detail: "no `done in ... s (...).` line".to_string(),
            }
        } else {
            ToolError::Format {
                tool: TOOL,
                detail: format!("not pgbench -i's output; {}", first_line(output)),
            }
        });
    }
    Ok(())
}

/// Parse a pgbench run's report: its stdout, best with its stderr appended, as a run whose
/// clients aborted has a whole-looking stdout and `pgbench: error:` lines on stderr, which are
/// [`ToolError::Reported`] (`fixtures/pgbench-aborted.*`; check the exit status too): `tps` (transactions/s, `tps = X (without initial
/// connection time)`) and `latency-avg` (ms, `latency average = X ms`).
pub fn parse_run(output: &str) -> Result<Vec<ToolMetric>, ToolError> {
    check_banner_and_errors(output, true)?;
    let line_after = |label: &str| {
        output
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
    };
    // tps is the report's last line; without it, the report was cut.
    let tps = line_after("tps = ").ok_or_else(|| ToolError::Truncated {
        tool: TOOL,
        detail: "no `tps = ... (without initial connection time)` line".to_string(),
    })?;
    let tps = tps
        .strip_suffix(" (without initial connection time)")
        .ok_or_else(|| ToolError::Truncated {
            tool: TOOL,
            detail: format!("the tps line `tps = {tps}` is not whole"),
        })?;
    let tps = positive(TOOL, "tps", number(TOOL, "tps", tps)?)?;
    let latency = line_after("latency average = ").ok_or_else(|| ToolError::Missing {
        tool: TOOL,
        field: "`latency average = ... ms` line".to_string(),
    })?;
    let latency = latency
        .strip_suffix(" ms")
        .ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: format!("`latency average = {latency}` is not in ms"),
        })?;
    let latency = positive(
        TOOL,
        "latency average",
        number(TOOL, "latency average", latency)?,
    )?;
    Ok(vec![
        ToolMetric::new("tps", "transactions/s", Better::Higher, tps),
        ToolMetric::new("latency-avg", "ms", Better::Lower, latency),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    #[test]
    fn tpcb_and_select_only() {
        assert_eq!(
            parse_run(&fixture("pgbench-tpcb.txt")).unwrap(),
            [
                ToolMetric::new("tps", "transactions/s", Better::Higher, 1017.518403),
                ToolMetric::new("latency-avg", "ms", Better::Lower, 1.966),
            ]
        );
        let m = parse_run(&fixture("pgbench-select-only.txt")).unwrap();
        assert_eq!(m[0].value, 18358.907665);
        assert_eq!(m[1].value, 0.109);
    }

    #[test]
    fn init() {
        assert_eq!(parse_init(&fixture("pgbench-init.txt")), Ok(()));
        let text = fixture("pgbench-init.txt");
        for cut in cuts(&text) {
            assert!(parse_init(cut).is_err(), "parsed when cut at {}", cut.len());
        }
        assert!(matches!(parse_init("hello"), Err(ToolError::Format { .. })));
        assert!(matches!(parse_init(""), Err(ToolError::Empty { .. })));
        assert!(matches!(
            parse_init(&fixture("pgbench-error-nodb.stderr")),
            Err(ToolError::Reported { .. })
        ));
    }

    /// Seen for real: clients aborted (server stopped midway), exit status 2, stdout whole.
    #[test]
    fn an_aborted_run_is_caught_by_its_exit_status_or_stderr() {
        let stdout = fixture("pgbench-aborted.txt");
        let stderr = fixture("pgbench-aborted.stderr");
        // stdout alone cannot tell: this is why the caller checks the exit status first
        assert!(parse_run(&stdout).is_ok());
        let err = crate::tools::check_exit(TOOL, Some(2), &stderr).unwrap_err();
        assert!(err.to_string().contains("Run was aborted"), "{err}");
        // or hands stdout and stderr together to the parser
        let err = parse_run(&format!("{stdout}{stderr}")).unwrap_err();
        assert!(matches!(err, ToolError::Reported { .. }), "{err:?}");
        assert!(err.to_string().contains("client 1 aborted"), "{err}");
    }

    #[test]
    fn errors_are_pgbenchs_words() {
        let err = parse_run(&fixture("pgbench-error-nodb.stderr")).unwrap_err();
        assert!(matches!(err, ToolError::Reported { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("database \"nosuchdb\" does not exist"),
            "{err}"
        );
    }

    #[test]
    fn cut_short_garbage_and_empty_are_errors() {
        for name in ["pgbench-tpcb.txt", "pgbench-select-only.txt"] {
            let text = fixture(name);
            for cut in cuts(&text) {
                assert!(
                    parse_run(cut).is_err(),
                    "{name} parsed when cut at {}",
                    cut.len()
                );
            }
            // cut inside the tps line, after its number
            let at = text.find(" (without").unwrap();
            assert!(matches!(
                parse_run(&text[..at]),
                Err(ToolError::Truncated { .. })
            ));
        }
        assert_eq!(parse_run(""), Err(ToolError::Empty { tool: "pgbench" }));
        assert!(matches!(
            parse_run("garbage\n"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse_run(&fixture("pgbench-init.txt")),
            Err(ToolError::Format { .. })
        ));
        let text = fixture("pgbench-tpcb.txt");
        let zero = text.replace("tps = 1017.518403", "tps = 0.000000");
        assert!(matches!(parse_run(&zero), Err(ToolError::BadValue { .. })));
        let nan = text.replace("1.966 ms", "nan ms");
        assert!(matches!(parse_run(&nan), Err(ToolError::BadValue { .. })));
    }

    #[test]
    fn argv_defaults_and_bad_values() {
        let conn = PgConn {
            host: Some("/run/postgresql".to_string()),
            port: Some(5499),
            user: Some("postgres".to_string()),
            dbname: "bench".to_string(),
        };
        assert_eq!(
            PgbenchInit::new(conn.clone()).argv().unwrap(),
            [
                "pgbench",
                "-i",
                "-s",
                "10",
                "-h",
                "/run/postgresql",
                "-p",
                "5499",
                "-U",
                "postgres",
                "bench"
            ]
        );
        assert_eq!(
            PgbenchRun::new(PgConn::new("bench")).argv().unwrap(),
            ["pgbench", "-T", "10", "-c", "1", "-j", "1", "bench"]
        );
        let run = PgbenchRun {
            time_s: 3,
            clients: 2,
            threads: 1,
            select_only: true,
            ..PgbenchRun::new(PgConn::new("bench"))
        };
        assert_eq!(
            run.argv().unwrap(),
            ["pgbench", "-T", "3", "-c", "2", "-j", "1", "-S", "bench"]
        );

        let err = PgbenchRun {
            threads: 4,
            clients: 2,
            ..PgbenchRun::new(PgConn::new("b"))
        }
        .argv()
        .unwrap_err();
        assert!(err.to_string().contains("threads <= clients"), "{err}");
        for run in [
            PgbenchRun {
                time_s: 0,
                ..PgbenchRun::new(PgConn::new("b"))
            },
            PgbenchRun {
                clients: 0,
                ..PgbenchRun::new(PgConn::new("b"))
            },
            PgbenchRun::new(PgConn::new("")),
            PgbenchRun::new(PgConn::new("-i")),
            PgbenchRun::new(PgConn {
                port: Some(0),
                ..PgConn::new("b")
            }),
        ] {
            assert!(
                matches!(run.argv(), Err(ToolError::Param { .. })),
                "{run:?}"
            );
        }
        assert!(PgbenchInit {
            scale: 0,
            ..PgbenchInit::new(conn)
        }
        .argv()
        .is_err());
    }
}
