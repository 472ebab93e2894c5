//! The renderers on hand-built rows, as the store would return them.

use hvbench_report::{html, markdown, results_csv, results_json, summary_json, terminal};
use hvbench_store::{BootRow, FailureRow, RunStatus, SampleRow, TrialRow};

mod support;
use support::{bootstrap, row, table_under, Run};

const ROUNDS: u32 = 5;
const PER_ROUND: u32 = 4;

/// What a series measures: the workload, its metric and unit, and which way is better.
#[derive(Clone, Copy)]
struct Measure {
    workload: &'static str,
    metric: &'static str,
    unit: &'static str,
    better: &'static str,
}

const SYSCALL: Measure = Measure {
    workload: "syscall",
    metric: "latency",
    unit: "ns",
    better: "lower",
};
const MEM_BANDWIDTH: Measure = Measure {
    workload: "mem-bandwidth",
    metric: "bandwidth",
    unit: "MB/s",
    better: "higher",
};
const CPU_INT: Measure = Measure {
    workload: "cpu-int",
    metric: "rate",
    unit: "ops/s",
    better: "higher",
};

impl Run {
    fn trial(&mut self, platform: &str, round: u32, failure: Option<&str>) {
        self.trials.push(TrialRow {
            id: self.trials.len() as i64 + 1,
            platform: platform.into(),
            round,
            guest: "guest0".into(),
            scenario: "baseline".into(),
            status: if failure.is_some() { "failed" } else { "ok" }.into(),
            reason: failure.map(str::to_string),
            started_ms: self.run.started_ms,
            finished_ms: Some(self.run.started_ms + 1000),
        });
        if let Some(reason) = failure {
            self.failures.push(FailureRow {
                platform: platform.into(),
                round,
                workload: None,
                reason: reason.into(),
            });
        }
    }

    /// One warm-up (a wild value that must never show) and PER_ROUND measured samples per round,
    /// `base` times a deterministic jitter of at most ±1 %.
    fn series_with_warmups(&mut self, platform: &str, rounds: &[u32], m: Measure, base: f64) {
        let Measure {
            workload,
            metric,
            unit,
            better,
        } = m;
        for &round in rounds {
            for index in 0..=PER_ROUND {
                let jitter = 1.0 + ((round * 7 + index * 3) % 11) as f64 / 500.0 - 0.01;
                self.samples.push(SampleRow {
                    platform: platform.into(),
                    guest: "guest0".into(),
                    scenario: "baseline".into(),
                    round,
                    workload: workload.into(),
                    metric: metric.into(),
                    unit: unit.into(),
                    better: better.into(),
                    warmup: index == 0,
                    index,
                    value: if index == 0 {
                        9_999_999.0
                    } else {
                        base * jitter
                    },
                    iterations: 1000,
                    elapsed_ns: 1_000_000,
                    at_ms: None,
                });
            }
        }
    }
}

fn empty_run(name: &str) -> Run {
    Run::with_plan(7, name, "", "{}".into())
}

/// host (baseline); kvm under TCG, exactly 2x worse on both metrics; xen faster on syscalls,
/// with one failed trial and a failed memory-bandwidth workload.
fn campaign() -> Run {
    let mut f = empty_run("xen-vs-kvm");
    f.add_platform(
        "host",
        "host",
        &[
            ("cpu.model", "AMD EPYC 7B13"),
            ("kernel.release", "6.1.0-18-amd64"),
            ("clocksource", "tsc"),
        ],
    );
    f.add_platform(
        "kvm",
        "qemu",
        &[
            ("accel", "tcg"),
            ("qemu.version", "7.2.9"),
            ("qemu.machine", "pc-q35-7.2"),
            ("qemu.cpu", "max"),
            ("kernel.release", "6.1.0-18-cloud-amd64"),
            ("clocksource", "tsc"),
            ("cpu.model", "QEMU TCG CPU version 2.5+"),
        ],
    );
    f.add_platform(
        "xen",
        "xen",
        &[("cpuid.hypervisor", "XenVMMXenVMM"), ("clocksource", "xen")],
    );
    let all: Vec<u32> = (0..ROUNDS).collect();
    let xen_ok: Vec<u32> = all.iter().copied().filter(|&r| r != 2).collect();
    for r in 0..ROUNDS {
        f.trial("host", r, None);
        f.trial("kvm", r, None);
        f.trial("xen", r, (r == 2).then_some("guest timed out after 30 s"));
    }
    f.series_with_warmups("host", &all, SYSCALL, 100.0);
    f.series_with_warmups("kvm", &all, SYSCALL, 200.0);
    f.series_with_warmups("xen", &xen_ok, SYSCALL, 50.0);
    f.series_with_warmups("host", &all, MEM_BANDWIDTH, 12_000.0);
    f.series_with_warmups("kvm", &all, MEM_BANDWIDTH, 6_000.0);
    for r in xen_ok {
        f.failures.push(FailureRow {
            platform: "xen".into(),
            round: r,
            workload: Some("mem-bandwidth".into()),
            reason: "agent: cannot allocate 256 MiB,\nout of memory".into(),
        });
    }
    f
}

