//! Runs that span machines over SSH (docs/architecture.md, "Machines over SSH"), on hand-built
//! rows as the store would return them: each platform is compared with its own machine's host
//! platform, the platforms are grouped by machine, and the machines are set side by side with a
//! warning naming what differs between them.
//!
//! Over 600 lines on purpose: the hand-built two-machine run (its builder, the facts each
//! machine's executor and agent record) is shared by every test here.

use hvbench_report::{html, markdown, summary_csv, summary_json, terminal, LOCAL_MACHINE};
use hvbench_store::TrialRow;
use serde_json::Value;

mod support;
use support::{cfg, close, row, table_under, Run};

/// A Xen box and a KVM box, each with its bare-metal baseline and one guest platform.
const SPEC: &str = r#"name = "two-hosts"
repetitions = 10
seed = 7

[guest]

[[host]]
name = "xenbox"
ssh = "root@192.0.2.10"

[[host]]
name = "kvmbox"
ssh = "root@192.0.2.11:2222"

[[platform]]
name = "xenbox-host"
driver = "host"
host = "xenbox"

[[platform]]
name = "xen-pvh"
driver = "xen"
type = "pvh"
host = "xenbox"

[[platform]]
name = "kvmbox-host"
driver = "host"
host = "kvmbox"

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
host = "kvmbox"

[[workload]]
name = "syscall"

[[workload]]
name = "mem-bandwidth"
"#;

const EPYC: &str = "AMD EPYC 7B13 64-Core Processor";
const XEON: &str = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz";

impl Run {
    /// syscall latency (lower is better) and memory bandwidth (higher is better).
    fn measured(self, platform: &str, latency: f64, bandwidth: f64) -> Run {
        self.series(platform, "baseline", "syscall", "latency", "lower", latency)
            .series(
                platform,
                "baseline",
                "mem-bandwidth",
                "bandwidth",
                "higher",
                bandwidth,
            )
    }
}

/// What `hvbench-executor check` records on a platform of `machine`, as `remote.*` facts, with
/// the `machine` fact the controller adds.
fn remote(
    machine: &'static str,
    kernel: &'static str,
    xen: bool,
    kvm: bool,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("machine", machine),
        ("remote.kernel.release", kernel),
        ("remote.cpus", "64"),
        ("remote.root", "true"),
        ("remote.xen.control_d", if xen { "true" } else { "false" }),
        ("remote.kvm.rw", if kvm { "true" } else { "false" }),
    ]
}

/// The agent's facts about a bare machine.
fn bare(
    cpu: &'static str,
    mem_kib: &'static str,
    kernel: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("accel", "none"),
        ("cpu.model", cpu),
        ("cpu.count", "64"),
        ("mem.total_kib", mem_kib),
        ("kernel.release", kernel),
        ("clocksource", "tsc"),
    ]
}

fn with(
    a: Vec<(&'static str, &'static str)>,
    b: Vec<(&'static str, &'static str)>,
) -> Vec<(&'static str, &'static str)> {
    a.into_iter().chain(b).collect()
}

/// Two machines with a host platform each. On xenbox the guest is 1.5x the host's latency
/// (100 -> 150) and 0.8x its bandwidth; on kvmbox 1.1x (200 -> 220) and 0.9x. Against the run's
/// one baseline (xenbox-host) kvm would read 2.2x: the machines differ in CPU and memory.
fn two_machines(kvmbox_cpu: &'static str, kvmbox_mem: &'static str) -> Run {
    let xen_remote = remote("xenbox", "6.1.0-18-amd64", true, false);
    let kvm_remote = remote("kvmbox", "6.1.0-18-amd64", false, true);
    Run::new(12, "two-hosts", SPEC)
        .platform(
            "xenbox-host",
            "host",
            &with(
                xen_remote.clone(),
                bare(EPYC, "263921340", "6.1.0-18-amd64"),
            ),
        )
        .platform(
            "xen-pvh",
            "xen",
            &with(
                xen_remote,
                vec![
                    ("xen.guest_type", "pvh"),
                    ("xen.nr_cpus", "64"),
                    ("cpu.model", EPYC),
                ],
            ),
        )
        .platform(
            "kvmbox-host",
            "host",
            &with(
                kvm_remote.clone(),
                bare(kvmbox_cpu, kvmbox_mem, "6.1.0-18-amd64"),
            ),
        )
        .platform(
            "kvm",
            "qemu",
            &with(
                kvm_remote,
                vec![("accel", "kvm"), ("kvm.module", "kvm_amd")],
            ),
        )
        .measured("xenbox-host", 100.0, 1000.0)
        .measured("xen-pvh", 150.0, 800.0)
        .measured("kvmbox-host", 200.0, 2000.0)
        .measured("kvm", 220.0, 1800.0)
}

