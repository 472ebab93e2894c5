//! Causes about the hardware under a hypervisor cite the machine that runs it: a lab platform's
//! lab host, a `[[host]]`'s machine, a dual-boot platform's boot; only a platform on the
//! baseline's own machine borrows the baseline's `cpu.flags`. And the emulated-TSC cause rests
//! on the platform's own facts or counters.

use super::tests::{only, Lab};
use super::*;
use crate::counters::{ExitProfile, PerOp};
use hvbench_proto::Better::{Higher, Lower};

/// A host without SVM/NPT (and without VMX/EPT), and `guest` (with `facts`) whose fork costs
/// 4x the host's at CPU parity: kernel-path-cost fires on fork-exit.
fn fork_heavy(guest: &str, facts: &[(&str, &str)]) -> Lab {
    Lab::new()
        .platform("host", &[("cpu.flags", "fpu vme de pse tsc msr")])
        .platform(guest, facts)
        .both(guest, "cpu-int", "throughput", Higher, 1000.0, 1000.0)
        .both(guest, "fork-exit", "latency", Lower, 100_000.0, 400_000.0)
}

fn cites(a: &Anomaly, platform: &str, key: &str) -> bool {
    a.causes
        .iter()
        .flat_map(|c| &c.facts)
        .any(|f| f.platform == platform && f.key == key)
}

#[test]
fn a_lab_xen_pvh_with_hap_is_not_explained_by_the_drivers_cpu_flags() {
    let found = fork_heavy(
        "xen-pvh",
        &[
            ("accel", "xen"),
            ("xen.guest_type", "pvh"),
            ("lab", "xen"),
            ("host.emulated", "true"),
            (
                "xen.virt_caps",
                "pv hvm hvm_directio pv_directio hap shadow gnttab-v1 gnttab-v2",
            ),
        ],
    )
    .detect();
    let a = only(&found, "kernel-path-cost");
    let text = a.explanation();
    assert!(!text.contains("neither EPT nor NPT"), "{text}");
    assert!(!cites(a, "host", "cpu.flags"), "{text}");
    assert!(
        text.contains("emulated lab host"),
        "the lab still explains: {text}"
    );
    assert!(!text.contains("record whether"), "hap is recorded: {text}");
}

#[test]
fn a_lab_xen_without_hap_cites_its_own_virt_caps() {
    let found = fork_heavy(
        "xen-pvh",
        &[
            ("accel", "xen"),
            ("xen.guest_type", "pvh"),
            ("lab", "xen"),
            ("xen.virt_caps", "pv hvm shadow"),
        ],
    )
    .detect();
    let a = only(&found, "kernel-path-cost");
    let text = a.explanation();
    println!("lab xen without hap: {text}");
    assert!(
        text.contains("no hardware-assisted paging")
            && text.contains("xen.virt_caps=pv hvm shadow on xen-pvh"),
        "{text}"
    );
    assert!(!cites(a, "host", "cpu.flags"), "{text}");
}

#[test]
fn a_lab_kvm_without_facts_of_its_own_says_its_paging_is_unknown() {
    let found = fork_heavy("kvm", &[("accel", "kvm"), ("lab", "kvm")]).detect();
    let a = only(&found, "kernel-path-cost");
    let text = a.explanation();
    println!("lab kvm: {text}");
    assert!(!text.contains("neither EPT nor NPT"), "{text}");
    assert!(!cites(a, "host", "cpu.flags"), "{text}");
    assert!(
        a.next.iter().any(
            |n| n.contains("record whether the machine that runs kvm's hypervisor")
                && n.contains("kvm runs in hvbench's kvm lab host")
                && n.contains("host.cpu.virt_flags")
        ),
        "{a:#?}"
    );
    assert!(text.contains("; next: record whether"), "{text}");
}

