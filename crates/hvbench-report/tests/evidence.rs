//! The Evidence section (docs/architecture.md, "Evidence") on hand-built rows as the store
//! would return them: hypervisor entries per operation by reason on host, kvm and xen-pv, the
//! guests' steal time (battery and an isolation victim), the cost of counting, the HTML chart,
//! the JSON summary, and a run without evidence.

use hvbench_report::{html, markdown, summary_json, terminal};
use hvbench_store::{CounterRow, SampleRow};

mod support;
use support::{cfg, row, table_past_paragraphs, Run};

const SPEC: &str = r#"name = "evidence"
repetitions = 3
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
name = "cpuid"

[[workload]]
name = "syscall"

[[isolation]]
name = "noisy"
victim = ["syscall"]
stressors = ["cpu"]
aggressors = 1
placements = ["shared", "pinned-apart"]
"#;

const ROUNDS: u32 = 3;
/// Measured windows per agent run (index 0 is the warm-up).
const WINDOWS: u32 = 4;
/// Every window: 1000 operations in 1 ms.
const ITERATIONS: u64 = 1000;
const ELAPSED_NS: u64 = 1_000_000;
/// The collectors counted over 10 ms: ten times the window (a rate, so the same per operation).
const SPAN_NS: u64 = 10_000_000;

/// Which agent run a window belongs to.
#[derive(Clone, Copy)]
struct AgentRun<'a> {
    platform: &'a str,
    scenario: &'a str,
    guest: &'a str,
    round: u32,
}

/// What was counted beside an agent run's windows (see [`Run::windows`]).
#[derive(Clone, Copy)]
struct Counts<'a> {
    per_op: &'a [(&'a str, &'a str, f64)],
    steal: f64,
    counted: Option<f64>,
}

impl Run {
    /// One agent run's windows of one workload: a warm-up, then `WINDOWS` measured windows of
    /// `value` ns. `per_op` are the counters per operation in each measured window, `(source,
    /// key, per op)`, stored as counts over `SPAN_NS`; the guest's steal is a fraction of it.
    /// `counted`: the value of the agent run's counted window (after the measured ones).
    fn windows(&mut self, at: AgentRun<'_>, workload: &str, value: f64, counts: Counts<'_>) {
        let AgentRun {
            platform,
            scenario,
            guest,
            round,
        } = at;
        let Counts {
            per_op,
            steal,
            counted,
        } = counts;
        let row = |index: u32, source: &str, key: &str, value: f64, span_ns: u64| CounterRow {
            platform: platform.into(),
            guest: guest.into(),
            scenario: scenario.into(),
            round,
            workload: workload.into(),
            metric: "latency".into(),
            index,
            source: source.into(),
            key: key.into(),
            value,
            span_ns,
        };
        let ops_in_span = ITERATIONS as f64 * SPAN_NS as f64 / ELAPSED_NS as f64;
        for index in 0..=WINDOWS {
            self.samples.push(SampleRow {
                platform: platform.into(),
                guest: guest.into(),
                scenario: scenario.into(),
                round,
                workload: workload.into(),
                metric: "latency".into(),
                unit: "ns".into(),
                better: "lower".into(),
                warmup: index == 0,
                index,
                value: if index == 0 { 1e9 } else { value },
                iterations: ITERATIONS,
                elapsed_ns: ELAPSED_NS,
                at_ms: scenario
                    .contains('/')
                    .then_some(1000 + 100 * u64::from(index)),
            });
            // The warm-up's counters are wild: they must never show.
            let scale = if index == 0 { 1000.0 } else { 1.0 };
            for &(source, key, p) in per_op {
                self.counters
                    .push(row(index, source, key, p * ops_in_span * scale, SPAN_NS));
            }
            self.counters.push(row(
                index,
                "guest",
                "steal_ns",
                steal * ELAPSED_NS as f64 * scale,
                ELAPSED_NS,
            ));
        }
        if let Some(v) = counted {
            let index = WINDOWS + 1;
            self.counters.extend([
                row(index, "counted", "value", v, ELAPSED_NS),
                row(
                    index,
                    "counted",
                    "iterations",
                    ITERATIONS as f64,
                    ELAPSED_NS,
                ),
                row(
                    index,
                    "counted",
                    "elapsed_ns",
                    ELAPSED_NS as f64,
                    ELAPSED_NS,
                ),
            ]);
        }
    }
}

