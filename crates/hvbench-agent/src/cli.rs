//! Host mode: `hvbench-agent --plan FILE` as a plain process.

use crate::workloads::Env;
use crate::{panics, peer, plan, run, stress, Mode, AGENT_VERSION};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::panic::catch_unwind;
use std::path::PathBuf;
use std::time::Duration;

/// Exit status: the plan ran (workloads that failed are reported as frames, not here).
pub const EXIT_OK: i32 = 0;
/// Exit status: frames could not be written, or the agent crashed.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad usage, or a plan that cannot be read or run.
pub const EXIT_USAGE: i32 = 2;

const USAGE: &str = "\
usage: hvbench-agent --plan FILE    run an agent plan (JSON; `-` reads stdin), frames on stdout
       hvbench-agent --peer ADDR [--peer-lifetime-s N] [--peer-tools DIR]
                                    serve the network workloads' peer on ADDR (loopback, or any
                                    address inside a network namespace of its own)
                                    (127.0.0.1:0 picks a port; the first stdout line says which);
                                    with --peer-tools, also the servers of general benchmarks
                                    (iperf3) from that tools tree
       hvbench-agent --stress KIND --duration-ms N [--report-ms M] [--param k=v ...]
                     [--peer-addr ADDR] [--tools-root DIR]
                                    run one stressor (an isolation experiment's aggressor) for
                                    N ms or until SIGTERM/SIGINT, and print its rate as one
                                    `stress-KIND` sample per M ms (default: one at the end);
                                    KIND: cpu, mem-bandwidth (size_mib), cache (size_mib),
                                    memory-bomb (max_mib), fork-bomb (max_children), disk (size_mib),
                                    net (streams; needs --peer-addr, the loopback ADDRESS:PORT of
                                    an `hvbench-agent --peer`), stress-ng (stressor, instances;
                                    needs --tools-root, the DIRECTORY of the tools tree)
       hvbench-agent --version
       hvbench-agent --exit-now     exit 0 at once (what the fork-exec workload execs)
As PID 1 (in a guest) it reads /hvbench/plan.json and powers off when done.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run {
        plan: PathBuf,
    },
    Peer {
        listen: String,
        lifetime: Duration,
        /// `--peer-tools DIR`: the tools tree the peer runs its side of general benchmarks
        /// from (iperf3's server).
        tools: Option<PathBuf>,
    },
    /// Run one stressor on `schedule` (or until SIGTERM) and report its rate per window.
    Stress {
        stressor: stress::Stressor,
        schedule: stress::Schedule,
        /// `--peer-addr`: the peer of the `net` stressor.
        peer: Option<String>,
        /// `--tools-root`: the tools tree of the `stress-ng` stressor.
        tools: Option<String>,
    },
    Version,
    Help,
    /// Exit 0 at once: the child the `fork-exec` workload execs.
    ExitNow,
}

