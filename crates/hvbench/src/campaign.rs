//! `hvbench run`: a campaign from the experiment file (or `--resume` of a stored one) to the
//! report — the platforms prepared before anything runs, signals caught, the runner driven, the
//! report written, and the exit code that says how it went.

use crate::{open_existing, RunData, Usage};
use anyhow::{bail, Context, Result};
use hvbench_analysis::BootstrapConfig;
use hvbench_platform::cache::Cache;
use hvbench_platform::isolation;
use hvbench_platform::lab::serve::{self, ServedLabPlatform};
use hvbench_platform::lab::LabHost;
use hvbench_platform::remote::boot::{DualBootPlatform, DualHost};
use hvbench_platform::remote::{RemotePlatform, Unreachable};
use hvbench_platform::Platform;
use hvbench_report::{Format, Report};
use hvbench_spec::{HostSpec, Plan, PlatformSpec};
use hvbench_store::{RunStatus, Store};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

pub(crate) fn run(spec: Option<&Path>, db: &Path, report_dir: Option<&Path>) -> Result<ExitCode> {
    let (plan, is_default) = match spec {
        Some(p) => (hvbench_spec::load(p)?, false),
        None => (Plan::default_plan(), true),
    };
    let cache = Cache::from_env();
    // A private directory for the files handed to host agents; removed when the run ends.
    let workdir = private_workdir()?;
    let _lab = LabHosts::of(&plan, &cache);
    let mut platforms = prepare_platforms(&plan, &cache, workdir.path(), is_default)?;
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
    let _lab = LabHosts::of(&to_prepare, &cache);
    let mut platforms = prepare_platforms(&to_prepare, &cache, workdir.path(), false)?;
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

/// The lab hosts a campaign needs that were not up when it started: it brings them up (they
/// stay up across its trials) and takes them down when it ends, however it ends. Lab hosts
/// that were up before (`hvbench lab up`) are left up.
struct LabHosts {
    cache: Cache,
    hosts: Vec<LabHost>,
    /// The dual-boot lab machine (`[[host]] lab = true`) was not up: the campaign boots it.
    dual: bool,
}

impl LabHosts {
    fn of(plan: &Plan, cache: &Cache) -> LabHosts {
        let mut hosts = Vec::new();
        for p in plan.platforms.iter().filter(|p| p.lab) {
            if let Some(h) = LabHost::for_driver(&p.driver) {
                if !hosts.contains(&h) && serve::running(cache, h).is_none() {
                    hosts.push(h);
                }
            }
        }
        let dual = plan.hosts.iter().any(|h| h.lab)
            && plan.platforms.iter().any(|p| {
                p.host
                    .as_deref()
                    .is_some_and(|n| plan.hosts.iter().any(|h| h.lab && h.name == n))
            })
            && serve::running_dual(cache).is_none();
        LabHosts {
            cache: cache.clone(),
            hosts,
            dual,
        }
    }
}

impl Drop for LabHosts {
    fn drop(&mut self) {
        if self.dual {
            for m in serve::down_dual(&self.cache) {
                eprintln!(
                    "lab: the {} lab machine is down (it was up for this run only)",
                    m.host
                );
            }
        }
        for &h in &self.hosts {
            for m in serve::down(&self.cache, Some(h)) {
                eprintln!(
                    "lab: the {} lab host is down (it was up for this run only)",
                    m.host
                );
            }
        }
    }
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
    hvbench_platform::interrupt::install().context("cannot install the Ctrl-C handler")
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

/// Boot the lab hosts the plan needs at once (each takes tens of seconds under TCG); one that
/// fails is reported when its platforms are prepared.
fn boot_lab_hosts(plan: &Plan, cache: &Cache) {
    let mut hosts: Vec<LabHost> = Vec::new();
    for p in plan.platforms.iter().filter(|p| p.lab) {
        if let Some(h) = LabHost::for_driver(&p.driver) {
            if !hosts.contains(&h) && serve::running(cache, h).is_none() {
                hosts.push(h);
            }
        }
    }
    if hosts.len() < 2 {
        return; // one host boots when its first platform is prepared
    }
    // The images first, once, before two threads would race to build them.
    if let Err(e) = hvbench_platform::lab::build(cache, &mut |m: &str| eprintln!("lab: {m}")) {
        eprintln!("lab: {e}");
        return;
    }
    std::thread::scope(|s| {
        for h in hosts {
            s.spawn(move || {
                if let Err(e) = serve::up(cache, h, &mut |m: &str| eprintln!("lab: {m}")) {
                    eprintln!("lab: the {} lab host did not come up: {e}", h.as_str());
                }
            });
        }
    });
}

/// The `[[host]]` a platform runs on; None for this machine.
fn plan_host<'p>(plan: &'p Plan, p: &PlatformSpec) -> Option<&'p HostSpec> {
    let name = p.host.as_deref()?;
    plan.hosts.iter().find(|h| h.name == name)
}