#[test]
fn terminal_report_shows_every_platform_workload_and_reading() {
    let f = campaign();
    let out = terminal(&f.input(), &bootstrap(2_000));
    println!("{out}");

    assert!(out.contains("run 7 (xen-vs-kvm)"));
    assert!(out.contains("Status:    complete"));
    assert!(out.contains("Version:   hvbench 0.1.0"));
    assert!(out.contains("2026-11-18 11:06:40 UTC") && out.contains("2026-11-18 11:07:40 UTC"));
    for p in ["host", "kvm", "xen"] {
        assert!(
            out.lines().any(|l| l.starts_with(p)),
            "platform {p} missing"
        );
    }
    for w in [
        "syscall / latency (ns, lower is better)",
        "mem-bandwidth / bandwidth (MB/s, higher is better)",
    ] {
        assert!(out.contains(w), "{w} missing");
    }
    assert!(out.contains("Baseline: host (driver host)"));
    // Warm-ups are excluded: 5 rounds x 4 measured samples, and the wild warm-up value never shows.
    let syscall = table_under(&out, "syscall / latency");
    assert!(
        row(&syscall, "host").split_whitespace().nth(1) == Some("20"),
        "{syscall:#?}"
    );
    assert!(row(&syscall, "xen").split_whitespace().nth(1) == Some("16"));
    assert!(!out.contains("1e7") && !out.contains("9999999"));

    // Lower is better: twice the latency is 2x slower, half is 2x faster.
    let kvm = row(&syscall, "kvm");
    assert!(
        kvm.contains("2.00 [") && kvm.contains("2.00x slower"),
        "{kvm}"
    );
    assert!(row(&syscall, "xen").contains("2.00x faster"));
    assert!(row(&syscall, "host").contains("baseline"));
    // Higher is better: half the bandwidth is 2x slower too.
    let bw = table_under(&out, "mem-bandwidth / bandwidth");
    let kvm = row(&bw, "kvm");
    assert!(
        kvm.contains("0.500 [") && kvm.contains("2.00x slower"),
        "{kvm}"
    );
    assert!(row(&bw, "xen").contains("no data (see failures)"));
}

#[test]
fn higher_is_better_gain_reads_faster() {
    let mut f = empty_run("r");
    f.add_platform("host", "host", &[]);
    f.add_platform("kvm", "qemu", &[("accel", "kvm")]);
    f.series_with_warmups("host", &[0, 1, 2], CPU_INT, 1000.0);
    f.series_with_warmups("kvm", &[0, 1, 2], CPU_INT, 2000.0);
    let out = terminal(&f.input(), &bootstrap(2_000));
    let kvm = row(&table_under(&out, "cpu-int / rate"), "kvm");
    assert!(
        kvm.contains("2.00 [") && kvm.contains("2.00x faster"),
        "{kvm}"
    );
    assert!(!out.contains("WARNING"), "no TCG warning without accel=tcg");
}

#[test]
fn tcg_is_called_out() {
    let f = campaign();
    let out = terminal(&f.input(), &bootstrap(2_000));
    let warning: String = out.lines().filter(|l| l.starts_with("!! ")).collect();
    assert!(
        warning
            .contains("WARNING: Platform kvm ran the guest under QEMU's software emulation (TCG"),
        "{out}"
    );
    assert!(warning.contains("measure emulation, not hardware virtualization"));
    let platforms = table_under(&out, "Platforms");
    assert!(row(&platforms, "kvm").contains("tcg") && row(&platforms, "kvm").contains("7.2.9"));
    let md = markdown(&f.input(), &bootstrap(2_000));
    assert!(md.contains(
        "> **Warning:** Platform kvm ran the guest under QEMU's software emulation (TCG"
    ));
}

