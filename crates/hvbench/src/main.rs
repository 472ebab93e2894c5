//! `hvbench`: the command line. Arguments and glue only; the work is in the library crates.
//! Pipeline: spec -> plan -> platforms -> runner -> store -> report.

mod args;
mod campaign;
mod design;
mod doctor;
mod executor;
mod progress;
mod selftest;

use anyhow::{Context, Result};
use args::*;
use campaign::{resume, run};
use clap::Parser;
use hvbench_analysis::BootstrapConfig;
use hvbench_platform::guest::cache::Cache;
use hvbench_platform::lab;
use hvbench_report::ReportInput;
use hvbench_spec::SpecError;
use hvbench_store::{RunStatus, Store};
use std::path::Path;
use std::process::ExitCode;

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
            print!("{}{}", plan.render(), design::text(&plan));
            let tools = plan.tools();
            if !tools.is_empty() {
                print!(
                    "{}",
                    hvbench_platform::guest::plan_tools::describe_cached(
                        &tools,
                        &hvbench_platform::guest::cache::Cache::from_env()
                    )
                );
            }
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
            let text = format.render(&data.input(), &BootstrapConfig::default());
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
        Command::Outputs {
            run,
            db,
            workload,
            platform,
        } => {
            let store = open_existing(&db)?;
            let run = store.resolve_run(run.as_deref())?;
            let rows: Vec<_> = store
                .tool_outputs(run.id)?
                .into_iter()
                .filter(|o| platform.as_ref().is_none_or(|p| *p == o.platform))
                .filter(|o| {
                    workload.as_ref().is_none_or(|w| {
                        *w == o.workload || o.workload.split(['[', '#']).next() == Some(w.as_str())
                    })
                })
                .collect();
            if rows.is_empty() {
                eprintln!(
                    "run {} ({}) holds no tool output{}: only the general benchmarks (fio, \
                     iperf3, sysbench-*, stress-ng, redis, oltp, compile) store any",
                    run.id,
                    run.name,
                    if workload.is_some() || platform.is_some() {
                        " that matches"
                    } else {
                        ""
                    }
                );
            }
            let mut text = String::new();
            for o in rows {
                text.push_str(&format!(
                    "=== {} round {} {} (trial {}): {} run {}\n{}\n\n",
                    o.platform, o.round, o.guest, o.trial, o.workload, o.window, o.output
                ));
            }
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
            let cache = Cache::from_env();
            match lab::cached(&cache) {
                Some(images) => println!("lab built: {} ({})", images.key, images.dir.display()),
                None => println!(
                    "lab not built; `hvbench lab build` builds it (needs root, a few minutes)"
                ),
            }
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let machines = lab::machine::recorded(&cache);
            if machines.is_empty() {
                println!("no lab host is up; `hvbench lab up` boots them");
            }
            for m in machines {
                if m.alive() {
                    println!(
                        "{}: up {} s, ssh root@127.0.0.1:{} (pid {}, booted in {:.1} s; console {})",
                        m.name(),
                        now_ms.saturating_sub(m.started_ms) / 1000,
                        m.port,
                        m.pid,
                        m.boot_s,
                        m.console.display()
                    );
                } else {
                    println!(
                        "{}: recorded but not running (`hvbench lab down` forgets it)",
                        m.name()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab {
            action: LabAction::Up { which },
        } => {
            let cache = Cache::from_env();
            let mut say = |m: &str| eprintln!("lab: {m}");
            let machines = match which {
                None => vec![
                    lab::machine::up(&cache, lab::LabHost::Xen, &mut say)?,
                    lab::machine::up(&cache, lab::LabHost::Kvm, &mut say)?,
                ],
                Some(LabMachineArg::Xen) => {
                    vec![lab::machine::up(&cache, lab::LabHost::Xen, &mut say)?]
                }
                Some(LabMachineArg::Kvm) => {
                    vec![lab::machine::up(&cache, lab::LabHost::Kvm, &mut say)?]
                }
                Some(LabMachineArg::Dual) => vec![lab::machine::up_dual(&cache, &mut say)?],
            };
            for m in machines {
                println!(
                    "{}: ssh root@127.0.0.1:{} (pid {})",
                    m.name(),
                    m.port,
                    m.pid
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab {
            action: LabAction::Down { which },
        } => {
            let cache = Cache::from_env();
            let ended = match which {
                None => lab::machine::down(&cache, None),
                Some(LabMachineArg::Xen) => lab::machine::down(&cache, Some(lab::LabHost::Xen)),
                Some(LabMachineArg::Kvm) => lab::machine::down(&cache, Some(lab::LabHost::Kvm)),
                Some(LabMachineArg::Dual) => lab::machine::down_dual(&cache),
            };
            if ended.is_empty() {
                println!("no lab host was up");
            }
            for m in ended {
                println!("{}: stopped", m.name());
            }
            Ok(ExitCode::SUCCESS)
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
        Command::Doctor {
            host: None,
            spec: None,
        } => {
            print!("{}", doctor::report(&Cache::from_env()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor {
            host: None,
            spec: Some(_),
        } => Err(
            Usage("`hvbench doctor SPEC` needs `--host NAME`: a [[host]] of SPEC".into()).into(),
        ),
        Command::Doctor {
            host: Some(host),
            spec,
        } => {
            let host = doctor_host(&host, spec.as_deref())?;
            let (text, usable) = doctor::host_report(&host);
            print!("{text}");
            Ok(if usable {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Selftest(which) => selftest::run(which),
    }
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
    counters: Vec<hvbench_store::CounterRow>,
    boots: Vec<hvbench_store::BootRow>,
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
            counters: store.counters(run.id)?,
            boots: store.boots(run.id)?,
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
            counters: &self.counters,
            boots: &self.boots,
        }
    }
}

/// The machine `hvbench doctor --host` checks: a `[[host]]` of `spec` by name, or without a
/// spec an ssh target written as in a `[[host]]`.
fn doctor_host(host: &str, spec: Option<&Path>) -> Result<hvbench_spec::HostSpec> {
    match spec {
        Some(path) => {
            let plan = hvbench_spec::load(path)?;
            let found = plan.hosts.iter().find(|h| h.name == host).cloned();
            if let Some(h) = found.as_ref().filter(|h| h.lab) {
                // The lab's dual-boot machine: reached where `hvbench lab up dual` left it.
                let cache = Cache::from_env();
                let Some(m) = lab::machine::running_dual(&cache) else {
                    return Err(Usage(format!(
                        "host `{host}` is hvbench's dual-boot lab machine, which is not up: \
                         `hvbench lab up dual` boots it"
                    ))
                    .into());
                };
                let keys = lab::keys::LabKeys::ensure(&cache)?;
                return Ok(hvbench_spec::HostSpec {
                    name: h.name.clone(),
                    boots: h.boots.clone(),
                    lab: true,
                    ..m.host_spec(&keys)?
                });
            }
            found.ok_or_else(|| {
                let names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
                Usage(format!(
                    "{} declares no [[host]] named `{host}` (its hosts: {})",
                    path.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
                .into()
            })
        }
        None => {
            let ssh = hvbench_spec::SshTarget::parse(host).map_err(|e| {
                Usage(format!(
                    "`{host}` is not an ssh target ({e}); write {}, or give the experiment file \
                     that declares the [[host]]",
                    hvbench_spec::SSH_FORMS
                ))
            })?;
            Ok(hvbench_spec::HostSpec {
                name: host.to_string(),
                ssh,
                identity_file: None,
                known_hosts: None,
                cache_dir: None,
                lab: false,
                boots: Vec::new(),
            })
        }
    }
}
