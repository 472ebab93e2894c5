//! General benchmarks end to end: `hvbench run` with `sysbench-cpu` (and `sysbench-memory`,
//! `sysbench-threads`, `stress-ng`, `fio`, `iperf3` against its server on the peer, `redis` driven by the peer, `oltp`, `compile`) on the host (the tool
//! chrooted in the tools tree) and in a QEMU TCG guest (the tree's image as a read-only disk
//! the agent mounts), real samples in the store; and a tool that fails (here: one that
//! outlives its limit) recorded as a failed workload with its output while the trial's other
//! workloads still give samples. Needs root (chroot, mounts), QEMU, and the tools tree for
//! sysbench (built into the cache on first use, which needs Debian's package lists). And the
//! host baseline on a machine over SSH (Debian's sshd on a loopback port, with a cache of its
//! own): the tree reaches it as the guests' image, shipped, and runs from it loop-mounted.

mod common;
use common::sshd::{Client, Sshd};
use common::{require_qemu, text};

use hvbench_store::Store;
use std::path::Path;
use std::process::{Command, Output};

const BOTH: &str = r#"
name = "general-test"
repetitions = 1
warmup = 0
samples = 2
min_window_ms = 20
seed = 5

[guest]
vcpus = 1
memory_mib = 512
timeout_s = 300

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "vm"
driver = "qemu"
accel = "tcg"

[[workload]]
name = "sysbench-cpu"
time_s = 1
max_prime = 2000

[[workload]]
name = "sysbench-memory"
time_s = 1

[[workload]]
name = "stress-ng"
time_s = 1
stressor = "cpu"

[[workload]]
name = "sysbench-threads"
time_s = 1

# fio on the scratch disk (a guest) or a scratch file (the host), after its fill.
[[workload]]
name = "fio"
time_s = 1
size_mib = 8

# iperf3 against the server the trial's peer starts from its own tools tree.
[[workload]]
name = "iperf3"
time_s = 1

# redis-server here, redis-benchmark on the trial's peer.
[[workload]]
name = "redis"
requests = 2000

# PostgreSQL with its data on the scratch disk (ext4 made by the guest) or a scratch directory.
[[workload]]
name = "oltp"
time_s = 1
size_mib = 128

# gcc building two of bash-builtins' example loadables.
[[workload]]
name = "compile"
files = 2

[[workload]]
name = "syscall"

# A scratch disk too: it stays the guest's first disk, the tools disk comes after it.
[[workload]]
name = "disk-fsync"
size_mib = 4
"#;

const FAILING: &str = r#"
name = "general-fail"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 20
seed = 5

[[platform]]
name = "host"
driver = "host"

# One event sieves up to 10^8: far longer than the run's limit (2 x 1 s + 10 s), so the run
# is killed and the workload fails with what sysbench printed.
[[workload]]
name = "sysbench-cpu"
time_s = 1
max_prime = 100000000

[[workload]]
name = "sysbench-cpu"
time_s = 1

[[workload]]
name = "syscall"
"#;

