//! `hvbench run`: a campaign from the experiment file (or `--resume` of a stored one) to the
//! report — the platforms prepared before anything runs, signals caught, the runner driven, the
//! report written, and the exit code that says how it went.

use crate::{open_existing, RunData, Usage};
use anyhow::{Context, Result};
use hvbench_analysis::BootstrapConfig;
use hvbench_platform::builder;
use hvbench_platform::guest::cache::Cache;
use hvbench_platform::Notices;
use hvbench_report::{Format, Report};
use hvbench_spec::Plan;
use hvbench_store::{RunStatus, Store};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn run(spec: Option<&Path>, db: &Path, report_dir: Option<&Path>) -> Result<ExitCode> {
    let (plan, is_default) = match spec {
        Some(p) => (hvbench_spec::load(p)?, false),
        None => (Plan::default_plan(), true),
    };
    let cache = Cache::from_env();
    // A private directory for the files handed to host agents; removed when the run ends.
    let workdir = private_workdir()?;
    let builder::Built {
        lab: _lab,
        mut platforms,
    } = prepare_platforms(&plan, &cache, workdir.path(), is_default)?;
    let store = Store::open(db)?;
    let opts = runner_options(&plan, db);
    let mut progress = crate::progress::for_stderr(std::io::stderr().is_terminal());
    catch_signals()?;
    let outcome = hvbench_runner::run(&plan, &mut platforms, &store, &opts, progress.as_mut());
    finish_campaign(outcome, &store, db, report_dir)
}

