//! Summary, verdicts, anomalies, HTML charts, the manifest, run comparison and isolation
//! experiments, on hand-built rows as the store would return them.
//!
//! Over 600 lines on purpose: the hand-built runs (the known-cause and isolation experiments,
//! built with `support::Run` and the isolation cells' builders here) are shared by every test
//! here; splitting the file would duplicate them.

use hvbench_report::{
    compare_json, compare_terminal, html, isolation_csv, markdown, summary_csv, summary_json,
    terminal,
};
use hvbench_store::SampleRow;

mod support;
use support::{cfg, plan_json, Run};

/// The experiment file of the known-cause runs; its plan is stored as the runner stores it.
const SPEC: &str = r#"name = "known-causes"
repetitions = 10
# a comment kept verbatim
seed = 42

[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "kvm"
driver = "qemu"

[[workload]]
name = "disk-rand-read"
mode = "direct"
size_mib = 256
"#;

impl Run {
    fn both(
        self,
        guest: &str,
        workload: &str,
        metric: &str,
        better: &str,
        host: f64,
        g: f64,
    ) -> Run {
        self.series("host", "baseline", workload, metric, better, host)
            .series(guest, "baseline", workload, metric, better, g)
    }

    /// An isolation cell's victim over `ISO_ROUNDS` rounds: per round a trial of guest
    /// "victim", a warm-up, then 4 measured syscall-latency windows of 100 ms ending at 1100,
    /// 1200, 1300 and 1400 ms, `center` ± 1 %. Rounds in `failed` report nothing and fail.
    fn victim(mut self, platform: &str, scenario: &str, center: f64, failed: &[u32]) -> Run {
        for round in 0..ISO_ROUNDS {
            if failed.contains(&round) {
                self.push_trial(
                    platform,
                    round,
                    scenario,
                    "victim",
                    Some("guest stopped reporting"),
                );
                continue;
            }
            self.push_trial(platform, round, scenario, "victim", None);
            for index in 0..=4u32 {
                let jitter = 1.0 + f64::from((round * 7 + index * 3) % 11) / 500.0 - 0.01;
                self.samples.push(SampleRow {
                    platform: platform.into(),
                    guest: "victim".into(),
                    scenario: scenario.into(),
                    round,
                    workload: "syscall".into(),
                    metric: "latency".into(),
                    unit: "ns".into(),
                    better: "lower".into(),
                    warmup: index == 0,
                    index,
                    value: if index == 0 { 1e9 } else { center * jitter },
                    iterations: 1000,
                    elapsed_ns: 100_000_000,
                    at_ms: Some(1000 + 100 * u64::from(index)),
                });
            }
        }
        self
    }

    /// `aggressor1` of a stress cell in every round: 500 ms windows of `throughput` ops/s, the
    /// first starting at `from_ms`, the last ending by `to_ms`.
    fn aggressor(
        mut self,
        platform: &str,
        scenario: &str,
        throughput: f64,
        from_ms: u64,
        to_ms: u64,
    ) -> Run {
        for round in 0..ISO_ROUNDS {
            self.push_trial(platform, round, scenario, "aggressor1", None);
            let mut end = from_ms + 500;
            let mut index = 0;
            while end <= to_ms {
                self.samples.push(SampleRow {
                    platform: platform.into(),
                    guest: "aggressor1".into(),
                    scenario: scenario.into(),
                    round,
                    workload: "stress-cpu".into(),
                    metric: "throughput".into(),
                    unit: "ops/s".into(),
                    better: "higher".into(),
                    warmup: false,
                    index,
                    value: throughput,
                    iterations: 1,
                    elapsed_ns: 500_000_000,
                    at_ms: Some(end),
                });
                end += 500;
                index += 1;
            }
        }
        self
    }

    fn fact(mut self, platform: &str, key: &str, value: &str) -> Run {
        let p = self
            .platforms
            .iter_mut()
            .find(|p| p.name == platform)
            .unwrap();
        p.facts.insert(key.into(), value.into());
        self
    }
}

const ISO_ROUNDS: u32 = 5;

/// An isolation-only experiment: scenario "noisy" on host and kvm.
const ISOLATION_SPEC: &str = r#"name = "isolation"
repetitions = 5
seed = 1

[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "kvm"
driver = "qemu"

[[isolation]]
name = "noisy"
victim = ["syscall"]
stressors = ["cpu", "fork-bomb", { kind = "disk", size_mib = 64 }]
aggressors = 1
placements = ["shared", "pinned-apart"]
aggressor_weight = 100
aggressor_cap_pct = 50
settle_ms = 2000
"#;

/// The isolation cells of scenario "noisy" (victim: syscall latency, 100 ns alone):
/// - host: the CPU hog costs +95% shared and +3% pinned apart; the fork bomb kills the victim
///   shared (DNR 5/5) and costs +12% pinned apart; the disk hog was declared but never ran.
/// - kvm: the CPU hog costs +40% shared and +41% pinned apart, and its aggressor stopped
///   reporting at 1250 ms, so that only half the victim's windows overlap it; the fork bomb
///   stopped the victim in 2 rounds of 5 (shared) and never ran pinned apart.
fn with_isolation(r: Run) -> Run {
    let end = 3000;
    r.victim("host", "noisy/none", 100.0, &[])
        .victim("host", "noisy/cpu/shared", 195.0, &[])
        .aggressor("host", "noisy/cpu/shared", 5000.0, 0, end)
        .victim("host", "noisy/cpu/pinned-apart", 103.0, &[])
        .aggressor("host", "noisy/cpu/pinned-apart", 9000.0, 0, end)
        .victim("host", "noisy/fork-bomb/shared", 0.0, &[0, 1, 2, 3, 4])
        .aggressor("host", "noisy/fork-bomb/shared", 700.0, 0, end)
        .victim("host", "noisy/fork-bomb/pinned-apart", 112.0, &[])
        .aggressor("host", "noisy/fork-bomb/pinned-apart", 800.0, 0, end)
        .victim("kvm", "noisy/none", 100.0, &[])
        .victim("kvm", "noisy/cpu/shared", 140.0, &[])
        .aggressor("kvm", "noisy/cpu/shared", 4000.0, 250, 1250)
        .victim("kvm", "noisy/cpu/pinned-apart", 141.0, &[])
        .aggressor("kvm", "noisy/cpu/pinned-apart", 4100.0, 0, end)
        .victim("kvm", "noisy/fork-bomb/shared", 150.0, &[1, 3])
        .aggressor("kvm", "noisy/fork-bomb/shared", 600.0, 0, end)
        .fact(
            "host",
            "isolation.noisy/cpu/pinned-apart.victim.cpus",
            "0-1",
        )
        .fact(
            "host",
            "isolation.noisy/cpu/pinned-apart.aggressor1.cpus",
            "2-3",
        )
        .fact(
            "kvm",
            "isolation.noisy/cpu/shared.aggressor1.cgroup",
            "/hvbench/noisy/aggressor1",
        )
        .fact("kvm", "isolation.noisy.aggressor1.weight", "100")
}

/// An isolation run: no battery at all.
fn isolation_run() -> Run {
    let mut r = Run::new(9, "isolation", SPEC)
        .platform("host", "host", &[("cpu.model", "AMD EPYC 7B13")])
        .platform("kvm", "qemu", &[("accel", "kvm")]);
    r.run.plan_json = plan_json(ISOLATION_SPEC);
    with_isolation(r)
}

/// A known-cause experiment: the guest's random-read IOPS beat the host's with QEMU's
/// writeback cache, and its clock_gettime costs 20x the host's on the HPET clocksource.
fn known_causes() -> Run {
    Run::new(7, "known-causes", SPEC)
        .platform(
            "host",
            "host",
            &[
                ("clocksource", "tsc"),
                ("cpu.model", "AMD EPYC 7B13"),
                ("cpu.governor", "performance"),
                ("kernel.release", "6.1.0-18-amd64"),
                ("mem.total_kib", "16384000"),
            ],
        )
        .platform(
            "kvm",
            "qemu",
            &[
                ("accel", "kvm"),
                ("qemu.version", "7.2.9"),
                ("qemu.disk_cache", "writeback"),
                ("clocksource", "hpet"),
                ("guest.kernel", "vmlinuz-6.1.0-18-cloud-amd64"),
                (
                    "guest.initramfs.sha256",
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                ),
            ],
        )
        .both("kvm", "cpu-int", "throughput", "higher", 1000.0, 1003.0)
        .both(
            "kvm",
            "disk-rand-read",
            "iops",
            "higher",
            20_000.0,
            90_000.0,
        )
        .both("kvm", "clock-gettime", "latency", "lower", 20.0, 400.0)
        .both("kvm", "syscall", "latency", "lower", 100.0, 107.0)
}

#[test]
fn known_causes_yield_their_anomalies_naming_the_facts() {
    let r = known_causes();
    let out = terminal(&r.input(), &cfg());
    println!("{out}");
    let summary: String = out
        .lines()
        .skip_while(|l| *l != "Summary")
        .take_while(|l| *l != "Platforms")
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        summary.contains("Guest faster than host on I/O (kvm)"),
        "{summary}"
    );
    assert!(
        summary.contains("fact: qemu.disk_cache=writeback on kvm"),
        "{summary}"
    );
    assert!(summary.contains("Slow time calls (kvm)"), "{summary}");
    assert!(
        summary.contains("fact: clocksource=hpet on kvm"),
        "{summary}"
    );
    // Markdown (which escapes `_`), HTML and JSON carry the same findings.
    let md = markdown(&r.input(), &cfg());
    assert!(
        md.contains("qemu.disk\\_cache=writeback on kvm") && md.contains("clocksource=hpet on kvm")
    );
    let page = html(&r.input(), &cfg());
    assert!(
        page.contains("qemu.disk_cache=writeback on kvm")
            && page.contains("clocksource=hpet on kvm")
    );
    let v: serde_json::Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    let rules: Vec<&str> = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["guest-faster-io", "slow-time-calls"]);
    let hpet = &v["anomalies"][1];
    assert_eq!(hpet["causes"][0]["facts"][0]["key"], "clocksource");
    assert_eq!(hpet["causes"][0]["facts"][0]["value"], "hpet");
    assert!(hpet["explanation"]
        .as_str()
        .unwrap()
        .contains("no vDSO fast path"));
}

