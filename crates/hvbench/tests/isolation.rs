//! Isolation experiments for real: host processes, where timing is trustworthy enough to say
//! that a cpu hog on the victim's CPU slows it and one pinned to another CPU does not; and a
//! TCG guest killed mid-cell, which must be recorded as DNR, not as a gap.
//!
//! The tests of this file run one at a time (a lock): a second experiment on the same two CPUs
//! would be a co-runner of its own.

mod common;
use common::{hvbench, require_qemu, text};

use hvbench_store::{SampleRow, Store};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn victim_values(samples: &[SampleRow], scenario: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.scenario == scenario && s.guest == "victim" && !s.warmup)
        .map(|s| s.value)
        .collect()
}

#[test]
fn a_shared_cpu_hog_slows_the_victim_and_pinning_apart_protects_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("SKIP: pinned-apart needs 2 CPUs and this machine gives this test {cpus}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("iso.toml");
    std::fs::write(
        &spec,
        r#"name = "iso-host"
repetitions = 2
warmup = 1
samples = 4
min_window_ms = 150
seed = 5

[[platform]]
name = "iso-host"
driver = "host"

[[isolation]]
name = "hog"
victim = [{ name = "cpu-int", threads = 1 }]
stressors = ["cpu"]
placements = ["shared", "pinned-apart"]
settle_ms = 300
"#,
    )
    .unwrap();
    let out = hvbench(
        &["run", "iso.toml", "--db", "t.db", "--report", "rep"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let samples = store.samples(1).unwrap();
    let base = median(victim_values(&samples, "hog/none"));
    let shared = median(victim_values(&samples, "hog/cpu/shared"));
    let apart = median(victim_values(&samples, "hog/cpu/pinned-apart"));
    let loss = |v: f64| 1.0 - v / base;
    eprintln!(
        "cpu-int victim: alone {base:.0}, shared {shared:.0} ({:+.0}%), pinned apart {apart:.0} ({:+.0}%)",
        -100.0 * loss(shared),
        -100.0 * loss(apart)
    );
    // One CPU shared by two busy processes: the victim gets about half of it.
    assert!(
        loss(shared) > 0.25,
        "a cpu hog on the victim's CPU slowed it by only {:.0}%",
        100.0 * loss(shared)
    );
    assert!(
        loss(apart) < loss(shared) / 2.0,
        "pinned apart ({:.0}%) did not protect the victim compared with shared ({:.0}%)",
        100.0 * loss(apart),
        100.0 * loss(shared)
    );

    // The aggressor really ran across the victim's windows: each measured victim window lies
    // within the aggressor's reported activity of the same cell and round.
    for round in 0..2 {
        for scenario in ["hog/cpu/shared", "hog/cpu/pinned-apart"] {
            let window = |s: &SampleRow| {
                let end = s.at_ms.expect("isolation samples carry their arrival time") as f64;
                (end - s.elapsed_ns as f64 / 1e6, end)
            };
            let of = |guest: &str| -> Vec<(f64, f64)> {
                samples
                    .iter()
                    .filter(|s| {
                        s.scenario == scenario && s.round == round && s.guest == guest && !s.warmup
                    })
                    .map(window)
                    .collect()
            };
            let aggressor = of("aggressor1");
            assert!(aggressor.len() >= 2, "{scenario} r{round}: {aggressor:?}");
            let span = (
                aggressor.iter().map(|w| w.0).fold(f64::MAX, f64::min),
                aggressor.iter().map(|w| w.1).fold(f64::MIN, f64::max),
            );
            for v in of("victim") {
                assert!(
                    v.0 >= span.0 - 1.0 && v.1 <= span.1 + 600.0,
                    "{scenario} r{round}: victim window {v:?} outside the aggressor's {span:?}"
                );
            }
        }
    }
    let trials = store.trials(1).unwrap();
    assert!(trials.iter().all(|t| t.status == "ok"), "{trials:#?}");
    // What was applied is recorded: the victim's CPU, and the aggressor's (the same CPU when
    // shared, another when pinned apart).
    let facts = &store.platforms(1).unwrap()[0].facts;
    let cpu =
        |scenario: &str, who: &str| facts[&format!("isolation.{scenario}.{who}.cpus")].clone();
    assert_eq!(
        cpu("hog/cpu/shared", "victim"),
        cpu("hog/cpu/shared", "aggressor1")
    );
    assert_ne!(
        cpu("hog/cpu/pinned-apart", "victim"),
        cpu("hog/cpu/pinned-apart", "aggressor1")
    );
    // The report shows the matrix.
    let report = std::fs::read_to_string(dir.path().join("rep/report.md")).unwrap();
    assert!(report.contains("Isolation"), "{report}");
    assert!(report.contains("pinned-apart"), "{report}");
}

/// The processes whose command line contains `pattern`.
fn pids(pattern: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_victim_guest_that_dies_is_dnr() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("dnr.toml");
    let platform = format!("dnr{}", std::process::id());
    std::fs::write(
        &spec,
        format!(
            r#"name = "dnr"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 100

[guest]
vcpus = 1
memory_mib = 256
timeout_s = 240

[[platform]]
name = "{platform}"
driver = "qemu"
accel = "tcg"

[[isolation]]
name = "die"
victim = ["cpu-int"]
stressors = ["cpu"]
placements = ["shared"]
settle_ms = 0
"#
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "dnr.toml", "--db", "t.db", "--report", "rep"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    // The victim guest of the stress cell: started only once its aggressor reports. Cells run
    // in a random order; the baseline cell's victim has the same name, so kill only a victim
    // that has an aggressor beside it.
    // QEMU's `-name hvbench-<platform>-<instance>`.
    let victim = format!("hvbench-{platform}-victim");
    let aggressor = format!("hvbench-{platform}-aggressor1");
    let t = Instant::now();
    let mut killed = false;
    while t.elapsed() < Duration::from_secs(400) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "hvbench ended ({status}) before a victim beside an aggressor showed up: {}",
                std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
            );
        }
        let v = pids(&victim);
        if !v.is_empty() && !pids(&aggressor).is_empty() {
            std::thread::sleep(Duration::from_millis(500));
            for pid in v {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(killed, "no victim guest beside an aggressor within 400 s");
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(3),
        "the campaign goes on after a DNR and ends saying some trials failed: {stderr}"
    );
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    let dead = trials
        .iter()
        .find(|t| t.scenario == "die/cpu/shared" && t.guest == "victim")
        .expect("the stress cell's victim trial");
    assert_eq!(dead.status, "failed", "{trials:#?}");
    assert!(
        dead.reason.as_deref().unwrap_or("").starts_with("DNR"),
        "{dead:?}"
    );
    // Its aggressor was stopped with the cell, not left running.
    assert!(pids(&aggressor).is_empty());
    let aggressor_samples = store
        .samples(1)
        .unwrap()
        .into_iter()
        .filter(|s| s.guest == "aggressor1" && s.workload == "stress-cpu")
        .count();
    assert!(
        aggressor_samples >= 1,
        "the aggressor guest reported its rate"
    );
    // The baseline cell is intact, and the report names the DNR.
    assert!(trials
        .iter()
        .any(|t| t.scenario == "die/none" && t.guest == "victim" && t.status == "ok"));
    let report = std::fs::read_to_string(dir.path().join("rep/report.md")).unwrap();
    assert!(report.contains("DNR"), "{report}");
}

/// Two stressors of one kind, one with a parameter left out: the spec names the cells
/// `disk[size_mib=default]` and `disk[size_mib=64]`, and the report must put each cell's data
/// in the column of that name — one definition of the label, used on both sides. (Before it
/// was one, the report rebuilt the label as `disk[size_mib=-]` and showed that column empty.)
#[test]
fn stressors_of_one_kind_keep_their_columns_end_to_end() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("disks.toml"),
        r#"name = "disk-labels"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 100
seed = 3

[[platform]]
name = "host"
driver = "host"

[[isolation]]
name = "disks"
victim = ["syscall"]
stressors = [{ kind = "disk" }, { kind = "disk", size_mib = 64 }]
placements = ["shared"]
settle_ms = 100
"#,
    )
    .unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "disks.toml", "--db", "t.db", "--report", "rep"])
        .current_dir(dir.path())
        .env("HVBENCH_SCRATCH_DIR", &scratch)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let scenarios: std::collections::BTreeSet<String> = store
        .samples(1)
        .unwrap()
        .into_iter()
        .filter(|s| s.guest == "victim")
        .map(|s| s.scenario)
        .collect();
    assert_eq!(
        scenarios.into_iter().collect::<Vec<_>>(),
        [
            "disks/disk[size_mib=64]/shared",
            "disks/disk[size_mib=default]/shared",
            "disks/none"
        ]
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("rep/summary.json")).unwrap(),
    )
    .unwrap();
    let matrix = &summary["isolation"]["matrices"][0];
    assert_eq!(
        matrix["stressors"],
        serde_json::json!(["disk[size_mib=default]", "disk[size_mib=64]"]),
        "one column per declared stressor, named as the cells are"
    );
    let row = &matrix["rows"][0];
    let cells = row["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{row:#}");
    for cell in cells {
        assert_eq!(cell["outcome"], "measured", "{cell:#}");
    }
}

