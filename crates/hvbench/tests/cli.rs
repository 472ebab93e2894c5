//! End-to-end tests of the `hvbench` command: real host agents and real QEMU guests (TCG on a
//! machine without usable KVM), a real SQLite store, real reports. Timings are never asserted:
//! emulated timings are slow and noisy. What is asserted is what a user would notice: samples
//! arrive from every platform, facts say what really ran, failures are recorded, exit codes.

mod common;
use common::{hvbench, require_qemu, text};

use hvbench_platform::drivers::kvm;
use hvbench_store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write_spec(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const SMALL_GUEST: &str = r#"
repetitions = 3
warmup = 1
samples = 1
min_window_ms = 50
seed = 7

[guest]
vcpus = 1
memory_mib = 256
timeout_s = 300

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "vm"
driver = "qemu"
accel = "auto"
cpus = "0"

[[workload]]
name = "cpu-int"

[[workload]]
name = "syscall"

[[workload]]
name = "mem-bandwidth"
kernel = "triad"
size_mib = 16
"#;

#[test]
fn host_and_real_guest_end_to_end() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "e2e.toml",
        &format!("name = \"e2e\"\n{SMALL_GUEST}"),
    );
    let out = hvbench(
        &[
            "run",
            spec.to_str().unwrap(),
            "--db",
            "e2e.db",
            "--report",
            "rep",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));

    // Every measured sample is in the store, from both platforms, for every workload.
    let store = Store::open(&dir.path().join("e2e.db")).unwrap();
    let run = store.resolve_run(Some("e2e")).unwrap();
    assert_eq!(run.status, hvbench_store::RunStatus::Complete);
    let samples = store.samples(run.id).unwrap();
    for platform in ["host", "vm"] {
        for (workload, unit, better) in [
            ("cpu-int", "Mop/s", "higher"),
            ("syscall", "ns", "lower"),
            ("mem-bandwidth", "MB/s", "higher"),
        ] {
            let measured: Vec<_> = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == workload && !s.warmup)
                .collect();
            assert_eq!(
                measured.len(),
                3,
                "{platform}/{workload}: one measured sample per round\n{}",
                text(&out)
            );
            let rounds: std::collections::BTreeSet<u32> =
                measured.iter().map(|s| s.round).collect();
            assert_eq!(rounds.len(), 3, "samples come from three separate rounds");
            for s in &measured {
                assert!(s.value.is_finite() && s.value > 0.0, "{s:?}");
                assert_eq!((s.unit.as_str(), s.better.as_str()), (unit, better));
            }
            let warm = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == workload && s.warmup)
                .count();
            assert_eq!(warm, 3, "warm-up windows are stored, marked");
        }
    }

    // The facts say what really ran.
    let platforms = store.platforms(run.id).unwrap();
    let vm = platforms.iter().find(|p| p.name == "vm").unwrap();
    let host = platforms.iter().find(|p| p.name == "host").unwrap();
    let expected_accel = if kvm::status().is_usable() {
        "kvm"
    } else {
        "tcg"
    };
    assert_eq!(vm.facts["accel"], expected_accel, "{:?}", vm.facts);
    assert_eq!(vm.facts["agent.mode"], "guest");
    assert!(
        vm.facts["kernel.release"].contains("cloud-amd64"),
        "the guest booted Debian's cloud kernel: {:?}",
        vm.facts
    );
    assert!(
        vm.facts["qemu.version"]
            .chars()
            .next()
            .unwrap()
            .is_ascii_digit(),
        "{:?}",
        vm.facts
    );
    assert_eq!(vm.facts["qemu.machine"], "q35");
    assert_eq!(
        vm.facts["qemu.pinning"], "vcpu0:cpu0",
        "the vCPU thread was pinned over QMP: {:?}",
        vm.facts
    );
    assert!(vm.facts.contains_key("clocksource"));
    if expected_accel == "tcg" {
        assert_eq!(
            vm.facts["cpuid.hypervisor"], "TCGTCGTCGTCG",
            "the guest saw QEMU's TCG signature"
        );
    }
    assert_eq!(host.facts["agent.mode"], "host");
    assert_eq!(host.facts["accel"], "none");

    // The report compares the guest with the host baseline; the raw results have the documented shape.
    let report = String::from_utf8_lossy(&out.stdout);
    for needle in ["host", "vm", "cpu-int", "syscall", "mem-bandwidth"] {
        assert!(report.contains(needle), "report lacks {needle}:\n{report}");
    }
    if expected_accel == "tcg" {
        assert!(
            report.contains("TCG"),
            "the report says the guest was emulated:\n{report}"
        );
    }
    for f in [
        "report.md",
        "report.txt",
        "results.json",
        "results.csv",
        "summary.json",
    ] {
        assert!(dir.path().join("rep").join(f).is_file(), "{f} written");
    }
    let res = hvbench(
        &["results", "--db", "e2e.db", "--format", "json"],
        dir.path(),
    );
    assert!(res.status.success(), "{}", text(&res));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(
        rows.len(),
        2 * 3 * 3,
        "2 platforms x 3 workloads x 3 rounds, warm-ups excluded"
    );
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "better",
            "guest",
            "metric",
            "platform",
            "repetition",
            "run",
            "scenario",
            "unit",
            "value",
            "workload"
        ]
    );
    let again = hvbench(&["report", "--db", "e2e.db", "e2e"], dir.path());
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        again.stdout, out.stdout,
        "the report is redone from the store alone, identically"
    );
}