fn summary(r: &Run) -> Value {
    serde_json::from_str(&summary_json(&r.input(), &cfg())).unwrap()
}

/// The summary's result of `platform` on `workload`.
fn result<'a>(v: &'a Value, platform: &str, workload: &str) -> &'a Value {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["platform"] == platform && e["workload"] == workload)
        .unwrap_or_else(|| panic!("no result for {platform} / {workload}"))
}

fn ratio(e: &Value) -> f64 {
    e["ratio"]["point"].as_f64().unwrap()
}

/// The text between a Markdown heading and the next heading of any level.
fn under_heading<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in\n{md}"));
    let body = &md[start + heading.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

#[test]
fn each_machine_is_its_own_baseline() {
    let r = two_machines(XEON, "131960412");
    let v = summary(&r);
    // The run's baseline is still the first host platform.
    assert_eq!(v["baseline"], "xenbox-host");
    let xen = result(&v, "xen-pvh", "syscall");
    assert_eq!(xen["compared_with"], "xenbox-host");
    assert_eq!(xen["machine"], "xenbox");
    assert!(close(ratio(xen), 1.5), "{xen}");
    let kvm = result(&v, "kvm", "syscall");
    assert_eq!(kvm["compared_with"], "kvmbox-host");
    assert_eq!(kvm["machine"], "kvmbox");
    assert!(
        close(ratio(kvm), 1.1),
        "against its own host, not 2.2: {kvm}"
    );
    assert!(close(ratio(result(&v, "kvm", "mem-bandwidth")), 0.9));
    assert!(close(ratio(result(&v, "xen-pvh", "mem-bandwidth")), 0.8));
    assert!(close(kvm["times_worse"].as_f64().unwrap(), 1.1));
    // Both hosts are baselines: ratio 1, no verdict, nothing to compare them with.
    for host in ["xenbox-host", "kvmbox-host"] {
        let h = result(&v, host, "syscall");
        assert_eq!(h["is_baseline"], true, "{h}");
        assert!(
            h["compared_with"].is_null() && h["verdict"].is_null(),
            "{h}"
        );
        assert!(close(ratio(h), 1.0));
    }
    // Two guests on two metrics: four comparisons, Holm-corrected together.
    assert_eq!(v["comparisons"], 4);
    // The standings are against each one's own baseline: kvm is 1.1x behind, not 2.2x.
    let standings = v["classes"].to_string();
    assert!(!standings.contains("kvmbox-host"), "{standings}");

    let out = terminal(&r.input(), &cfg());
    println!("{out}");
    let syscall = table_under(&out, "syscall / latency");
    assert!(syscall[0].contains("baseline") && syscall[0].contains("ratio to its baseline"));
    let kvm = row(&syscall, "kvm");
    assert!(
        kvm.contains("kvmbox-host") && kvm.contains("1.10 [") && kvm.contains("1.10x slower"),
        "{kvm}"
    );
    let xen = row(&syscall, "xen-pvh");
    assert!(
        xen.contains("xenbox-host") && xen.contains("1.50 ["),
        "{xen}"
    );
    assert!(row(&syscall, "kvmbox-host").contains("baseline"));
    assert!(out.contains("Each platform against its own machine's baseline"));
    assert!(out.contains("Kernel paths (syscall): the baselines win. kvm 1.10x slower"));
    // The manifest names each machine's CPU, and no baseline as a hypervisor.
    assert!(out.contains(&format!(
        "Host CPU:       {EPYC} on xenbox; {XEON} on kvmbox"
    )));
    let hypervisors = out.lines().find(|l| l.starts_with("Hypervisors:")).unwrap();
    assert!(!hypervisors.contains("-host"), "{hypervisors}");
    assert!(!out.contains("2.20x"), "no ratio across machines");

    // The CSV marks both baselines.
    let csv = summary_csv(&r.input(), &cfg());
    let baseline_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",true,")).collect();
    assert_eq!(baseline_rows.len(), 4, "{csv}");
}