#[test]
fn failures_are_listed_and_counted() {
    let f = campaign();
    let out = terminal(&f.input(), &bootstrap(2_000));
    let failures: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "Trials and failures")
        .collect();
    let text = failures.join("\n");
    assert!(text.contains("guest timed out after 30 s"));
    assert!(text.contains("(whole trial)"));
    // Line breaks in a reason do not break the table.
    assert!(text.contains("agent: cannot allocate 256 MiB, out of memory"));
    let counts = row(&failures, "xen");
    assert_eq!(
        counts.split_whitespace().collect::<Vec<_>>(),
        ["xen", "4", "1"]
    );
    assert_eq!(
        failures
            .iter()
            .filter(|l| l.starts_with("xen ") && l.contains("mem-bandwidth"))
            .count(),
        4
    );
}

#[test]
fn summary_json_has_ratios_and_gaps() {
    let f = campaign();
    let v: serde_json::Value =
        serde_json::from_str(&summary_json(&f.input(), &bootstrap(2_000))).unwrap();
    assert_eq!(v["baseline"], "host");
    assert_eq!(v["run"]["status"], "complete");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 6, "2 metrics x 3 platforms, gaps included");
    let find = |w: &str, p: &str| {
        results
            .iter()
            .find(|r| r["workload"] == w && r["platform"] == p)
            .unwrap()
    };
    let kvm = find("syscall", "kvm");
    assert_eq!(kvm["n"], 20);
    assert!((kvm["ratio"]["point"].as_f64().unwrap() - 2.0).abs() < 1e-12);
    let (lo, hi) = (
        kvm["ratio"]["ci"]["lo"].as_f64().unwrap(),
        kvm["ratio"]["ci"]["hi"].as_f64().unwrap(),
    );
    assert!(lo <= 2.0 && 2.0 <= hi && hi - lo < 0.1, "{lo} {hi}");
    assert!(
        (find("mem-bandwidth", "kvm")["ratio"]["point"]
            .as_f64()
            .unwrap()
            - 0.5)
            .abs()
            < 1e-12
    );
    let host = find("syscall", "host");
    assert_eq!(host["is_baseline"], true);
    assert_eq!(host["ratio"]["point"], 1.0);
    let gap = find("mem-bandwidth", "xen");
    assert_eq!(gap["n"], 0);
    assert!(gap["median"].is_null() && gap["ratio"].is_null());
}

#[test]
fn results_json_has_exactly_the_documented_keys_and_no_warmups() {
    let f = campaign();
    let v: serde_json::Value = serde_json::from_str(&results_json(&f.input())).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), f.samples.iter().filter(|s| !s.warmup).count());
    assert_eq!(rows.len(), (5 + 5 + 4 + 5 + 5) * PER_ROUND as usize);
    let keys = [
        "run",
        "platform",
        "guest",
        "scenario",
        "workload",
        "metric",
        "unit",
        "better",
        "repetition",
        "value",
    ];
    for r in rows {
        let obj = r.as_object().unwrap();
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(obj["run"], "xen-vs-kvm");
        assert_ne!(obj["value"], 9_999_999.0, "a warm-up leaked");
    }
    assert_eq!(rows[0]["repetition"], 0);
    assert_eq!(rows[0]["better"], "lower");
    assert_eq!(results_json(&empty_run("e").input()), "[]\n");
}

#[test]
fn results_csv_quotes_by_rfc_4180() {
    let mut f = empty_run("kvm, \"pinned\"");
    f.add_platform("host", "host", &[]);
    f.series_with_warmups("host", &[3], SYSCALL, 2.5);
    let csv = results_csv(&f.input());
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "run,platform,guest,scenario,workload,metric,unit,better,repetition,value"
    );
    assert_eq!(lines.len(), 1 + PER_ROUND as usize);
    let (fields, value) = lines[1].rsplit_once(',').unwrap();
    assert_eq!(
        fields,
        "\"kvm, \"\"pinned\"\"\",host,guest0,baseline,syscall,latency,ns,lower,3"
    );
    assert!(
        (value.parse::<f64>().unwrap() - 2.5).abs() < 0.03,
        "{value}"
    );
    assert!(csv.ends_with("\r\n") && !csv.contains("9999999"));
}