fn empty_run() -> Run {
    Run::new(11, "evidence", SPEC)
        .platform("host", "host", &[])
        .platform("kvm", "qemu", &[])
        .platform("xen-pv", "xen", &[])
}

/// Counters per operation of one workload: `(source, key, per op)`.
type PerOp = &'static [(&'static str, &'static str, f64)];

/// One platform's battery: what it measured and what was counted beside it.
struct Battery {
    platform: &'static str,
    guest: &'static str,
    /// Median latency in ns of cpuid and syscall.
    latency: [f64; 2],
    /// Counters per operation of cpuid and syscall.
    counted: [PerOp; 2],
    steal: f64,
    /// The measured (uncounted) windows' value as a fraction of the counted ones'.
    uncounted: f64,
}

const WORKLOADS: [&str; 2] = ["cpuid", "syscall"];

const BATTERY: [Battery; 3] = [
    Battery {
        platform: "host",
        guest: "host",
        latency: [30.0, 100.0],
        counted: [&[], &[]],
        steal: 0.0,
        uncounted: 1.0,
    },
    Battery {
        platform: "kvm",
        guest: "guest0",
        latency: [1200.0, 110.0],
        counted: [
            &[
                ("kvm.exits", "exit.cpuid", 1.0),
                ("kvm.exits", "exit.io", 0.002),
                ("kvm.exits", "exit.npf", 0.0004),
                ("kvm.stats", "exits", 1.0024),
                ("host.threads", "vcpu_cpu_ns", 1150.0),
            ],
            &[
                ("kvm.exits", "exit.external_interrupt", 0.003),
                ("kvm.exits", "exit.hlt", 0.0001),
            ],
        ],
        steal: 0.02,
        uncounted: 0.98,
    },
    Battery {
        platform: "xen-pv",
        guest: "guest0",
        latency: [900.0, 400.0],
        counted: [
            &[
                ("xen.trace", "pv.emulate_privop", 1.0),
                ("xen.trace", "hypercall.iret", 0.05),
            ],
            &[
                ("xen.trace", "hypercall.iret", 1.0),
                ("xen.trace", "pv.page_fault", 0.005),
                ("xen.trace", "running_ns", 390.0),
            ],
        ],
        steal: 0.005,
        uncounted: 1.0,
    },
];

/// The battery on the three platforms, with or without counters; with them, kvm's victim in
/// scenario "noisy" alone and beside a CPU hog, shared and pinned apart.
fn run(evidence: bool) -> Run {
    let mut r = empty_run();
    for round in 0..ROUNDS {
        for b in &BATTERY {
            r.push_trial(b.platform, round, "baseline", b.guest, None);
            for (k, workload) in WORKLOADS.iter().enumerate() {
                let latency = b.latency[k];
                let at = AgentRun {
                    platform: b.platform,
                    scenario: "baseline",
                    guest: b.guest,
                    round,
                };
                let counts = Counts {
                    per_op: b.counted[k],
                    steal: b.steal,
                    counted: evidence.then_some(latency / b.uncounted),
                };
                r.windows(at, workload, latency, counts);
            }
        }
        for (scenario, value, steal) in [
            ("noisy/none", 110.0, 0.01),
            ("noisy/cpu/shared", 160.0, 0.30),
            ("noisy/cpu/pinned-apart", 112.0, 0.015),
        ] {
            r.push_trial("kvm", round, scenario, "victim", None);
            let at = AgentRun {
                platform: "kvm",
                scenario,
                guest: "victim",
                round,
            };
            let counts = Counts {
                per_op: &[],
                steal,
                counted: evidence.then_some(value),
            };
            r.windows(at, "syscall", value, counts);
        }
    }
    if !evidence {
        r.counters.clear();
    }
    r
}