#[test]
fn platforms_are_grouped_by_machine_in_markdown_and_json() {
    let r = two_machines(XEON, "131960412");
    let md = markdown(&r.input(), &cfg());
    println!("{md}");
    let xenbox = under_heading(&md, "### Machine xenbox\n");
    let kvmbox = under_heading(&md, "### Machine kvmbox\n");
    assert!(xenbox.contains("| xenbox-host | host |") && xenbox.contains("| xen-pvh | xen |"));
    assert!(!xenbox.contains("kvm"), "{xenbox}");
    assert!(kvmbox.contains("| kvmbox-host | host |") && kvmbox.contains("| kvm | qemu |"));
    assert!(xenbox.contains("Baseline of machine xenbox: xenbox-host (driver host)"));
    assert!(kvmbox.contains(
        "Baseline of machine kvmbox: kvmbox-host (driver host); the ratio of kvm is its median"
    ));
    assert!(md.contains(
        "Platforms on different machines are compared through their baselines: each ratio is a platform's median \
         over the median of its own machine's baseline"
    ));
    assert!(!md.contains("This machine (the controller)"));

    let v = summary(&r);
    let machines = v["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 2);
    assert_eq!(machines[0]["name"], "xenbox");
    assert_eq!(
        machines[0]["platforms"],
        serde_json::json!(["xenbox-host", "xen-pvh"])
    );
    assert_eq!(machines[0]["baseline"], "xenbox-host");
    assert_eq!(machines[1]["name"], "kvmbox");
    assert_eq!(
        machines[1]["platforms"],
        serde_json::json!(["kvmbox-host", "kvm"])
    );
    assert_eq!(machines[1]["baseline"], "kvmbox-host");
    assert_eq!(machines[0]["facts"]["cpu_model"], EPYC);
    assert_eq!(machines[0]["facts"]["hypervisor"], "xen dom0");
    assert_eq!(machines[1]["facts"]["hypervisor"], "kvm usable");
    assert_eq!(machines[1]["facts"]["memory"], "125.8 GiB");
    assert_eq!(
        machines[0]["fact_sources"]["cpu_model"],
        "host platform xenbox-host"
    );

    // HTML groups the same way.
    let page = html(&r.input(), &cfg());
    assert!(page.contains("<h3>Machine xenbox</h3>") && page.contains("<h3>Machine kvmbox</h3>"));
    assert!(page.contains("<h3>Machines side by side</h3>"));
}

#[test]
fn machines_side_by_side_warn_about_what_differs() {
    let r = two_machines(XEON, "131960412");
    let out = terminal(&r.input(), &cfg());
    let table = table_under(&out, "Machines side by side");
    assert!(
        table[0].split_whitespace().collect::<Vec<_>>() == ["fact", "xenbox", "kvmbox"],
        "{table:#?}"
    );
    let cpu = row(&table, "CPU");
    assert!(cpu.contains(EPYC) && cpu.contains(XEON), "{cpu}");
    assert!(row(&table, "CPUs").split_whitespace().collect::<Vec<_>>() == ["CPUs", "64", "64"]);
    assert!(
        row(&table, "memory").contains("251.7 GiB") && row(&table, "memory").contains("125.8 GiB")
    );
    assert!(row(&table, "kernel").matches("6.1.0-18-amd64").count() == 2);
    assert!(
        row(&table, "hypervisor").contains("xen dom0")
            && row(&table, "hypervisor").contains("kvm usable")
    );
    // Unknown to every machine: no row.
    assert!(!out.contains("microcode") && !table.iter().any(|l| l.starts_with("SMT")));

    let md = markdown(&r.input(), &cfg());
    assert!(md.contains("| fact | xenbox | kvmbox |"));
    let warning = md
        .lines()
        .find(|l| l.starts_with("> **Warning:** The machines differ in:"))
        .unwrap_or_else(|| panic!("no warning in\n{md}"));
    assert!(
        warning.contains(&format!("CPU model ({EPYC} on xenbox vs {XEON} on kvmbox)")),
        "{warning}"
    );
    assert!(
        warning.contains("memory (251.7 GiB on xenbox vs 125.8 GiB on kvmbox)"),
        "{warning}"
    );
    assert!(
        warning.ends_with("ratios across machines compare different hardware."),
        "{warning}"
    );
    // Same kernel, same CPU count; the hypervisor is what the run compares.
    for same in ["kernel (", "CPUs (", "hypervisor ("] {
        assert!(!warning.contains(same), "{same} in {warning}");
    }

    let v = summary(&r);
    let diffs = v["machine_differences"].as_array().unwrap();
    let facts: Vec<&str> = diffs.iter().map(|d| d["fact"].as_str().unwrap()).collect();
    assert_eq!(facts, ["cpu_model", "memory"]);
    assert_eq!(diffs[0]["values"][1]["machine"], "kvmbox");
    assert_eq!(diffs[0]["values"][1]["value"], XEON);
    assert_eq!(diffs[0]["hardware"], true);
}

#[test]
fn identical_machines_raise_no_warning() {
    // Same CPU, memory within what firmware reserves (0.01 % apart), same kernel.
    let r = two_machines(EPYC, "263900000");
    let md = markdown(&r.input(), &cfg());
    assert!(
        md.contains("### Machines side by side"),
        "the table is still shown"
    );
    assert!(!md.contains("The machines differ"), "{md}");
    assert!(!md.contains("> **Warning:**"), "{md}");
    let v = summary(&r);
    assert!(v["machine_differences"].as_array().unwrap().is_empty());
    // Per-machine ratios do not depend on the hardware matching.
    assert!(close(ratio(result(&v, "kvm", "syscall")), 1.1));
}

#[test]
fn a_machine_without_a_host_platform_falls_back_and_says_so() {
    let xen_remote = remote("xenbox", "6.1.0-18-amd64", true, false);
    let kvm_remote = remote("kvmbox", "6.12.9-amd64", false, true);
    let r = Run::new(12, "two-hosts", SPEC)
        .platform(
            "xenbox-host",
            "host",
            &with(
                xen_remote.clone(),
                bare(EPYC, "263921340", "6.1.0-18-amd64"),
            ),
        )
        .platform(
            "xen-pvh",
            "xen",
            &with(xen_remote, vec![("xen.guest_type", "pvh")]),
        )
        .platform(
            "kvm",
            "qemu",
            &with(kvm_remote, vec![("accel", "kvm"), ("cpu.model", XEON)]),
        )
        .measured("xenbox-host", 100.0, 1000.0)
        .measured("xen-pvh", 150.0, 800.0)
        .measured("kvm", 220.0, 1800.0);
    let v = summary(&r);
    let kvm = result(&v, "kvm", "syscall");
    assert_eq!(kvm["compared_with"], "xenbox-host");
    assert!(close(ratio(kvm), 2.2), "the run's baseline: {kvm}");
    let machines = v["machines"].as_array().unwrap();
    assert!(machines[1]["baseline"].is_null());
    assert_eq!(machines[1]["compared_with"], "xenbox-host");
    // Its facts: the executor's check, else the guest's view (marked as such).
    assert_eq!(machines[1]["facts"]["kernel"], "6.12.9-amd64");
    assert_eq!(machines[1]["fact_sources"]["kernel"], "executor check");
    assert_eq!(machines[1]["facts"]["cpu_model"], XEON);
    assert_eq!(machines[1]["fact_sources"]["cpu_model"], "platform kvm");
    assert_eq!(machines[1]["facts"]["cpus"], "64");
    assert!(machines[1]["facts"].get("memory").is_none());

    let md = markdown(&r.input(), &cfg());
    println!("{md}");
    let kvmbox = under_heading(&md, "### Machine kvmbox\n");
    assert!(
        kvmbox.contains(
            "On machine kvmbox, platform kvm falls back to the run's baseline xenbox-host on machine xenbox: \
             machine kvmbox has no platform with driver \"host\", so its ratios include the difference between \
             machine kvmbox and machine xenbox."
        ),
        "{kvmbox}"
    );
    assert!(
        kvmbox.contains("| kvm | qemu | xenbox-host (fallback: another machine's) |"),
        "{kvmbox}"
    );
    assert!(md.contains(
        "kvm ran on machine kvmbox, which has no host platform: it is compared with xenbox-host on machine \
         xenbox, so its ratios mix the hypervisor's cost with the difference between the machines. Add a \
         \\`driver = \"host\"\\` platform with \\`host = \"kvmbox\"\\` to the experiment file."
    ));
    assert!(md.contains(&format!(
        "**Host CPU:** {EPYC} on xenbox; {XEON} (from platform kvm) on kvmbox"
    )));
    // One baseline only: the results read as they always did.
    assert!(md.contains("ratio to xenbox-host"));
    assert!(!md.contains("compared through their baselines"));
    // The side-by-side table: memory unknown on kvmbox, the CPU model from the guest.
    assert!(
        md.contains(&format!(
            "| CPU model | {EPYC} | {XEON} (from platform kvm) |"
        )),
        "{md}"
    );
    assert!(md.contains("| memory | 251.7 GiB | - |"), "{md}");
    let warning = md
        .lines()
        .find(|l| l.starts_with("> **Warning:** The machines differ in:"))
        .unwrap();
    assert!(
        warning.contains("kernel (6.1.0-18-amd64 on xenbox vs 6.12.9-amd64 on kvmbox)"),
        "{warning}"
    );
    assert!(
        !warning.contains("memory"),
        "unknown is not a difference: {warning}"
    );
}

#[test]
fn the_controllers_machine_is_this_machine() {
    let spec = SPEC.replace("host = \"xenbox\"\n", "");
    let r = Run::new(12, "two-hosts", &spec)
        .platform("host", "host", &bare(EPYC, "263921340", "6.1.0-18-amd64"))
        .platform("xen-pvh", "xen", &[("xen.guest_type", "pvh")])
        .platform(
            "kvmbox-host",
            "host",
            &with(
                remote("kvmbox", "6.1.0-18-amd64", false, true),
                bare(EPYC, "263921340", "6.1.0-18-amd64"),
            ),
        )
        .platform(
            "kvm",
            "qemu",
            &with(
                remote("kvmbox", "6.1.0-18-amd64", false, true),
                vec![("accel", "kvm")],
            ),
        )
        .measured("host", 100.0, 1000.0)
        .measured("xen-pvh", 150.0, 800.0)
        .measured("kvmbox-host", 200.0, 2000.0)
        .measured("kvm", 220.0, 1800.0);
    let v = summary(&r);
    assert_eq!(v["machines"][0]["name"], LOCAL_MACHINE);
    assert_eq!(LOCAL_MACHINE, "this machine");
    assert_eq!(result(&v, "xen-pvh", "syscall")["machine"], LOCAL_MACHINE);
    assert_eq!(v["machines"][0]["facts"]["hypervisor"], "xen dom0");
    assert!(close(ratio(result(&v, "kvm", "syscall")), 1.1));
    assert!(close(ratio(result(&v, "xen-pvh", "syscall")), 1.5));
    let out = terminal(&r.input(), &cfg());
    assert!(out.contains("This machine (the controller)") && out.contains("Machine kvmbox"));
    assert!(out.contains("Baseline of this machine: host (driver host)"));
    let table = table_under(&out, "Machines side by side");
    assert!(table[0].contains("this machine") && table[0].contains("kvmbox"));
    assert!(
        !out.contains("WARNING: The machines differ"),
        "identical hardware"
    );
}

#[test]
fn one_machine_reads_as_before() {
    // Every platform on the controller's machine: no grouping, no side-by-side table.
    let spec = SPEC
        .replace("host = \"xenbox\"\n", "")
        .replace("host = \"kvmbox\"\n", "");
    let r = Run::new(12, "two-hosts", &spec)
        .platform("host", "host", &bare(EPYC, "263921340", "6.1.0-18-amd64"))
        .platform("kvm", "qemu", &[("accel", "kvm")])
        .measured("host", 100.0, 1000.0)
        .measured("kvm", 220.0, 1800.0);
    let out = terminal(&r.input(), &cfg());
    assert!(
        out.contains("Baseline: host (driver host); ratios are platform median / baseline median.")
    );
    for absent in [
        "Machine",
        "machine's baseline",
        "compared with",
        "side by side",
        "WARNING",
    ] {
        assert!(!out.contains(absent), "{absent:?} in\n{out}");
    }
    let v = summary(&r);
    assert_eq!(v["machines"][0]["name"], LOCAL_MACHINE);
    assert_eq!(v["machines"][0]["baseline"], "host");
    assert!(v["machine_differences"].as_array().unwrap().is_empty());
    assert_eq!(result(&v, "kvm", "syscall")["compared_with"], "host");
    assert!(close(ratio(result(&v, "kvm", "syscall")), 2.2));

    // All on one remote machine: grouped under its name, one baseline, nothing side by side.
    let r = Run::new(12, "two-hosts", SPEC)
        .platform(
            "xenbox-host",
            "host",
            &with(
                remote("xenbox", "6.1.0-18-amd64", true, false),
                bare(EPYC, "263921340", "6.1.0-18-amd64"),
            ),
        )
        .platform(
            "xen-pvh",
            "xen",
            &remote("xenbox", "6.1.0-18-amd64", true, false),
        )
        .measured("xenbox-host", 100.0, 1000.0)
        .measured("xen-pvh", 150.0, 800.0);
    let out = terminal(&r.input(), &cfg());
    assert!(out.contains("Machine xenbox"));
    assert!(out.contains(
        "Baseline: xenbox-host (driver host); ratios are platform median / baseline median."
    ));
    assert!(!out.contains("side by side") && !out.contains("compared with"));
    assert!(close(
        ratio(result(&summary(&r), "xen-pvh", "syscall")),
        1.5
    ));
}

/// hvbench's own overhead per machine: the wall time of its trials over its measured windows.
#[test]
fn each_machines_overhead_is_stated() {
    let mut r = two_machines("AMD EPYC 7B13", "263000000");
    let t0 = 1_795_000_000_000;
    // xenbox's trials span 8 s; kvmbox's 2 s. Each machine measured 2 platforms x 2 metrics x
    // 10 windows of 1 ms: 40 ms.
    for (i, (platform, start, end)) in [
        ("xenbox-host", 0, 3_000),
        ("xen-pvh", 3_000, 8_000),
        ("kvmbox-host", 0, 1_000),
        ("kvm", 1_000, 2_000),
    ]
    .into_iter()
    .enumerate()
    {
        r.trials.push(TrialRow {
            id: i as i64 + 1,
            platform: platform.into(),
            round: 0,
            guest: "guest0".into(),
            scenario: "baseline".into(),
            status: "ok".into(),
            reason: None,
            started_ms: t0 + start,
            finished_ms: Some(t0 + end),
        });
    }
    let v = summary(&r);
    let overhead = |m: &str| {
        v["machines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == m)
            .unwrap()["overhead"]
            .clone()
    };
    assert!(close(
        overhead("xenbox")["factor"].as_f64().unwrap(),
        8.0 / 0.04
    ));
    assert!(close(
        overhead("kvmbox")["factor"].as_f64().unwrap(),
        2.0 / 0.04
    ));
    assert!(close(
        overhead("kvmbox")["measured_s"].as_f64().unwrap(),
        0.04
    ));
    let md = markdown(&r.input(), &cfg());
    assert!(
        md.contains("200.0x on machine xenbox (8.0 s of trials for 0.0 s of measurement windows)"),
        "{md}"
    );
    assert!(md.contains("50.0x on machine kvmbox"), "{md}");
}