#[test]
fn summary_and_verdicts_read_per_class() {
    let r = known_causes();
    let out = terminal(&r.input(), &cfg());
    let at = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing in\n{out}"))
    };
    assert!(at("Summary") < at("Platforms"), "the summary comes first");
    assert!(
        out.contains("- CPU (cpu-int): kvm is level with host."),
        "{out}"
    );
    assert!(out.contains("- Disk (disk-rand-read): kvm wins."), "{out}");
    assert!(
        out.contains("- Kernel paths (clock-gettime, syscall): host wins."),
        "{out}"
    );
    // The verdict column, one row per platform.
    let row = |heading: &str| {
        out.lines()
            .skip_while(|l| !l.starts_with(heading))
            .find(|l| l.starts_with("kvm "))
            .unwrap()
            .to_string()
    };
    assert!(
        row("cpu-int / throughput").ends_with("no significant difference"),
        "0.3 % within the noise: {out}"
    );
    assert!(row("disk-rand-read / iops").ends_with("dramatically better"));
    assert!(row("clock-gettime / latency").ends_with("dramatically worse"));
    assert!(row("syscall / latency").ends_with("worse"));
    assert!(
        !row("syscall / latency").ends_with("dramatically worse"),
        "7% is worse, not dramatic"
    );
    // 4 comparisons, 10 values each side: Holm-adjusted p-values are tiny.
    assert!(out.contains("Holm-adjusted over the 4 comparisons"));
    assert!(row("syscall / latency").contains("<0.001"));
}

