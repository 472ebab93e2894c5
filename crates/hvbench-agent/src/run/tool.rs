//! General benchmarks (docs/architecture.md, "The tools tree"): each window is one run of the
//! tool, chrooted in the tools tree ([`super::chroot`]); its output goes through the tool's
//! parser (`crate::tools`). One `Sample` per metric the parser gives, the catalog's metric
//! first, with `iterations` 1 and `elapsed_ns` the run's wall time. The raw output of every
//! run goes out as an `Output` frame after its window (the store keeps it with the trial). A run that exits non-zero,
//! outlives its limit or prints what the parser refuses ends the workload with a `Failed`
//! frame carrying the reason and the tail of its output; never a zero sample.

use super::chroot::{run_in_tree, Ran, WorkDir};
use crate::frames::FrameWriter;
use crate::tools::{
    self, check_exit,
    fio::{self, FioEngine, FioParams, FioRw},
    iperf3::{self, Iperf3Params},
    pgbench::{self, PgbenchRun},
    redis_benchmark::{self, RedisBenchmarkParams},
    stress_ng::{self, StressNgParams},
    sysbench::{self, MemoryOper, SysbenchParams, SysbenchTest},
    ToolError, ToolMetric,
};
use crate::workloads::disk::{find_disk, DEFAULT_SCRATCH_BASE};
use crate::Mode;
use hvbench_proto::catalog::Better;
use hvbench_proto::{AgentPlan, Message, WindowEdge, WorkloadDef, WorkloadRequest};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where stress-ng writes its YAML report, inside the tree (its `/tmp` is the run's work dir).
pub(crate) const STRESS_NG_YAML: &str = "/tmp/stress-ng.yaml";
/// iperf3's server until the peer names it before each test.
const PEER_PENDING: &str = "peer";
/// The longest fio's fill of its region may take, in seconds.
const FILL_LIMIT_S: u32 = 1800;
/// The file fio works on where it has no disk of its own (the host), in the run's `/tmp`.
const FIO_FILE: &str = "/tmp/fio.dat";
/// The most of a run's standard output (and of its error) one `Output` frame carries, from
/// the end.
const RAW_OUTPUT_MAX: usize = 64 * 1024;

/// One tool run, as a workload's parameters ask for it.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolRun {
    Sysbench(SysbenchParams),
    StressNg(StressNgParams),
    Fio(FioParams),
    /// Its server is asked of the peer before each test.
    Iperf3(Iperf3Params),
    /// redis-server here, redis-benchmark run by the peer.
    Redis {
        requests: u32,
        clients: u16,
    },
    /// pgbench against PostgreSQL here ([`super::oltp`]), its tables filled at `scale`.
    Oltp {
        run: PgbenchRun,
        scale: u32,
    },
    /// make -j `jobs` building `files` of the compile sources ([`super::compile`]).
    Compile {
        files: u32,
        jobs: u32,
    },
}

