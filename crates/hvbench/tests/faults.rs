//! Faults injected for real, and what the store holds afterwards: hvbench stopped by Ctrl-C,
//! SIGTERM and SIGKILL (then resumed), a QEMU killed mid-trial, an agent that crashes, a
//! console full of garbage, a QEMU that cannot start, and a store on a full disk. Host-platform
//! runs wherever a guest is not the point (they take seconds); a TCG guest where it is.
//!
//! Over 600 lines on purpose: one test binary (one link of the `hvbench` binary's tests, one
//! set of helpers for signalling, fake agents and a full tmpfs) for every fault; its tests are
//! independent and each reads on its own.

mod common;
use common::{require_qemu, text};

use hvbench_proto::{encode, Better, Message};
use hvbench_store::{RunStatus, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn hvbench(args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hvbench"));
    c.args(args).current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run hvbench")
}

/// hvbench running in the background, its stderr kept in `cwd/stderr.txt`.
fn spawn_hvbench(args: &[&str], cwd: &Path) -> Child {
    spawn_hvbench_to(args, cwd, &cwd.join("stderr.txt"))
}

fn spawn_hvbench_to(args: &[&str], cwd: &Path, stderr: &Path) -> Child {
    let err = std::fs::File::create(stderr).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start hvbench")
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Console logs of run 1 so far: one per trial started.
fn trials_started(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("t.db-logs/run-1"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn processes_matching(pattern: &str) -> String {
    let out = Command::new("pgrep")
        .args(["-a", "-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn exit_code_of(child: &mut Child) -> Option<i32> {
    child.wait().unwrap().code()
}

/// Two host platforms with names unique to the test, `rounds` rounds, two workloads of two
/// samples each: 4 measured samples per trial.
fn host_spec(dir: &Path, tag: &str, rounds: u32) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(
        &p,
        format!(
            r#"name = "faults"
repetitions = {rounds}
warmup = 1
samples = 2
min_window_ms = 100
seed = 11

[[platform]]
name = "{tag}-a"
driver = "host"

[[platform]]
name = "{tag}-b"
driver = "host"

[[workload]]
name = "syscall"

[[workload]]
name = "cpu-int"
"#
        ),
    )
    .unwrap();
    p
}

/// Every (platform, round) of a finished run: exactly one trial that counts, every measured
/// sample once, and `per_trial` measured samples in each completed trial.
fn assert_complete_without_duplicates(
    store: &Store,
    run: i64,
    platforms: &[&str],
    rounds: u32,
    per_trial: usize,
) {
    assert_eq!(store.run(run).unwrap().status, RunStatus::Complete);
    let finished = store.finished_trials(run).unwrap();
    let mut per_slot: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for t in &finished {
        *per_slot.entry((t.platform.clone(), t.round)).or_default() += 1;
    }
    for p in platforms {
        for r in 0..rounds {
            assert_eq!(
                per_slot.get(&(p.to_string(), r)),
                Some(&1),
                "round {r} on {p}: {finished:?}"
            );
        }
    }
    assert_eq!(finished.len(), platforms.len() * rounds as usize);
    let samples = store.samples(run).unwrap();
    let mut seen: BTreeMap<(String, u32, String, String, u32, bool), usize> = BTreeMap::new();
    for s in &samples {
        *seen
            .entry((
                s.platform.clone(),
                s.round,
                s.workload.clone(),
                s.metric.clone(),
                s.index,
                s.warmup,
            ))
            .or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(dups.is_empty(), "duplicate samples: {dups:?}");
    let measured = samples.iter().filter(|s| !s.warmup).count();
    let ok = finished.iter().filter(|t| t.ok).count();
    assert_eq!(measured, ok * per_trial, "every completed trial's samples");
}

#[test]
fn ctrl_c_stops_cleanly_and_resume_finishes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("int{}", std::process::id());
    let spec = host_spec(dir.path(), &tag, 4);
    let mut child = spawn_hvbench(&["run", spec.to_str().unwrap(), "--db", "t.db"], dir.path());
    // Once the third trial has started, the first two are finished and the third in flight.
    wait_for("the third trial", Duration::from_secs(120), || {
        trials_started(dir.path()) >= 3
    });
    std::thread::sleep(Duration::from_millis(150));
    signal(child.id(), "INT");
    let code = exit_code_of(&mut child);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(stderr.contains("hvbench run --resume 1"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        processes_matching(&format!("plan-{tag}")),
        "",
        "no agent outlives hvbench"
    );
    {
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let run = store.run(1).unwrap();
        assert_eq!(run.status, RunStatus::Interrupted);
        let trials = store.trials(1).unwrap();
        assert!(trials.iter().all(|t| t.status != "running"), "{trials:?}");
        let interrupted: Vec<_> = trials
            .iter()
            .filter(|t| t.reason.as_deref().is_some_and(|r| r.contains("SIGINT")))
            .collect();
        assert!(interrupted.len() <= 1, "{trials:?}");
        assert!(store.finished_trials(1).unwrap().len() >= 2);
        let events = store.events(1).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "interrupted");
    }

    let out = hvbench(&["run", "--resume", "1", "--db", "t.db"], dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let names = [format!("{tag}-a"), format!("{tag}-b")];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_complete_without_duplicates(&store, 1, &names, 4, 4);
    let kinds: Vec<String> = store
        .events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["interrupted", "resumed"]);
    // A complete run has nothing to resume: a usage error.
    let again = hvbench(&["run", "--resume", "1", "--db", "t.db"], dir.path(), &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("is complete"), "{}", text(&again));
}

#[test]
fn sigkill_of_hvbench_then_resume_runs_each_trial_once() {
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("kill{}", std::process::id());
    let spec = host_spec(dir.path(), &tag, 4);
    let mut child = spawn_hvbench(&["run", spec.to_str().unwrap(), "--db", "t.db"], dir.path());
    wait_for("the fourth trial", Duration::from_secs(120), || {
        trials_started(dir.path()) >= 4
    });
    std::thread::sleep(Duration::from_millis(150));
    signal(child.id(), "KILL");
    child.wait().unwrap();
    // The agent was in hvbench's child's own process group; PR_SET_PDEATHSIG still ends it.
    wait_for("the orphaned agent to die", Duration::from_secs(5), || {
        processes_matching(&format!("plan-{tag}")).is_empty()
    });
    {
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.run(1).unwrap().status, RunStatus::Running);
    }
    // A SPEC that is not the stored one is refused before anything runs.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("repetitions = 4", "repetitions = 5"),
    )
    .unwrap();
    let refused = hvbench(
        &[
            "run",
            other.to_str().unwrap(),
            "--resume",
            "1",
            "--db",
            "t.db",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("does not match") && text(&refused).contains("repetitions"),
        "{}",
        text(&refused)
    );
    // The same SPEC is accepted.
    let out = hvbench(
        &[
            "run",
            spec.to_str().unwrap(),
            "--resume",
            "1",
            "--db",
            "t.db",
        ],
        dir.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let names = [format!("{tag}-a"), format!("{tag}-b")];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_complete_without_duplicates(&store, 1, &names, 4, 4);
    let stale: Vec<_> = store
        .trials(1)
        .unwrap()
        .into_iter()
        .filter(|t| {
            t.reason
                .as_deref()
                .is_some_and(|r| r.contains("hvbench stopped"))
        })
        .collect();
    assert_eq!(stale.len(), 1, "the trial killed with hvbench is marked");
    let kinds: Vec<String> = store
        .events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["interrupted", "resumed"]);
}

#[test]
fn resume_of_an_unknown_run_or_missing_database_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = hvbench(
        &["run", "--resume", "3", "--db", "none.db"],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    Store::open(&dir.path().join("t.db")).unwrap();
    let out = hvbench(&["run", "--resume", "3", "--db", "t.db"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no run `3`"), "{}", text(&out));
}

/// A fake agent: a shell script that prints `console` (bytes) and exits with `code`,
/// writing `stderr` on its standard error.
fn fake_agent(dir: &Path, console: &[u8], stderr: &str, code: i32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bytes = dir.join("console.bin");
    std::fs::write(&bytes, console).unwrap();
    let script = dir.join("fake-agent");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat '{}'\nprintf '%s\\n' '{stderr}' >&2\nexit {code}\n",
            bytes.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn hello() -> Vec<u8> {
    encode(&Message::Hello {
        agent_version: "9.9.9-fake".into(),
        mode: "host".into(),
    })
}

fn sample(index: u32, value: f64) -> Vec<u8> {
    encode(&Message::Sample {
        workload: "syscall".into(),
        metric: "latency".into(),
        unit: "ns".into(),
        better: Better::Lower,
        warmup: false,
        index,
        value,
        iterations: 1000,
        elapsed_ns: 100_000_000,
    })
}

fn one_host_spec(dir: &Path) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(
        &p,
        "name = \"fake\"\nrepetitions = 1\nwarmup = 0\nsamples = 2\nmin_window_ms = 50\n\
         seed = 1\n\n[[platform]]\nname = \"host\"\ndriver = \"host\"\n\n\
         [[workload]]\nname = \"syscall\"\n",
    )
    .unwrap();
    p
}

#[test]
fn an_agent_that_crashes_after_hello_is_a_failed_trial_with_its_last_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut console = hello();
    console.extend(sample(0, 50.0));
    console.extend(b"working on syscall\n");
    let agent = fake_agent(
        dir.path(),
        &console,
        "thread main panicked at workloads/syscall.rs:42: boom",
        101,
    );
    let spec = one_host_spec(dir.path());
    let out = hvbench(
        &["run", spec.to_str().unwrap(), "--db", "t.db"],
        dir.path(),
        &[("HVBENCH_AGENT", &agent)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].status, "failed");
    let reason = trials[0].reason.as_deref().unwrap();
    assert!(reason.contains("exited"), "{reason}");
    assert!(reason.contains("exit status: 101"), "{reason}");
    assert!(reason.contains("| working on syscall"), "{reason}");
    assert!(
        reason.contains("| thread main panicked at workloads/syscall.rs:42: boom"),
        "{reason}"
    );
    // What arrived before the crash is kept.
    assert_eq!(store.samples(1).unwrap().len(), 1);
    let facts = &store.platforms(1).unwrap()[0].facts;
    assert_eq!(facts["agent.version"], "9.9.9-fake");
    assert_eq!(store.run(1).unwrap().status, RunStatus::Failed);
}

/// Deterministic noise (xorshift) with no frame prefix in it, so the count of corrupt frames
/// below is exact.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match (x >> 24) as u8 {
                b'H' => b'h',
                b => b,
            }
        })
        .collect()
}

#[test]
fn a_console_flooded_with_garbage_keeps_the_good_frames_and_reports_the_bad() {
    let dir = tempfile::tempdir().unwrap();
    let mut console = hello();
    console.extend(garbage(1, 64 * 1024));
    console.extend(b"\n");
    console.extend(sample(0, 10.0));
    console.extend(garbage(2, 4096));
    console.extend(b"\n");
    // Corrupt frames: a checksum that does not match, a body cut short by a newline, a length
    // beyond any frame, and a frame whose JSON is no message.
    let mut bad_crc = sample(1, 11.0);
    let at = bad_crc.len() - 3;
    bad_crc[at] = if bad_crc[at] == b'1' { b'2' } else { b'1' };
    console.extend(&bad_crc);
    let cut = sample(1, 12.0);
    console.extend(&cut[..cut.len() / 2]);
    console.extend(b"\n");
    console.extend(b"HVB/1 999999999 00000000 {}\n");
    console.extend(garbage(3, 1000));
    console.extend(b"\n");
    console.extend(sample(1, 13.0));
    console.extend(encode(&Message::Done {
        samples: 2,
        failures: 0,
    }));
    let agent = fake_agent(dir.path(), &console, "", 0);
    let spec = one_host_spec(dir.path());
    let out = hvbench(
        &["run", spec.to_str().unwrap(), "--db", "t.db"],
        dir.path(),
        &[("HVBENCH_AGENT", &agent)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let values: Vec<f64> = store.samples(1).unwrap().iter().map(|s| s.value).collect();
    assert_eq!(values, [10.0, 13.0], "only the intact frames are trusted");
    let bad: Vec<String> = store
        .failures(1)
        .unwrap()
        .into_iter()
        .filter(|f| f.workload.as_deref() == Some("(console)"))
        .map(|f| f.reason)
        .collect();
    assert!(bad.len() >= 3, "{bad:#?}");
    assert!(
        bad.iter().all(|r| r.starts_with("untrusted frame ignored")),
        "{bad:#?}"
    );
    assert_eq!(store.trials(1).unwrap()[0].status, "ok");
}

fn guest_spec(dir: &Path, vm: &str, with_host: bool) -> PathBuf {
    let host = if with_host {
        "[[platform]]\nname = \"host\"\ndriver = \"host\"\n\n"
    } else {
        ""
    };
    let p = dir.join("spec.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"guest-faults\"\nrepetitions = 1\nwarmup = 0\nsamples = 1\n\
             min_window_ms = 50\nseed = 3\n\n[guest]\nvcpus = 1\nmemory_mib = 256\n\
             timeout_s = 300\n\n{host}[[platform]]\nname = \"{vm}\"\ndriver = \"qemu\"\n\
             accel = \"tcg\"\n\n[[workload]]\nname = \"syscall\"\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_qemu_killed_mid_trial_is_a_failed_trial_and_the_campaign_goes_on() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let vm = format!("qkill{}", std::process::id());
    let spec = guest_spec(dir.path(), &vm, true);
    let mut child = spawn_hvbench(&["run", spec.to_str().unwrap(), "--db", "t.db"], dir.path());
    let name = format!("hvbench-{vm}");
    wait_for("QEMU to start", Duration::from_secs(300), || {
        !processes_matching(&name).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", &name])
        .status()
        .unwrap();
    assert!(killed.success());
    let code = exit_code_of(&mut child);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert_eq!(
        code,
        Some(3),
        "the host trial succeeded and the guest's failed: a partial result: {stderr}"
    );
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    assert_eq!(store.run(1).unwrap().status, RunStatus::Complete);
    let trials = store.trials(1).unwrap();
    let host = trials.iter().find(|t| t.platform == "host").unwrap();
    assert_eq!(host.status, "ok");
    let guest = trials.iter().find(|t| t.platform == vm).unwrap();
    assert_eq!(guest.status, "failed");
    let reason = guest.reason.as_deref().unwrap();
    assert!(reason.contains("signal: 9"), "{reason}");
}

#[test]
fn sigterm_tears_the_guest_down_and_marks_the_run_interrupted() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let vm = format!("term{}", std::process::id());
    let spec = guest_spec(dir.path(), &vm, false);
    let mut child = spawn_hvbench(&["run", spec.to_str().unwrap(), "--db", "t.db"], dir.path());
    let name = format!("hvbench-{vm}");
    wait_for("QEMU to start", Duration::from_secs(300), || {
        !processes_matching(&name).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "TERM");
    let code = exit_code_of(&mut child);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("--resume 1"), "{stderr}");
    assert_eq!(processes_matching(&name), "", "QEMU outlived hvbench");
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    assert_eq!(store.run(1).unwrap().status, RunStatus::Interrupted);
    let trials = store.trials(1).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].status, "failed");
    assert!(
        trials[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("interrupted by SIGTERM")),
        "{trials:?}"
    );
    assert!(
        store.finished_trials(1).unwrap().is_empty(),
        "it is redone on resume"
    );
}

#[test]
fn a_qemu_that_cannot_start_shows_its_stderr_framed_in_the_stored_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let qemu = dir.path().join("fake-qemu");
    std::fs::write(
        &qemu,
        "#!/bin/sh\necho 'fake-qemu: -accel tcg: could not initialize accelerator' >&2\n\
         echo 'fake-qemu: second line of the complaint' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = guest_spec(dir.path(), "vm", false);
    let out = hvbench(
        &["run", spec.to_str().unwrap(), "--db", "t.db"],
        dir.path(),
        &[("HVBENCH_QEMU", &qemu)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    assert_eq!(trials[0].status, "failed");
    let reason = trials[0].reason.as_deref().unwrap();
    assert!(reason.contains("exited (exit status: 1)"), "{reason}");
    assert!(
        reason.contains("stderr ---\n| fake-qemu: -accel tcg: could not initialize accelerator\n| fake-qemu: second line of the complaint\n---"),
        "{reason}"
    );
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write zeros into `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    // Smaller writes take the last free bytes.
    let byte = [0u8; 512];
    while f.write_all(&byte).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_stops_the_run_clearly_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let _tmpfs = match Tmpfs::mount(&mnt, "4m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs to fill ({why}); this test needs root");
            return;
        }
    };
    let tag = format!("full{}", std::process::id());
    let spec = host_spec(dir.path(), &tag, 4);
    // Its stderr goes beside the small file system, not into it.
    let stderr_path = dir.path().join("stderr.txt");
    let mut child = spawn_hvbench_to(
        &["run", spec.to_str().unwrap(), "--db", "t.db"],
        &mnt,
        &stderr_path,
    );
    wait_for("the third trial", Duration::from_secs(120), || {
        trials_started(&mnt) >= 3
    });
    let filler = mnt.join("filler");
    fill(&filler);
    let code = exit_code_of(&mut child);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    if code == Some(0) {
        // The fill raced with the end of the campaign: nothing to check.
        eprintln!("skipped: the campaign finished before the disk was full");
        return;
    }
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot write to the store"), "{stderr}");
    assert!(stderr.contains("full"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");

    std::fs::remove_file(&filler).unwrap();
    // What was stored is readable, every completed trial whole, and the run resumes.
    let out = hvbench(&["results", "1", "--db", "t.db"], &mnt, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = Store::open(&mnt.join("t.db")).unwrap();
    let ok = store
        .finished_trials(1)
        .unwrap()
        .iter()
        .filter(|t| t.ok)
        .count();
    assert!(
        ok >= 2,
        "the trials finished before the disk filled are kept"
    );
    assert!(rows.as_array().unwrap().len() >= ok * 4);
    drop(store);
    let out = hvbench(&["run", "--resume", "1", "--db", "t.db"], &mnt, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&mnt.join("t.db")).unwrap();
    let names = [format!("{tag}-a"), format!("{tag}-b")];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_complete_without_duplicates(&store, 1, &names, 4, 4);
}