/// `hvbench run --resume RUN`: reload the run's plan, check it, prepare the platforms it ran on
/// and run the trials that did not finish.
pub(crate) fn resume(
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
    let builder::Built {
        lab: _lab,
        mut platforms,
    } = prepare_platforms(&to_prepare, &cache, workdir.path(), false)?;
    let opts = runner_options(&plan, db);
    eprintln!(
        "resuming run {} ({}): {} of {} trials already finished",
        row.id,
        row.name,
        store.finished_trials(row.id)?.len(),
        u64::from(plan.repetitions) * ran.len() as u64
    );
    let mut progress = crate::progress::for_stderr(std::io::stderr().is_terminal());
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
pub(crate) fn stored_plan(row: &hvbench_store::RunRow) -> Result<Plan> {
    let bad = |why: String| -> anyhow::Error {
        Usage(format!("run {} cannot be resumed: {why}", row.id)).into()
    };
    let plan: Plan = serde_json::from_str(&row.plan_json)
        .map_err(|e| bad(format!("its stored plan is not a valid plan ({e})")))?;
    if plan.seed.is_none() {
        return Err(bad("its stored plan has no seed".into()));
    }
    // An isolation-only experiment has no battery workloads, and is resumable all the same.
    if plan.repetitions == 0
        || plan.platforms.is_empty()
        || (plan.workloads.is_empty() && plan.isolation.is_empty())
    {
        return Err(bad(
            "its stored plan has no rounds, platforms, workloads or isolation scenarios".into(),
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
    // "evidence": a run stored before evidence was on by default has it off in its plan, while
    // its file, read again now, turns it on; the stored plan is what ran.
    if differs.iter().any(|d| *d != "guest" && *d != "evidence") {
        return Err(bad(format!(
            "its stored plan disagrees with its stored experiment file in: {}",
            differs.join(", ")
        )));
    }
    Ok(plan)
}

/// The parts of two plans that differ, by name (the guest's kernel path is made absolute when
/// a file is loaded, so "guest" may differ between a file and its stored text).
pub(crate) fn plan_differences(a: &Plan, b: &Plan) -> Vec<&'static str> {
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
    check("evidence", a.evidence == b.evidence);
    check("guest", a.guest == b.guest);
    check("platforms", a.platforms == b.platforms);
    check("workloads", a.workloads == b.workloads);
    check("isolation", a.isolation == b.isolation);
    out
}

/// A private directory (0700) for the files handed to host agents and Xen guests; removed
/// when the run ends.
pub(crate) fn private_workdir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("hvbench-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("cannot create a private temporary directory")
}

/// From here on Ctrl-C and SIGTERM stop the campaign cleanly instead of killing hvbench.
pub(crate) fn catch_signals() -> Result<()> {
    hvbench_platform::trial::interrupt::install().context("cannot install the Ctrl-C handler")
}

pub(crate) fn runner_options(plan: &Plan, db: &Path) -> hvbench_runner::Options {
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
pub(crate) fn finish_campaign(
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
                hvbench_platform::trial::interrupt::signal_name(signal),
                db.display()
            );
            return Ok(ExitCode::from(
                hvbench_platform::trial::interrupt::exit_code(signal),
            ));
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
        write_report_dir(dir, &report)?;
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
    if outcome.lab_faults > 0 {
        eprintln!(
            "the lab failed under {} trial(s), which ran again (the report's failures say what \
             the lab said)",
            outcome.lab_faults
        );
    }
    if outcome.trials_lost > 0 {
        eprintln!(
            "{} trial(s) were lost with their machine or its connection (the report says why); \
             once it is back, `hvbench run --resume {} --db {}` runs them again",
            outcome.trials_lost,
            outcome.run,
            db.display()
        );
    }
    Ok(ExitCode::from(run_exit_code(&outcome)))
}

/// A campaign's exit code: 0 when every trial it asked for succeeded; 1 when none did; 3 when
/// it ran to the end but some trials failed or were lost with their machine (their reasons are
/// in the report), so that a script notices a partial result as hyperfine and fio make it
/// notice a failed measurement.
pub(crate) fn run_exit_code(outcome: &hvbench_runner::Outcome) -> u8 {
    if outcome.trials_ok == 0 {
        1
    } else if outcome.trials_failed > 0 || outcome.trials_lost > 0 {
        EXIT_SOME_TRIALS_FAILED
    } else {
        0
    }
}

/// `hvbench run` finished, but some trials failed.
pub(crate) const EXIT_SOME_TRIALS_FAILED: u8 = 3;

/// Build every platform of the plan before the first trial ([`builder::build`]), its notices
/// on stderr. The built-in default drops what this machine cannot run.
pub(crate) fn prepare_platforms(
    plan: &Plan,
    cache: &Cache,
    workdir: &Path,
    is_default: bool,
) -> Result<builder::Built> {
    let ctx = builder::Context {
        plan,
        cache,
        workdir,
        executor: crate::executor::EXECUTOR,
        cell_plans: hvbench_runner::cell_plans,
        notices: Notices::new(|topic, text| eprintln!("{}: {text}", topic.as_str())),
        leave_out_unavailable: is_default,
    };
    Ok(builder::build(&ctx)?)
}

pub(crate) fn write_report_dir(dir: &Path, report: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for format in Format::ALL {
        let path = dir.join(format.file_name());
        let text = report.render(format);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISOLATION_ONLY: &str = r#"name = "iso"
repetitions = 2
seed = 9

[[platform]]
name = "host"
driver = "host"

[[isolation]]
name = "hog"
victim = ["cpu-int"]
stressors = ["cpu"]
"#;

    fn row(spec: &str, plan: &Plan) -> hvbench_store::RunRow {
        hvbench_store::RunRow {
            id: 1,
            name: plan.name.clone(),
            started_ms: 0,
            finished_ms: None,
            status: RunStatus::Interrupted,
            hvbench_version: "test".into(),
            spec: spec.into(),
            plan_json: hvbench_runner::plan_json(plan),
        }
    }

    #[test]
    fn an_isolation_only_run_can_be_resumed_and_its_scenarios_must_match() {
        let plan = hvbench_spec::parse("iso.toml", ISOLATION_ONLY).unwrap();
        assert!(plan.workloads.is_empty());
        assert_eq!(stored_plan(&row(ISOLATION_ONLY, &plan)).unwrap(), plan);

        let mut other = plan.clone();
        other.isolation[0].settle_ms += 1;
        let e = stored_plan(&row(ISOLATION_ONLY, &other)).unwrap_err();
        assert!(format!("{e:#}").contains("isolation"), "{e:#}");
        assert_eq!(plan_differences(&plan, &other), ["isolation"]);
    }

    #[test]
    fn a_run_stored_before_evidence_was_the_default_still_resumes() {
        // Its file says nothing of evidence: read again now it turns evidence on, while the
        // stored plan, what ran, has it off.
        let plan = hvbench_spec::parse("iso.toml", ISOLATION_ONLY).unwrap();
        assert!(plan.evidence);
        let mut stored = plan.clone();
        stored.evidence = false;
        assert_eq!(stored_plan(&row(ISOLATION_ONLY, &stored)).unwrap(), stored);
        // A SPEC given to --resume that differs in it is named.
        assert_eq!(plan_differences(&stored, &plan), ["evidence"]);
    }
}