#[test]
fn a_platform_on_another_machine_does_not_borrow_the_baselines_flags() {
    let found = fork_heavy("kvm", &[("accel", "kvm"), ("machine", "kvmbox")]).detect();
    let a = only(&found, "kernel-path-cost");
    assert!(a.causes.is_empty(), "{a:#?}");
    let text = a.explanation();
    assert!(text.starts_with("cause unknown"), "{text}");
    assert!(
        text.contains("kvm runs on machine kvmbox, host ran on this machine"),
        "{text}"
    );
    // Its own machine's flags, as the qemu driver records them there, do explain it.
    let found = fork_heavy(
        "kvm",
        &[
            ("accel", "kvm"),
            ("machine", "kvmbox"),
            ("host.cpu.virt_flags", "vmx vpid"),
        ],
    )
    .detect();
    let a = only(&found, "kernel-path-cost");
    assert!(cites(a, "kvm", "host.cpu.virt_flags"), "{a:#?}");
    assert!(a.explanation().contains("neither EPT nor NPT"));
}

#[test]
fn a_dual_boot_platform_in_another_boot_does_not_borrow_the_baselines_flags() {
    let found = Lab::new()
        .platform(
            "host",
            &[
                ("cpu.flags", "fpu vme"),
                ("machine", "dual"),
                ("boot.entry", "kvm"),
            ],
        )
        .platform(
            "kvm",
            &[("accel", "kvm"), ("machine", "dual"), ("boot.entry", "xen")],
        )
        .both("kvm", "cpu-int", "throughput", Higher, 1000.0, 1000.0)
        .both("kvm", "fork-exit", "latency", Lower, 100_000.0, 400_000.0)
        .detect();
    let a = only(&found, "kernel-path-cost");
    assert!(!cites(a, "host", "cpu.flags"), "{a:#?}");
    assert!(
        a.next.iter().any(|n| n.contains("boot xen")),
        "{:#?}",
        a.next
    );
}

#[test]
fn a_local_kvm_on_a_host_without_ept_or_npt_is_still_explained() {
    let found = fork_heavy("kvm", &[("accel", "kvm")]).detect();
    let a = only(&found, "kernel-path-cost");
    let text = a.explanation();
    assert!(
        text.contains("neither EPT nor NPT")
            && text.contains("cpu.flags=fpu vme de pse tsc msr on host"),
        "{text}"
    );
    assert!(a.next.is_empty(), "{:#?}", a.next);
    // Its own record of the host CPU comes first.
    let found = fork_heavy("kvm", &[("accel", "kvm"), ("host.cpu.virt_flags", "none")]).detect();
    let a = only(&found, "kernel-path-cost");
    assert!(
        a.explanation().contains("host.cpu.virt_flags=none on kvm"),
        "{}",
        a.explanation()
    );
}

#[test]
fn the_tlb_rule_reads_the_lab_hosts_paging_not_the_drivers() {
    let curve = |guest: &str, facts: &[(&str, &str)]| {
        let mut lab = Lab::new()
            .platform(
                "host",
                &[
                    ("cpu.flags", "fpu vme"),
                    ("thp.enabled", "always madvise [never]"),
                ],
            )
            .platform(guest, facts);
        for (size, host, g) in [
            ("16KiB", 1.2, 1.2),
            ("256KiB", 4.0, 4.1),
            ("4MiB", 12.0, 12.5),
            ("64MiB", 80.0, 150.0),
            ("1GiB", 100.0, 240.0),
        ] {
            lab = lab.both(
                guest,
                "mem-latency",
                &format!("latency@{size}"),
                Lower,
                host,
                g,
            );
        }
        lab.detect()
    };
    let found = curve(
        "xen-pvh",
        &[
            ("xen.guest_type", "pvh"),
            ("lab", "xen"),
            ("xen.virt_caps", "pv hvm hap"),
        ],
    );
    let a = only(&found, "tlb-nested-paging");
    assert!(!cites(a, "host", "cpu.flags"), "{a:#?}");
    assert!(
        !cites(a, "host", "thp.enabled"),
        "the driver host's THP does not back a lab guest's memory: {a:#?}"
    );
    let found = curve("kvm", &[("accel", "kvm")]);
    let a = only(&found, "tlb-nested-paging");
    assert!(
        cites(a, "host", "cpu.flags") && cites(a, "host", "thp.enabled"),
        "{a:#?}"
    );
}

