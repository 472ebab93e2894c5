//! The rules on hand-built evidence: a known cause must yield its anomaly and name its fact;
//! a rule whose inputs are absent must stay silent.

use super::*;
use hvbench_proto::Better::{Higher, Lower};
use std::collections::BTreeMap;

/// `n` values around `center`, spread ±1 % deterministically.
pub(super) fn around(center: f64) -> Vec<f64> {
    (0..8)
        .map(|i| center * (1.0 + ((i * 7) % 11) as f64 / 500.0 - 0.01))
        .collect()
}

/// Hand-built evidence: platforms with facts, series, and counter profiles.
pub(super) struct Lab {
    platforms: Vec<(String, BTreeMap<String, String>)>,
    series: Vec<(String, String, String, Better, Vec<f64>)>,
    pub(super) profiles: Vec<crate::counters::ExitProfile>,
}

impl Lab {
    pub(super) fn new() -> Lab {
        Lab {
            platforms: Vec::new(),
            series: Vec::new(),
            profiles: Vec::new(),
        }
    }

    /// A counter profile beside the run's windows.
    pub(super) fn profile(mut self, p: crate::counters::ExitProfile) -> Lab {
        self.profiles.push(p);
        self
    }

    pub(super) fn platform(mut self, name: &str, facts: &[(&str, &str)]) -> Lab {
        self.platforms.push((
            name.into(),
            facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        self
    }

    pub(super) fn series(
        mut self,
        platform: &str,
        workload: &str,
        metric: &str,
        d: Better,
        v: Vec<f64>,
    ) -> Lab {
        self.series
            .push((platform.into(), workload.into(), metric.into(), d, v));
        self
    }

    /// The same metric on host (at `host`) and on `guest` (at `guest_value`).
    pub(super) fn both(
        self,
        guest: &str,
        workload: &str,
        metric: &str,
        d: Better,
        host: f64,
        guest_value: f64,
    ) -> Lab {
        self.series("host", workload, metric, d, around(host))
            .series(guest, workload, metric, d, around(guest_value))
    }

    pub(super) fn detect(&self) -> Vec<Anomaly> {
        let platforms: Vec<PlatformFacts> = self
            .platforms
            .iter()
            .map(|(name, facts)| PlatformFacts { name, facts })
            .collect();
        let series: Vec<Series> = self
            .series
            .iter()
            .map(|(p, w, m, d, v)| Series {
                platform: p,
                workload: w,
                metric: m,
                unit: "u",
                direction: Some(*d),
                values: v,
            })
            .collect();
        let cfg = AnomalyConfig {
            bootstrap: BootstrapConfig {
                resamples: 1_000,
                ..BootstrapConfig::default()
            },
            ..AnomalyConfig::default()
        };
        detect_anomalies(
            &Evidence {
                baseline: "host",
                platforms: &platforms,
                series: &series,
                counters: &self.profiles,
            },
            &cfg,
        )
    }
}

pub(super) fn only<'a>(found: &'a [Anomaly], rule: &str) -> &'a Anomaly {
    let hits: Vec<&Anomaly> = found.iter().filter(|a| a.rule == rule).collect();
    assert_eq!(hits.len(), 1, "{rule}: {found:#?}");
    hits[0]
}

#[test]
fn guest_beating_the_host_on_disk_is_explained_by_writeback_caching() {
    let found = Lab::new()
        .platform("host", &[("mem.total_kib", "16384000")])
        .platform(
            "kvm",
            &[
                ("accel", "kvm"),
                ("qemu.disk_cache", "writeback"),
                ("plan.disk-rand-read.size_mib", "256"),
                ("plan.disk-rand-read.mode", "direct"),
            ],
        )
        .both("kvm", "disk-rand-read", "iops", Higher, 20_000.0, 90_000.0)
        .both("kvm", "disk-seq-read", "bandwidth", Higher, 500.0, 450.0)
        .detect();
    let a = only(&found, "guest-faster-io");
    assert_eq!(a.platform, "kvm");
    assert_eq!(
        a.workloads,
        ["disk-rand-read"],
        "the slower sequential read is no anomaly"
    );
    assert!(a.seen.contains("disk-rand-read / iops 4.50x"), "{}", a.seen);
    let text = a.explanation();
    assert!(text.contains("cache=writeback"), "{text}");
    assert!(text.contains("qemu.disk_cache=writeback on kvm"), "{text}");
    assert!(
        !text.contains("buffered"),
        "mode=direct is no cause: {text}"
    );
    assert!(
        text.contains("plan.disk-rand-read.size_mib=256 on kvm")
            && text.contains("mem.total_kib=16384000 on host"),
        "{text}"
    );
}

#[test]
fn buffered_disk_io_is_a_cause_too() {
    let found = Lab::new()
        .platform("host", &[])
        .platform("xen", &[("plan.disk-seq-read.mode", "buffered")])
        .both("xen", "disk-seq-read", "bandwidth", Higher, 500.0, 2000.0)
        .detect();
    let text = only(&found, "guest-faster-io").explanation();
    assert!(
        text.contains("plan.disk-seq-read.mode=buffered on xen"),
        "{text}"
    );
}

