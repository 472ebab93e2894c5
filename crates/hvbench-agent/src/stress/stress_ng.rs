//! `stress-ng`: Debian 12's stress-ng from the tools tree running one of its stressors, the
//! Isolation Benchmark Suite's "misbehaving VM" (docs/architecture.md, "Isolation experiments"
//! and "The tools tree").
//!
//! Each window is one run of stress-ng, started as the `stress-ng` workload starts it: chrooted
//! in the tree with a private `/tmp` ([`crate::run::chroot::spawn_in_tree`]), its command line
//! from [`StressNgParams::argv`] (`--STRESSOR WORKERS --timeout Ns --metrics --yaml FILE`), its
//! report read by [`stress_ng::bogo_ops`]. The window's work is the run's bogo-ops (all its
//! instances together), over the window's wall time from spawn to exit: bogo-ops/s.
//!
//! The agent ends each run at the window's end itself, with SIGINT to stress-ng's parent
//! process, rather than leaving it to `--timeout`: an aggressor reports every 500 ms
//! (`AGGRESSOR_REPORT_MS` of the runner), and stress-ng 0.15 times whole seconds only (a
//! fraction, `--timeout 0.5` or `500ms`, reads as 0, which is "run forever": seen on 0.15.06).
//! On SIGINT its parent stops the stressors and writes the YAML report as at a timeout (0.15.06:
//! exit 0 with that run's bogo-ops, within 15 ms for cpu, matrix, memcpy, switch and fork,
//! 70 ms for vm, 300 ms for hdd). Not to the whole process group: a stressor that gets the
//! signal itself may lose its count (vm reported 0 bogo-ops) or make stress-ng exit 2 (switch).
//! `--timeout` is still given, the window rounded up to whole seconds plus one, so a stress-ng
//! whose agent was killed outright ends on its own.
//!
//! The stop flag sends the same SIGINT; what stress-ng does not finish within [`STOP_GRACE`] is
//! killed with its whole process group, so the aggressor stops within ~100 ms. A run that exits
//! non-zero, dies, outlives [`END_GRACE`] after SIGINT or leaves a report the parser refuses
//! fails the stressor, with the tail of its output. Two cases are not failures, because the
//! agent itself cut the run short: a run stopped before it could report, and a run that got
//! the window's SIGINT before stress-ng handled it (still starting): their window is zero
//! bogo-ops, said in a `Log` frame, and the driver sends no sample for it (never a rate of 0
//! that was not measured: `Stressor::zero_is_unmeasured`).

use super::{Running, Work};
use crate::run::chroot::{reader, run_in_tree, spawn_in_tree, Ran, WorkDir};
use crate::run::tool::{tail, STRESS_NG_YAML};
use crate::tools::{check_exit, stress_ng, stress_ng::StressNgParams};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TOOL: &str = "stress-ng";

/// How long a stopped stress-ng may take to report before its group is killed.
pub const STOP_GRACE: Duration = Duration::from_millis(80);
/// How long stress-ng may take to report after the window's SIGINT (hdd syncs its files).
pub const END_GRACE: Duration = Duration::from_secs(5);
/// How often the run is looked at.
const POLL: Duration = Duration::from_millis(5);

/// The set-up stressor: the tree, its parameters and the run's private `/tmp`.
pub struct StressNg {
    root: PathBuf,
    params: StressNgParams,
    work: WorkDir,
    /// The window's run while it lasts, for `Drop`.
    child: Option<Child>,
    logs: Vec<String>,
}