fn rdtsc_exits(platform: &str, per_call: f64) -> ExitProfile {
    let op = |key: &str, median: f64| PerOp {
        key: key.to_string(),
        source: "xen.trace".to_string(),
        median,
        ci: None,
        n: 8,
    };
    ExitProfile {
        platform: platform.to_string(),
        scenario: "baseline".to_string(),
        guest: "guest0".to_string(),
        workload: "clock-gettime".to_string(),
        metric: "latency".to_string(),
        windows: 8,
        entries: Some(op("entries", per_call)),
        reasons: vec![op("exit.rdtsc", per_call)],
        steal_fraction: None,
        other: Vec::new(),
        sources: vec!["xen.trace".to_string()],
    }
}

/// Host and `xen-pvh` (with `facts`) on clock-gettime, the guest 20x slower.
fn slow_clock(facts: &[(&str, &str)]) -> Lab {
    let mut all = vec![("xen.guest_type", "pvh")];
    all.extend_from_slice(facts);
    Lab::new()
        .platform("host", &[("clocksource", "tsc")])
        .platform("xen-pvh", &all)
        .both("xen-pvh", "clock-gettime", "latency", Lower, 20.0, 400.0)
}

fn tsc(found: &[Anomaly]) -> Option<&Anomaly> {
    found.iter().find(|a| a.rule == "tsc-emulation")
}

#[test]
fn an_emulated_tsc_is_said_only_when_the_platforms_facts_show_it() {
    // `default`: Xen decides by the hardware; nothing recorded says which.
    let found = slow_clock(&[("xen.tsc_mode", "default")]).detect();
    assert!(tsc(&found).is_none(), "{found:#?}");
    // What Xen did, as the lab records it, overrides the mode.
    let found = slow_clock(&[("xen.tsc_mode", "default"), ("xen.vtsc", "native")]).detect();
    assert!(tsc(&found).is_none(), "{found:#?}");
    let found = slow_clock(&[("xen.tsc_mode", "default"), ("xen.vtsc", "emulated")]).detect();
    let a = tsc(&found).expect("xen.vtsc says emulated");
    let text = a.explanation();
    assert!(
        text.contains("guest TSC reads are emulated")
            && text.contains("xen.vtsc=emulated on xen-pvh")
            && text.contains("xen.tsc_mode=default on xen-pvh"),
        "{text}"
    );
    // The configured mode alone.
    let found = slow_clock(&[("xen.tsc_mode.configured", "always_emulate")]).detect();
    let a = tsc(&found).expect("configured to emulate");
    assert!(
        a.explanation()
            .contains("xen.tsc_mode.configured=always_emulate on xen-pvh"),
        "{}",
        a.explanation()
    );
    // Another platform's facts never speak for this one.
    let found = Lab::new()
        .platform("host", &[("clocksource", "tsc"), ("xen.vtsc", "emulated")])
        .platform("xen-pvh", &[("xen.guest_type", "pvh")])
        .both("xen-pvh", "clock-gettime", "latency", Lower, 20.0, 400.0)
        .detect();
    assert!(tsc(&found).is_none(), "{found:#?}");
}

#[test]
fn counted_rdtsc_exits_on_a_native_tsc_are_not_called_emulation() {
    let found = slow_clock(&[("xen.vtsc", "native")])
        .profile(rdtsc_exits("xen-pvh", 2.0))
        .detect();
    let a = tsc(&found).expect("counted");
    let text = a.explanation();
    assert!(!text.contains("guest TSC reads are emulated"), "{text}");
    assert!(
        text.contains("2.0 rdtsc/rdtscp exits per clock-gettime call")
            && text.contains("xen.vtsc says the TSC is not emulated")
            && text.contains("counter: xen.trace exit.rdtsc on xen-pvh"),
        "{text}"
    );
}