impl ToolRun {
    /// The run a general benchmark's resolved parameters describe. `target` is where `fio`
    /// does its I/O (a device, or a file in the run's `/tmp`), as the tree sees it.
    pub fn from_params(
        name: &str,
        params: &BTreeMap<String, Value>,
        target: &str,
    ) -> Result<ToolRun, String> {
        let int = |key: &str| -> Result<u32, String> {
            params
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("parameter `{key}` is missing or too large"))
        };
        let text = |key: &str| -> Result<&str, String> {
            params
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("parameter `{key}` is missing"))
        };
        let sysbench = |test: SysbenchTest| -> Result<ToolRun, String> {
            let mut p = SysbenchParams::new(test);
            p.time_s = int("time_s")?;
            p.threads = int("threads")?;
            Ok(ToolRun::Sysbench(p))
        };
        Ok(match name {
            "sysbench-cpu" => sysbench(SysbenchTest::Cpu {
                max_prime: int("max_prime")?,
            })?,
            "sysbench-memory" => {
                let SysbenchTest::Memory { total_size_mib, .. } = SysbenchTest::memory() else {
                    unreachable!("SysbenchTest::memory is a memory test")
                };
                sysbench(SysbenchTest::Memory {
                    block_size_kib: int("block_size_kib")?,
                    total_size_mib,
                    oper: match text("oper")? {
                        "read" => MemoryOper::Read,
                        _ => MemoryOper::Write,
                    },
                })?
            }
            "sysbench-threads" => sysbench(SysbenchTest::Threads {
                yields: int("thread_yields")?,
                locks: int("thread_locks")?,
            })?,
            "stress-ng" => {
                let mut p = StressNgParams::new(text("stressor")?, STRESS_NG_YAML);
                p.timeout_s = int("time_s")?;
                p.instances = int("instances")?;
                ToolRun::StressNg(p)
            }
            "fio" => {
                let mut p = FioParams::new(target);
                p.rw = text("rw")?.parse().map_err(|e: ToolError| e.to_string())?;
                p.bs = text("bs")?.to_string();
                p.iodepth = int("iodepth")?;
                p.ioengine = text("ioengine")?
                    .parse()
                    .map_err(|e: ToolError| e.to_string())?;
                p.direct = params
                    .get("direct")
                    .and_then(Value::as_bool)
                    .ok_or("parameter `direct` is missing")?;
                p.size_mib = u64::from(int("size_mib")?);
                p.runtime_s = int("time_s")?;
                ToolRun::Fio(p)
            }
            "oltp" => {
                let mut run = PgbenchRun::new(super::oltp::conn());
                run.time_s = int("time_s")?;
                run.clients = int("clients")?;
                ToolRun::Oltp {
                    run,
                    scale: int("scale")?,
                }
            }
            "compile" => ToolRun::Compile {
                files: int("files")?,
                jobs: int("jobs")?,
            },
            "redis" => ToolRun::Redis {
                requests: int("requests")?,
                clients: u16::try_from(int("clients")?)
                    .map_err(|_| "parameter `clients` is too large".to_string())?,
            },
            "iperf3" => {
                let mut p = Iperf3Params::new(PEER_PENDING);
                p.duration_s = int("time_s")?;
                ToolRun::Iperf3(p)
            }
            other => {
                return Err(format!(
                    "`{other}` is not a general benchmark this agent runs"
                ))
            }
        })
    }

    pub fn tool(&self) -> &'static str {
        match self {
            ToolRun::Sysbench(_) => "sysbench",
            ToolRun::StressNg(_) => "stress-ng",
            ToolRun::Fio(_) => "fio",
            ToolRun::Iperf3(_) => "iperf3",
            ToolRun::Redis { .. } => "redis-benchmark",
            ToolRun::Oltp { .. } => "pgbench",
            ToolRun::Compile { .. } => "make",
        }
    }

    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        match self {
            ToolRun::Sysbench(p) => p.argv(),
            ToolRun::StressNg(p) => p.argv(),
            ToolRun::Fio(p) => p.argv(),
            ToolRun::Iperf3(p) => p.argv(),
            // Run by the peer, which builds its command line from the same builder.
            ToolRun::Redis { requests, clients } => RedisBenchmarkParams {
                requests: *requests,
                clients: u32::from(*clients),
                ..RedisBenchmarkParams::new(PEER_PENDING)
            }
            .argv(),
            ToolRun::Compile { jobs, .. } => Ok(super::compile::make_argv(*jobs)),
            // Debian keeps PostgreSQL's programs out of /usr/bin.
            ToolRun::Oltp { run, .. } => run.argv().map(|mut argv| {
                argv[0] = format!("{}/pgbench", super::oltp::PG_BIN);
                argv
            }),
        }
    }

    /// What runs once before the windows, unmeasured: fio's sequential fill of its region, so
    /// that reads read written blocks (a guest's scratch disk is a sparse file on its host,
    /// whose holes read back without touching a disk) and the host's file exists at its size.
    pub fn setup(&self) -> Option<ToolRun> {
        match self {
            ToolRun::Fio(p) => Some(ToolRun::Fio(FioParams {
                rw: FioRw::Write,
                bs: "1m".to_string(),
                iodepth: 1,
                ioengine: FioEngine::Psync,
                direct: p.direct,
                size_mib: p.size_mib,
                // A limit, not a length: the fill ends when the region is written.
                runtime_s: FILL_LIMIT_S,
                time_based: false,
                filename: p.filename.clone(),
            })),
            _ => None,
        }
    }

    /// How long one run may last before it is killed: twice its own time, plus room to start.
    pub fn limit(&self) -> Duration {
        let seconds = match self {
            ToolRun::Sysbench(p) => p.time_s,
            ToolRun::StressNg(p) => p.timeout_s,
            ToolRun::Fio(p) => p.runtime_s,
            ToolRun::Iperf3(p) => p.duration_s,
            ToolRun::Oltp { run, .. } => run.time_s,
            ToolRun::Compile { .. } => return super::compile::BUILD_LIMIT,
            ToolRun::Redis { .. } => {
                return crate::peer_tools::REDIS_BENCHMARK_LIMIT;
            }
        };
        Duration::from_secs(2 * u64::from(seconds) + 10)
    }

    /// The metrics of a finished run, or why there are none (with the tail of its output).
    /// `work` is the run's `/tmp`, where stress-ng left its report.
    pub fn outcome(
        &self,
        ran: &Ran,
        work: &Path,
        limit: Duration,
    ) -> Result<Vec<ToolMetric>, String> {
        let tool = self.tool();
        let with_tail = |e: String| format!("{e}; output ends: {}", tail(ran));
        if ran.timed_out {
            return Err(with_tail(format!(
                "{tool} ran past its limit of {} s and was killed",
                limit.as_secs()
            )));
        }
        check_exit(tool, ran.code, &ran.stderr).map_err(|e| with_tail(e.to_string()))?;
        let parsed = match self {
            ToolRun::Sysbench(p) => sysbench::parse(p.test.kind(), &ran.stdout),
            ToolRun::StressNg(p) => {
                let yaml = work.join(STRESS_NG_YAML.trim_start_matches("/tmp/"));
                let text = std::fs::read_to_string(&yaml).unwrap_or_default();
                stress_ng::parse(&text, &p.stressor)
            }
            ToolRun::Fio(_) => fio::parse(&ran.stdout).map(fio_totals),
            ToolRun::Iperf3(_) => iperf3::parse(&ran.stdout).map(iperf3_received),
            ToolRun::Redis { .. } => redis_benchmark::parse(&ran.stdout),
            ToolRun::Oltp { .. } => pgbench::parse_run(&ran.stdout),
            ToolRun::Compile { .. } => super::compile::check_build(work, ran.elapsed),
        };
        parsed.map_err(|e| with_tail(e.to_string()))
    }
}