impl StressNg {
    /// Check the tree and the parameters; nothing runs yet.
    pub fn new(root: &str, stressor: &str, instances: u32) -> Result<Self, String> {
        let root = PathBuf::from(root);
        if !root.join("usr/bin/stress-ng").exists() {
            return Err(format!(
                "the tools tree {} has no /usr/bin/stress-ng",
                root.display()
            ));
        }
        let mut params = StressNgParams::new(stressor, STRESS_NG_YAML);
        params.instances = instances;
        params.argv().map_err(|e| e.to_string())?;
        let work = WorkDir::new().map_err(|e| format!("cannot make a work directory: {e}"))?;
        // Once, unmeasured: the program and its libraries read into the page cache, so that the
        // first window's start costs what the others' do (in a TCG guest reading them from the
        // tools disk, the first start took most of a 500 ms window).
        let version = ["stress-ng".to_string(), "--version".to_string()];
        let ran =
            run_in_tree(&root, &version, work.path(), Duration::from_secs(60)).map_err(|e| {
                format!(
                    "cannot run stress-ng in the tools tree {}: {e}",
                    root.display()
                )
            })?;
        if ran.timed_out || ran.code != Some(0) {
            return Err(format!(
                "`stress-ng --version` in the tools tree {} failed ({:?}); output ends: {}",
                root.display(),
                ran.code,
                tail(&ran)
            ));
        }
        Ok(StressNg {
            root,
            params,
            work,
            child: None,
            logs: Vec::new(),
        })
    }

    /// The command line of a run for a window ending at `until`.
    fn argv(&self, until: Instant) -> Result<Vec<String>, String> {
        let left = until.saturating_duration_since(Instant::now());
        let timeout_s = u32::try_from(left.as_secs().saturating_add(2))
            .unwrap_or(u32::MAX)
            .min(86_400);
        StressNgParams {
            timeout_s,
            ..self.params.clone()
        }
        .argv()
        .map_err(|e| e.to_string())
    }

    /// Kill the run's whole process group and reap its leader.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }
}

/// SIGKILL to the run's process group (it is its leader); gone already (ESRCH) is fine.
fn kill_group(child: &Child) {
    // SAFETY: kill(2) on a process group this agent made.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
}

/// SIGINT to the run's leader alone: stress-ng's parent, which stops its stressors and reports.
fn interrupt(child: &Child) {
    // SAFETY: kill(2) on a child of this agent, not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// Why the agent cut a run short, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It ran to the window's end (SIGINT) or to its own timeout.
    No,
    /// The stop flag: SIGINT, then SIGKILL past [`STOP_GRACE`].
    Stopped { killed: bool },
    /// No report within [`END_GRACE`] of the window's SIGINT: killed.
    Hung,
}

