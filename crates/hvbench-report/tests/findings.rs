//! Summary, verdicts, anomalies, HTML charts, the manifest and run comparison, on hand-built
//! rows as the store would return them.

use hvbench_analysis::BootstrapConfig;
use hvbench_report::{
    compare_json, compare_terminal, html, markdown, summary_csv, summary_json, terminal,
    ReportInput,
};
use hvbench_store::{FailureRow, PlatformRow, RunRow, RunStatus, SampleRow, TrialRow};

struct Run {
    run: RunRow,
    platforms: Vec<PlatformRow>,
    trials: Vec<TrialRow>,
    samples: Vec<SampleRow>,
    failures: Vec<FailureRow>,
}

const SPEC: &str = "name = \"known-causes\"\nrepetitions = 10\n# a comment kept verbatim\n";

impl Run {
    fn new(id: i64, name: &str) -> Run {
        Run {
            run: RunRow {
                id,
                name: name.into(),
                started_ms: 1_795_000_000_000,
                finished_ms: Some(1_795_000_060_000),
                status: RunStatus::Complete,
                hvbench_version: "0.1.0".into(),
                spec: SPEC.into(),
                plan_json: r#"{"seed": 42, "workloads": [{"id": "disk-rand-read", "name": "disk-rand-read", "params": {"mode": "direct", "size_mib": 256}}]}"#.into(),
            },
            platforms: Vec::new(),
            trials: Vec::new(),
            samples: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn input(&self) -> ReportInput<'_> {
        ReportInput {
            run: &self.run,
            platforms: &self.platforms,
            trials: &self.trials,
            samples: &self.samples,
            failures: &self.failures,
        }
    }

    fn platform(mut self, name: &str, driver: &str, facts: &[(&str, &str)]) -> Run {
        self.platforms.push(PlatformRow {
            id: self.platforms.len() as i64 + 1,
            name: name.into(),
            driver: driver.into(),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self
    }

    /// Ten rounds of one measured sample each, `center` ± 1 % deterministically.
    fn series(
        mut self,
        platform: &str,
        scenario: &str,
        workload: &str,
        metric: &str,
        better: &str,
        center: f64,
    ) -> Run {
        for round in 0..10u32 {
            self.samples.push(SampleRow {
                platform: platform.into(),
                guest: "guest0".into(),
                scenario: scenario.into(),
                round,
                workload: workload.into(),
                metric: metric.into(),
                unit: "u".into(),
                better: better.into(),
                warmup: false,
                index: 1,
                value: center * (1.0 + f64::from((round * 7) % 11) / 500.0 - 0.01),
                iterations: 100,
                elapsed_ns: 1_000_000,
                at_ms: None,
            });
        }
        self
    }

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

    fn trial(mut self, platform: &str, scenario: &str) -> Run {
        self.trials.push(TrialRow {
            id: self.trials.len() as i64 + 1,
            platform: platform.into(),
            round: 0,
            guest: "guest0".into(),
            scenario: scenario.into(),
            status: "ok".into(),
            reason: None,
            started_ms: 0,
            finished_ms: Some(1),
        });
        self
    }
}

fn cfg() -> BootstrapConfig {
    BootstrapConfig {
        resamples: 1_000,
        ..BootstrapConfig::default()
    }
}

/// A known-cause experiment: the guest's random-read IOPS beat the host's with QEMU's
/// writeback cache, and its clock_gettime costs 20x the host's on the HPET clocksource.
fn known_causes() -> Run {
    Run::new(7, "known-causes")
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
    let mut r = Run::new(1, "short")
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
    assert!(md.contains(
        "```toml\nname = \"known-causes\"\nrepetitions = 10\n# a comment kept verbatim\n```"
    ));
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

#[test]
fn isolation_matrix_shows_degradation_per_platform_and_stressor() {
    let r = Run::new(3, "isolation")
        .platform("host", "host", &[])
        .platform("kvm", "qemu", &[("accel", "kvm")])
        .platform("xen", "xen", &[("xen.guest_type", "pvh")])
        .series(
            "kvm",
            "baseline",
            "mem-bandwidth",
            "bandwidth",
            "higher",
            10_000.0,
        )
        .series(
            "kvm",
            "cpu",
            "mem-bandwidth",
            "bandwidth",
            "higher",
            9_500.0,
        )
        .series(
            "kvm",
            "mem-bandwidth",
            "mem-bandwidth",
            "bandwidth",
            "higher",
            5_000.0,
        )
        .series(
            "xen",
            "baseline",
            "mem-bandwidth",
            "bandwidth",
            "higher",
            10_000.0,
        )
        .series(
            "xen",
            "cpu",
            "mem-bandwidth",
            "bandwidth",
            "higher",
            10_000.0,
        )
        .trial("xen", "mem-bandwidth");
    let page = html(&r.input(), &cfg());
    let svgs = charts(&page);
    let matrix = svgs
        .iter()
        .find(|s| s.contains("aria-label=\"Isolation matrix: mem-bandwidth / bandwidth"))
        .expect("an isolation matrix");
    let cell = |platform: &str, stressor: &str| {
        let key = format!("data-platform=\"{platform}\" data-stressor=\"{stressor}\"");
        let at = matrix.find(&key).unwrap_or_else(|| panic!("no cell {key}"));
        let start = matrix[..at].rfind("<rect").unwrap();
        &matrix[start..at]
    };
    // Half the bandwidth is twice as bad: +100 %; 95 % of it is +5.3 %.
    let d = |c: &str| -> f64 {
        let v = c.split("data-degradation=\"").nth(1).unwrap();
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    assert!((d(cell("kvm", "mem-bandwidth")) - 100.0).abs() < 1.0);
    assert!((d(cell("kvm", "cpu")) - 5.26).abs() < 0.5);
    assert!(d(cell("xen", "cpu")).abs() < 0.5);
    // Xen's mem-bandwidth trial ran but reported nothing: DNR, never a silent gap.
    assert!(cell("xen", "mem-bandwidth").contains("data-degradation=\"DNR\""));
    assert!(matrix.contains(">DNR</text>"));
    assert!(matrix.matches("class=\"mark cell").count() >= 4);
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
    let mut after = Run::new(8, "after")
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