/// iperf3's metrics as the catalog names them: what the receiving side got, `throughput` when
/// the client (the agent's side) sent, `reverse-throughput` when the server (the peer) did.
fn iperf3_received(metrics: Vec<ToolMetric>) -> Vec<ToolMetric> {
    metrics
        .into_iter()
        .filter_map(|m| {
            let name = match m.metric.as_str() {
                "up-received" => "throughput",
                "down-received" => "reverse-throughput",
                _ => return None,
            };
            Some(ToolMetric {
                metric: name.to_string(),
                ..m
            })
        })
        .collect()
}

/// fio's metrics as the catalog names them (`WorkloadDef::metrics_with`): `iops` and
/// `bandwidth` summed over the directions the job ran, then each direction's latency, and its
/// IOPS and MiB/s only when there are two directions (with one they are the totals).
fn fio_totals(per_direction: Vec<ToolMetric>) -> Vec<ToolMetric> {
    let sum = |suffix: &str| -> f64 {
        per_direction
            .iter()
            .filter(|m| m.metric.ends_with(suffix))
            .map(|m| m.value)
            .sum()
    };
    let directions = per_direction
        .iter()
        .filter(|m| m.metric.ends_with("-iops"))
        .count();
    let mut out = vec![
        ToolMetric {
            metric: "iops".into(),
            unit: "IOPS",
            better: Better::Higher,
            value: sum("-iops"),
        },
        ToolMetric {
            metric: "bandwidth".into(),
            unit: "MiB/s",
            better: Better::Higher,
            value: sum("-bandwidth"),
        },
    ];
    out.extend(
        per_direction
            .into_iter()
            .filter(|m| directions > 1 || m.metric.contains("-clat-")),
    );
    out
}

/// The last lines of a run's stdout and stderr, for a `Failed` reason.
pub(crate) fn tail(ran: &Ran) -> String {
    let lines: Vec<&str> = ran
        .stdout
        .lines()
        .chain(ran.stderr.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(6)..].join(" / ");
    if tail.is_empty() {
        "(nothing)".to_string()
    } else {
        tools::clip(&tail, 600)
    }
}

