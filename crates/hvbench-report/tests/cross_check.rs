//! The Cross-check section on hand-built rows as the store would return them: hvbench's
//! workloads beside the tools that measure the same quantity (disk-rand-read and fio, net-bulk
//! and iperf3, mem-bandwidth and sysbench-memory) on host, kvm and xen-pv, in every format; a
//! fio run with other parameters is not paired; a plan without a pair has no section.

use hvbench_report::{html, markdown, summary_json, terminal};
use hvbench_spec::WorkloadSpec;
use hvbench_store::SampleRow;
use serde_json::{json, Value};

mod support;
use support::{cfg, close, row, Run};

const SPEC: &str = r#"name = "cross"
repetitions = 10
seed = 7

[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "kvm"
driver = "qemu"

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"

[[workload]]
name = "disk-rand-read"

[[workload]]
name = "net-bulk"

[[workload]]
name = "mem-bandwidth"
"#;

/// [`SPEC`] with sysbench's memory test beside mem-bandwidth.
fn with_sysbench() -> String {
    format!("{SPEC}\n[[workload]]\nname = \"sysbench-memory\"\n")
}

/// The resolved parameters of a fio run at randread, 4k, QD1, direct (as the catalog that is
/// being written fills them in), with `changes` applied.
fn fio(id: &str, changes: &[(&str, Value)]) -> WorkloadSpec {
    let mut params: std::collections::BTreeMap<String, Value> = [
        ("rw", json!("randread")),
        ("bs", json!("4k")),
        ("iodepth", json!(1)),
        ("ioengine", json!("psync")),
        ("direct", json!(true)),
        ("size_mib", json!(256)),
        ("time_s", json!(2)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in changes {
        params.insert(k.to_string(), v.clone());
    }
    WorkloadSpec {
        id: id.into(),
        name: "fio".into(),
        params,
    }
}

fn iperf3() -> WorkloadSpec {
    WorkloadSpec {
        id: "iperf3".into(),
        name: "iperf3".into(),
        params: [("time_s".to_string(), json!(2))].into_iter().collect(),
    }
}

/// A run of `spec` whose stored plan also holds `tools` (workloads the catalog of this build
/// may not know yet: the plan is stored as the runner stores it).
fn run_of(spec: &str, tools: Vec<WorkloadSpec>) -> Run {
    let mut plan = hvbench_spec::parse("test.toml", spec).unwrap_or_else(|e| panic!("{e}"));
    plan.workloads.extend(tools);
    Run::with_plan(3, "cross", spec, serde_json::to_string(&plan).unwrap())
        .platform("host", "host", &[])
        .platform("kvm", "qemu", &[("accel", "kvm")])
        .platform("xen-pv", "xen", &[("xen.type", "pv")])
}

impl Run {
    /// Ten rounds of one measured sample each, `center` ± 1.1 % with the same pattern for every
    /// series, whose median is `center`.
    fn measured(
        mut self,
        platform: &str,
        workload: &str,
        metric: &str,
        unit: &str,
        center: f64,
    ) -> Run {
        for round in 0..10u32 {
            self.samples.push(SampleRow {
                platform: platform.into(),
                guest: if platform == "host" { "host" } else { "guest0" }.into(),
                scenario: "baseline".into(),
                round,
                workload: workload.into(),
                metric: metric.into(),
                unit: unit.into(),
                better: "higher".into(),
                warmup: false,
                index: 1,
                value: center * (1.0 + (f64::from((round * 7) % 11) - 5.5) / 500.0),
                iterations: 1,
                elapsed_ns: 2_000_000_000,
                at_ms: None,
            });
        }
        self
    }
}

/// disk-rand-read and fio (randread, 4k, QD1, direct) on host and xen-pv; kvm ran only
/// disk-rand-read. fio's extra metrics beside its iops.
fn disk_run(fio_spec: WorkloadSpec) -> Run {
    let label = fio_spec.id.clone();
    run_of(SPEC, vec![fio_spec])
        .measured("host", "disk-rand-read", "iops", "IOPS", 20_000.0)
        .measured("host", &label, "iops", "IOPS", 25_000.0)
        .measured("host", &label, "bandwidth", "MiB/s", 97.0)
        .measured("kvm", "disk-rand-read", "iops", "IOPS", 15_000.0)
        .measured("xen-pv", "disk-rand-read", "iops", "IOPS", 6_200.0)
        .measured("xen-pv", &label, "iops", "IOPS", 10_000.0)
        .measured("xen-pv", &label, "bandwidth", "MiB/s", 39.0)
}

/// The lines of the Markdown section `## Cross-check`, up to the next section.
fn section(md: &str) -> Vec<&str> {
    md.lines()
        .skip_while(|l| *l != "## Cross-check")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// The Markdown table rows of a section, cells trimmed.
fn md_row<'a>(lines: &[&'a str], platform: &str) -> Vec<&'a str> {
    let line = lines
        .iter()
        .find(|l| l.starts_with(&format!("| {platform} |")))
        .unwrap_or_else(|| panic!("no row for {platform} in {lines:#?}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

#[test]
fn disk_rand_read_against_fio_gives_the_ratio_per_platform() {
    let r = disk_run(fio("fio", &[]));
    let input = r.input();
    let md = markdown(&input, &cfg());
    let s = section(&md);
    assert!(!s.is_empty(), "{md}");
    assert!(s.contains(&"### disk-rand-read / iops against fio / iops"));
    let text = s.join("\n");
    assert!(
        text.contains("disk-rand-read runs with mode = direct")
            && text.contains("fio runs with rw = randread, bs = 4k, iodepth = 1, direct = true"),
        "{text}"
    );
    assert!(text.contains("Unit conversion: none"), "{text}");
    // host 20 000 / 25 000, xen-pv 6 200 / 10 000; kvm measured one side only.
    let host = md_row(&s, "host");
    assert_eq!(
        (host[1], host[2], host[4], host[5]),
        ("10", "20000", "10", "25000")
    );
    assert!(host.last().unwrap().starts_with("0.800 ["), "{host:?}");
    let xen = md_row(&s, "xen-pv");
    assert_eq!((xen[2], xen[5]), ("6200", "10000"));
    assert!(xen.last().unwrap().starts_with("0.620 ["), "{xen:?}");
    assert!(!s.iter().any(|l| l.starts_with("| kvm |")));
    assert!(text.contains("Measured one side only: kvm."), "{text}");
    assert!(
        text.contains("- Inside xen-pv, disk-rand-read gives 0.620x fio's IOPS (95% CI [")
            && text.contains("against 0.800x on host."),
        "{text}"
    );
    assert!(text.contains("- On host, disk-rand-read gives 0.800x fio's IOPS"));
    // After the results, before the evidence.
    let at = |h: &str| md.find(h).unwrap_or_else(|| panic!("no {h}"));
    assert!(at("## Results") < at("## Cross-check") && at("## Cross-check") < at("## Evidence"));

    let json: Value = serde_json::from_str(&summary_json(&input, &cfg())).unwrap();
    let checks = json["cross_checks"].as_array().expect("cross_checks");
    assert_eq!(checks.len(), 1);
    let c = &checks[0];
    assert_eq!(c["workload"], "disk-rand-read");
    assert_eq!(c["tool_workload"], "fio");
    assert_eq!(c["pair"]["tool"]["workload"], "fio");
    assert_eq!(c["pair"]["tool_factor"], 1.0);
    assert_eq!(c["one_sided"], json!(["kvm"]));
    let platforms = c["platforms"].as_array().unwrap();
    let got: Vec<(&str, f64)> = platforms
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["ratio"]["point"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0, got[1].0), ("host", "xen-pv"));
    assert!(close(got[0].1, 0.8) && close(got[1].1, 0.62), "{got:?}");
    assert!(close(
        platforms[1]["ours"]["median"].as_f64().unwrap(),
        6_200.0
    ));
    assert!(close(
        platforms[1]["tool"]["median"].as_f64().unwrap(),
        10_000.0
    ));
    let ci = &platforms[1]["ratio"]["ci"];
    assert!(ci["lo"].as_f64().unwrap() <= 0.62 && 0.62 <= ci["hi"].as_f64().unwrap());

    let txt = terminal(&input, &cfg());
    assert!(txt.contains("Cross-check\n-----------"), "{txt}");
    let table = support::table_past_paragraphs(&txt, "disk-rand-read / iops against fio / iops");
    assert!(row(&table, "xen-pv").contains("0.620 ["), "{table:#?}");
    let page = html(&input, &cfg());
    assert!(page.contains("<h2 id=\"cross-check\">Cross-check</h2>"));
    assert!(page.contains("<td>xen-pv</td>"));
    assert!(page.contains("Inside xen-pv, disk-rand-read gives 0.620x fio&#39;s IOPS"));
}

#[test]
fn fio_with_other_parameters_is_not_paired() {
    for changes in [
        vec![("rw", json!("randwrite"))],
        vec![("bs", json!("64k"))],
        vec![("iodepth", json!(32))],
        vec![("direct", json!(false))],
    ] {
        let r = disk_run(fio("fio", &changes));
        let input = r.input();
        let md = markdown(&input, &cfg());
        assert!(!md.contains("Cross-check"), "{changes:?}: {md}");
        assert!(!terminal(&input, &cfg()).contains("Cross-check"));
        assert!(!html(&input, &cfg()).contains("Cross-check"));
        let json: Value = serde_json::from_str(&summary_json(&input, &cfg())).unwrap();
        assert!(json.get("cross_checks").is_none(), "{changes:?}");
    }
}

#[test]
fn of_two_fio_runs_only_the_randread_one_pairs() {
    let read = fio("fio[rw=randread]", &[]);
    let write = fio("fio[rw=randwrite]", &[("rw", json!("randwrite"))]);
    let r = run_of(SPEC, vec![read, write])
        .measured("host", "disk-rand-read", "iops", "IOPS", 20_000.0)
        .measured("host", "fio[rw=randread]", "iops", "IOPS", 20_000.0)
        .measured("host", "fio[rw=randwrite]", "iops", "IOPS", 5_000.0);
    let json: Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    let checks = json["cross_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["tool_workload"], "fio[rw=randread]");
    assert!(close(
        checks[0]["platforms"][0]["ratio"]["point"]
            .as_f64()
            .unwrap(),
        1.0
    ));
    let md = markdown(&r.input(), &cfg());
    assert!(
        md.contains("On host, disk-rand-read gives 1.00x fio[rw=randread]'s IOPS")
            && md.contains("the interval holds 1"),
        "{md}"
    );
}

#[test]
fn no_pair_no_section() {
    // hvbench's workloads ran, and no tool beside them.
    let r = run_of(SPEC, Vec::new())
        .measured("host", "disk-rand-read", "iops", "IOPS", 20_000.0)
        .measured("host", "mem-bandwidth", "bandwidth", "MB/s", 12_000.0);
    let input = r.input();
    for report in [
        markdown(&input, &cfg()),
        terminal(&input, &cfg()),
        html(&input, &cfg()),
    ] {
        assert!(!report.contains("Cross-check"), "{report}");
        assert!(report.contains("disk-rand-read"));
    }
    let json: Value = serde_json::from_str(&summary_json(&input, &cfg())).unwrap();
    assert!(json.get("cross_checks").is_none());

    // A pair in the plan of which no platform measured both sides is said so.
    let r = run_of(&with_sysbench(), Vec::new())
        .measured("host", "mem-bandwidth", "bandwidth", "MB/s", 12_000.0)
        .measured("kvm", "sysbench-memory", "transfer", "MiB/s", 12_000.0);
    let md = markdown(&r.input(), &cfg());
    let s = section(&md).join("\n");
    assert!(
        s.contains("No platform measured both") && s.contains("Measured one side only: host, kvm."),
        "{md}"
    );
}

#[test]
fn units_are_converted_and_the_conversion_is_stated() {
    let r = run_of(&with_sysbench(), vec![iperf3()])
        .measured("host", "net-bulk", "throughput", "Mbit/s", 40_000.0)
        .measured("host", "iperf3", "throughput", "Gbit/s", 40.0)
        .measured("kvm", "net-bulk", "throughput", "Mbit/s", 9_000.0)
        .measured("kvm", "iperf3", "throughput", "Gbit/s", 10.0)
        .measured("kvm", "mem-bandwidth", "bandwidth", "MB/s", 10_485.76)
        .measured("kvm", "sysbench-memory", "transfer", "MiB/s", 10_000.0)
        .measured("kvm", "sysbench-memory", "operations", "ops/s", 1e7);
    let input = r.input();
    let json: Value = serde_json::from_str(&summary_json(&input, &cfg())).unwrap();
    let checks = json["cross_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{checks:#?}");
    // Table order: disk, network, memory.
    let net = &checks[0];
    assert_eq!(net["pair"]["tool_factor"], 1000.0);
    let kvm = &net["platforms"][1];
    assert_eq!(kvm["platform"], "kvm");
    assert!(close(
        kvm["tool_median_converted"].as_f64().unwrap(),
        10_000.0
    ));
    assert!(close(kvm["ratio"]["point"].as_f64().unwrap(), 0.9));
    assert!(close(
        net["platforms"][0]["ratio"]["point"].as_f64().unwrap(),
        1.0
    ));
    let mem = &checks[1];
    assert_eq!(mem["tool_workload"], "sysbench-memory");
    let kvm = &mem["platforms"][0];
    assert!(close(kvm["tool"]["median"].as_f64().unwrap(), 10_000.0));
    assert!((kvm["tool_median_converted"].as_f64().unwrap() - 10_485.76).abs() < 1e-6);
    assert!((kvm["ratio"]["point"].as_f64().unwrap() - 1.0).abs() < 1e-9);

    let md = markdown(&input, &cfg());
    let s = section(&md).join("\n");
    assert!(
        s.contains("Unit conversion: iperf3's Gbit/s x 1000 = Mbit/s")
            && s.contains("Unit conversion: sysbench's MiB/s x 1.048576 = MB/s"),
        "{s}"
    );
    let lines = section(&md);
    let header = lines
        .iter()
        .find(|l| l.starts_with("| platform |") && l.contains("iperf3"))
        .unwrap();
    assert!(header.contains("iperf3 median (Gbit/s)") && header.contains("iperf3 in Mbit/s"));
    let kvm = md_row(&lines, "kvm");
    assert_eq!(
        (kvm[2], kvm[5], kvm[7]),
        ("9000", "10.00", "10000"),
        "{kvm:?}"
    );
    assert!(s.contains("- Inside kvm, net-bulk gives 0.900x iperf3's throughput"));
    assert!(s.contains("against 1.00x on host"), "{s}");
    assert!(s.contains("- Inside kvm, mem-bandwidth gives 1.00x sysbench-memory's bandwidth"));
    assert!(
        s.contains("sweeps one block of block\\_size\\_kib"),
        "the note: {s}"
    );
}