#[test]
fn no_host_platform_means_the_first_is_the_baseline() {
    let mut f = empty_run("r");
    f.add_platform("kvm", "qemu", &[("accel", "kvm")]);
    f.add_platform("xen", "xen", &[]);
    f.series_with_warmups("kvm", &[0, 1], SYSCALL, 100.0);
    f.series_with_warmups("xen", &[0, 1], SYSCALL, 300.0);
    let out = terminal(&f.input(), &bootstrap(2_000));
    assert!(
        out.contains("Baseline: kvm. No platform has driver \"host\""),
        "{out}"
    );
    assert!(row(&table_under(&out, "syscall / latency"), "xen").contains("3.00x slower"));
}

#[test]
fn an_unfinished_run_says_so() {
    let mut f = empty_run("r");
    f.run.status = RunStatus::Running;
    f.run.finished_ms = None;
    f.add_platform("host", "host", &[]);
    f.add_platform("kvm", "qemu", &[]);
    f.series_with_warmups("host", &[0], SYSCALL, 100.0);
    let out = terminal(&f.input(), &bootstrap(2_000));
    assert!(out.contains("Status:    incomplete: interrupted or still running"));
    assert!(out.contains("Finished:  -"));
    assert!(row(&table_under(&out, "syscall / latency"), "kvm")
        .contains("no data yet (run incomplete)"));
}

#[test]
fn an_empty_run_renders_everywhere() {
    let f = empty_run("nothing");
    let input = f.input();
    assert!(terminal(&input, &bootstrap(2_000)).contains("No measured sample"));
    assert!(markdown(&input, &bootstrap(2_000)).contains("No measured sample"));
    let v: serde_json::Value =
        serde_json::from_str(&summary_json(&input, &bootstrap(2_000))).unwrap();
    assert!(v["baseline"].is_null() && v["results"].as_array().unwrap().is_empty());
    assert_eq!(results_csv(&input).lines().count(), 1);
}

#[test]
fn markdown_has_the_same_tables() {
    let f = campaign();
    let md = markdown(&f.input(), &bootstrap(2_000));
    println!("{md}");
    assert!(md.starts_with("# hvbench report: run 7 (xen-vs-kvm)\n"));
    assert!(md
        .contains("### syscall / latency (ns, lower is better)\n\n| platform | n | median (ns) |"));
    assert!(md.contains("| xen | no data (see failures) |"));
    assert!(md.contains("2.00x slower"));
}

#[test]
fn outliers_are_counted_not_dropped() {
    let mut f = empty_run("r");
    f.add_platform("host", "host", &[]);
    f.series_with_warmups("host", &[0, 1, 2], SYSCALL, 100.0);
    f.samples[3].value = 5_000.0;
    let out = terminal(&f.input(), &bootstrap(2_000));
    let t = table_under(&out, "syscall / latency");
    assert!(t[0].ends_with("outliers"), "{t:#?}");
    assert!(row(&t, "host").ends_with(" 1"));
    let v: serde_json::Value =
        serde_json::from_str(&summary_json(&f.input(), &bootstrap(2_000))).unwrap();
    assert_eq!(v["results"][0]["n"], 12);
    assert_eq!(v["results"][0]["max"], 5_000.0);
}

#[test]
fn lab_platforms_are_marked_as_emulated() {
    let mut f = empty_run("lab");
    f.add_platform("host", "host", &[("accel", "none")]);
    f.add_platform(
        "xen-pv",
        "xen",
        &[("accel", "xen"), ("lab", "xen"), ("xen.guest_type", "pv")],
    );
    let out = terminal(&f.input(), &bootstrap(2_000));
    let warning = banner(&out);
    assert!(
        warning.contains("Platform xen-pv ran inside hvbench's emulated lab host"),
        "{out}"
    );
    assert!(
        !warning.contains("TCG, accel=tcg"),
        "a lab platform is not a TCG guest: {out}"
    );
    assert!(
        out.contains("ran in the emulated lab"),
        "the recommendation says so too: {out}"
    );
}