/// Parse the arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut plan = None;
    let mut command = None;
    let mut peer = None;
    let mut lifetime = peer::DEFAULT_LIFETIME;
    let mut peer_tools = None;
    let mut stress_kind = None;
    let mut duration_ms = None;
    let mut report_ms = None;
    let mut peer_addr = None;
    let mut stress_params = BTreeMap::new();
    let mut tools_root = None;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "--plan" => {
                let file = args
                    .next()
                    .ok_or("--plan needs a FILE (or `-` for stdin)")?;
                plan = Some(PathBuf::from(file));
            }
            "--peer" => {
                let addr = args
                    .next()
                    .ok_or("--peer needs ADDRESS:PORT, such as 127.0.0.1:0")?;
                peer = Some(addr.to_string_lossy().into_owned());
            }
            "--peer-tools" => {
                let dir = args
                    .next()
                    .ok_or("--peer-tools needs the DIRECTORY of the tools tree")?;
                peer_tools = Some(PathBuf::from(dir));
            }
            "--peer-lifetime-s" => {
                let n = args
                    .next()
                    .ok_or("--peer-lifetime-s needs a number of seconds")?;
                let secs: u64 = n
                    .to_string_lossy()
                    .parse()
                    .map_err(|_| "--peer-lifetime-s needs a number of seconds")?;
                lifetime = Duration::from_secs(secs);
            }
            "--stress" => {
                let kind = args.next().ok_or_else(|| {
                    format!("--stress needs a KIND: {}", stress::KINDS.join(", "))
                })?;
                stress_kind = Some(kind.to_string_lossy().into_owned());
            }
            "--duration-ms" => {
                let n = args
                    .next()
                    .ok_or("--duration-ms needs a number of milliseconds")?;
                let ms: u64 = n
                    .to_string_lossy()
                    .parse()
                    .ok()
                    .filter(|ms| (1..=stress::MAX_DURATION_MS).contains(ms))
                    .ok_or_else(|| {
                        format!(
                            "--duration-ms needs a number of milliseconds from 1 to {}",
                            stress::MAX_DURATION_MS
                        )
                    })?;
                duration_ms = Some(ms);
            }
            "--report-ms" => {
                let n = args
                    .next()
                    .ok_or("--report-ms needs a number of milliseconds")?;
                let ms: u64 = n
                    .to_string_lossy()
                    .parse()
                    .ok()
                    .filter(|ms| (stress::MIN_REPORT_MS..=stress::MAX_DURATION_MS).contains(ms))
                    .ok_or_else(|| {
                        format!(
                            "--report-ms needs a number of milliseconds from {} to {}",
                            stress::MIN_REPORT_MS,
                            stress::MAX_DURATION_MS
                        )
                    })?;
                report_ms = Some(ms);
            }
            "--peer-addr" => {
                let addr = args
                    .next()
                    .ok_or("--peer-addr needs ADDRESS:PORT, such as 127.0.0.1:5201")?;
                peer_addr = Some(addr.to_string_lossy().into_owned());
            }
            "--tools-root" => {
                let dir = args
                    .next()
                    .ok_or("--tools-root needs the DIRECTORY of the tools tree")?;
                tools_root = Some(dir.to_string_lossy().into_owned());
            }
            "--param" => {
                let pair = args.next().ok_or("--param needs NAME=VALUE")?;
                let pair = pair.to_string_lossy();
                let (k, v) = pair
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("--param needs NAME=VALUE, not `{pair}`"))?;
                if stress_params.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(format!("--param {k} given twice"));
                }
            }
            "--version" | "-V" => command = Some(Command::Version),
            "--help" | "-h" => command = Some(Command::Help),
            "--exit-now" => command = Some(Command::ExitNow),
            _ => match text.strip_prefix("--plan=") {
                Some(file) => plan = Some(PathBuf::from(file)),
                None => return Err(format!("unexpected argument `{text}`")),
            },
        }
    }
    if command.is_none() {
        if let Some(kind) = stress_kind {
            if plan.is_some() || peer.is_some() {
                return Err("--stress does not go with --plan or --peer".to_string());
            }
            let ms = duration_ms.ok_or("--stress needs --duration-ms N")?;
            let stressor = stress::Stressor::from_args(&kind, &stress_params)?;
            match (&stressor, &peer_addr) {
                (stress::Stressor::Net { .. }, None) => {
                    return Err("--stress net needs --peer-addr ADDRESS:PORT".to_string())
                }
                (stress::Stressor::Net { .. }, Some(_)) | (_, None) => {}
                (_, Some(_)) => return Err("--peer-addr goes with --stress net".to_string()),
            }
            match (&stressor, &tools_root) {
                (stress::Stressor::StressNg { .. }, None) => {
                    return Err("--stress stress-ng needs --tools-root DIR".to_string())
                }
                (stress::Stressor::StressNg { .. }, Some(_)) | (_, None) => {}
                (_, Some(_)) => return Err("--tools-root goes with --stress stress-ng".to_string()),
            }
            return Ok(Command::Stress {
                stressor,
                schedule: stress::Schedule {
                    duration: Duration::from_millis(ms),
                    report: report_ms.map(Duration::from_millis),
                },
                peer: peer_addr,
                tools: tools_root,
            });
        }
        if duration_ms.is_some()
            || report_ms.is_some()
            || peer_addr.is_some()
            || tools_root.is_some()
            || !stress_params.is_empty()
        {
            return Err(
                "--duration-ms, --report-ms, --peer-addr, --tools-root and --param go with \
                 --stress KIND"
                    .to_string(),
            );
        }
    }
    match (command, plan, peer) {
        (Some(c), _, _) => Ok(c),
        (None, Some(_), Some(_)) => Err("--plan and --peer do not go together".to_string()),
        (None, Some(plan), None) => Ok(Command::Run { plan }),
        (None, None, Some(listen)) => Ok(Command::Peer {
            listen,
            lifetime,
            tools: peer_tools,
        }),
        (None, None, None) => Err("missing --plan FILE".to_string()),
    }
}