/// Run a general benchmark's warm-up and measured windows.
pub(super) fn run_tool_workload<W: Write>(
    plan: &AgentPlan,
    def: &WorkloadDef,
    request: &WorkloadRequest,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let label = request.label();
    let Some(root) = plan.tools_root.as_deref() else {
        return frames.failed(
            label,
            "no tools tree: the platform gave this agent none (plan.tools_root is not set)",
        );
    };
    let Some(windows) = plan.warmup.checked_add(plan.samples) else {
        return frames.failed(label, "warmup + samples exceeds the window counter");
    };
    let params = match def.resolve(&request.params) {
        Ok(p) => p,
        Err(e) => return frames.failed(label, format!("bad parameter {e}")),
    };
    let (target, work) = match place(def) {
        Ok(place) => place,
        Err(e) => return frames.failed(label, e),
    };
    let run = match ToolRun::from_params(def.name, &params, &target) {
        Ok(run) => run,
        Err(e) => return frames.failed(label, e),
    };
    if let Some(setup) = run.setup() {
        let mut outputs = Vec::new();
        let done = run_once(&setup, root, &work, "setup", &mut outputs);
        send_outputs(frames, label, outputs)?;
        if let Err(e) = done {
            return frames.failed(label, format!("setup ({}): {e}", setup.tool()));
        }
    }
    // redis: the server runs for all of the workload's windows.
    let redis = match &run {
        ToolRun::Redis { .. } => match start_redis(plan, root) {
            Ok(server) => Some(server),
            Err(e) => return frames.failed(label, format!("setup (redis-server): {e}")),
        },
        _ => None,
    };
    // oltp: the database lives for all of the workload's windows; pgbench works in its /tmp.
    let database = match &run {
        ToolRun::Oltp { scale, .. } => {
            match super::oltp::Database::start(Path::new(root), *scale) {
                Ok(db) => Some(db),
                Err(e) => return frames.failed(label, format!("setup (PostgreSQL): {e}")),
            }
        }
        _ => None,
    };
    let work = database.as_ref().map_or(&work, |db| db.work());
    if let ToolRun::Compile { files, .. } = &run {
        if let Err(e) = super::compile::write_makefile(Path::new(root), *files, work.path()) {
            return frames.failed(label, format!("setup (compile): {e}"));
        }
    }
    let one = |index: u32, what: &str, outputs: &mut Vec<RawOutput>| match (&run, &redis) {
        (ToolRun::Iperf3(p), _) => iperf3_window(p, plan, root, work, index, outputs),
        (ToolRun::Redis { .. }, Some(server)) => redis_window(&run, server, index, outputs),
        _ => run_once(&run, root, work, what, outputs),
    };
    for index in 0..windows {
        let mut outputs = Vec::new();
        let done = one(index, &index.to_string(), &mut outputs);
        send_outputs(frames, label, outputs)?;
        let (elapsed, metrics) = match done {
            Ok(done) => done,
            Err(e) => return frames.failed(label, format!("window {index}: {e}")),
        };
        for m in primary_first(def, metrics) {
            frames.send(&Message::Sample {
                workload: label.to_string(),
                metric: m.metric,
                unit: m.unit.to_string(),
                better: m.better,
                warmup: index < plan.warmup,
                index,
                value: m.value,
                iterations: 1,
                elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            })?;
        }
    }
    if plan.evidence && plan.samples > 0 {
        counted_window(def, label, windows, frames, |outputs| {
            one(windows, &format!("{windows} (counted)"), outputs)
        })?;
    }
    Ok(())
}

