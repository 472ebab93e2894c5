//! `hvbench`: the command line. Arguments and glue only; the work is in the library crates.
//! Pipeline: spec -> plan -> platforms -> runner -> store -> report.

mod doctor;
mod progress;
mod selftest;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use hvbench_analysis::BootstrapConfig;
use hvbench_platform::cache::Cache;
use hvbench_platform::isolation;
use hvbench_platform::lab::{self, LabPlatform};
use hvbench_platform::Platform;
use hvbench_report::{Report, ReportInput};
use hvbench_spec::{Plan, SpecError};
use hvbench_store::{RunStatus, Store};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DEFAULT_DB: &str = "hvbench.db";

#[derive(Parser)]
#[command(
    name = "hvbench",
    version,
    about = "Compare virtualization platforms with rerunnable experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment (with no SPEC: the built-in default comparison) and print its report.
    Run {
        /// The experiment file (TOML).
        spec: Option<PathBuf>,
        /// The SQLite database the samples go to.
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Also write the report (Markdown, text, HTML), its summary (JSON, CSV) and raw results
        /// (JSON, CSV) into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Continue an interrupted run (id or name) where it stopped: its stored plan and seed
        /// give the same schedule, and only the trials that did not finish are run. A SPEC
        /// given too must match the stored plan.
        #[arg(long, value_name = "RUN")]
        resume: Option<String>,
    },
    /// Validate an experiment file and print the expanded plan; runs nothing.
    Plan {
        /// The experiment file (TOML).
        spec: PathBuf,
    },
    /// Print the report of a stored run (default: the latest).
    Report {
        /// Run id or name (default: the latest run).
        run: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t = ReportFormat::Terminal)]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// List the stored runs instead.
        #[arg(long)]
        list: bool,
    },
    /// Print the raw samples of a stored run, one object (or row) per sample, warm-ups excluded.
    Results {
        /// Run id or name (default: the latest run).
        run: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t = ResultsFormat::Json)]
        format: ResultsFormat,
    },
    /// Say what this machine can run (QEMU, KVM, Xen, the lab, kernel image) and what hurts measurement.
    Doctor,
    /// Check hvbench itself: `fidelity` runs each workload beside the established tool that
    /// measures the same quantity (perf bench, sysbench, stress-ng, cyclictest) on this host.
    #[command(subcommand)]
    Selftest(selftest::Selftest),
    /// Two stored runs side by side (before / after), with a verdict per metric and platform.
    Compare {
        /// The first run (A, "before"): id or name.
        run_a: String,
        /// The second run (B, "after"): id or name.
        run_b: String,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t = CompareFormat::Terminal)]
        format: CompareFormat,
    },
    /// The emulated lab: a real Xen host and a real KVM host nested under QEMU's TCG.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// Inside a lab host: run one job and write its frames on the console (used by the lab).
    #[command(hide = true)]
    LabExec { job: PathBuf },
}