/// Platform `p` on `host`, which cannot be reached: its trials are lost with `reason`.
fn unreachable_platform(p: &PlatformSpec, host: &HostSpec, reason: String) -> Box<dyn Platform> {
    Box::new(Unreachable {
        name: p.name.clone(),
        machine: host.name.clone(),
        driver: p.driver.as_str(),
        boots_guest: p.is_vm(),
        reason,
    })
}

/// A platform on a machine over SSH. A machine that cannot be prepared (down, key not trusted,
/// login refused) does not stop the campaign: its platforms fail every trial with the reason,
/// said here and stored with each trial, and the other machines' platforms run.
fn prepare_remote(
    plan: &Plan,
    p: &PlatformSpec,
    host: &HostSpec,
    agent_plan: &hvbench_proto::AgentPlan,
    cache: &Cache,
    unreachable: &mut BTreeMap<String, String>,
) -> Box<dyn Platform> {
    let failed = |reason: String| unreachable_platform(p, host, reason);
    if let Some(reason) = unreachable.get(&host.name) {
        return failed(reason.clone());
    }
    let cell_plans = hvbench_runner::cell_plans(plan, &p.name);
    let mut say = |m: &str| eprintln!("ssh: {m}");
    match RemotePlatform::prepare(
        p,
        host,
        &plan.guest,
        agent_plan,
        &cell_plans,
        cache,
        crate::executor::EXECUTOR,
        &mut say,
    ) {
        Ok(r) => Box::new(r),
        Err(e) => {
            let reason = format!("{e}");
            eprintln!(
                "warning: platform `{}` cannot run, its trials will be recorded as lost (`--resume` runs them once it is fixed): {reason}",
                p.name
            );
            if matches!(e, hvbench_platform::PlatformError::Unavailable { .. }) {
                unreachable.insert(host.name.clone(), reason.clone());
            }
            failed(reason)
        }
    }
}

/// A dual-boot machine as its platforms share it: connected (the lab's booted first), or why
/// not.
enum DualMachine {
    Up {
        spec: HostSpec,
        host: Arc<Mutex<DualHost>>,
        /// The lab's facts for its platforms, when it is the lab's dual-boot machine.
        lab: Option<BTreeMap<String, String>>,
    },
    Down(String),
}