#[test]
fn too_few_samples_are_called_so_and_the_fix_is_named() {
    let mut r = Run::new(1, "short", SPEC)
        .platform("host", "host", &[])
        .platform("kvm", "qemu", &[("accel", "kvm")])
        .both("kvm", "syscall", "latency", "lower", 100.0, 1000.0);
    r.samples.retain(|s| s.round < 3);
    let out = terminal(&r.input(), &cfg());
    assert!(out.contains("too few samples"), "{out}");
    assert!(
        out.contains("needs at least 4 measured values per platform and metric"),
        "2 / C(8, 4) = 0.029 <= 0.05 with one test:\n{out}"
    );
}

#[test]
fn the_manifest_holds_what_it_takes_to_rerun() {
    let r = known_causes();
    let out = terminal(&r.input(), &cfg());
    let manifest: String = out
        .lines()
        .skip_while(|l| *l != "Reproducibility manifest")
        .collect::<Vec<_>>()
        .join("\n");
    for want in [
        "hvbench:        0.1.0",
        "Seed:           42",
        "Host CPU:       AMD EPYC 7B13",
        "CPU governor:   performance",
        "QEMU 7.2.9, accel kvm on kvm",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 on kvm",
        "    # a comment kept verbatim",
        "qemu.disk_cache:         writeback",
    ] {
        assert!(manifest.contains(want), "{want:?} missing in\n{manifest}");
    }
    let md = markdown(&r.input(), &cfg());
    assert!(md.contains(&format!("```toml\n{SPEC}```")), "{md}");
    let v: serde_json::Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    assert_eq!(v["manifest"]["spec"], SPEC);
    assert_eq!(v["manifest"]["facts"]["kvm"]["clocksource"], "hpet");
}

