//! Lab tests: real Xen and real KVM, in emulated hosts nested under QEMU's TCG, driven by the
//! `hvbench` binary from an experiment file, exactly as a user runs them. These boot a whole
//! Xen host and a whole KVM host, so they are slow (minutes); timings are never asserted.
//!
//! The first run builds the lab (debootstrap; needs root and the network to Debian's archive),
//! later runs use `~/.cache/hvbench/lab`. `.ci/run` runs as root with debootstrap installed.

mod common;
use common::{hvbench, text};

use hvbench_store::Store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAB_SPEC: &str = r#"
repetitions = 1
warmup = 1
samples = 1
min_window_ms = 50
seed = 3

[guest]
vcpus = 1
memory_mib = 256
timeout_s = 240

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
lab = true

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"
lab = true

[[platform]]
name = "xen-pvh"
driver = "xen"
type = "pvh"
lab = true

[[workload]]
name = "syscall"

[[workload]]
name = "cpu-int"
"#;

/// One small experiment on both lab hosts: samples from KVM, Xen PV and Xen PVH guests, and
/// facts that show what really ran.
#[test]
fn one_experiment_on_the_xen_and_kvm_lab_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lab.toml");
    std::fs::write(&spec, format!("name = \"lab\"\n{LAB_SPEC}")).unwrap();
    let out = hvbench(
        &["run", spec.to_str().unwrap(), "--db", "lab.db"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));

    let store = Store::open(&dir.path().join("lab.db")).unwrap();
    let run = store.resolve_run(None).unwrap();
    let samples = store.samples(run.id).unwrap();
    let failures = store.failures(run.id).unwrap();
    for platform in ["kvm", "xen-pv", "xen-pvh"] {
        for workload in ["syscall", "cpu-int"] {
            let n = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == workload && !s.warmup)
                .count();
            assert_eq!(
                n,
                1,
                "{platform}/{workload}: failures {failures:?}\n{}",
                text(&out)
            );
        }
    }
    let platforms = store.platforms(run.id).unwrap();
    let facts = |name: &str| {
        platforms
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .facts
            .clone()
    };

    let kvm = facts("kvm");
    assert_eq!(kvm["lab"], "kvm");
    assert_eq!(
        kvm["accel"], "kvm",
        "the inner QEMU ran under real KVM: {kvm:?}"
    );
    assert!(kvm["kvm.module"].starts_with("kvm_"), "{kvm:?}");
    assert_eq!(kvm["clocksource"], "kvm-clock", "{kvm:?}");
    assert_eq!(kvm["cpuid.hypervisor"], "KVMKVMKVM", "{kvm:?}");
    assert_eq!(kvm["host.emulated"], "true");

    for (name, kind) in [("xen-pv", "pv"), ("xen-pvh", "pvh")] {
        let f = facts(name);
        assert_eq!(f["lab"], "xen");
        assert_eq!(f["xen.guest_type"], kind, "{f:?}");
        assert!(f["xen.version"].starts_with("4.17"), "{f:?}");
        assert_eq!(f["clocksource"], "xen", "{f:?}");
        assert_eq!(f["hypervisor.type"], "xen", "the guest saw Xen: {f:?}");
        assert!(f["kernel.release"].contains("cloud-amd64"), "{f:?}");
    }

    let report = String::from_utf8_lossy(&out.stdout);
    for needle in ["kvm", "xen-pv", "xen-pvh"] {
        assert!(report.contains(needle), "{report}");
    }
}

/// Killing the emulated host in the middle of a run is survived: that trial is recorded as
/// failed, and the other samples of the run are intact.
#[test]
fn killing_the_lab_host_mid_run_is_recorded_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("kill.toml");
    let body = format!(
        "name = \"kill\"\n{}",
        r#"
repetitions = 2
warmup = 0
samples = 1
min_window_ms = 20
seed = 1

[guest]
memory_mib = 256
timeout_s = 240

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "victim"
driver = "xen"
type = "pv"
lab = true

[[workload]]
name = "syscall"
"#
    );
    std::fs::write(&spec, body).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", spec.to_str().unwrap(), "--db", "kill.db"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first lab host to be running, then kill it (as an OOM killer or an operator would).
    let started = Instant::now();
    let killed = loop {
        let found = Command::new("pkill")
            .args(["-KILL", "-f", "hvbench-lab-victim"])
            .status()
            .unwrap();
        if found.success() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(600) || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_secs(5));
    };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(killed, "the lab host never started: {stderr}");
    assert!(
        status.success(),
        "the run goes on after losing a lab host: {stderr}"
    );

    let store = Store::open(&dir.path().join("kill.db")).unwrap();
    let run = store.resolve_run(None).unwrap();
    let trials = store.trials(run.id).unwrap();
    let victim: Vec<_> = trials.iter().filter(|t| t.platform == "victim").collect();
    assert_eq!(victim.len(), 2, "{trials:?}");
    assert!(
        victim.iter().any(|t| t.status == "failed"),
        "the killed trial is recorded as failed: {trials:?}"
    );
    let samples = store.samples(run.id).unwrap();
    assert_eq!(
        samples.iter().filter(|s| s.platform == "host").count(),
        2,
        "host samples intact"
    );
    let ok_victim_rounds: Vec<u32> = victim
        .iter()
        .filter(|t| t.status == "ok")
        .map(|t| t.round)
        .collect();
    for r in ok_victim_rounds {
        assert!(
            samples
                .iter()
                .any(|s| s.platform == "victim" && s.round == r),
            "the surviving lab trial's samples are stored"
        );
    }
}