/// Run host mode; returns the process exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    panics::install_hook(true);
    let command = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hvbench-agent: {e}\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    match command {
        Command::Version => {
            println!("hvbench-agent {AGENT_VERSION}");
            EXIT_OK
        }
        Command::Help => {
            println!("{USAGE}");
            EXIT_OK
        }
        Command::ExitNow => EXIT_OK,
        Command::Run { plan } => run_file(plan),
        Command::Peer {
            listen,
            lifetime,
            tools,
        } => peer::main(&listen, lifetime, tools),
        Command::Stress {
            stressor,
            schedule,
            peer,
            tools,
        } => run_stress(
            &stressor,
            schedule,
            &Env {
                peer: peer.as_deref(),
                tools_root: tools.as_deref(),
            },
        ),
    }
}

/// Run one stressor until its duration is over or SIGTERM/SIGINT; frames on stdout. A
/// stressor that could not run (or failed while running) is a `Failed` frame and exit status 1.
fn run_stress(stressor: &stress::Stressor, schedule: stress::Schedule, env: &Env<'_>) -> i32 {
    if let Err(e) = stress::stop::install_handlers() {
        eprintln!("hvbench-agent: cannot handle SIGTERM: {e}");
        return EXIT_FAILURE;
    }
    let outcome = catch_unwind(|| {
        let stdout = io::stdout().lock();
        stress::run_and_report(stressor, env, schedule, stress::stop::flag(), stdout)
    });
    match outcome {
        Ok(Ok(true)) => EXIT_OK,
        Ok(Ok(false)) => EXIT_FAILURE,
        Ok(Err(e)) => {
            eprintln!("hvbench-agent: cannot write frames to stdout: {e}");
            EXIT_FAILURE
        }
        Err(payload) => {
            let _ = io::stdout().flush();
            eprintln!("hvbench-agent: crashed: {}", panics::message(&*payload));
            EXIT_FAILURE
        }
    }
}