/// The `<svg class="chart"...>...</svg>` elements of a page.
fn charts(page: &str) -> Vec<&str> {
    page.match_indices("<svg class=\"chart\"")
        .map(|(i, _)| &page[i..i + page[i..].find("</svg>").unwrap()])
        .collect()
}

#[test]
fn html_is_self_contained_with_charts_that_hold_data() {
    let mut r = known_causes();
    for (size, host, guest) in [
        ("16KiB", 1.2, 1.2),
        ("1MiB", 4.0, 4.4),
        ("64MiB", 80.0, 150.0),
    ] {
        r = r.both(
            "kvm",
            "mem-latency",
            &format!("latency@{size}"),
            "lower",
            host,
            guest,
        );
    }
    let page = html(&r.input(), &cfg());
    assert!(page.starts_with("<!DOCTYPE html>"));
    for banned in ["<script", "http://", "https://", "<link", "@import", "src="] {
        assert!(!page.contains(banned), "{banned} in a self-contained page");
    }
    let svgs = charts(&page);
    let find = |label: &str| {
        svgs.iter()
            .find(|s| s.contains(&format!("aria-label=\"{label}")))
            .unwrap_or_else(|| panic!("no chart {label}"))
    };
    let overhead = find("Overhead against host");
    // One dot per (metric, guest) with a ratio: 4 metrics + 3 mem-latency points.
    assert_eq!(overhead.matches("class=\"mark point\"").count(), 7);
    assert_eq!(overhead.matches("class=\"mark whisker\"").count(), 7);
    let curves = find("Memory latency by working-set size");
    assert_eq!(
        curves.matches("class=\"mark curve\"").count(),
        2,
        "host and kvm"
    );
    assert_eq!(curves.matches("class=\"mark point\"").count(), 6);
    let strips = find("Every measured sample");
    assert_eq!(
        strips.matches("class=\"mark sample\"").count(),
        r.samples.len()
    );
    assert!(
        svgs.iter().all(|s| !s.contains("Isolation")),
        "no isolation data, no matrix"
    );
    // The verdict cells are styled by verdict.
    assert!(page.contains("class=\"v-dramatically-worse\">dramatically worse</td>"));
}

/// The lines of the table that follows the line starting with `heading` (blank lines apart).
fn table_after<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .skip_while(|l| !l.starts_with("platform"))
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The table's rows whose first columns are `cells`, blank cells of grouped rows included.
fn rows_starting<'a>(table: &[&'a str], cells: &[&str]) -> Vec<&'a str> {
    table
        .iter()
        .copied()
        .filter(|l| l.split_whitespace().collect::<Vec<_>>().starts_with(cells))
        .collect()
}