/// The Evidence section of a text report, up to the next section (a line underlined with
/// dashes).
fn evidence_section(report: &str) -> &str {
    let start = report
        .find("\nEvidence\n--------\n")
        .expect("an Evidence section")
        + 1;
    let lines: Vec<&str> = report[start..].split_inclusive('\n').collect();
    let mut len = 0;
    for (i, l) in lines.iter().enumerate().skip(2) {
        let next = lines.get(i + 1).map_or("", |n| n.trim_end());
        if !l.trim().is_empty() && !next.is_empty() && next.chars().all(|c| c == '-') {
            break;
        }
        len += l.len();
    }
    &report[start..start + lines[0].len() + lines[1].len() + len]
}

#[test]
fn terminal_report_shows_entries_steal_and_counting_cost() {
    let r = run(true);
    let out = terminal(&r.input(), &cfg());
    let ev = evidence_section(&out);
    println!("{ev}");
    let at = |section: &str| out.find(&format!("\n{section}\n-")).unwrap();
    assert!(
        at("Results") < at("Evidence") && at("Evidence") < at("Trials and failures"),
        "after the results, before the failures"
    );
    assert!(!ev.contains("Trials and failures") && !ev.contains("\nIsolation\n"));

    let cpuid = table_past_paragraphs(ev, "Entries per operation: cpuid / latency");
    // 10 000 cpuid exits in 10 ms, windows of 1000 operations in 1 ms: 1.00 per operation.
    let kvm = row(&cpuid, "kvm");
    assert!(kvm.contains(" 12 "), "12 measured windows: {kvm}");
    assert!(kvm.contains("1.00 [1.00, 1.00]"), "{kvm}");
    assert!(kvm.contains("cpuid 1.00, io 0.00200, npf <0.001"), "{kvm}");
    assert!(kvm.contains("host.threads, kvm.exits, kvm.stats"), "{kvm}");
    let xen = row(&cpuid, "xen-pv");
    assert!(xen.contains("1.05 [1.05, 1.05]"), "{xen}");
    assert!(
        xen.contains("pv.emulate_privop 1.00, hypercall.iret 0.0500"),
        "{xen}"
    );
    let host = row(&cpuid, "host");
    assert!(host.contains("—") && host.contains("guest"), "{host}");
    assert!(ev.contains("host: the bare host has no hypervisor"), "{ev}");

    let syscall = table_past_paragraphs(ev, "Entries per operation: syscall / latency");
    assert!(row(&syscall, "kvm").contains("external_interrupt 0.00300, hlt <0.001"));
    assert!(row(&syscall, "xen-pv").contains("hypercall.iret 1.00, pv.page_fault 0.00500"));

    // Steal: the battery per platform and workload, then the victim alone and beside the hog.
    let steal = table_past_paragraphs(ev, "Steal time");
    assert!(
        steal[0].contains("host") && steal[0].contains("xen-pv"),
        "{steal:#?}"
    );
    let cpuid_steal = row(&steal, "cpuid");
    assert!(
        cpuid_steal.contains("0%")
            && cpuid_steal.contains("2.00%")
            && cpuid_steal.contains("0.500%"),
        "{cpuid_steal}"
    );
    assert!(ev.contains("Scenario noisy: the victim's steal time alone (noisy/none)"));
    let victim = table_past_paragraphs(ev, "Scenario noisy: the victim's steal time");
    assert!(
        victim[0].contains("alone")
            && victim[0].contains("shared")
            && victim[0].contains("pinned-apart")
    );
    assert_eq!(victim.len(), 3, "only kvm's victim counted: {victim:#?}");
    let kvm_victim = row(&victim, "kvm");
    assert!(kvm_victim.contains("syscall / latency"), "{kvm_victim}");
    assert!(
        kvm_victim.contains("1.00%")
            && kvm_victim.contains("cpu")
            && kvm_victim.contains("30.0%")
            && kvm_victim.contains("1.50%"),
        "{kvm_victim}"
    );

    // Counting: kvm's counted windows are 1/0.98 = 1.02 times slower than its measured ones.
    let cost = table_past_paragraphs(ev, "Counting cost");
    let kvm_cost: Vec<&&str> = cost.iter().filter(|l| l.starts_with("kvm ")).collect();
    assert_eq!(kvm_cost.len(), 2, "{cost:#?}");
    assert!(kvm_cost[0].contains("cpuid / latency") && kvm_cost[0].contains("1.02x"));
    assert!(kvm_cost[0].contains("1224 ns") && kvm_cost[0].contains("1200 ns"));
    assert!(
        kvm_cost[0].trim_end().ends_with(" 3"),
        "3 counted windows: {}",
        kvm_cost[0]
    );
    assert!(row(&cost, "host").contains("1.00x"));
    assert!(ev.contains("Nothing counts beside a measured window"));
    assert!(!ev.contains("No evidence was collected"));
}