fn run_file(path: PathBuf) -> i32 {
    let plan = match plan::read_plan(&path) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("hvbench-agent: {e}");
            return EXIT_USAGE;
        }
    };
    // An aggressor runs until SIGTERM, and must still clean up and send `Done` then.
    if plan.stress.is_some() {
        if let Err(e) = stress::stop::install_handlers() {
            eprintln!("hvbench-agent: cannot handle SIGTERM: {e}");
            return EXIT_FAILURE;
        }
    }
    let outcome = catch_unwind(|| {
        let stdout = io::stdout().lock();
        run::run_plan(&plan, Mode::Host, stdout)
    });
    match outcome {
        Ok(Ok(_)) => EXIT_OK,
        Ok(Err(e)) => {
            eprintln!("hvbench-agent: cannot write frames to stdout: {e}");
            EXIT_FAILURE
        }
        Err(payload) => {
            let _ = io::stdout().flush();
            eprintln!("hvbench-agent: crashed: {}", panics::message(&*payload));
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&["--plan", "p.json"]),
            Ok(Command::Run {
                plan: "p.json".into()
            })
        );
        assert_eq!(parse(&["--plan=-"]), Ok(Command::Run { plan: "-".into() }));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["--exit-now"]), Ok(Command::ExitNow));
        assert_eq!(parse(&["--plan", "x", "--help"]), Ok(Command::Help));
        assert!(parse(&[]).unwrap_err().contains("--plan"));
        assert!(parse(&["--plan"]).unwrap_err().contains("FILE"));
        assert!(parse(&["run"]).unwrap_err().contains("`run`"));
        assert_eq!(
            parse(&["--peer", "127.0.0.1:0"]),
            Ok(Command::Peer {
                listen: "127.0.0.1:0".into(),
                lifetime: peer::DEFAULT_LIFETIME,
                tools: None,
            })
        );
        assert_eq!(
            parse(&["--peer-lifetime-s", "90", "--peer", "127.0.0.1:0"]),
            Ok(Command::Peer {
                listen: "127.0.0.1:0".into(),
                lifetime: Duration::from_secs(90),
                tools: None,
            })
        );
        assert!(parse(&["--peer"]).unwrap_err().contains("ADDRESS:PORT"));
        assert!(parse(&["--peer", "x", "--plan", "p"])
            .unwrap_err()
            .contains("do not go together"));
    }

    #[test]
    fn stress_arguments() {
        assert_eq!(
            parse(&[
                "--stress",
                "cache",
                "--duration-ms",
                "250",
                "--param",
                "size_mib=8"
            ]),
            Ok(Command::Stress {
                stressor: stress::Stressor::Cache { size_mib: 8 },
                schedule: stress::Schedule {
                    duration: Duration::from_millis(250),
                    report: None
                },
                peer: None,
                tools: None
            })
        );
        assert_eq!(
            parse(&[
                "--stress",
                "net",
                "--duration-ms",
                "60000",
                "--report-ms",
                "500",
                "--peer-addr",
                "127.0.0.1:5201",
                "--param",
                "streams=4"
            ]),
            Ok(Command::Stress {
                stressor: stress::Stressor::Net { streams: 4 },
                schedule: stress::Schedule {
                    duration: Duration::from_millis(60_000),
                    report: Some(Duration::from_millis(500))
                },
                peer: Some("127.0.0.1:5201".into()),
                tools: None
            })
        );
        assert_eq!(
            parse(&[
                "--stress",
                "stress-ng",
                "--duration-ms",
                "3000",
                "--tools-root",
                "/t",
                "--param",
                "stressor=matrix"
            ]),
            Ok(Command::Stress {
                stressor: stress::Stressor::StressNg {
                    stressor: "matrix".into(),
                    instances: 1
                },
                schedule: stress::Schedule {
                    duration: Duration::from_millis(3000),
                    report: None
                },
                peer: None,
                tools: Some("/t".into())
            })
        );
        assert!(parse(&["--stress", "stress-ng", "--duration-ms", "10"])
            .unwrap_err()
            .contains("needs --tools-root"));
        assert!(parse(&[
            "--stress",
            "cpu",
            "--duration-ms",
            "10",
            "--tools-root",
            "/t"
        ])
        .unwrap_err()
        .contains("goes with --stress stress-ng"));
        assert!(parse(&["--stress", "net", "--duration-ms", "10"])
            .unwrap_err()
            .contains("needs --peer-addr"));
        assert!(parse(&[
            "--stress",
            "cpu",
            "--duration-ms",
            "10",
            "--peer-addr",
            "127.0.0.1:1"
        ])
        .unwrap_err()
        .contains("goes with --stress net"));
        assert!(
            parse(&["--stress", "cpu", "--duration-ms", "10", "--report-ms", "5"])
                .unwrap_err()
                .contains("from 10")
        );
        assert!(parse(&["--plan", "p", "--report-ms", "100"])
            .unwrap_err()
            .contains("go with --stress"));
        assert!(parse(&["--stress", "cpu"])
            .unwrap_err()
            .contains("--duration-ms"));
        assert!(parse(&["--stress", "network", "--duration-ms", "10"])
            .unwrap_err()
            .contains("unknown stress kind `network`"));
        assert!(parse(&["--stress", "cpu", "--duration-ms", "0"])
            .unwrap_err()
            .contains("from 1"));
        assert!(
            parse(&["--stress", "cpu", "--duration-ms", "9", "--param", "x"])
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        assert!(parse(&[
            "--stress",
            "disk",
            "--duration-ms",
            "9",
            "--param",
            "size_mib=1",
            "--param",
            "size_mib=2"
        ])
        .unwrap_err()
        .contains("twice"));
        assert!(
            parse(&["--stress", "cpu", "--duration-ms", "9", "--plan", "p"])
                .unwrap_err()
                .contains("does not go with")
        );
        assert!(parse(&["--plan", "p", "--duration-ms", "9"])
            .unwrap_err()
            .contains("go with --stress"));
    }
}