/// The Isolation Benchmark Suite's misbehaving VM: an aggressor running Debian's stress-ng from
/// the tools tree (chrooted in it on a host, from the read-only tools disk in a guest) reports
/// stress-ng's bogo-ops of each window as its throughput, beside a victim that is measured.
fn stress_ng_aggressor_runs(platform: &str, driver: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ibs.toml"),
        format!(
            r#"name = "ibs"
repetitions = 1
warmup = 0
samples = 2
min_window_ms = 150
seed = 7

[guest]
timeout_s = 300

[[platform]]
name = "{platform}"
{driver}

[[isolation]]
name = "ibs"
victim = ["cpu-int"]
stressors = [{{ kind = "stress-ng", stressor = "matrix" }}]
placements = ["shared"]
settle_ms = 300
"#
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = hvbench(
        &["run", "ibs.toml", "--db", "t.db", "--report", "rep"],
        dir.path(),
    );
    eprintln!("{platform}: the run took {:?}", started.elapsed());
    assert!(out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let trials = store.trials(1).unwrap();
    let failures = store.failures(1).unwrap();
    assert!(
        trials.iter().all(|t| t.status == "ok"),
        "{trials:#?}\n{failures:#?}\n{}",
        text(&out)
    );
    assert!(failures.is_empty(), "{failures:?}\n{}", text(&out));
    let samples = store.samples(1).unwrap();
    let cell = "ibs/stress-ng/shared";
    let aggressor: Vec<&SampleRow> = samples
        .iter()
        .filter(|s| s.scenario == cell && s.guest == "aggressor1")
        .collect();
    assert!(!aggressor.is_empty(), "{}", text(&out));
    for s in &aggressor {
        assert_eq!(
            (s.workload.as_str(), s.metric.as_str(), s.unit.as_str()),
            ("stress-stress-ng", "throughput", "bogo-ops/s"),
        );
        assert!(s.value > 0.0 && s.iterations > 0, "{s:?}");
    }
    eprintln!(
        "{platform}: stress-ng matrix aggressor, bogo-ops/s per window: {:?}",
        aggressor
            .iter()
            .map(|s| s.value.round())
            .collect::<Vec<_>>()
    );
    let victim = victim_values(&samples, cell);
    assert_eq!(victim.len(), 2, "{}", text(&out));
    assert!(victim.iter().all(|v| *v > 0.0));
    assert_eq!(victim_values(&samples, "ibs/none").len(), 2);
    // The report's isolation section shows the aggressor's throughput in its unit.
    let report = std::fs::read_to_string(dir.path().join("rep/report.md")).unwrap();
    assert!(report.contains("bogo-ops/s"), "{report}");
}

#[test]
fn a_stress_ng_aggressor_on_the_host_reports_its_bogo_ops() {
    stress_ng_aggressor_runs("host", "driver = \"host\"");
}

#[test]
fn a_stress_ng_aggressor_in_a_tcg_guest_reports_its_bogo_ops() {
    require_qemu();
    stress_ng_aggressor_runs("tcg", "driver = \"qemu\"\naccel = \"tcg\"");
}