#[test]
fn markdown_and_html_have_the_section_and_the_chart() {
    let r = run(true);
    let md = markdown(&r.input(), &cfg());
    assert!(md.contains("## Evidence"), "{md}");
    assert!(md.contains(r"cpuid 1.00, io 0.00200, npf \<0.001"), "{md}");
    assert!(md.contains("### Steal time"));
    assert!(md.contains("30.0%"));
    assert!(md.contains("### Counting cost"));
    assert!(md.contains("1.02x"));

    let page = html(&r.input(), &cfg());
    let at = page
        .find("<h2 id=\"evidence\">Evidence</h2>")
        .expect("the section");
    let ev = &page[at..];
    assert!(
        ev.contains("Hypervisor entries per operation</h3><svg"),
        "the chart"
    );
    let chart = &ev[ev.find("<svg").unwrap()..ev.find("</svg>").unwrap()];
    assert!(chart.contains(
        r#"class="mark exit" data-platform="kvm" data-workload="cpuid" data-metric="latency" data-reason="cpuid" data-value="1""#
    ), "{chart}");
    assert!(chart.contains(r#"data-platform="xen-pv" data-workload="syscall" data-metric="latency" data-reason="hypercall.iret""#));
    assert!(chart.contains(r#"class="legend" data-reason="cpuid""#));
    assert!(chart.contains("bare host: no hypervisor"));
    assert!(ev.contains("cpuid 1.00, io 0.00200, npf &lt;0.001"));
    assert!(ev.contains("30.0%") && ev.contains("1.02x"));
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
}

#[test]
fn summary_json_has_the_profiles_and_costs() {
    let r = run(true);
    let v: serde_json::Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    let profiles = v["evidence"]["profiles"]
        .as_array()
        .expect("evidence.profiles");
    let kvm = profiles
        .iter()
        .find(|p| p["platform"] == "kvm" && p["workload"] == "cpuid")
        .unwrap();
    assert_eq!(kvm["scenario"], "baseline");
    assert_eq!(kvm["windows"], 12);
    assert!((kvm["entries"]["median"].as_f64().unwrap() - 1.0024).abs() < 1e-9);
    assert_eq!(kvm["entries"]["source"], "kvm.exits");
    assert_eq!(kvm["reasons"][0]["key"], "exit.cpuid");
    assert!((kvm["steal_fraction"]["median"].as_f64().unwrap() - 0.02).abs() < 1e-12);
    assert!(profiles
        .iter()
        .any(|p| p["scenario"] == "noisy/cpu/shared" && p["guest"] == "victim"));
    let costs = v["evidence"]["costs"].as_array().unwrap();
    assert!(costs
        .iter()
        .any(|c| c["platform"] == "kvm" && c["workload"] == "cpuid" && c["counted_windows"] == 3));
}

#[test]
fn a_run_without_counters_says_so() {
    let r = run(false);
    let out = terminal(&r.input(), &cfg());
    let ev = evidence_section(&out);
    assert!(ev.contains(
        "No evidence was collected (evidence = false, or a run from before hvbench collected it)."
    ), "{ev}");
    assert!(!ev.contains("Steal time") && !ev.contains("Counting cost"));
    let page = html(&r.input(), &cfg());
    assert!(!page.contains("Hypervisor entries per operation"));
    let v: serde_json::Value = serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap();
    assert_eq!(v["evidence"]["profiles"], serde_json::json!([]));
}
