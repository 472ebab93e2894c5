//! One campaign across machines over SSH, for real: Debian's sshd on loopback ports plays two
//! remote machines (each with its own cache directory), the system's ssh client reaches them,
//! the static executor is shipped into each cache and runs a host baseline and a TCG guest
//! there, and every frame comes back over the SSH channel into the one store. Then the faults:
//! an SSH connection killed mid-trial, a host whose key is not trusted, a host that is down.

mod common;
use common::sshd::{Client, Sshd};
use common::{require_qemu, text};

use hvbench_store::Store;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEAD: &str = r#"repetitions = 1
warmup = 0
samples = 1
min_window_ms = 50
seed = 4

[guest]
memory_mib = 256
timeout_s = 300

"#;

fn host_table(name: &str, d: &Sshd, known_hosts: &str, cache: &Path) -> String {
    format!(
        "[[host]]\nname = \"{name}\"\nssh = \"{}\"\nidentity_file = \"id_ed25519\"\n\
         known_hosts = \"{known_hosts}\"\ncache_dir = \"{}\"\n\n",
        d.target(),
        cache.display()
    )
}

fn platform(name: &str, host: Option<&str>, tcg: bool) -> String {
    let mut s = format!("[[platform]]\nname = \"{name}\"\n");
    if tcg {
        s.push_str("driver = \"qemu\"\naccel = \"tcg\"\n");
    } else {
        s.push_str("driver = \"host\"\n");
    }
    if let Some(h) = host {
        s.push_str(&format!("host = \"{h}\"\n"));
    }
    s.push('\n');
    s
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run hvbench")
}