/// Evidence, as for hvbench's own workloads (`measure::counted_window`): one more run after the
/// measured ones, marked at both edges so that what counts beside the guest counts beside it
/// alone; its value goes out as `Counters` from `counted` (never a sample), then the guest's
/// steal time over it. Its raw output goes out after the end mark, outside the window. A run
/// that fails sends its marks only.
fn counted_window<W: Write>(
    def: &WorkloadDef,
    label: &str,
    index: u32,
    frames: &mut FrameWriter<W>,
    run: impl FnOnce(&mut Vec<RawOutput>) -> Result<(Duration, Vec<ToolMetric>), String>,
) -> io::Result<()> {
    let mark = |frames: &mut FrameWriter<W>, edge: WindowEdge| {
        frames.send(&Message::Window {
            workload: label.to_string(),
            metric: def.metric.to_string(),
            index,
            edge,
        })
    };
    mark(frames, WindowEdge::Begin)?;
    crate::evidence::drain_console();
    let before = crate::evidence::GuestCounters::read();
    let mut outputs = Vec::new();
    let done = run(&mut outputs);
    let after = crate::evidence::GuestCounters::read();
    mark(frames, WindowEdge::End)?;
    send_outputs(frames, label, outputs)?;
    let Ok((elapsed, metrics)) = done else {
        return Ok(());
    };
    let Some(value) = metrics
        .iter()
        .find(|m| m.metric == def.metric)
        .map(|m| m.value)
    else {
        return Ok(());
    };
    let span_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let counters = |source: &str, values| Message::Counters {
        workload: label.to_string(),
        metric: def.metric.to_string(),
        index,
        source: source.to_string(),
        span_ns,
        values,
    };
    let values = [
        ("value", value),
        ("iterations", 1.0),
        ("elapsed_ns", span_ns as f64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    frames.send(&counters("counted", values))?;
    frames.send(&counters("guest", before.since(&after)))
}

/// Where a workload's runs work: fio's target (the scratch disk in a guest, a file in the
/// run's `/tmp` on a host) and the directory bound on the tree's `/tmp`, one for all of the
/// workload's runs (fio's file is filled once). On a host, fio's directory is made where the
/// disk workloads make their scratch files (`HVBENCH_SCRATCH_DIR`, else `/var/tmp`): `/tmp`
/// may be a tmpfs, which refuses `O_DIRECT`.
fn place(def: &WorkloadDef) -> Result<(String, WorkDir), String> {
    let workdir = |base: Option<PathBuf>| {
        match base {
            Some(base) => WorkDir::new_in(&base),
            None => WorkDir::new(),
        }
        .map_err(|e| format!("cannot make a work directory: {e}"))
    };
    if def.name != "fio" {
        return Ok((String::new(), workdir(None)?));
    }
    match Mode::current() {
        Mode::Guest => {
            let disk = find_disk(Path::new("/sys/block"))
                .map_err(|e| format!("fio has no scratch disk: {e}"))?;
            Ok((disk.dev.display().to_string(), workdir(None)?))
        }
        Mode::Host => {
            let base = std::env::var_os("HVBENCH_SCRATCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SCRATCH_BASE));
            Ok((FIO_FILE.to_string(), workdir(Some(base))?))
        }
    }
}

/// One run of `run` in the tree: its raw output kept in `outputs`, then its metrics, or why
/// there are none. The outer error is the frame writer's.
fn run_once(
    run: &ToolRun,
    root: &str,
    work: &WorkDir,
    what: &str,
    outputs: &mut Vec<RawOutput>,
) -> Result<(Duration, Vec<ToolMetric>), String> {
    let argv = run.argv().map_err(|e| e.to_string())?;
    // A report left by the run before must not pass for this one's, nor its build.
    let _ = std::fs::remove_file(work.path().join(STRESS_NG_YAML.trim_start_matches("/tmp/")));
    if let ToolRun::Compile { .. } = run {
        super::compile::clean(work.path())?;
    }
    let limit = run.limit();
    let ran = run_in_tree(Path::new(root), &argv, work.path(), limit).map_err(|e| {
        format!(
            "cannot run `{}` in the tools tree {root}: {e}",
            argv.join(" ")
        )
    })?;
    outputs.push(RawOutput {
        window: what.to_string(),
        text: format!(
            "`{}` exit {:?} in {:?}\n--- stdout\n{}\n--- stderr\n{}",
            argv.join(" "),
            ran.code,
            ran.elapsed,
            clip_end(&ran.stdout),
            clip_end(&ran.stderr)
        ),
    });
    run.outcome(&ran, work.path(), limit)
        .map(|metrics| (ran.elapsed, metrics))
}

/// redis-server on the address this agent reaches its peer from, and the peer's address.
fn start_redis(
    plan: &AgentPlan,
    root: &str,
) -> Result<(crate::peer_tools::RedisServer, String), String> {
    let peer = plan
        .peer
        .clone()
        .ok_or("no network peer: the platform gave this agent none (plan.peer is not set)")?;
    let ip = crate::peer_tools::own_address_toward(&peer)?;
    let server = crate::peer_tools::RedisServer::start(Path::new(root), ip)?;
    Ok((server, peer))
}

/// One window of redis: the peer runs redis-benchmark against this agent's server.
fn redis_window(
    run: &ToolRun,
    (server, peer): &(crate::peer_tools::RedisServer, String),
    index: u32,
    outputs: &mut Vec<RawOutput>,
) -> Result<(Duration, Vec<ToolMetric>), String> {
    let ToolRun::Redis { requests, clients } = *run else {
        return Err("not a redis run".to_string());
    };
    let port = server.port;
    let start = std::time::Instant::now();
    let asked = crate::peer_tools::ask_for_redis_benchmark(peer, port, requests, clients);
    let elapsed = start.elapsed();
    let csv = asked?;
    outputs.push(RawOutput {
        window: index.to_string(),
        text: format!(
            "redis-benchmark on the peer {peer} against port {port}, {requests} requests, \
             {clients} clients, in {elapsed:?}\n--- stdout\n{}",
            clip_end(&csv)
        ),
    });
    let ran = Ran {
        code: Some(0),
        stdout: csv,
        stderr: String::new(),
        elapsed,
        timed_out: false,
    };
    run.outcome(&ran, Path::new("/"), run.limit())
        .map(|metrics| (elapsed, metrics))
}

/// One window of iperf3: a test with the agent's side sending, then one with the peer's, each
/// against a server the peer starts for it.
fn iperf3_window(
    params: &Iperf3Params,
    plan: &AgentPlan,
    root: &str,
    work: &WorkDir,
    index: u32,
    outputs: &mut Vec<RawOutput>,
) -> Result<(Duration, Vec<ToolMetric>), String> {
    let peer = plan
        .peer
        .as_deref()
        .ok_or("no network peer: the platform gave this agent none (plan.peer is not set)")?;
    let mut elapsed = Duration::ZERO;
    let mut metrics = Vec::new();
    for reverse in [false, true] {
        let server = crate::peer_tools::ask_for_iperf3(peer)?;
        let run = ToolRun::Iperf3(Iperf3Params {
            server: server.ip().to_string(),
            port: server.port(),
            reverse,
            ..params.clone()
        });
        let what = format!("{index}{}", if reverse { " reverse" } else { "" });
        let (took, m) = run_once(&run, root, work, &what, outputs)?;
        elapsed += took;
        metrics.extend(m);
    }
    Ok((elapsed, metrics))
}

/// One run's raw output, kept until it can go out as a `Message::Output` (after the window,
/// so that sending it is never part of what a window measures).
#[derive(Debug)]
pub(super) struct RawOutput {
    /// Which run: `setup`, the window's index, `3 reverse`, `4 (counted)`.
    window: String,
    /// The command, its exit status and time, then its standard output and error.
    text: String,
}

/// Send each of `outputs` as a `Message::Output` of workload `label`.
fn send_outputs<W: Write>(
    frames: &mut FrameWriter<W>,
    label: &str,
    outputs: Vec<RawOutput>,
) -> io::Result<()> {
    for RawOutput { window, text } in outputs {
        frames.send(&Message::Output {
            workload: label.to_string(),
            window,
            output: text,
        })?;
    }
    Ok(())
}

/// The catalog's metric first, the others in the parser's order.
fn primary_first(def: &WorkloadDef, mut metrics: Vec<ToolMetric>) -> Vec<ToolMetric> {
    if let Some(i) = metrics.iter().position(|m| m.metric == def.metric) {
        let primary = metrics.remove(i);
        metrics.insert(0, primary);
    }
    metrics
}

/// The end of `text`, at most [`RAW_OUTPUT_MAX`] bytes (on a character boundary).
fn clip_end(text: &str) -> &str {
    let mut start = text.len().saturating_sub(RAW_OUTPUT_MAX);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_proto::catalog;

    fn resolved(name: &str, given: &[(&str, Value)]) -> ToolRun {
        let def = catalog::workload(name).unwrap();
        let given = given
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        ToolRun::from_params(name, &def.resolve(&given).unwrap(), "/dev/vda").unwrap()
    }

    fn ran(code: Option<i32>, stdout: &str, stderr: &str) -> Ran {
        Ran {
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            elapsed: Duration::from_secs(2),
            timed_out: false,
        }
    }

    #[test]
    fn catalog_parameters_become_the_command_line() {
        let run = resolved("sysbench-cpu", &[("time_s", Value::from(3))]);
        let argv = run.argv().unwrap();
        assert_eq!(argv[..3], ["sysbench", "cpu", "--time=3"]);
        assert!(
            argv.contains(&"--cpu-max-prime=10000".to_string()),
            "{argv:?}"
        );
        assert_eq!(run.limit(), Duration::from_secs(16));
        let run = resolved("sysbench-memory", &[("oper", Value::from("read"))]);
        assert!(run
            .argv()
            .unwrap()
            .contains(&"--memory-oper=read".to_string()));
        let run = resolved("stress-ng", &[("stressor", Value::from("matrix"))]);
        let argv = run.argv().unwrap();
        assert_eq!(argv[..3], ["stress-ng", "--matrix", "1"]);
        assert!(argv.contains(&STRESS_NG_YAML.to_string()));
    }

    #[test]
    fn a_real_report_gives_the_catalog_metric_first() {
        let run = resolved("sysbench-cpu", &[]);
        let out = include_str!("../tools/fixtures/sysbench-cpu.txt");
        let work = WorkDir::new().unwrap();
        let metrics = run
            .outcome(&ran(Some(0), out, ""), work.path(), run.limit())
            .unwrap();
        let def = catalog::workload("sysbench-cpu").unwrap();
        let metrics = primary_first(def, metrics);
        assert_eq!(metrics[0].metric, def.metric);
        assert!(metrics[0].value > 0.0);
        // What the parsers give is what the catalog says each general benchmark reports.
        let names = |m: &[ToolMetric]| m.iter().map(|m| m.metric.clone()).collect::<Vec<_>>();
        assert_eq!(names(&metrics), def.metrics());
        let memory = sysbench::parse(
            sysbench::SysbenchKind::Memory,
            include_str!("../tools/fixtures/argv-sysbench-memory.txt"),
        )
        .unwrap();
        let def = catalog::workload("sysbench-memory").unwrap();
        assert_eq!(names(&primary_first(def, memory)), def.metrics());
        let yaml = include_str!("../tools/fixtures/stress-ng-cpu.yaml");
        let def = catalog::workload("stress-ng").unwrap();
        let ng = stress_ng::parse(yaml, "cpu").unwrap();
        assert_eq!(names(&primary_first(def, ng)), def.metrics());
    }

    #[test]
    fn garbage_a_bad_exit_and_a_timeout_are_errors_with_the_output_tail() {
        let run = resolved("sysbench-cpu", &[]);
        let work = WorkDir::new().unwrap();
        let e = run
            .outcome(
                &ran(Some(0), "hello\nnot sysbench at all\n", ""),
                work.path(),
                run.limit(),
            )
            .unwrap_err();
        assert!(e.contains("not sysbench at all"), "{e}");
        let e = run
            .outcome(
                &ran(Some(1), "", "FATAL: no way\n"),
                work.path(),
                run.limit(),
            )
            .unwrap_err();
        assert!(
            e.contains("exit status 1") && e.contains("FATAL: no way"),
            "{e}"
        );
        let mut hung = ran(None, "sysbench 1.0.20\n", "");
        hung.timed_out = true;
        let e = run.outcome(&hung, work.path(), run.limit()).unwrap_err();
        assert!(e.contains("past its limit of 14 s"), "{e}");
        let run = resolved("stress-ng", &[]);
        let e = run
            .outcome(&ran(Some(0), "", ""), work.path(), run.limit())
            .unwrap_err();
        assert!(e.contains("stress-ng"), "{e}");
    }

    #[test]
    fn fio_fills_its_region_once_then_runs_the_catalogs_job() {
        let run = resolved("fio", &[("size_mib", Value::from(32))]);
        assert_eq!(
            run.argv().unwrap().join(" "),
            "fio --name=hvbench --filename=/dev/vda --rw=randread --bs=4096 --iodepth=1 \
             --ioengine=psync --direct=1 --size=32M --runtime=2 --time_based --output-format=json"
        );
        let fill = run.setup().unwrap();
        assert_eq!(
            fill.argv().unwrap().join(" "),
            "fio --name=hvbench --filename=/dev/vda --rw=write --bs=1048576 --iodepth=1 \
             --ioengine=psync --direct=1 --size=32M --runtime=1800 --output-format=json"
        );
        assert_eq!(resolved("sysbench-cpu", &[]).setup(), None);
        // A deep queue needs libaio: refused with the reason, before anything runs.
        let deep = resolved("fio", &[("iodepth", Value::from(8))]);
        assert!(deep.argv().unwrap_err().to_string().contains("libaio"));
    }

    /// fio's metrics are the catalog's, totals first, for one direction and for two.
    #[test]
    fn fio_outcome_gives_the_catalogs_metrics() {
        let work = WorkDir::new().unwrap();
        let def = catalog::workload("fio").unwrap();
        let names = |m: &[ToolMetric]| m.iter().map(|m| m.metric.clone()).collect::<Vec<_>>();
        for (fixture, rw) in [
            (
                include_str!("../tools/fixtures/fio-randread.json"),
                "randread",
            ),
            (
                include_str!("../tools/fixtures/fio-randwrite.json"),
                "randwrite",
            ),
            (
                include_str!("../tools/fixtures/fio-randrw-libaio.json"),
                "randrw",
            ),
        ] {
            let run = resolved("fio", &[("rw", Value::from(rw))]);
            let m = run
                .outcome(&ran(Some(0), fixture, ""), work.path(), run.limit())
                .unwrap();
            let params = def
                .resolve(&[("rw".to_string(), Value::from(rw))].into())
                .unwrap();
            assert_eq!(names(&m), def.metrics_with(&params), "{rw}");
            let total: f64 = if rw == "randrw" {
                m.iter()
                    .filter(|x| x.metric.ends_with("-iops"))
                    .map(|x| x.value)
                    .sum()
            } else {
                m[0].value
            };
            assert!(
                m[0].value > 0.0 && (m[0].value - total).abs() < 1e-6,
                "{rw}"
            );
        }
    }

    /// What redis-benchmark's and iperf3's real outputs give is what the catalog says.
    #[test]
    fn redis_and_iperf3_give_the_catalogs_metrics() {
        let names = |m: &[ToolMetric]| m.iter().map(|m| m.metric.clone()).collect::<Vec<_>>();
        let run = resolved("redis", &[]);
        let work = WorkDir::new().unwrap();
        let csv = include_str!("../tools/fixtures/redis-benchmark.csv");
        let m = run
            .outcome(&ran(Some(0), csv, ""), work.path(), run.limit())
            .unwrap();
        let def = catalog::workload("redis").unwrap();
        assert_eq!(names(&primary_first(def, m)), def.metrics());
        let mut both = iperf3_received(
            iperf3::parse(include_str!("../tools/fixtures/iperf3-tcp.json")).unwrap(),
        );
        both.extend(iperf3_received(
            iperf3::parse(include_str!("../tools/fixtures/iperf3-tcp-reverse.json")).unwrap(),
        ));
        let def = catalog::workload("iperf3").unwrap();
        assert_eq!(names(&both), def.metrics());
        assert!(both.iter().all(|m| m.unit == def.unit && m.value > 0.0));
        // The peer builds redis-benchmark's command line from the same parameters.
        assert!(run.argv().unwrap().join(" ").contains("-n 10000 -c 10"));
    }

    /// The rest of the general benchmarks, on real outputs of Debian 12's tools: what each
    /// parser gives is what the catalog says (the plan counts its comparisons from the
    /// catalog, the report from the samples: they must agree).
    #[test]
    fn threads_oltp_and_compile_give_the_catalogs_metrics() {
        let names = |m: &[ToolMetric]| m.iter().map(|m| m.metric.clone()).collect::<Vec<_>>();
        let threads = sysbench::parse(
            sysbench::SysbenchKind::Threads,
            include_str!("../tools/fixtures/sysbench-threads.txt"),
        )
        .unwrap();
        let def = catalog::workload("sysbench-threads").unwrap();
        assert_eq!(names(&primary_first(def, threads)), def.metrics());
        let def = catalog::workload("oltp").unwrap();
        for report in [
            include_str!("../tools/fixtures/pgbench-tpcb.txt"),
            include_str!("../tools/fixtures/pgbench-select-only.txt"),
        ] {
            let tps = crate::tools::pgbench::parse_run(report).unwrap();
            assert_eq!(names(&primary_first(def, tps)), def.metrics());
        }
        let work = WorkDir::new().unwrap();
        std::fs::create_dir(work.path().join("build")).unwrap();
        std::fs::write(work.path().join("objects"), "a.so").unwrap();
        std::fs::write(work.path().join("build/a.so"), "").unwrap();
        let built =
            super::super::compile::check_build(work.path(), Duration::from_secs(2)).unwrap();
        let def = catalog::workload("compile").unwrap();
        assert_eq!(names(&primary_first(def, built)), def.metrics());
    }

    #[test]
    fn clip_end_keeps_the_end_on_a_character_boundary() {
        let long = format!("é{}", "x".repeat(RAW_OUTPUT_MAX));
        let clipped = clip_end(&long);
        assert_eq!(clipped.len(), RAW_OUTPUT_MAX);
        assert_eq!(clip_end("short"), "short");
    }
}