impl Running for StressNg {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let argv = self.argv(until)?;
        let yaml = self
            .work
            .path()
            .join(STRESS_NG_YAML.trim_start_matches("/tmp/"));
        // The report of the run before must not pass for this one's.
        let _ = std::fs::remove_file(&yaml);
        let started = Instant::now();
        let mut child = spawn_in_tree(&self.root, &argv, self.work.path()).map_err(|e| {
            format!(
                "cannot run `{}` in the tools tree {}: {e}",
                argv.join(" "),
                self.root.display()
            )
        })?;
        let out = reader(child.stdout.take());
        let err = reader(child.stderr.take());
        self.child = Some(child);
        let mut interrupted: Option<Instant> = None;
        let mut stopping: Option<Instant> = None;
        let mut cut = Cut::No;
        let status = loop {
            let Some(child) = self.child.as_mut() else {
                unreachable!("the run is held until it is reaped")
            };
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    self.kill();
                    return Err(format!("cannot wait for stress-ng: {e}"));
                }
            }
            let now = Instant::now();
            if stopping.is_none() && stop.load(Ordering::Relaxed) {
                stopping = Some(now);
                cut = Cut::Stopped { killed: false };
            }
            if interrupted.is_none() && (now >= until || stopping.is_some()) {
                interrupt(child);
                interrupted = Some(now);
            }
            match (stopping, interrupted) {
                (Some(at), _) if now.duration_since(at) >= STOP_GRACE => {
                    kill_group(child);
                    cut = Cut::Stopped { killed: true };
                }
                (None, Some(at)) if now.duration_since(at) >= END_GRACE => {
                    kill_group(child);
                    cut = Cut::Hung;
                }
                _ => {}
            }
            std::thread::sleep(POLL);
        };
        let elapsed = started.elapsed();
        // Reaped by `try_wait`; whatever it forked may still hold the pipes: end its group.
        if let Some(child) = self.child.take() {
            kill_group(&child);
        }
        let ran = Ran {
            code: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            elapsed,
            timed_out: cut != Cut::No,
        };
        let report = std::fs::read_to_string(&yaml).unwrap_or_default();
        let with_tail = |e: String| format!("{e}; output ends: {}", tail(&ran));
        let nothing = |why: String| {
            (
                Work {
                    iterations: 0,
                    amount: 0.0,
                },
                format!(
                    "{why}; this window is 0 bogo-ops; output ends: {}",
                    tail(&ran)
                ),
            )
        };
        let stressor = self.params.stressor.as_str();
        match cut {
            Cut::Hung => {
                return Err(with_tail(format!(
                "stress-ng did not end within {} s of SIGINT at the window's end and was killed",
                END_GRACE.as_secs()
            )))
            }
            Cut::Stopped { killed } => {
                // Stopped: what it reported, if it could, else nothing to count.
                if let Ok(ops) = stress_ng::bogo_ops(&report, stressor) {
                    return Ok(ops_work(ops));
                }
                let (work, log) = nothing(if killed {
                    format!(
                        "stopped: stress-ng did not report within {} ms of SIGINT and was killed",
                        STOP_GRACE.as_millis()
                    )
                } else {
                    "stopped: stress-ng ended without a report".to_string()
                });
                self.logs.push(log);
                return Ok(work);
            }
            Cut::No => {}
        }
        if interrupted.is_some() && status.signal() == Some(libc::SIGINT) {
            let (work, log) = nothing(
                "stress-ng died of the window's SIGINT before it could handle it (still \
                 starting: the window is too short for this machine)"
                    .to_string(),
            );
            self.logs.push(log);
            return Ok(work);
        }
        check_exit(TOOL, ran.code, &ran.stderr).map_err(|e| with_tail(e.to_string()))?;
        stress_ng::bogo_ops(&report, stressor)
            .map(ops_work)
            .map_err(|e| with_tail(e.to_string()))
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }
}

fn ops_work(ops: u64) -> Work {
    Work {
        iterations: ops,
        amount: ops as f64,
    }
}