#[test]
fn lab_and_real_guests_in_one_run_are_said_not_to_compare() {
    let mut f = empty_run("mixed");
    f.add_platform("host", "host", &[("accel", "none")]);
    f.add_platform("kvm-real", "qemu", &[("accel", "kvm")]);
    f.add_platform(
        "xen-pv",
        "xen",
        &[("accel", "xen"), ("lab", "xen"), ("xen.guest_type", "pv")],
    );
    let out = terminal(&f.input(), &bootstrap(2_000));
    let warning = banner(&out);
    assert!(
        warning.contains(
            "Platforms kvm-real, xen-pv mix guests in hvbench's emulated lab (xen-pv) with guests on real \
             hardware (kvm-real) in one comparison: their timings are not comparable"
        ),
        "{out}"
    );
    assert!(
        !warning.contains("host,"),
        "the baseline is no guest: {out}"
    );
    assert!(
        out.contains("Do not rank kvm-real (real hardware) against xen-pv (emulated lab)"),
        "the recommendation says so too: {out}"
    );
    let md = markdown(&f.input(), &bootstrap(2_000));
    assert!(
        md.contains(
            "> **Warning:** Platforms kvm-real, xen-pv mix guests in hvbench's emulated lab"
        ),
        "{md}"
    );
    let page = html(&f.input(), &bootstrap(2_000));
    assert!(
        page.contains(
            "<strong>Warning:</strong> Platforms kvm-real, xen-pv mix guests in hvbench&#39;s emulated lab"
        ),
        "{page}"
    );
    // Guests all in the lab, or all outside it: nothing mixed.
    for (name, facts) in [
        ("lab-only", vec![("accel", "kvm"), ("lab", "kvm")]),
        ("real-only", vec![("accel", "kvm"), ("lab", "false")]),
    ] {
        let mut f = empty_run(name);
        f.add_platform("host", "host", &[("accel", "none")]);
        f.add_platform("kvm", "qemu", &facts);
        f.add_platform(
            "xen-pv",
            "xen",
            &[
                ("accel", "xen"),
                ("xen.guest_type", "pv"),
                ("lab", facts[1].1),
            ],
        );
        let out = terminal(&f.input(), &bootstrap(2_000));
        assert!(!out.contains("mix guests"), "{name}: {out}");
    }
}

#[test]
fn user_network_platforms_are_said_to_measure_slirp() {
    let mut f = empty_run("net");
    f.add_platform("host", "host", &[("accel", "none")]);
    f.add_platform(
        "kvm-user",
        "qemu",
        &[("accel", "kvm"), ("net.backend", "slirp")],
    );
    f.add_platform(
        "kvm-tap",
        "qemu",
        &[("accel", "kvm"), ("net.backend", "tap+vhost-net")],
    );
    let out = terminal(&f.input(), &bootstrap(2_000));
    let warning = banner(&out);
    assert!(
        warning.contains("Platform kvm-user had the guest's NIC on QEMU's user network"),
        "{out}"
    );
    assert!(warning.contains("measure QEMU's slirp"), "{out}");
    assert!(!warning.contains("kvm-tap"), "a tap is no slirp: {out}");
}

fn boot(entry: &str, reboot: bool, seconds: f64, ok: bool, detail: &str) -> BootRow {
    BootRow {
        host: "dual".into(),
        entry: entry.into(),
        at_ms: 1_795_000_000_000 + (seconds * 1000.0) as i64,
        reboot,
        seconds,
        boot_id: format!("{entry}5f0c2a-9b1e-4c4d-8e2f-0123456789ab"),
        kernel: "6.1.0-18-amd64".into(),
        hypervisor: if entry == "kvm" && ok {
            "kvm"
        } else {
            "xen dom0"
        }
        .into(),
        ok,
        detail: detail.into(),
    }
}

/// A dual-boot host: found in its kvm entry, rebooted into xen, then back into kvm, which came
/// up as Xen again and was refused.
fn dual_boot_run() -> Run {
    let mut f = empty_run("dual");
    f.add_platform("bare", "host", &[("accel", "none")]);
    f.add_platform("xen-pvh", "xen", &[("accel", "xen")]);
    f.boots = vec![
        boot("kvm", false, 0.0, true, "found at the start"),
        boot("xen", true, 70.5, true, ""),
        boot("kvm", true, 65.5, false, "came up as xen dom0, not kvm"),
    ];
    f
}