#[derive(Subcommand)]
enum LabAction {
    /// Build the lab images into the cache (needs root the first time; cached afterwards).
    Build,
    /// Say whether the lab is built, and from which package versions.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Terminal,
    Markdown,
    /// One self-contained HTML page with SVG charts.
    Html,
    /// The summary (medians, ratios, verdicts, anomalies, manifest) as JSON.
    Json,
    /// The raw samples as CSV.
    Csv,
    /// The summary as CSV, one row per (scenario, workload, metric, platform).
    SummaryCsv,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompareFormat {
    Terminal,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResultsFormat {
    Json,
    Csv,
}

/// Exit codes (README.md, docs/architecture.md): 0 success, 1 runtime failure, 2 bad usage or
/// bad spec, 3 a run that finished with some trials failed.
struct Usage(String);

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            if let Some(spec) = e.downcast_ref::<SpecError>() {
                eprintln!("{spec}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Run {
            spec,
            db,
            report,
            resume: None,
        } => run(spec.as_deref(), &db, report.as_deref()),
        Command::Run {
            spec,
            db,
            report,
            resume: Some(which),
        } => resume(&which, spec.as_deref(), &db, report.as_deref()),
        Command::Plan { spec } => {
            let plan = hvbench_spec::load(&spec)?;
            print!("{}", plan.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            run,
            db,
            format,
            out,
            list,
        } => {
            let store = open_existing(&db)?;
            if list {
                print!("{}", list_runs(&store)?);
                return Ok(ExitCode::SUCCESS);
            }
            let data = RunData::load(&store, run.as_deref())?;
            let cfg = BootstrapConfig::default();
            let text = match format {
                ReportFormat::Terminal => hvbench_report::terminal(&data.input(), &cfg),
                ReportFormat::Markdown => hvbench_report::markdown(&data.input(), &cfg),
                ReportFormat::Json => hvbench_report::summary_json(&data.input(), &cfg),
                ReportFormat::Csv => hvbench_report::results_csv(&data.input()),
                ReportFormat::Html => hvbench_report::html(&data.input(), &cfg),
                ReportFormat::SummaryCsv => hvbench_report::summary_csv(&data.input(), &cfg),
            };
            emit(&text, out.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Results { run, db, format } => {
            let store = open_existing(&db)?;
            let data = RunData::load(&store, run.as_deref())?;
            let text = match format {
                ResultsFormat::Json => hvbench_report::results_json(&data.input()),
                ResultsFormat::Csv => hvbench_report::results_csv(&data.input()),
            };
            emit(&text, None)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab {
            action: LabAction::Build,
        } => {
            let cache = Cache::from_env();
            let started = std::time::Instant::now();
            let images = lab::build(&cache, &mut |m: &str| eprintln!("lab: {m}"))?;
            println!(
                "lab ready in {:.1} s: {}",
                started.elapsed().as_secs_f64(),
                images.dir.display()
            );
            println!(
                "  xen: {}\n  kernel: {}\n  rootfs: {}",
                images.xen.display(),
                images.kernel.display(),
                images.rootfs.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab {
            action: LabAction::Status,
        } => {
            match lab::cached(&Cache::from_env()) {
                Some(images) => println!("lab built: {} ({})", images.key, images.dir.display()),
                None => println!(
                    "lab not built; `hvbench lab build` builds it (needs root, a few minutes)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::LabExec { job } => {
            let text = std::fs::read_to_string(&job)
                .with_context(|| format!("cannot read {}", job.display()))?;
            let job: lab::LabJob = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a lab job", job.display()))?;
            let mut out = std::io::stdout().lock();
            let ok = lab::exec_job(&job, &Cache::from_env(), &mut out)
                .context("cannot write to the console")?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Compare {
            run_a,
            run_b,
            db,
            format,
        } => {
            let store = open_existing(&db)?;
            let (a, b) = (
                RunData::load(&store, Some(&run_a))?,
                RunData::load(&store, Some(&run_b))?,
            );
            let cfg = BootstrapConfig::default();
            let (a, b) = (a.input(), b.input());
            let text = match format {
                CompareFormat::Terminal => hvbench_report::compare_terminal(&a, &b, &cfg),
                CompareFormat::Markdown => hvbench_report::compare_markdown(&a, &b, &cfg),
                CompareFormat::Json => hvbench_report::compare_json(&a, &b, &cfg),
            };
            emit(&text, None)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            print!("{}", doctor::report(&Cache::from_env()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Selftest(which) => selftest::run(which),
    }
}

fn run(spec: Option<&Path>, db: &Path, report_dir: Option<&Path>) -> Result<ExitCode> {
    let (plan, is_default) = match spec {
        Some(p) => (hvbench_spec::load(p)?, false),
        None => (Plan::default_plan(), true),
    };
    let cache = Cache::from_env();
    // A private directory for the files handed to host agents; removed when the run ends.
    let workdir = private_workdir()?;
    let mut platforms = prepare_platforms(&plan, &cache, workdir.path(), is_default)?;
    let store = Store::open(db)?;
    let opts = runner_options(&plan, db);
    let mut progress = progress::for_stderr(std::io::stderr().is_terminal());
    catch_signals()?;
    let outcome = hvbench_runner::run(&plan, &mut platforms, &store, &opts, progress.as_mut());
    finish_campaign(outcome, &store, db, report_dir)
}

/// `hvbench run --resume RUN`: reload the run's plan, check it, prepare the platforms it ran on
/// and run the trials that did not finish.
fn resume(
    which: &str,
    spec: Option<&Path>,
    db: &Path,
    report_dir: Option<&Path>,
) -> Result<ExitCode> {
    let store = open_existing(db)?;
    let row = match store.resolve_run(Some(which)) {
        Ok(row) => row,
        Err(e @ hvbench_store::StoreError::NoSuchRun(_)) => {
            return Err(Usage(format!("{e}")).into())
        }
        Err(e) => return Err(e.into()),
    };
    if row.status == RunStatus::Complete {
        return Err(Usage(format!(
            "run {} is complete: there is nothing to resume (start a new one with `hvbench run`)",
            row.id
        ))
        .into());
    }
    let plan = stored_plan(&row)?;
    if let Some(path) = spec {
        let mut given = hvbench_spec::load(path)?;
        given.seed = given.seed.or(plan.seed);
        given.source.clone_from(&plan.source);
        if given != plan {
            return Err(Usage(format!(
                "{} does not match the plan stored with run {} (differs in: {}); resume without                  SPEC to use the stored plan, or start a new run",
                path.display(),
                row.id,
                plan_differences(&plan, &given).join(", ")
            ))
            .into());
        }
    }
    // Only the platforms the run started with (the default comparison leaves out what a
    // machine cannot run), in their order: the stored schedule indexes them.
    let ran: Vec<String> = store
        .platforms(row.id)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut to_prepare = plan.clone();
    to_prepare.platforms.retain(|p| ran.contains(&p.name));
    let cache = Cache::from_env();
    let workdir = private_workdir()?;
    let mut platforms = prepare_platforms(&to_prepare, &cache, workdir.path(), false)?;
    let opts = runner_options(&plan, db);
    eprintln!(
        "resuming run {} ({}): {} of {} trials already finished",
        row.id,
        row.name,
        store.finished_trials(row.id)?.len(),
        u64::from(plan.repetitions) * ran.len() as u64
    );
    let mut progress = progress::for_stderr(std::io::stderr().is_terminal());
    catch_signals()?;
    let outcome = hvbench_runner::resume(
        row.id,
        &plan,
        &mut platforms,
        &store,
        &opts,
        progress.as_mut(),
    );
    finish_campaign(outcome, &store, db, report_dir)
}

/// The plan stored with a run, checked: it must read back, carry the seed its schedule was
/// drawn from, and agree with the experiment file stored beside it (which must still validate).
fn stored_plan(row: &hvbench_store::RunRow) -> Result<Plan> {
    let bad = |why: String| -> anyhow::Error {
        Usage(format!("run {} cannot be resumed: {why}", row.id)).into()
    };
    let plan: Plan = serde_json::from_str(&row.plan_json)
        .map_err(|e| bad(format!("its stored plan is not a valid plan ({e})")))?;
    if plan.seed.is_none() {
        return Err(bad("its stored plan has no seed".into()));
    }
    if plan.repetitions == 0 || plan.platforms.is_empty() || plan.workloads.is_empty() {
        return Err(bad(
            "its stored plan has no rounds, platforms or workloads".into()
        ));
    }
    if plan.name != row.name {
        return Err(bad(format!(
            "its stored plan is named `{}`, the run `{}`",
            plan.name, row.name
        )));
    }
    let reparsed = hvbench_spec::parse(&format!("run {}", row.id), &row.spec).map_err(|e| {
        bad(format!(
            "its stored experiment file no longer validates:\n{e}"
        ))
    })?;
    let differs = plan_differences(&plan, &reparsed);
    if differs.iter().any(|d| *d != "guest") {
        return Err(bad(format!(
            "its stored plan disagrees with its stored experiment file in: {}",
            differs.join(", ")
        )));
    }
    Ok(plan)
}

/// The parts of two plans that differ, by name (the guest's kernel path is made absolute when
/// a file is loaded, so "guest" may differ between a file and its stored text).
fn plan_differences(a: &Plan, b: &Plan) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            out.push(name);
        }
    };
    check("name", a.name == b.name);
    check("repetitions", a.repetitions == b.repetitions);
    check("warmup", a.warmup == b.warmup);
    check("samples", a.samples == b.samples);
    check("min_window_ms", a.min_window_ms == b.min_window_ms);
    check(
        "seed",
        a.seed.is_none() || b.seed.is_none() || a.seed == b.seed,
    );
    check("stop_early", a.stop_early == b.stop_early);
    check("guest", a.guest == b.guest);
    check("platforms", a.platforms == b.platforms);
    check("workloads", a.workloads == b.workloads);
    out
}

/// A private directory (0700) for the files handed to host agents and Xen guests; removed
/// when the run ends.
fn private_workdir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("hvbench-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("cannot create a private temporary directory")
}

/// From here on Ctrl-C and SIGTERM stop the campaign cleanly instead of killing hvbench.
fn catch_signals() -> Result<()> {
    hvbench_platform::interrupt::install().context("cannot install the Ctrl-C handler")
}

fn runner_options(plan: &Plan, db: &Path) -> hvbench_runner::Options {
    let logs_dir = PathBuf::from(format!("{}-logs", db.display()));
    hvbench_runner::Options {
        logs_dir,
        hvbench_version: env!("CARGO_PKG_VERSION").to_string(),
        // `target_ci_pct` in the experiment file: stop once every interval is that narrow.
        stop: plan.stop_early.map(|s| hvbench_analysis::StopRule {
            min_rounds: s.min_repetitions,
            max_rounds: plan.repetitions,
            target_relative_width: s.target_ci_pct / 100.0,
        }),
    }
}

/// After a campaign: the report, or for an interrupted one, how to continue it.
fn finish_campaign(
    outcome: std::result::Result<hvbench_runner::Outcome, hvbench_runner::RunnerError>,
    store: &Store,
    db: &Path,
    report_dir: Option<&Path>,
) -> Result<ExitCode> {
    let outcome = match outcome {
        Ok(o) => o,
        Err(hvbench_runner::RunnerError::Interrupted { run, signal }) => {
            eprintln!(
                "hvbench: run {run} interrupted by {}; the trial in flight was recorded as \
                 interrupted and its guests were stopped.\n  `hvbench run --resume {run} --db {}` \
                 continues it",
                hvbench_platform::interrupt::signal_name(signal),
                db.display()
            );
            return Ok(ExitCode::from(hvbench_platform::interrupt::exit_code(
                signal,
            )));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "the run stopped; what was stored before is kept (`hvbench report --list --db {}` \
                 shows it), and once the cause is fixed `hvbench run --resume RUN` continues it",
                db.display()
            )))
        }
    };

    let data = RunData::load(store, Some(&outcome.run.to_string()))?;
    let cfg = BootstrapConfig::default();
    let input = data.input();
    let report = Report::new(&input, &cfg);
    print!("{}", report.terminal());
    if let Some(dir) = report_dir {
        write_report_dir(dir, &report, &input)?;
        eprintln!("report written to {}", dir.display());
    }
    eprintln!(
        "run {}: {} trials ok, {} failed, {} samples stored in {}",
        outcome.run,
        outcome.trials_ok,
        outcome.trials_failed,
        outcome.samples,
        db.display()
    );
    Ok(ExitCode::from(run_exit_code(&outcome)))
}

/// A campaign's exit code: 0 when every trial it asked for succeeded; 1 when none did; 3 when
/// it ran to the end but some trials failed (their reasons are in the report), so that a script
/// notices a partial result as hyperfine and fio make it notice a failed measurement.
fn run_exit_code(outcome: &hvbench_runner::Outcome) -> u8 {
    if outcome.trials_ok == 0 {
        1
    } else if outcome.trials_failed > 0 {
        EXIT_SOME_TRIALS_FAILED
    } else {
        0
    }
}

/// `hvbench run` finished, but some trials failed.
const EXIT_SOME_TRIALS_FAILED: u8 = 3;

/// Build every platform of the plan before the first trial, so that a missing QEMU or kernel is
/// reported before anything runs. The built-in default drops what this machine cannot run.
fn prepare_platforms(
    plan: &Plan,
    cache: &Cache,
    workdir: &Path,
    is_default: bool,
) -> Result<Vec<Box<dyn Platform>>> {
    let agent_plan = plan.agent_plan();
    let mut out: Vec<Box<dyn Platform>> = Vec::new();
    for p in &plan.platforms {
        let mut say = |m: &str| eprintln!("lab: {m}");
        let prepared: hvbench_platform::Result<Box<dyn Platform>> = if p.lab {
            let cell_plans = hvbench_runner::cell_plans(plan, &p.name);
            LabPlatform::prepare(
                p,
                &plan.guest,
                &agent_plan,
                &cell_plans,
                cache,
                workdir,
                &mut say,
            )
            .map(|h| Box::new(h) as _)
        } else {
            // Battery trials on the platform prepared here; isolation cells on instances
            // prepared on demand (their images are cached by content).
            isolation::prepare_local(p, &p.name, &plan.guest, &agent_plan, cache, workdir).map(
                |inner| {
                    Box::new(isolation::Isolating::new(
                        inner,
                        isolation::LocalFactory {
                            spec: p.clone(),
                            guest: plan.guest.clone(),
                            cache: cache.clone(),
                            workdir: workdir.to_path_buf(),
                        },
                    )) as _
                },
            )
        };
        match prepared {
            Ok(platform) => out.push(platform),
            Err(e) if is_default => eprintln!(
                "warning: platform `{}` left out of the default comparison: {e}",
                p.name
            ),
            Err(e) => return Err(e).with_context(|| format!("platform `{}` cannot run", p.name)),
        }
    }
    if out.is_empty() {
        bail!("no platform can run on this machine (see `hvbench doctor`)");
    }
    Ok(out)
}

fn write_report_dir(dir: &Path, report: &Report, input: &ReportInput) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        ("report.md", report.markdown()),
        ("report.txt", report.terminal()),
        ("summary.json", report.summary_json()),
        ("results.json", hvbench_report::results_json(input)),
        ("results.csv", hvbench_report::results_csv(input)),
        ("report.html", report.html()),
        ("summary.csv", report.summary_csv()),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn emit(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Reading a report must not create an empty database by accident.
fn open_existing(db: &Path) -> Result<Store> {
    if !db.exists() {
        return Err(Usage(format!(
            "no database at {} (run `hvbench run` first, or pass --db FILE)",
            db.display()
        ))
        .into());
    }
    Ok(Store::open(db)?)
}

fn list_runs(store: &Store) -> Result<String> {
    let mut out = String::from("id  name                 status       started\n");
    for r in store.runs()? {
        out.push_str(&format!(
            "{:<3} {:<20} {:<12} {}\n",
            r.id,
            r.name,
            r.status.as_str(),
            hvbench_store::format_utc(r.started_ms)
        ));
    }
    Ok(out)
}

/// Everything stored about one run, loaded once for the renderers.
struct RunData {
    run: hvbench_store::RunRow,
    platforms: Vec<hvbench_store::PlatformRow>,
    trials: Vec<hvbench_store::TrialRow>,
    samples: Vec<hvbench_store::SampleRow>,
    failures: Vec<hvbench_store::FailureRow>,
}

impl RunData {
    fn load(store: &Store, which: Option<&str>) -> Result<RunData> {
        let run = store.resolve_run(which)?;
        if matches!(run.status, RunStatus::Running | RunStatus::Interrupted) {
            eprintln!("note: run {} did not finish (interrupted, or still running): the report covers what was stored; `hvbench run --resume {}` continues it", run.id, run.id);
        }
        Ok(RunData {
            platforms: store.platforms(run.id)?,
            trials: store.trials(run.id)?,
            samples: store.samples(run.id)?,
            failures: store.failures(run.id)?,
            run,
        })
    }

    fn input(&self) -> ReportInput<'_> {
        ReportInput {
            run: &self.run,
            platforms: &self.platforms,
            trials: &self.trials,
            samples: &self.samples,
            failures: &self.failures,
        }
    }
}