#[test]
fn an_isolation_run_shows_its_matrix_dnr_and_overlap() {
    let r = isolation_run();
    let out = terminal(&r.input(), &cfg());
    println!("{out}");
    // No battery: no results section, no empty comparison, and the summary says why.
    assert!(out.contains("This is an isolation run: no battery compared the platforms"));
    for absent in [
        "\nResults\n",
        "Nothing to compare",
        "No measured sample",
        "Baseline: host",
        "Anomalies",
        "trials ok  failed",
    ] {
        assert!(!out.contains(absent), "{absent:?} in an isolation run");
    }
    assert!(out.contains("\nIsolation\n---------\n"));
    assert!(out.contains("Victim: syscall. 1 aggressor per stress cell."));

    // The matrix: a row per (platform, victim metric) and stressor, a column per placement.
    let matrix = table_after(&out, "Scenario noisy");
    assert!(
        matrix[0].split_whitespace().collect::<Vec<_>>()
            == [
                "platform",
                "victim",
                "alone",
                "stressor",
                "shared",
                "pinned-apart"
            ],
        "{matrix:#?}"
    );
    let host_cpu = rows_starting(
        &matrix,
        &["host", "syscall", "/", "latency", "100.0", "ns", "cpu"],
    );
    assert_eq!(host_cpu.len(), 1, "{matrix:#?}");
    assert!(
        host_cpu[0].contains("+95.0% [") && host_cpu[0].contains("+3.0% ["),
        "{host_cpu:?}"
    );
    let fork = rows_starting(&matrix, &["fork-bomb"]);
    assert!(
        fork[0].contains("DNR 5/5") && fork[0].contains("+12.0% ["),
        "{fork:?}"
    );
    assert!(fork[1].contains(", DNR 2/5") && fork[1].trim_end().ends_with("not run"));
    let disk = rows_starting(&matrix, &["disk"]);
    assert_eq!(disk.len(), 2, "declared, never run, on both platforms");
    assert!(disk.iter().all(|l| l.matches("not run").count() == 2));

    // The details: the test, DNR, the aggressors' throughput and the overlap evidence.
    let details: Vec<&str> = out
        .lines()
        .skip_while(|l| !(l.starts_with("platform") && l.contains("aggressor throughput")))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        details[0].contains("aggressor throughput") && details[0].ends_with("windows overlapped")
    );
    let detail = |platform: &str, stressor: &str, placement: &str| -> Vec<String> {
        let row = rows_starting(
            &details,
            &[platform, "syscall", "/", "latency", stressor, placement],
        );
        assert_eq!(
            row.len(),
            1,
            "{platform} {stressor} {placement}: {details:#?}"
        );
        row[0]
            .split_whitespace()
            .skip(6)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        detail("host", "cpu", "shared"),
        ["20/20", "<0.001", "degraded", "0/5", "5000", "ops/s", "0/5", "20/20"]
    );
    assert_eq!(
        detail("host", "fork-bomb", "shared"),
        ["20/0", "-", "did", "not", "report", "5/5", "-", "0/5", "-"]
    );
    // kvm's CPU hog stopped reporting at 1250 ms: half the victim's windows overlap it.
    assert_eq!(detail("kvm", "cpu", "shared")[7], "10/20");
    assert_eq!(detail("kvm", "fork-bomb", "shared")[3], "2/5");
    assert!(rows_starting(
        &details,
        &[
            "kvm",
            "syscall",
            "/",
            "latency",
            "fork-bomb",
            "pinned-apart"
        ]
    )
    .is_empty());

    // The placements the platforms recorded.
    let facts = table_after(&out, "Placements applied");
    assert!(rows_starting(&facts, &["host", "cpu/pinned-apart", "victim.cpus", "0-1"]).len() == 1);
    assert!(
        rows_starting(
            &facts,
            &["kvm", "(all", "cells)", "aggressor1.weight", "100"]
        )
        .len()
            == 1
    );

    // Trials: isolation only.
    let trials = table_after(&out, "Trials and failures");
    assert_eq!(
        rows_starting(&trials, &["host"])[0]
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["host", "40", "5"]
    );

    let md = markdown(&r.input(), &cfg());
    assert!(md.contains("## Isolation\n"));
    assert!(md.contains("| platform | victim | alone | stressor | shared | pinned-apart |\n"));
    assert!(md.contains("| host | syscall / latency | 100.0 ns | cpu | +95.0% ["));
    assert!(md.contains("|  |  |  | fork-bomb | DNR 5/5 | +12.0% ["));
    assert!(md.contains("| kvm | syscall / latency | cpu | shared | 20/20 | \\<0.001 | degraded | 0/5 | 4000 ops/s | 0/5 | 10/20 |"));
    assert!(!md.contains("## Results"));
}