fn processes_matching(pattern: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-a", "-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn one_campaign_over_two_ssh_machines_and_this_one() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m1 = Sshd::start(dir.path(), "m1", &client);
    let m2 = Sshd::start(dir.path(), "m2", &client);
    std::fs::write(
        dir.path().join("known_hosts"),
        format!("{}{}", m1.known_hosts_line, m2.known_hosts_line),
    )
    .unwrap();
    let tag = std::process::id();
    let mut spec = format!("name = \"two-machines\"\n{HEAD}");
    spec += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
    spec += &host_table("m2", &m2, "known_hosts", &dir.path().join("m2-cache"));
    spec += &platform("local", None, false);
    spec += &platform(&format!("local-tcg{tag}"), None, true);
    spec += &platform("m1-host", Some("m1"), false);
    spec += &platform(&format!("m1-tcg{tag}"), Some("m1"), true);
    spec += &platform("m2-host", Some("m2"), false);
    spec += &platform(&format!("m2-tcg{tag}"), Some("m2"), true);
    spec += "[[workload]]\nname = \"syscall\"\n";
    std::fs::write(dir.path().join("two.toml"), &spec).unwrap();

    let plan = run(dir.path(), &["plan", "two.toml"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(
        shown.contains("m1") && shown.contains(&m1.target()),
        "{shown}"
    );

    let started = Instant::now();
    let out = run(
        dir.path(),
        &["run", "two.toml", "--db", "t.db", "--report", "rep"],
    );
    eprintln!(
        "two-machine campaign: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "{}", text(&out));

    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let samples = store.samples(1).unwrap();
    let platforms = store.platforms(1).unwrap();
    for p in &platforms {
        let n = samples
            .iter()
            .filter(|s| s.platform == p.name && !s.warmup && s.workload == "syscall")
            .count();
        assert!(n >= 1, "no syscall sample from {}: {}", p.name, text(&out));
    }
    assert_eq!(platforms.len(), 6);
    for (name, machine) in [
        ("m1-host".to_string(), "m1"),
        (format!("m1-tcg{tag}"), "m1"),
        ("m2-host".to_string(), "m2"),
        (format!("m2-tcg{tag}"), "m2"),
    ] {
        let p = platforms.iter().find(|p| p.name == name).unwrap();
        assert_eq!(
            p.facts.get("machine").map(String::as_str),
            Some(machine),
            "{name}"
        );
        let ssh = p.facts.get("remote.ssh").cloned().unwrap_or_default();
        assert!(ssh.ends_with(&format!(
            ":{}",
            if machine == "m1" { m1.port } else { m2.port }
        )));
        // The guest ran under the remote side's QEMU, and the agent saw its own machine.
        if name.contains("tcg") {
            assert_eq!(
                p.facts.get("accel").map(String::as_str),
                Some("tcg"),
                "{name}"
            );
            assert!(
                p.facts.contains_key("agent.version"),
                "{name}: {:?}",
                p.facts
            );
        }
    }
    // What was shipped: the executor and the agent, the kernel and the guest images, each
    // into the machine's own content-addressed cache.
    for m in ["m1-cache", "m2-cache"] {
        let objects = std::fs::read_dir(dir.path().join(m).join("objects"))
            .unwrap()
            .count();
        assert!(objects >= 4, "{m}: {objects} objects");
    }
    let local = platforms.iter().find(|p| p.name == "local").unwrap();
    assert!(!local.facts.contains_key("remote.ssh"));
    let report = std::fs::read_to_string(dir.path().join("rep/report.md")).unwrap();
    assert!(report.contains("m1-host") && report.contains("m2-host"));

    // A second run ships nothing: every object is there already.
    let again = run(dir.path(), &["run", "two.toml", "--db", "t.db"]);
    assert!(again.status.success(), "{}", text(&again));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let shipped = store
        .platforms(2)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "m1-host")
        .and_then(|p| p.facts.get("remote.shipped").cloned())
        .unwrap();
    assert!(shipped.starts_with("0 file(s), 0 bytes sent"), "{shipped}");
}

#[test]
fn a_connection_killed_mid_trial_fails_that_trial_and_leaves_no_guest() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m1 = Sshd::start(dir.path(), "m1", &client);
    std::fs::write(dir.path().join("known_hosts"), &m1.known_hosts_line).unwrap();
    let vm = format!("cut{}", std::process::id());
    let mut spec = format!("name = \"cut\"\n{HEAD}");
    spec += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
    spec += &platform("local", None, false);
    spec += &platform(&vm, Some("m1"), true);
    spec += "[[workload]]\nname = \"syscall\"\n";
    std::fs::write(dir.path().join("cut.toml"), &spec).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "cut.toml", "--db", "t.db"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // The remote guest is up: its QEMU runs (on this machine, started by the executor).
    let qemu = format!("hvbench-{vm}");
    let t = Instant::now();
    while processes_matching(&qemu).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the remote guest never started: {}",
            std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
        );
        assert!(child.try_wait().unwrap().is_none(), "hvbench ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Cut the connection: kill the ssh client of the session that runs the executor, and the
    // multiplexing master that carries it.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", &format!("ssh .*-p {} ", m1.port)])
        .status()
        .unwrap();
    assert!(killed.success(), "no ssh process to kill");
    let cut_at = Instant::now();
    // The executor tears its guest down within 10 s of losing the connection.
    while !processes_matching(&qemu).is_empty() {
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "a QEMU outlived the connection by 10 s: {:?}",
            processes_matching(&qemu)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "remote guest gone {:.1} s after the connection was cut",
        cut_at.elapsed().as_secs_f64()
    );
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(3),
        "the campaign went on and says a trial failed: {log}"
    );
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    let cut = trials.iter().find(|t| t.platform == vm).unwrap();
    assert_eq!(cut.status, "failed");
    let failures = store.failures(1).unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.platform == vm && f.reason.contains("over SSH")),
        "{failures:?}"
    );
    let local = trials.iter().find(|t| t.platform == "local").unwrap();
    assert_eq!(local.status, "ok");
    // No executor of this machine is left (matched by its cache directory, which its command
    // line holds: "hvbench-executor" alone also matches a build of that crate running beside).
    let executors = processes_matching(&dir.path().join("m1-cache").display().to_string());
    assert!(executors.is_empty(), "{executors:?}");
    // The trial was lost with its connection, not failed by the guest: `--resume` runs it
    // again and completes the run.
    assert!(log.contains("--resume 1"), "{log}");
    drop(store);
    let resumed = run(dir.path(), &["run", "--resume", "1", "--db", "t.db"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    assert!(store
        .trials(1)
        .unwrap()
        .iter()
        .any(|t| t.platform == vm && t.status == "ok"));
}

#[test]
fn an_untrusted_key_and_a_host_that_is_down_are_named_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let stranger = Sshd::start(dir.path(), "stranger", &client);
    let mut down = Sshd::start(dir.path(), "down", &client);
    // Only the down host's key is trusted; the stranger's is unknown.
    std::fs::write(dir.path().join("known_hosts"), &down.known_hosts_line).unwrap();
    down.stop();
    let mut spec = format!("name = \"faulty-hosts\"\n{HEAD}");
    spec += &host_table(
        "stranger",
        &stranger,
        "known_hosts",
        &dir.path().join("s-cache"),
    );
    spec += &host_table("down", &down, "known_hosts", &dir.path().join("d-cache"));
    spec += &platform("local", None, false);
    spec += &platform("stranger-host", Some("stranger"), false);
    spec += &platform("down-host", Some("down"), false);
    spec += "[[workload]]\nname = \"syscall\"\n";
    std::fs::write(dir.path().join("faulty.toml"), &spec).unwrap();
    let out = run(dir.path(), &["run", "faulty.toml", "--db", "t.db"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("host `stranger`") && all.contains("not trusted"),
        "the unknown key is named: {all}"
    );
    assert!(
        all.contains("host `down`") && all.contains("cannot be reached"),
        "the host that is down is named: {all}"
    );
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    let status = |p: &str| {
        trials
            .iter()
            .find(|t| t.platform == p)
            .map(|t| t.status.clone())
    };
    assert_eq!(status("local").as_deref(), Some("ok"));
    assert_eq!(status("stranger-host").as_deref(), Some("failed"));
    assert_eq!(status("down-host").as_deref(), Some("failed"));
    // Nothing was shipped to the host whose key is not trusted.
    assert!(!dir.path().join("s-cache").exists());
}

#[test]
fn an_isolation_cell_runs_whole_on_the_remote_machine() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m1 = Sshd::start(dir.path(), "m1", &client);
    std::fs::write(dir.path().join("known_hosts"), &m1.known_hosts_line).unwrap();
    let mut spec = format!("name = \"remote-cell\"\n{HEAD}");
    spec += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
    spec += &platform("m1-host", Some("m1"), false);
    spec += "[[isolation]]\nname = \"hog\"\nvictim = [\"syscall\"]\nstressors = [\"cpu\"]\n\
             placements = [\"shared\"]\nsettle_ms = 200\n";
    std::fs::write(dir.path().join("cell.toml"), &spec).unwrap();
    let out = run(dir.path(), &["run", "cell.toml", "--db", "t.db"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    for (scenario, guest) in [
        ("hog/none", "victim"),
        ("hog/cpu/shared", "victim"),
        ("hog/cpu/shared", "aggressor1"),
    ] {
        let t = trials
            .iter()
            .find(|t| t.scenario == scenario && t.guest == guest)
            .unwrap_or_else(|| panic!("no {guest} trial in {scenario}: {trials:#?}"));
        assert_eq!(t.status, "ok", "{t:?}");
    }
    let samples = store.samples(1).unwrap();
    // The victim's windows and the aggressor's heartbeats came back with their cell times.
    assert!(samples
        .iter()
        .any(|s| s.guest == "victim" && s.scenario == "hog/cpu/shared" && s.at_ms.is_some()));
    assert!(samples
        .iter()
        .any(|s| s.guest == "aggressor1" && s.workload == "stress-cpu" && s.at_ms.is_some()));
}

#[test]
fn doctor_checks_a_host_from_afar() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m1 = Sshd::start(dir.path(), "m1", &client);
    let stranger = Sshd::start(dir.path(), "stranger", &client);
    std::fs::write(dir.path().join("known_hosts"), &m1.known_hosts_line).unwrap();
    let mut spec = format!("name = \"doctor\"\n{HEAD}");
    spec += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
    spec += &host_table(
        "stranger",
        &stranger,
        "known_hosts",
        &dir.path().join("s-cache"),
    );
    spec += &platform("m1-host", Some("m1"), false);
    spec += "[[workload]]\nname = \"syscall\"\n";
    std::fs::write(dir.path().join("d.toml"), &spec).unwrap();
    let ok = run(dir.path(), &["doctor", "--host", "m1", "d.toml"]);
    let said = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{}", text(&ok));
    for want in [
        "[ok  ] SSH: reachable, host key trusted",
        "KVM",
        "Xen",
        "QEMU",
        "guest network",
        "cache",
    ] {
        assert!(said.contains(want), "{want:?} missing in\n{said}");
    }
    let bad = run(dir.path(), &["doctor", "--host", "stranger", "d.toml"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("not trusted"));
    let unknown = run(dir.path(), &["doctor", "--host", "nobody", "d.toml"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}

#[test]
fn ctrl_c_stops_every_machine_and_resume_completes_the_run() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m1 = Sshd::start(dir.path(), "m1", &client);
    let m2 = Sshd::start(dir.path(), "m2", &client);
    std::fs::write(
        dir.path().join("known_hosts"),
        format!("{}{}", m1.known_hosts_line, m2.known_hosts_line),
    )
    .unwrap();
    let tag = format!("int{}", std::process::id());
    let mut spec =
        format!("name = \"interrupted\"\n{HEAD}").replace("repetitions = 1", "repetitions = 2");
    spec += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
    spec += &host_table("m2", &m2, "known_hosts", &dir.path().join("m2-cache"));
    spec += &platform("local", None, false);
    spec += &platform(&format!("{tag}-m1"), Some("m1"), true);
    spec += &platform(&format!("{tag}-m2"), Some("m2"), true);
    spec += "[[workload]]\nname = \"syscall\"\n";
    std::fs::write(dir.path().join("int.toml"), &spec).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "int.toml", "--db", "t.db"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // Both machines' guests are up at once: then Ctrl-C.
    let t = Instant::now();
    while processes_matching(&format!("hvbench-{tag}-m1")).is_empty()
        || processes_matching(&format!("hvbench-{tag}-m2")).is_empty()
    {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the two machines' guests never ran at the same time: {}",
            std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
        );
        assert!(child.try_wait().unwrap().is_none(), "hvbench ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("--resume"), "{log}");
    let t = Instant::now();
    while !processes_matching(&format!("hvbench-{tag}")).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "a guest outlived the interrupted campaign: {:?}",
            processes_matching(&format!("hvbench-{tag}"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let resumed = run(dir.path(), &["run", "--resume", "1", "--db", "t.db"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    for p in [
        "local".to_string(),
        format!("{tag}-m1"),
        format!("{tag}-m2"),
    ] {
        for round in 0..2 {
            assert!(
                trials
                    .iter()
                    .any(|t| t.platform == p && t.round == round && t.status == "ok"),
                "{p} round {round} never completed: {trials:#?}"
            );
        }
    }
}

/// A dual-boot host (docs/architecture.md, "Dual-boot hosts") reached over SSH, without
/// rebooting anything: a boot entry whose select command fails refuses the trial and leaves the
/// machine alone; a machine that does not come back after `reboot` (here its sshd stops once
/// the select command has run) is waited for `timeout_s`, then its trials are lost with a clear
/// message, everything stored, and the run is left for `--resume`.
#[test]
fn a_dual_boot_host_whose_select_fails_or_that_does_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let mut m1 = Sshd::start(dir.path(), "m1", &client);
    std::fs::write(dir.path().join("known_hosts"), &m1.known_hosts_line).unwrap();
    let marker = dir.path().join("selected");
    let spec = |name: &str, select: &str| {
        let mut s = format!("name = \"{name}\"\n{HEAD}");
        s += &host_table("m1", &m1, "known_hosts", &dir.path().join("m1-cache"));
        s += &format!(
            "[[host.boot]]\nname = \"xen\"\nselect = \"{select}\"\nreboot = \"true\"\n\
             timeout_s = 30\n\n[[host.boot]]\nname = \"kvm\"\nselect = \"true\"\n\n"
        );
        // This machine is no Xen dom0: the platform's boot needs a reboot.
        s += &platform("dom0-base", Some("m1"), false).replace("\n\n", "\nboot = \"xen\"\n\n");
        s += "[[workload]]\nname = \"syscall\"\n";
        s
    };

    std::fs::write(dir.path().join("bad.toml"), spec("bad-select", "false")).unwrap();
    let out = run(dir.path(), &["run", "bad.toml", "--db", "bad.db"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let store = Store::open(&dir.path().join("bad.db")).unwrap();
    let trials = store.trials(1).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].status, "failed");
    let reason = trials[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("the select command of boot `xen` (false) failed"),
        "{reason}"
    );
    // The boot found at the start is recorded; nothing was rebooted.
    let boots = store.boots(1).unwrap();
    assert_eq!(boots.len(), 1, "{boots:?}");
    assert!(!boots[0].reboot);
    assert_eq!(boots[0].boot_id.len(), 36, "{boots:?}");

    let select = format!("echo xen > {}", marker.display());
    std::fs::write(dir.path().join("gone.toml"), spec("gone", &select)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "gone.toml", "--db", "gone.db"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the select command never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The machine goes down with its reboot, and never answers again.
    m1.stop();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    // No trial succeeded: exit 1, the lost one named for `--resume`.
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("host `m1` did not come back within 30 s"),
        "{all}"
    );
    assert!(all.contains("--resume 1"), "{all}");
    let store = Store::open(&dir.path().join("gone.db")).unwrap();
    let run = store.resolve_run(None).unwrap();
    assert_eq!(run.status, hvbench_store::RunStatus::Interrupted);
    let trials = store.trials(run.id).unwrap();
    assert_eq!(trials.len(), 1);
    assert!(trials[0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("did not come back"));
}