/// The report's lines joined, so that wrapped paragraphs read as one.
fn joined(out: &str) -> String {
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn boots_of_a_dual_boot_host_are_counted_and_listed() {
    let f = dual_boot_run();
    let out = terminal(&f.input(), &bootstrap(2_000));
    let text = joined(&out);
    assert!(
        text.contains(
            "Host dual was rebooted 2 times between its boot entries (kvm, xen), 136 s in all \
             (mean 68.0 s per reboot); 1 boot came up wrong and was refused."
        ),
        "{out}"
    );
    assert!(
        text.contains("the boot found when the run started is listed but not counted"),
        "{out}"
    );
    // The table after the section's two paragraphs.
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Boots"))
        .skip_while(|l| !l.trim_start().starts_with("# "))
        .take_while(|l| !l.is_empty())
        .collect();
    let header = table[0];
    for h in [
        "#",
        "host",
        "entry",
        "boot id",
        "hypervisor seen",
        "kernel",
        "seconds",
        "outcome",
    ] {
        assert!(header.contains(h), "{header}");
    }
    let rows: Vec<Vec<&str>> = table
        .iter()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table:#?}");
    assert_eq!(
        rows[0],
        [
            "1",
            "dual",
            "kvm",
            "kvm5f0c2",
            "kvm",
            "6.1.0-18-amd64",
            "-",
            "ok:",
            "found",
            "at",
            "the",
            "start"
        ]
    );
    assert_eq!(
        rows[1][..8],
        [
            "2",
            "dual",
            "xen",
            "xen5f0c2",
            "xen",
            "dom0",
            "6.1.0-18-amd64",
            "70.5"
        ]
    );
    assert_eq!(rows[1][8..], ["ok"]);
    assert_eq!(rows[2][7..10], ["65.5", "refused:", "came"]);

    // The refused boot is a warning at the top, too.
    let warning = banner(&out);
    assert!(
        warning.contains(
            "1 boot of a dual-boot host came up other than the entry wanted and was refused: #3 \
             on dual (entry kvm): came up as xen dom0, not kvm (see Boots)."
        ),
        "{out}"
    );

    // Markdown and HTML have the section as well; the summary JSON has the rows.
    let md = markdown(&f.input(), &bootstrap(2_000));
    assert!(md.contains("## Boots"), "{md}");
    assert!(
        joined(&md).contains("Host dual was rebooted 2 times"),
        "{md}"
    );
    let html = hvbench_report::html(&f.input(), &bootstrap(2_000));
    assert!(html.contains("Boots"), "{html}");
    assert!(
        html.contains("refused: came up as xen dom0, not kvm"),
        "{html}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&summary_json(&f.input(), &bootstrap(2_000))).unwrap();
    assert_eq!(summary["boots"].as_array().unwrap().len(), 3);
    assert_eq!(summary["boots"][1]["seconds"], 70.5);
    assert_eq!(summary["boots"][0]["reboot"], false);
}

#[test]
fn the_plan_names_a_dual_boot_hosts_entries() {
    let mut f = dual_boot_run();
    let plan = hvbench_spec::parse(
        "t.toml",
        "name = \"dual\"\n[guest]\n[[host]]\nname = \"dual\"\nssh = \"root@192.0.2.20\"\n\
         [[host.boot]]\nname = \"xen\"\nselect = \"s\"\n[[host.boot]]\nname = \"kvm\"\n\
         select = \"s\"\n[[platform]]\nname = \"bare\"\ndriver = \"host\"\nhost = \"dual\"\n\
         [[workload]]\nname = \"syscall\"\n",
    )
    .unwrap();
    f.run.plan_json = serde_json::to_string(&plan).unwrap();
    // Every boot as wanted, one reboot.
    f.boots.truncate(2);
    let out = joined(&terminal(&f.input(), &bootstrap(2_000)));
    assert!(
        out.contains(
            "Host dual was rebooted once between its boot entries (xen, kvm), 70.5 s in all \
             (mean 70.5 s per reboot)."
        ),
        "{out}"
    );
    assert!(!out.contains("refused:"), "{out}");
}

#[test]
fn a_run_without_boots_has_no_boots_section() {
    let out = terminal(&campaign().input(), &bootstrap(2_000));
    assert!(!out.contains("Boots"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&summary_json(&campaign().input(), &bootstrap(2_000))).unwrap();
    assert!(summary.get("boots").is_none());
}

/// The terminal report's warning banner (its `!! ` lines) as one line.
fn banner(out: &str) -> String {
    out.lines()
        .filter_map(|l| l.strip_prefix("!! "))
        .collect::<Vec<_>>()
        .join(" ")
}