#[test]
fn isolation_figures_for_programs() {
    let r = isolation_run();
    let v: serde_json::Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    assert_eq!(v["isolation_only"], true);
    assert!(v["results"].as_array().unwrap().is_empty());
    let m = &v["isolation"]["matrices"][0];
    assert_eq!(m["scenario"], "noisy");
    assert_eq!(
        m["stressors"],
        serde_json::json!(["cpu", "fork-bomb", "disk"])
    );
    assert_eq!(
        m["placements"],
        serde_json::json!(["shared", "pinned-apart"])
    );
    let cell = |platform: &str, stressor: &str, placement: &str| {
        let row = m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["platform"] == platform)
            .unwrap();
        row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["stressor"] == stressor && c["placement"] == placement)
            .unwrap()
            .clone()
    };
    let c = cell("host", "cpu", "shared");
    assert_eq!(c["outcome"], "measured");
    assert!((c["pct"].as_f64().unwrap() - 95.0).abs() < 0.5, "{c}");
    assert_eq!(c["verdict"], "degraded");
    assert_eq!(c["aggressor_throughput"]["median"], 5000.0);
    assert_eq!(
        c["overlap"],
        serde_json::json!({"covered": 20, "total": 20})
    );
    let dnr = cell("host", "fork-bomb", "shared");
    assert_eq!(dnr["outcome"], "dnr");
    assert_eq!(dnr["victim_trials"]["failed"], 5);
    assert_eq!(cell("kvm", "disk", "pinned-apart")["outcome"], "not-run");
    assert_eq!(cell("kvm", "cpu", "shared")["overlap"]["covered"], 10);
    assert_eq!(v["isolation"]["tests"], 6);
    assert!(v["isolation_findings"][0]
        .as_str()
        .unwrap()
        .starts_with("host: the worst isolation result"));

    let csv = isolation_csv(&r.input(), &cfg());
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert!(lines[0].starts_with("run,scenario,platform,workload,metric,unit,better,stressor,placement,outcome,degradation_pct"));
    assert_eq!(
        lines.len(),
        1 + 2 * 3 * 2,
        "2 platforms x 3 stressors x 2 placements"
    );
    assert!(lines.contains(&"isolation,noisy,host,syscall,latency,ns,lower,fork-bomb,shared,dnr,,,,20,0,,,,5,5,5,0,5,0,,,"));
    let kvm_cpu = lines
        .iter()
        .find(|l| {
            l.starts_with("isolation,noisy,kvm,syscall,latency,ns,lower,cpu,shared,measured,")
        })
        .unwrap();
    assert!(
        kvm_cpu.ends_with(",degraded,5,0,5,0,5,0,4000.0,ops/s,10/20"),
        "{kvm_cpu}"
    );
}