fn run(spec_text: &str, dir: &Path) -> (Output, std::path::PathBuf) {
    let spec = dir.join("general.toml");
    std::fs::write(&spec, spec_text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", spec.to_str().unwrap(), "--db", "g.db"])
        .current_dir(dir)
        .output()
        .expect("run hvbench");
    (out, spec)
}

#[test]
fn sysbench_cpu_runs_on_the_host_and_in_a_tcg_guest() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run(BOTH, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("g.db")).unwrap();
    let run = store.resolve_run(Some("general-test")).unwrap();
    let samples = store.samples(run.id).unwrap();
    let failures = store.failures(run.id).unwrap();
    assert!(failures.is_empty(), "{failures:?}\n{}", text(&out));
    for platform in ["host", "vm"] {
        let events: Vec<_> = samples
            .iter()
            .filter(|s| {
                s.platform == platform
                    && s.workload == "sysbench-cpu"
                    && s.metric == "events-per-second"
                    && !s.warmup
            })
            .collect();
        assert_eq!(events.len(), 2, "{platform}: {events:?}\n{}", text(&out));
        for s in &events {
            assert!(s.value.is_finite() && s.value > 0.0, "{s:?}");
            assert_eq!((s.unit.as_str(), s.better.as_str()), ("events/s", "higher"));
            assert_eq!(s.iterations, 1, "{s:?}");
            // One run of about time_s seconds.
            assert!(s.elapsed_ns >= 900_000_000, "{s:?}");
        }
        eprintln!(
            "{platform}: sysbench-cpu events/s = {:?}",
            events.iter().map(|s| s.value).collect::<Vec<_>>()
        );
        // The same mechanism for the other tools: the catalog's metric, and the extras.
        for (w, metric) in [
            ("sysbench-memory", "transfer"),
            ("sysbench-memory", "operations"),
            ("stress-ng", "bogo-ops-per-s-real"),
            ("sysbench-threads", "events-per-second"),
            ("sysbench-threads", "latency-avg"),
            ("fio", "iops"),
            ("fio", "bandwidth"),
            ("fio", "read-clat-p50"),
            ("fio", "read-clat-p99"),
            ("iperf3", "throughput"),
            ("iperf3", "reverse-throughput"),
            ("redis", "get-rps"),
            ("redis", "set-p99"),
            ("oltp", "tps"),
            ("oltp", "latency-avg"),
            ("compile", "build-time"),
            ("syscall", "latency"),
            ("disk-fsync", "latency"),
        ] {
            assert!(
                samples.iter().any(|s| s.platform == platform
                    && s.workload == w
                    && s.metric == metric
                    && s.value > 0.0),
                "{platform}/{w}/{metric}"
            );
        }
    }
    // Evidence is on: each tool ran once more in a counted window, whose value is a counter
    // (never a sample) beside the guest's steal time; in the VM, KVM's counts come too where
    // this machine lets them be read.
    let counters = store.counters(run.id).unwrap();
    for platform in ["host", "vm"] {
        for w in ["sysbench-cpu", "fio", "iperf3", "redis", "oltp", "compile"] {
            assert!(
                counters.iter().any(|c| c.platform == platform
                    && c.workload == w
                    && c.source == "counted"
                    && c.key == "value"
                    && c.value > 0.0),
                "{platform}/{w}: no counted window"
            );
        }
    }
    let platforms = store.platforms(run.id).unwrap();
    for p in &platforms {
        let v = p.facts.get("tools.sysbench").map(String::as_str);
        assert!(
            v.is_some_and(|v| v.starts_with("1.0.20")),
            "{}: {:?}",
            p.name,
            p.facts
        );
        assert!(p.facts.contains_key("tools.stress-ng"), "{:?}", p.facts);
    }
    // Every run of every tool left its raw output in the store: fio's fill (`setup`) and its
    // JSON per window, iperf3's both directions, the counted runs; `hvbench outputs` shows it.
    let outputs = store.tool_outputs(run.id).unwrap();
    for platform in ["host", "vm"] {
        let has = |w: &str, window: &str, needle: &str| {
            outputs.iter().any(|o| {
                o.platform == platform
                    && o.workload == w
                    && o.window == window
                    && o.output.contains(needle)
            })
        };
        assert!(has("sysbench-cpu", "0", "events per second:"), "{platform}");
        assert!(
            has("sysbench-cpu", "2 (counted)", "exit Some(0)"),
            "{platform}"
        );
        assert!(has("fio", "setup", "--- stdout"), "{platform}");
        assert!(has("fio", "1", "\"iops\""), "{platform}");
        assert!(has("iperf3", "0 reverse", "\"end\""), "{platform}");
        assert!(has("redis", "1", "GET"), "{platform}");
        assert!(has("oltp", "0", "tps = "), "{platform}");
    }
    let shown = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args([
            "outputs",
            "--db",
            "g.db",
            "--platform",
            "vm",
            "--workload",
            "fio",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("=== vm round 0 guest0 "), "{shown}");
    assert!(shown.contains(": fio run setup\n"), "{shown}");
    assert!(!shown.contains("sysbench"), "only fio: {shown}");

    let vm = platforms.iter().find(|p| p.name == "vm").unwrap();
    assert!(vm.facts.contains_key("qemu.tools_disk"), "{:?}", vm.facts);
    assert!(
        vm.facts
            .get("tools.disk")
            .is_some_and(|d| d.starts_with("/dev/vd")),
        "{:?}",
        vm.facts
    );
}

#[test]
fn a_tool_that_fails_is_a_failed_workload_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let (out, spec) = run(FAILING, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let plan = hvbench_spec::load(&spec).unwrap();
    let (hung, good) = (&plan.workloads[0].id, &plan.workloads[1].id);
    assert_ne!(hung, good);
    let store = Store::open(&dir.path().join("g.db")).unwrap();
    let run = store.resolve_run(Some("general-fail")).unwrap();
    let samples = store.samples(run.id).unwrap();
    let failures = store.failures(run.id).unwrap();
    let failed: Vec<_> = failures
        .iter()
        .filter(|f| f.workload.as_deref() == Some(hung.as_str()))
        .collect();
    assert_eq!(failed.len(), 1, "{failures:?}");
    let reason = &failed[0].reason;
    assert!(
        reason.contains("past its limit") && reason.contains("output ends:"),
        "{reason}"
    );
    // Its output: what sysbench said before it was killed.
    assert!(
        reason.contains("Prime numbers limit: 100000000"),
        "{reason}"
    );
    assert!(
        !samples.iter().any(|s| &s.workload == hung),
        "never a sample"
    );
    // The killed run's raw output is stored too.
    let outputs = store.tool_outputs(run.id).unwrap();
    assert!(
        outputs
            .iter()
            .any(|o| &o.workload == hung && o.output.contains("Prime numbers limit: 100000000")),
        "{outputs:?}"
    );
    for w in [good.as_str(), "syscall"] {
        assert!(
            samples.iter().any(|s| s.workload == w && s.value > 0.0),
            "{w}: {samples:?}"
        );
    }
}

/// The host driver on a machine over SSH: the controller ships the tools image (never the
/// tree's directory, never apt there), the executor loop-mounts it read-only for each trial's
/// agent, and the tools run from it; beside the same tools run here from the tree. Both report
/// the same versions; nothing stays mounted or attached on the machine.
#[test]
fn general_benchmarks_on_a_host_over_ssh_run_from_the_shipped_image() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(dir.path());
    let m = Sshd::start(dir.path(), "m", &client);
    std::fs::write(dir.path().join("known_hosts"), &m.known_hosts_line).unwrap();
    let cache = dir.path().join("m-cache");
    let spec = format!(
        r#"name = "general-ssh"
repetitions = 1
warmup = 0
samples = 2
min_window_ms = 20
seed = 6

[[host]]
name = "m"
ssh = "{target}"
identity_file = "id_ed25519"
known_hosts = "known_hosts"
cache_dir = "{cache}"

[[platform]]
name = "here"
driver = "host"

[[platform]]
name = "there"
driver = "host"
host = "m"

[[workload]]
name = "sysbench-cpu"
time_s = 1
max_prime = 2000

[[workload]]
name = "stress-ng"
time_s = 1
stressor = "cpu"
"#,
        target = m.target(),
        cache = cache.display()
    );
    let (out, _) = run(&spec, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("g.db")).unwrap();
    let run = store.resolve_run(Some("general-ssh")).unwrap();
    let samples = store.samples(run.id).unwrap();
    let failures = store.failures(run.id).unwrap();
    assert!(failures.is_empty(), "{failures:?}\n{}", text(&out));
    for platform in ["here", "there"] {
        for (w, metric) in [
            ("sysbench-cpu", "events-per-second"),
            ("stress-ng", "bogo-ops-per-s-real"),
        ] {
            let n = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == w && s.metric == metric)
                .filter(|s| !s.warmup && s.value > 0.0)
                .count();
            assert_eq!(n, 2, "{platform}/{w}/{metric}\n{}", text(&out));
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
    let (here, there) = (facts("here"), facts("there"));
    for key in ["tools.sysbench", "tools.stress-ng", "tools.tree"] {
        assert!(here.contains_key(key), "{key}: {here:?}");
        assert_eq!(here.get(key), there.get(key), "{key}");
    }
    assert!(
        here["host.tools"].starts_with("chroot into the tools tree"),
        "{here:?}"
    );
    assert!(
        there["host.tools"].contains("loop-mounted read-only"),
        "{there:?}"
    );
    // What the machine holds: the image, its versions and the request's record; no tree.
    let key = there["tools.tree"]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let entry = cache.join("store/tools").join(&key);
    assert!(entry.join("tools.ext4").is_file() && entry.join("versions.txt").is_file());
    assert!(!entry.join("tree").exists());
    assert_eq!(
        std::fs::read_dir(cache.join("store/tools/requests"))
            .unwrap()
            .count(),
        1
    );
    // Every loop device the trials used is free again.
    let image = std::fs::canonicalize(entry.join("tools.ext4")).unwrap();
    for dev in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let backing = dev.path().join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(&backing) {
            assert!(
                !b.trim().starts_with(cache.to_str().unwrap())
                    && Path::new(b.trim()) != image.as_path(),
                "{} still holds {b}",
                dev.path().display()
            );
        }
    }
}
