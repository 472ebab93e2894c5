//! The CPU, memory, kernel-path and virtualization-exit battery end to end: the `hvbench`
//! binary runs every such workload, with short settings, on the host and in a real QEMU guest
//! (TCG where KVM is not usable), and every workload must come back from both with samples in
//! its catalog unit and direction. Timings are never asserted (emulated timings are slow and
//! noisy); what is asserted is that each workload ran, and ran where it may: port I/O only in
//! the guest, recorded as skipped on the host.

mod common;
use common::{require_qemu, text};

use hvbench_proto::catalog;
use hvbench_store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Every workload of the battery, with settings small enough for a TCG guest.
const BATTERY: &str = r#"
name = "battery-test"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 20
seed = 11

[guest]
vcpus = 2
memory_mib = 512
timeout_s = 300

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "vm"
driver = "qemu"
accel = "auto"

[[workload]]
name = "cpu-int"
threads = 0

[[workload]]
name = "cpu-float"

[[workload]]
name = "cpu-float"
threads = 0

[[workload]]
name = "mem-bandwidth"
size_mib = 8

[[workload]]
name = "mem-latency"
max_size_mib = 1

[[workload]]
name = "page-fault"
size_mib = 2

[[workload]]
name = "syscall"

[[workload]]
name = "clock-gettime"

[[workload]]
name = "pipe-switch"

[[workload]]
name = "fork-exit"

[[workload]]
name = "fork-exec"

[[workload]]
name = "mmap"
pages = 4

[[workload]]
name = "futex-wake"

[[workload]]
name = "timer-overshoot"
sleep_us = 50

[[workload]]
name = "cpuid"

[[workload]]
name = "port-io"
"#;

/// Whether this machine lets a process use two CPUs (futex-wake needs them on the host).
fn host_has_two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

#[test]
fn whole_battery_runs_on_host_and_guest() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("battery.toml");
    std::fs::write(&spec, BATTERY).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", spec.to_str().unwrap(), "--db", "b.db"])
        .current_dir(dir.path())
        .output()
        .expect("run hvbench");
    assert!(out.status.success(), "{}", text(&out));

    let store = Store::open(&dir.path().join("b.db")).unwrap();
    let run = store.resolve_run(Some("battery-test")).unwrap();
    let samples = store.samples(run.id).unwrap();
    let failures = store.failures(run.id).unwrap();
    let plan = hvbench_spec::load(&spec).unwrap();

    for platform in ["host", "vm"] {
        for w in &plan.workloads {
            let def = catalog::workload(&w.name).unwrap();
            let failed: Vec<_> = failures
                .iter()
                .filter(|f| f.platform == platform && f.workload.as_deref() == Some(&w.id))
                .collect();
            let skipped_here = match (w.name.as_str(), platform) {
                ("port-io", "host") => true,
                ("futex-wake", "host") => !host_has_two_cpus(),
                _ => false,
            };
            if skipped_here {
                assert!(
                    failed.iter().any(|f| f.reason.starts_with("skipped:")),
                    "{platform}/{}: recorded as skipped: {failed:?}",
                    w.id
                );
                assert!(
                    !samples
                        .iter()
                        .any(|s| s.platform == platform && s.workload == w.id),
                    "{platform}/{}: no samples where it must not run",
                    w.id
                );
                continue;
            }
            assert!(failed.is_empty(), "{platform}/{}: {failed:?}", w.id);
            let measured: Vec<_> = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == w.id && !s.warmup)
                .collect();
            assert!(
                !measured.is_empty(),
                "{platform}/{}: no samples\n{}",
                w.id,
                text(&out)
            );
            for s in &measured {
                assert!(s.value.is_finite() && s.value > 0.0, "{s:?}");
                assert_eq!(
                    (s.unit.as_str(), s.better.as_str()),
                    (def.unit, def.better.as_str()),
                    "{s:?}"
                );
            }
            let metrics: BTreeSet<&str> = measured.iter().map(|s| s.metric.as_str()).collect();
            if w.name == "mem-latency" {
                // 16 KiB to 1 MiB: seven points of the curve, each its own metric.
                assert_eq!(metrics.len(), 7, "{platform}: {metrics:?}");
                assert!(metrics.contains("latency@16KiB") && metrics.contains("latency@1MiB"));
            } else {
                assert_eq!(metrics, BTreeSet::from([def.metric]), "{platform}/{}", w.id);
            }
        }
    }

    // What set-up learned is stored as platform facts: whether the vDSO served clock_gettime,
    // and the threads an all-CPU run used (2 vCPUs in the guest).
    let platforms = store.platforms(run.id).unwrap();
    for p in &platforms {
        let vdso = p.facts.get("vdso").map(String::as_str);
        assert!(
            matches!(vdso, Some("yes" | "no")),
            "{}: {:?}",
            p.name,
            p.facts
        );
        assert!(p.facts.contains_key("clock-gettime.vdso.method"));
    }
    let vm = platforms.iter().find(|p| p.name == "vm").unwrap();
    assert_eq!(vm.facts["cpu-float.threads"], "2", "{:?}", vm.facts);
}

#[test]
fn battery_example_is_the_whole_part_a_battery() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plan = hvbench_spec::load(&root.join("examples/battery.toml")).unwrap();
    let names: BTreeSet<&str> = plan.workloads.iter().map(|w| w.name.as_str()).collect();
    let battery: BTreeSet<&str> = BATTERY
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| catalog::workload(n).is_some())
        .collect();
    assert_eq!(
        names, battery,
        "examples/battery.toml and this test cover the same workloads"
    );
    assert!(plan.guest.vcpus >= 2, "futex-wake needs two vCPUs");
}