#[test]
fn the_summary_names_the_worst_result_and_what_placement_did() {
    let r = isolation_run();
    let out = terminal(&r.input(), &cfg());
    let summary: String = out
        .lines()
        .skip_while(|l| *l != "Summary")
        .take_while(|l| *l != "Platforms")
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "host: the worst isolation result is syscall / latency under the fork bomb, shared: the victim did not report (DNR 5/5).",
        "Pinned-apart kept the victim reporting under the fork bomb on host (shared DNR 5/5, pinned-apart +12%;",
        "Pinned-apart cut the CPU hog's cost on host from +95% to +3% (syscall / latency).",
        "kvm: the worst isolation result is syscall / latency under the fork bomb, shared: the victim did not report in 2 of 5 trials, and the others show +50.0% [",
        "Pinned-apart did not protect the victim from the CPU hog on kvm (shared +40%, pinned-apart +41%;",
    ] {
        assert!(summary.contains(want), "{want:?} missing in {summary}");
    }
}

#[test]
fn the_battery_ignores_isolation_cells() {
    let plain = known_causes();
    let mixed = with_isolation(known_causes());
    let (a, b) = (
        terminal(&plain.input(), &cfg()),
        terminal(&mixed.input(), &cfg()),
    );
    let section = |report: &str, from: &str, to: &str| -> String {
        report
            .lines()
            .skip_while(|l| *l != from)
            .take_while(|l| *l != to)
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The battery's results are exactly those of the run without isolation cells.
    assert_eq!(
        section(&a, "Results", "Trials and failures"),
        section(&b, "Results", "Isolation")
    );
    assert!(!b.contains("[scenario"));
    // The summary's battery part and the anomalies are unchanged; isolation gets its own part.
    let standings = |r: &str| {
        section(r, "Summary", "Isolation")
            .lines()
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(standings(&a), standings(&b));
    assert_eq!(
        section(&a, "Anomalies", "Platforms"),
        section(&b, "Anomalies", "Platforms")
    );
    assert!(section(&b, "Summary", "Anomalies").contains("host: the worst isolation result"));
    let v: serde_json::Value = serde_json::from_str(&summary_json(&mixed.input(), &cfg())).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 4 * 2);
    assert_eq!(v["comparisons"], 4);
    assert_eq!(v["isolation_only"], false);
    assert_eq!(
        summary_csv(&mixed.input(), &cfg()).lines().count(),
        1 + 4 * 2
    );
    // The HTML's battery charts draw no isolation sample.
    let page = html(&mixed.input(), &cfg());
    let svgs = charts(&page);
    let overhead = svgs
        .iter()
        .find(|s| s.contains("aria-label=\"Overhead against host"))
        .unwrap();
    assert_eq!(overhead.matches("class=\"mark point\"").count(), 4);
    let strips = svgs
        .iter()
        .find(|s| s.contains("aria-label=\"Every measured sample"))
        .unwrap();
    assert_eq!(
        strips.matches("class=\"mark sample\"").count(),
        plain.samples.len()
    );
}

#[test]
fn isolation_heat_map_shows_degradation_and_dnr_cells() {
    let r = isolation_run();
    let page = html(&r.input(), &cfg());
    for banned in ["<script", "http://", "https://", "<link", "@import", "src="] {
        assert!(!page.contains(banned), "{banned} in a self-contained page");
    }
    let svgs = charts(&page);
    assert_eq!(
        svgs.len(),
        1,
        "an isolation run has the heat map and no battery chart"
    );
    let matrix = svgs[0];
    assert!(matrix.contains("aria-label=\"Isolation matrix: noisy\""));
    let cell = |platform: &str, stressor: &str, placement: &str| {
        let key = format!(
            "data-platform=\"{platform}\" data-workload=\"syscall\" data-metric=\"latency\" data-stressor=\"{stressor}\" data-placement=\"{placement}\""
        );
        let at = matrix.find(&key).unwrap_or_else(|| panic!("no cell {key}"));
        let start = matrix[..at].rfind("<rect").unwrap();
        &matrix[start..at]
    };
    let d = |c: &str| -> f64 {
        let v = c.split("data-degradation=\"").nth(1).unwrap();
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    assert!((d(cell("host", "cpu", "shared")) - 95.0).abs() < 0.5);
    assert!((d(cell("host", "cpu", "pinned-apart")) - 3.0).abs() < 0.5);
    assert!((d(cell("kvm", "cpu", "shared")) - 40.0).abs() < 0.5);
    // A victim that never reported is drawn distinctly, never as a gap.
    let dnr = cell("host", "fork-bomb", "shared");
    assert!(
        dnr.contains("data-degradation=\"DNR\"") && dnr.contains("fill=\"url(#dnr-hatch-noisy)\"")
    );
    assert!(matrix.contains("<pattern id=\"dnr-hatch-noisy\""));
    assert!(matrix.contains(">DNR 5/5</text>"));
    assert!(cell("kvm", "disk", "shared").contains("data-degradation=\"not-run\""));
    assert_eq!(matrix.matches("class=\"mark cell").count(), 6 + 1);
    // The tables carry the verdicts' styles.
    assert!(page.contains("<td class=\"v-did-not-report\">did not report</td>"));
    assert!(page.contains("<td class=\"v-degraded\">degraded</td>"));
    assert!(!page.contains("<h2 id=\"results\">"));
}

#[test]
fn summary_csv_has_one_row_per_metric_and_platform() {
    let r = known_causes();
    let csv = summary_csv(&r.input(), &cfg());
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert!(lines[0]
        .starts_with("run,scenario,workload,metric,unit,better,platform,is_baseline,n,median"));
    assert!(lines[0].ends_with("times_worse,p_value,p_holm,verdict"));
    assert_eq!(lines.len(), 1 + 4 * 2);
    let kvm_clock = lines
        .iter()
        .find(|l| l.contains(",clock-gettime,") && l.contains(",kvm,"))
        .unwrap();
    assert!(kvm_clock.ends_with(",dramatically worse"), "{kvm_clock}");
    let host_clock = lines
        .iter()
        .find(|l| l.contains(",clock-gettime,") && l.contains(",host,"))
        .unwrap();
    assert!(
        host_clock.ends_with(",,,,"),
        "the baseline has no test: {host_clock}"
    );
}

#[test]
fn compare_two_runs_before_and_after_a_tuning_change() {
    let before = known_causes();
    let mut after = Run::new(8, "after", SPEC)
        .platform("host", "host", &[("clocksource", "tsc")])
        .platform(
            "kvm",
            "qemu",
            &[("accel", "kvm"), ("clocksource", "kvm-clock")],
        )
        .both("kvm", "clock-gettime", "latency", "lower", 20.0, 22.0)
        .both("kvm", "syscall", "latency", "lower", 100.0, 107.0)
        .series("kvm", "baseline", "net-rr", "latency", "lower", 30.0);
    after.run.spec = String::new();
    let out = compare_terminal(&before.input(), &after.input(), &cfg());
    println!("{out}");
    assert!(out.contains("hvbench compare: run 7 (known-causes) -> run 8 (after)"));
    let row = |w: &str, p: &str| {
        out.lines()
            .find(|l| l.starts_with(w) && l.split_whitespace().nth(4) == Some(p))
            .unwrap_or_else(|| panic!("no row {w} {p} in\n{out}"))
    };
    assert!(row("clock-gettime / latency", "kvm").ends_with("dramatically better"));
    assert!(row("clock-gettime / latency", "host").ends_with("no significant difference"));
    assert!(row("syscall / latency", "kvm").ends_with("no significant difference"));
    assert!(out.contains("only in run A") && out.contains("only in run B"));
    // What changed: the clocksource, the likely reason clock_gettime got 18x faster.
    let changed = out
        .lines()
        .find(|l| l.starts_with("kvm") && l.contains("clocksource"))
        .unwrap();
    assert!(
        changed.contains("hpet") && changed.contains("kvm-clock"),
        "{changed}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&compare_json(&before.input(), &after.input(), &cfg())).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let clock = rows
        .iter()
        .find(|r| r["workload"] == "clock-gettime" && r["platform"] == "kvm")
        .unwrap();
    assert_eq!(clock["verdict"], "dramatically-better");
    assert!((clock["ratio"]["point"].as_f64().unwrap() - 0.055).abs() < 0.001);
    assert!(v["changed_facts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["key"] == "clocksource" && f["a"] == "hpet" && f["b"] == "kvm-clock"));
}