#[test]
fn a_guest_that_exceeds_its_timeout_is_killed_and_the_campaign_goes_on() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    // One second cannot boot a guest under TCG (a kernel alone takes longer), so every VM trial
    // overruns; the host's trials get at least 60 s whatever the guest timeout. The VM gets a name of its own so that the check for left-over QEMUs below
    // does not see the guests of tests running beside this one.
    let body = r#"name = "timeout"
repetitions = 2
warmup = 0
samples = 1
min_window_ms = 20
[guest]
memory_mib = 256
timeout_s = 1
[[platform]]
name = "host"
driver = "host"
[[platform]]
name = "slowvm"
driver = "qemu"
accel = "tcg"
[[workload]]
name = "syscall"
"#;
    let spec = write_spec(dir.path(), "t.toml", body);
    let t = std::time::Instant::now();
    let out = hvbench(&["run", spec.to_str().unwrap(), "--db", "t.db"], dir.path());
    assert!(
        t.elapsed().as_secs() < 120,
        "hung guests were not killed in time"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "host trials succeeded and the guests' timed out: a partial result, exit 3: {}",
        text(&out)
    );
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let run = store.resolve_run(None).unwrap();
    let failures = store.failures(run.id).unwrap();
    let vm_failures: Vec<_> = failures
        .iter()
        .filter(|f| f.platform == "slowvm" && f.workload.is_none())
        .collect();
    assert_eq!(vm_failures.len(), 2, "each vm trial failed: {failures:?}");
    assert!(
        vm_failures[0].reason.contains("timed out"),
        "{:?}",
        vm_failures[0]
    );
    let host_samples = store
        .samples(run.id)
        .unwrap()
        .into_iter()
        .filter(|s| s.platform == "host" && !s.warmup)
        .count();
    assert_eq!(host_samples, 2, "the host's samples are intact");
    // No QEMU is left behind.
    let ps = Command::new("pgrep")
        .args(["-f", "hvbench-slowvm"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "a QEMU outlived its trial: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[test]
fn bad_spec_is_exit_2_with_position_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "bad.toml",
        "name = \"bad\"\n[guest]\nvcpus = 0\n[[platform]]\nname = \"vm\"\ndriver = \"qemu\"\n[[workload]]\nname = \"syscall\"\n",
    );
    for cmd in ["plan", "run"] {
        let out = hvbench(
            &[cmd, spec.to_str().unwrap(), "--db", "x.db"][..if cmd == "plan" { 2 } else { 4 }],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml:3:9"),
            "file:line:column of the bad value: {err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    assert!(
        !dir.path().join("x.db").exists(),
        "nothing ran, nothing was stored"
    );
}

#[test]
fn plan_prints_the_expanded_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = hvbench(&["plan", "examples/quick.toml"], &root);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    for needle in ["host", "qemu", "cpu-int", "syscall", "mem-bandwidth"] {
        assert!(s.contains(needle), "{s}");
    }
}

#[test]
fn plan_says_whether_the_design_can_conclude() {
    // The default comparison is sized to conclude: 15 values a side over 27 tests.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = hvbench(&["plan", "examples/xen-vs-kvm.toml"], &root);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "tests:             27 (3 platforms x 9 metrics)",
        "values per test:   15 against 15 (3 rounds x 5 measured",
        "smallest adjusted: 3.48e-7",
        "note: the lab platforms (kvm, xen-pv, xen-pvh) are compared with the host baseline (host)",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
    assert!(!s.contains("warning:"), "{s}");
    // The same at 2 samples a round cannot.
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(root.join("examples/xen-vs-kvm.toml")).unwrap();
    let spec = write_spec(
        dir.path(),
        "six.toml",
        &example.replace("\nsamples = 5\n", "\nsamples = 2\n"),
    );
    let out = hvbench(&["plan", spec.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("smallest adjusted: 0.0584 (Holm over 27 tests: 27 x 0.00216)"),
        "{s}"
    );
    assert!(
        s.contains("warning: this design can never conclude")
            && s.contains("raise samples or repetitions"),
        "{s}"
    );
}

#[test]
fn reports_of_a_missing_database_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = hvbench(&["report", "--db", "none.db"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hvbench run"));
    assert!(!dir.path().join("none.db").exists());
}

#[test]
fn doctor_names_qemu_and_kvm() {
    let dir = tempfile::tempdir().unwrap();
    let out = hvbench(&["doctor"], dir.path());
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("QEMU")
            && s.contains("KVM")
            && s.contains("guest network")
            && s.contains("transparent huge pages"),
        "{s}"
    );
    if !kvm::status().is_usable() {
        assert!(s.contains("TCG"), "{s}");
    }
    // Where the guests of an experiment run: here, in the lab, or on other machines.
    assert!(
        s.contains("Where guests run:") && s.contains("`lab = true`") && s.contains("[[host]]"),
        "{s}"
    );
}