impl Drop for StressNg {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree whose `stress-ng` is `script`, run by the machine's `/bin/sh` (dash) copied in
    /// with the libraries `ldd` names; `None` where that cannot be made or chroot is not allowed
    /// (not root), and the test is skipped.
    fn fake_tree(script: &str) -> Option<WorkDir> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: chroot needs root");
            return None;
        }
        let tree = WorkDir::new().unwrap();
        let sh = std::fs::canonicalize("/bin/sh").ok()?;
        let ldd = std::process::Command::new("ldd").arg(&sh).output().ok()?;
        let libs = String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .map(PathBuf::from)
            .collect::<Vec<_>>();
        for from in libs.iter().chain([&sh]) {
            let to = tree.path().join(from.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, &to).ok()?;
        }
        for dir in ["bin", "usr/bin", "proc", "dev", "tmp"] {
            std::fs::create_dir_all(tree.path().join(dir)).unwrap();
        }
        let inside = sh.strip_prefix("/").unwrap();
        if inside != std::path::Path::new("bin/sh") {
            std::fs::copy(&sh, tree.path().join("bin/sh")).unwrap();
        }
        let program = tree.path().join("usr/bin/stress-ng");
        // `--version` answers as stress-ng does: the set-up's warm-up run.
        let version = "[ \"$1\" = --version ] && { echo 'stress-ng, version 0.15.06'; exit 0; }";
        std::fs::write(&program, format!("#!/bin/sh\n{version}\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Some(tree)
    }

    /// Writes a report of `OPS` bogo-ops to its `--yaml` file on SIGINT (argument 7), as
    /// stress-ng does; spins until then. Leaves a child that ignores SIGINT behind, and its
    /// process group id in `/tmp/pgid`.
    const REPORTS: &str = r#"echo $$ > /tmp/pgid
( trap '' INT; while :; do :; done ) &
trap 'printf "%s\n" --- "metrics:" "    - stressor: cpu" "      bogo-ops: 42" ... > "$7"; exit 0' INT
echo "stress-ng: info: dispatching hogs: 1 cpu" >&2
while :; do :; done"#;

    fn stressor(tree: &WorkDir) -> StressNg {
        StressNg::new(tree.path().to_str().unwrap(), "cpu", 1).unwrap()
    }

    /// Whether any process of group `pgid` is left running (zombies, which wait for whoever
    /// adopted them to reap them, do not count).
    /// Whether group `pgid` is gone within a second: SIGKILL is delivered as each of its
    /// processes is next scheduled, not at once, on a loaded machine.
    fn gone_soon(pgid: i32) -> bool {
        let until = Instant::now() + Duration::from_secs(1);
        while group_alive(pgid) {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    fn group_alive(pgid: i32) -> bool {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return false;
        };
        dir.flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid pgrp ...: after the last `)`.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    }

    /// A stop flag set `after` from now, and when it was set.
    fn stop_after(
        after: Duration,
    ) -> (std::sync::Arc<AtomicBool>, std::thread::JoinHandle<Instant>) {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let setter = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                stop.store(true, Ordering::Relaxed);
                Instant::now()
            })
        };
        (stop, setter)
    }

    fn pgid_of(s: &StressNg) -> i32 {
        let text = std::fs::read_to_string(s.work.path().join("pgid")).unwrap();
        text.trim().parse().unwrap()
    }

    #[test]
    fn a_window_is_the_bogo_ops_of_one_run_ended_by_sigint_and_nothing_is_left() {
        let Some(tree) = fake_tree(REPORTS) else {
            return;
        };
        let mut s = stressor(&tree);
        let stop = AtomicBool::new(false);
        for _ in 0..2 {
            let start = Instant::now();
            let work = s.window(start + Duration::from_millis(300), &stop).unwrap();
            let took = start.elapsed();
            assert_eq!(
                work,
                Work {
                    iterations: 42,
                    amount: 42.0
                }
            );
            assert!(
                took >= Duration::from_millis(300) && took < Duration::from_secs(3),
                "{took:?}"
            );
            // The run's leftover child went with its group.
            let pgid = pgid_of(&s);
            std::thread::sleep(Duration::from_millis(20));
            assert!(gone_soon(pgid), "group {pgid} is still there");
        }
        assert!(s.take_logs().is_empty());
    }

    #[test]
    fn the_stop_flag_ends_a_run_within_100_ms() {
        let Some(tree) = fake_tree(REPORTS) else {
            return;
        };
        let mut s = stressor(&tree);
        let (stop, setter) = stop_after(Duration::from_millis(300));
        let work = s
            .window(Instant::now() + Duration::from_secs(30), &stop)
            .unwrap();
        // It ended on the flag, long before the window's 30 s (within ~100 ms on an idle
        // machine; the bound leaves room for a loaded CI machine: no timing is asserted).
        let late = setter.join().unwrap().elapsed();
        assert!(late < Duration::from_secs(2), "{late:?}");
        // It reported on SIGINT: the run's work counts.
        assert_eq!(work.iterations, 42);
        assert!(gone_soon(pgid_of(&s)));
    }

    #[test]
    fn a_run_deaf_to_sigint_is_killed_when_stopped() {
        let deaf = "echo $$ > /tmp/pgid\ntrap '' INT\nwhile :; do :; done";
        let Some(tree) = fake_tree(deaf) else {
            return;
        };
        let mut s = stressor(&tree);
        let (stop, setter) = stop_after(Duration::from_millis(300));
        let work = s
            .window(Instant::now() + Duration::from_secs(30), &stop)
            .unwrap();
        let late = setter.join().unwrap().elapsed();
        assert!(late < Duration::from_secs(2), "{late:?}");
        assert_eq!(work.iterations, 0);
        let logs = s.take_logs();
        assert!(logs[0].contains("did not report within 80 ms"), "{logs:?}");
        assert!(gone_soon(pgid_of(&s)));
    }

    #[test]
    fn a_failing_run_or_garbage_is_an_error_with_the_output_tail() {
        let Some(tree) = fake_tree("echo 'stress-ng: error: no such thing' >&2\nexit 3") else {
            return;
        };
        let mut s = stressor(&tree);
        let stop = AtomicBool::new(false);
        let e = s
            .window(Instant::now() + Duration::from_millis(200), &stop)
            .unwrap_err();
        assert!(
            e.contains("exit status 3") && e.contains("no such thing"),
            "{e}"
        );
        let garbage = "trap 'echo hello > \"$7\"; echo all fine; exit 0' INT\nwhile :; do :; done";
        let Some(tree) = fake_tree(garbage) else {
            return;
        };
        let mut s = stressor(&tree);
        let e = s
            .window(Instant::now() + Duration::from_millis(200), &stop)
            .unwrap_err();
        assert!(e.contains("stress-ng") && e.contains("all fine"), "{e}");
    }

    /// Dropped in the middle of a window (a panic, an early return), nothing is left running.
    #[test]
    fn drop_kills_the_run() {
        let Some(tree) = fake_tree(REPORTS) else {
            return;
        };
        let mut s = stressor(&tree);
        let argv = s.argv(Instant::now()).unwrap();
        let child = spawn_in_tree(&s.root, &argv, s.work.path()).unwrap();
        let pgid = child.id() as i32;
        s.child = Some(child);
        std::thread::sleep(Duration::from_millis(100));
        assert!(group_alive(pgid));
        drop(s);
        assert!(gone_soon(pgid));
    }

    #[test]
    fn a_tree_without_stress_ng_or_a_bad_stressor_is_refused_before_anything_runs() {
        let empty = WorkDir::new().unwrap();
        let root = empty.path().to_str().unwrap();
        let e = StressNg::new(root, "cpu", 1).err().unwrap();
        assert!(e.contains("has no /usr/bin/stress-ng"), "{e}");
        std::fs::create_dir_all(empty.path().join("usr/bin")).unwrap();
        std::fs::write(empty.path().join("usr/bin/stress-ng"), "").unwrap();
        // Set-up runs it once (`--version`): a program that cannot run is refused there.
        let e = StressNg::new(root, "cpu", 2).err().unwrap();
        assert!(e.contains("stress-ng"), "{e}");
        let e = StressNg::new(root, "cpu --all", 1).err().unwrap();
        assert!(e.contains("not a stressor name"), "{e}");
        let e = StressNg::new(root, "cpu", 0).err().unwrap();
        assert!(e.contains("instances"), "{e}");
    }

    #[test]
    fn each_run_is_timed_in_whole_seconds_past_the_window() {
        let Some(tree) = fake_tree(REPORTS) else {
            return;
        };
        let s = StressNg::new(tree.path().to_str().unwrap(), "matrix", 3).unwrap();
        let argv = s.argv(Instant::now() + Duration::from_millis(500)).unwrap();
        assert_eq!(
            argv,
            [
                "stress-ng",
                "--matrix",
                "3",
                "--timeout",
                "2s",
                "--metrics",
                "--yaml",
                STRESS_NG_YAML
            ]
        );
        let argv = s
            .argv(Instant::now() + Duration::from_millis(3500))
            .unwrap();
        assert_eq!(argv[4], "5s");
    }
}