#[test]
fn clock_gettime_twenty_times_the_host_is_explained_by_hpet() {
    let found = Lab::new()
        .platform("host", &[("clocksource", "tsc")])
        .platform("kvm", &[("accel", "kvm"), ("clocksource", "hpet")])
        .both("kvm", "clock-gettime", "latency", Lower, 20.0, 400.0)
        .detect();
    let a = only(&found, "slow-time-calls");
    assert!(a.seen.contains("20.0x"), "{}", a.seen);
    assert!(a
        .seen
        .contains("clocksource hpet in the guest, tsc on the host"));
    let text = a.explanation();
    assert!(
        text.contains("clocksource=hpet on kvm") && text.contains("no vDSO fast path"),
        "{text}"
    );
}

#[test]
fn a_rule_without_its_facts_says_cause_unknown() {
    let found = Lab::new()
        .platform("host", &[])
        .platform("kvm", &[("clocksource", "kvm-clock")])
        .both("kvm", "clock-gettime", "latency", Lower, 20.0, 400.0)
        .detect();
    let a = only(&found, "slow-time-calls");
    assert!(a.causes.is_empty());
    assert!(a.explanation().starts_with("cause unknown"));
}

#[test]
fn no_inputs_no_findings() {
    // A run with only CPU and memory bandwidth, all level, quiet: nothing fires.
    let found = Lab::new()
        .platform("host", &[("cpu.governor", "powersave")])
        .platform(
            "kvm",
            &[
                ("accel", "kvm"),
                ("qemu.disk_cache", "writeback"),
                ("clocksource", "hpet"),
            ],
        )
        .both("kvm", "cpu-int", "throughput", Higher, 1000.0, 990.0)
        .both(
            "kvm",
            "mem-bandwidth",
            "bandwidth",
            Higher,
            20_000.0,
            19_000.0,
        )
        .detect();
    assert!(found.is_empty(), "{found:#?}");
    // No baseline series for the guest's metric: no ratio, no finding.
    let found = Lab::new()
        .platform("host", &[])
        .platform("kvm", &[("clocksource", "hpet")])
        .series("kvm", "clock-gettime", "latency", Lower, around(400.0))
        .detect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn syscall_cost_beyond_cpu_cost_points_at_pv() {
    let found = Lab::new()
        .platform("host", &[("cpu.flags", "fpu vme svm npt")])
        .platform("xen-pv", &[("xen.guest_type", "pv")])
        .both("xen-pv", "cpu-int", "throughput", Higher, 1000.0, 980.0)
        .both("xen-pv", "syscall", "latency", Lower, 50.0, 400.0)
        .both(
            "xen-pv",
            "fork-exit",
            "latency",
            Lower,
            100_000.0,
            150_000.0,
        )
        .detect();
    let a = only(&found, "kernel-path-cost");
    assert_eq!(a.workloads, ["syscall"], "fork at 1.5x is within 2x of CPU");
    assert!(a.explanation().contains("xen.guest_type=pv on xen-pv"));
    assert!(!a.explanation().contains("EPT"), "the host has NPT");
}

#[test]
fn fork_cost_without_ept_or_npt_points_at_shadow_paging() {
    let found = Lab::new()
        .platform("host", &[("cpu.flags", "fpu vme vmx")])
        .platform("kvm", &[("accel", "kvm")])
        .both("kvm", "cpu-int", "throughput", Higher, 1000.0, 1000.0)
        .both("kvm", "fork-exit", "latency", Lower, 100_000.0, 400_000.0)
        .detect();
    let text = only(&found, "kernel-path-cost").explanation();
    assert!(
        text.contains("neither EPT nor NPT") && text.contains("cpu.flags=fpu vme vmx on host"),
        "{text}"
    );
}

#[test]
fn tcg_explains_expensive_kernel_paths() {
    let found = Lab::new()
        .platform("host", &[])
        .platform("qemu", &[("accel", "tcg")])
        .both("qemu", "cpu-int", "throughput", Higher, 1000.0, 900.0)
        .both("qemu", "syscall", "latency", Lower, 100.0, 500.0)
        .detect();
    assert!(only(&found, "kernel-path-cost")
        .explanation()
        .contains("accel=tcg on qemu"));
}

#[test]
fn the_lab_explains_expensive_kernel_paths() {
    let found = Lab::new()
        .platform("host", &[])
        .platform("kvm", &[("accel", "kvm"), ("lab", "kvm")])
        .both("kvm", "cpu-int", "throughput", Higher, 1000.0, 900.0)
        .both("kvm", "syscall", "latency", Lower, 100.0, 500.0)
        .detect();
    let text = only(&found, "kernel-path-cost").explanation();
    assert!(
        text.contains("emulated lab host") && text.contains("lab=kvm on kvm"),
        "{text}"
    );
}

#[test]
fn latency_curve_diverging_beyond_the_tlb_points_at_huge_pages() {
    let mut lab = Lab::new()
        .platform("host", &[("thp.enabled", "always [madvise] never")])
        .platform(
            "kvm",
            &[("accel", "kvm"), ("thp.enabled", "always madvise [never]")],
        );
    for (size, host, guest) in [
        ("16KiB", 1.2, 1.2),
        ("256KiB", 4.0, 4.1),
        ("4MiB", 12.0, 12.5),
        ("64MiB", 80.0, 150.0),
        ("1GiB", 100.0, 240.0),
    ] {
        lab = lab.both(
            "kvm",
            "mem-latency",
            &format!("latency@{size}"),
            Lower,
            host,
            guest,
        );
    }
    let found = lab.detect();
    let a = only(&found, "tlb-nested-paging");
    assert!(
        a.seen.contains("at 1 GiB") && a.seen.contains("2.40x"),
        "{}",
        a.seen
    );
    let text = a.explanation();
    assert!(
        text.contains("thp.enabled=always madvise [never] on kvm"),
        "{text}"
    );
    assert!(
        text.contains("thp.enabled=always [madvise] never on host"),
        "{text}"
    );
}

#[test]
fn scaling_collapse_with_overcommit() {
    let found = Lab::new()
        .platform("host", &[("cpu.count", "2")])
        .platform(
            "kvm",
            &[
                ("accel", "kvm"),
                ("guest.vcpus", "4"),
                ("qemu.pinning", "none"),
            ],
        )
        .both("kvm", "cpu-int", "throughput@1vcpu", Higher, 1000.0, 980.0)
        .both("kvm", "cpu-int", "throughput@4vcpu", Higher, 2000.0, 700.0)
        .detect();
    let text = only(&found, "smp-scaling-collapse").explanation();
    assert!(
        text.contains("overcommit: 4 vCPUs on 2 host CPUs"),
        "{text}"
    );
    assert!(text.contains("qemu.pinning=none on kvm"), "{text}");
}

#[test]
fn bimodal_samples_point_at_the_governor() {
    let bimodal = vec![100.0, 101.0, 180.0, 99.5, 181.0, 100.5, 179.0, 100.2];
    let found = Lab::new()
        .platform("host", &[("cpu.governor", "schedutil")])
        .platform("kvm", &[("accel", "kvm")])
        .series("host", "syscall", "latency", Lower, around(100.0))
        .series("kvm", "syscall", "latency", Lower, bimodal)
        .detect();
    let a = only(&found, "noisy");
    assert_eq!(a.platform, "kvm");
    assert!(
        a.seen
            .contains("two groups (5 values near 100.2, 3 near 180.0 u)"),
        "{}",
        a.seen
    );
    assert!(a.explanation().contains("cpu.governor=schedutil on host"));
}

#[test]
fn request_latency_far_worse_than_bulk_points_at_the_device_model() {
    let found = Lab::new()
        .platform("host", &[])
        .platform(
            "kvm",
            &[
                ("accel", "kvm"),
                ("qemu.nic", "e1000"),
                ("net.vhost", "off: cannot open /dev/vhost-net"),
            ],
        )
        .both("kvm", "net-bulk", "throughput", Higher, 10_000.0, 9_000.0)
        .both("kvm", "net-rr", "latency", Lower, 20.0, 90.0)
        .detect();
    let text = only(&found, "io-latency-vs-bulk").explanation();
    assert!(
        text.contains("qemu.nic=e1000 on kvm")
            && text.contains("net.vhost=off: cannot open /dev/vhost-net on kvm"),
        "{text}"
    );
}

#[test]
fn request_latency_on_slirp_points_at_the_user_network() {
    let found = Lab::new()
        .platform("host", &[])
        .platform(
            "kvm",
            &[
                ("accel", "kvm"),
                ("net.backend", "slirp"),
                ("net.vhost", "on"),
            ],
        )
        .both("kvm", "net-bulk", "throughput", Higher, 10_000.0, 9_000.0)
        .both("kvm", "net-rr", "latency", Lower, 20.0, 90.0)
        .detect();
    let text = only(&found, "io-latency-vs-bulk").explanation();
    assert!(
        text.contains("QEMU's user network (slirp)") && text.contains("net.backend=slirp on kvm"),
        "{text}"
    );
    assert!(!text.contains("without vhost"), "{text}");
}

#[test]
fn metric_name_parsing() {
    use super::rules::{parallelism, working_set_bytes};
    assert_eq!(working_set_bytes("latency@64KiB"), Some(64 << 10));
    assert_eq!(working_set_bytes("latency@1GiB"), Some(1 << 30));
    assert_eq!(working_set_bytes("latency@512"), Some(512));
    assert_eq!(working_set_bytes("latency"), None);
    assert_eq!(working_set_bytes("latency@4vcpu"), None);
    assert_eq!(parallelism("throughput@4vcpu"), Some(("throughput", 4)));
    assert_eq!(parallelism("ops@16threads"), Some(("ops", 16)));
    assert_eq!(parallelism("latency@64KiB"), None);
}

#[test]
fn every_rule_is_documented() {
    let ids: std::collections::BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), RULES.len());
    assert!(RULES
        .iter()
        .all(|r| !r.title.is_empty() && !r.detects.is_empty()));
}