impl DualMachine {
    fn connect(host: &HostSpec, cache: &Cache) -> DualMachine {
        let (spec, lab) = if host.lab {
            let mut say = |m: &str| eprintln!("lab: {m}");
            let machine = match serve::up_dual(cache, &mut say) {
                Ok(m) => m,
                Err(e) => return DualMachine::Down(format!("the dual-boot lab machine: {e}")),
            };
            let spec = match serve::LabKeys::ensure(cache).and_then(|k| machine.host_spec(&k)) {
                Ok(s) => s,
                Err(e) => return DualMachine::Down(e.to_string()),
            };
            let facts = machine.facts();
            // The user's name and boot entries, the lab's address and keys.
            let spec = HostSpec {
                name: host.name.clone(),
                boots: host.boots.clone(),
                lab: true,
                ..spec
            };
            (spec, Some(facts))
        } else {
            (host.clone(), None)
        };
        match DualHost::connect(&spec) {
            Ok(dual) => {
                if let Some((o, entry)) = dual.current() {
                    eprintln!(
                        "boot: host `{}` is in {} ({}, kernel {}, boot id {})",
                        spec.name,
                        entry
                            .as_deref()
                            .map_or("no boot entry".to_string(), |e| format!("boot `{e}`")),
                        o.seen(),
                        o.kernel,
                        o.boot_id
                    );
                }
                DualMachine::Up {
                    spec,
                    host: Arc::new(Mutex::new(dual)),
                    lab,
                }
            }
            Err(e) => DualMachine::Down(format!("dual-boot host `{}`: {e}", spec.name)),
        }
    }
}

/// A platform on a dual-boot machine: prepared now when the machine is in its boot, else
/// before its first trial there. A machine that cannot be reached fails its trials as lost.
fn prepare_dual(
    plan: &Plan,
    p: &PlatformSpec,
    host: &HostSpec,
    agent_plan: &hvbench_proto::AgentPlan,
    cache: &Cache,
    duals: &mut BTreeMap<String, DualMachine>,
) -> Box<dyn Platform> {
    let machine = duals
        .entry(host.name.clone())
        .or_insert_with(|| DualMachine::connect(host, cache));
    match machine {
        DualMachine::Down(reason) => {
            eprintln!(
                "warning: platform `{}` cannot run, its trials will be recorded as lost (`--resume` runs them once it is fixed): {reason}",
                p.name
            );
            unreachable_platform(p, host, reason.clone())
        }
        DualMachine::Up { spec, host, lab } => {
            let cell_plans = hvbench_runner::cell_plans(plan, &p.name);
            let (machine, extra) = match lab {
                // The lab runs on this machine's CPUs: its platforms are this machine's.
                Some(facts) => (None, facts.clone()),
                None => (Some(spec.name.clone()), BTreeMap::new()),
            };
            Box::new(DualBootPlatform::new(
                p,
                spec,
                host.clone(),
                &plan.guest,
                agent_plan,
                &cell_plans,
                cache,
                crate::executor::EXECUTOR,
                machine,
                extra,
            ))
        }
    }
}

/// Build every platform of the plan before the first trial, so that a missing QEMU or kernel is
/// reported before anything runs. The built-in default drops what this machine cannot run.
pub(crate) fn prepare_platforms(
    plan: &Plan,
    cache: &Cache,
    workdir: &Path,
    is_default: bool,
) -> Result<Vec<Box<dyn Platform>>> {
    let agent_plan = plan.agent_plan();
    let mut out: Vec<Box<dyn Platform>> = Vec::new();
    boot_lab_hosts(plan, cache);
    // A machine that could not be prepared once is not tried again for its next platform.
    let mut unreachable: BTreeMap<String, String> = BTreeMap::new();
    // Dual-boot machines, each connected once and shared by its platforms.
    let mut duals: BTreeMap<String, DualMachine> = BTreeMap::new();
    for p in &plan.platforms {
        if let Some(host) = plan_host(plan, p).filter(|h| !h.boots.is_empty()) {
            out.push(prepare_dual(plan, p, host, &agent_plan, cache, &mut duals));
            continue;
        }
        if let Some(host) = plan_host(plan, p) {
            out.push(prepare_remote(
                plan,
                p,
                host,
                &agent_plan,
                cache,
                &mut unreachable,
            ));
            continue;
        }
        let mut say = |m: &str| eprintln!("lab: {m}");
        let prepared: hvbench_platform::Result<Box<dyn Platform>> = if p.lab {
            let cell_plans = hvbench_runner::cell_plans(plan, &p.name);
            ServedLabPlatform::prepare(
                p,
                &plan.guest,
                &agent_plan,
                &cell_plans,
                cache,
                crate::executor::EXECUTOR,
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
