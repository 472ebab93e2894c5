//! Unit tests of [`summarize_counters`]: per-operation figures on hand-made windows, the
//! entries and their sources, steal time, the cost of counting, and what is left out.

use super::*;

const MS: u64 = 1_000_000;

fn cfg() -> BootstrapConfig {
    BootstrapConfig {
        resamples: 500,
        ..BootstrapConfig::default()
    }
}

/// A measured window of `platform`'s guest0 in scenario baseline: 1000 iterations in 1 ms.
fn sample(platform: &'static str, workload: &'static str, index: u32) -> WindowSample<'static> {
    WindowSample {
        platform,
        scenario: "baseline",
        guest: "guest0",
        round: 0,
        workload,
        metric: "latency",
        index,
        warmup: false,
        value: 1000.0,
        better: "lower",
        iterations: 1000,
        elapsed_ns: MS,
    }
}

fn counter(
    s: &WindowSample<'static>,
    source: &'static str,
    key: &'static str,
    value: f64,
    span_ns: u64,
) -> WindowCounter<'static> {
    WindowCounter {
        platform: s.platform,
        scenario: s.scenario,
        guest: s.guest,
        round: s.round,
        workload: s.workload,
        metric: s.metric,
        index: s.index,
        source,
        key,
        value,
        span_ns,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn find<'p>(ops: &'p [PerOp], key: &str) -> &'p PerOp {
    ops.iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no {key} in {ops:?}"))
}

#[test]
fn per_operation_figures_are_exact() {
    let samples = [sample("kvm", "cpuid", 1), sample("kvm", "cpuid", 2)];
    let mut counters = Vec::new();
    for s in &samples {
        counters.push(counter(s, "kvm.exits", "exit.cpuid", 2000.0, 2 * MS));
        counters.push(counter(s, "kvm.exits", "exit.io", 4.0, 2 * MS));
        counters.push(counter(s, "kvm.stats", "exits", 2004.0, 2 * MS));
        counters.push(counter(
            s,
            "host.threads",
            "vcpu_cpu_ns",
            2.0 * MS as f64,
            2 * MS,
        ));
    }
    let sum = summarize_counters(&samples, &counters, &cfg());
    assert_eq!(sum.profiles.len(), 1);
    let p = &sum.profiles[0];
    assert_eq!(
        (p.platform.as_str(), p.scenario.as_str(), p.guest.as_str()),
        ("kvm", "baseline", "guest0")
    );
    assert_eq!(
        (p.workload.as_str(), p.metric.as_str(), p.windows),
        ("cpuid", "latency", 2)
    );
    // 2000 exits in 2 ms, a window of 1000 operations in 1 ms: 1 exit per operation.
    let keys: Vec<&str> = p.reasons.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["exit.cpuid", "exit.io"], "most frequent first");
    let cpuid = &p.reasons[0];
    assert_eq!(
        (cpuid.source.as_str(), cpuid.median, cpuid.n),
        ("kvm.exits", 1.0, 2)
    );
    assert_eq!(cpuid.ci, Some(Interval { lo: 1.0, hi: 1.0 }));
    assert!(close(p.reasons[1].median, 0.002));
    let entries = p.entries.as_ref().unwrap();
    assert_eq!(
        (entries.key.as_str(), entries.source.as_str()),
        ("entries", "kvm.exits")
    );
    assert!(close(entries.median, 1.002) && entries.n == 2);
    // Everything else per operation, by source then key; KVM's own `exits` stays there.
    let other: Vec<(&str, &str)> = p
        .other
        .iter()
        .map(|o| (o.source.as_str(), o.key.as_str()))
        .collect();
    assert_eq!(
        other,
        [("host.threads", "vcpu_cpu_ns"), ("kvm.stats", "exits")]
    );
    assert!(close(find(&p.other, "vcpu_cpu_ns").median, 1000.0));
    assert_eq!(p.sources, ["host.threads", "kvm.exits", "kvm.stats"]);
    assert_eq!(p.steal_fraction, None);
    assert!(sum.costs.is_empty());
}

#[test]
fn per_operation_does_not_depend_on_the_span() {
    // The collector counted twice as long as the window (it started late, ended late): twice
    // the count over twice the span is the same rate.
    let samples = [sample("kvm", "cpuid", 1), sample("kvm", "cpuid", 2)];
    let counters = [
        counter(&samples[0], "kvm.exits", "exit.cpuid", 2000.0, 2 * MS),
        counter(&samples[1], "kvm.exits", "exit.cpuid", 4000.0, 4 * MS),
    ];
    let p = &summarize_counters(&samples, &counters, &cfg()).profiles[0];
    assert_eq!(p.reasons[0].median, 1.0);
    assert_eq!(p.reasons[0].ci, Some(Interval { lo: 1.0, hi: 1.0 }));
}

#[test]
fn intervals_come_from_the_bootstrap_and_need_two_windows() {
    let samples: Vec<WindowSample> = (1..=5).map(|i| sample("xen", "cpuid", i)).collect();
    let counters: Vec<WindowCounter> = samples
        .iter()
        .map(|s| {
            counter(
                s,
                "xen.trace",
                "exit.cpuid",
                1000.0 * f64::from(s.index),
                MS,
            )
        })
        .collect();
    let p = &summarize_counters(&samples, &counters, &cfg()).profiles[0];
    let r = &p.reasons[0];
    assert_eq!((r.median, r.n), (3.0, 5));
    let want = crate::bootstrap::summarize(&[1.0, 2.0, 3.0, 4.0, 5.0], &cfg()).unwrap();
    assert_eq!(r.ci, Some(want.ci));
    assert_eq!(p.entries.as_ref().unwrap().source, "xen.trace");

    let one = summarize_counters(&samples[..1], &counters[..1], &cfg());
    let r = &one.profiles[0].reasons[0];
    assert_eq!((r.median, r.n, r.ci), (1.0, 1, None));
}

#[test]
fn entries_prefer_kvm_exits_then_fall_back_to_kvm_stats() {
    let samples = [sample("kvm", "cpuid", 1)];
    let s = &samples[0];
    let both = [
        counter(s, "xen.trace", "exit.cpuid", 5000.0, MS),
        counter(s, "kvm.exits", "exit.cpuid", 1000.0, MS),
        counter(s, "kvm.exits", "exit.hlt", 500.0, MS),
    ];
    let p = &summarize_counters(&samples, &both, &cfg()).profiles[0];
    let e = p.entries.as_ref().unwrap();
    assert_eq!((e.source.as_str(), e.median), ("kvm.exits", 1.5));
    assert_eq!(
        p.reasons[0].source, "xen.trace",
        "reasons of every source, by median"
    );

    let stats_only = [
        counter(s, "kvm.stats", "exits", 3000.0, MS),
        counter(s, "kvm.stats", "io_exits", 1000.0, MS),
    ];
    let p = &summarize_counters(&samples, &stats_only, &cfg()).profiles[0];
    let e = p.entries.as_ref().unwrap();
    assert_eq!(
        (e.key.as_str(), e.source.as_str(), e.median),
        ("entries", "kvm.stats", 3.0)
    );
    assert!(p.reasons.is_empty());

    let neither = [counter(s, "host.threads", "vcpu_cpu_ns", 1.0, MS)];
    assert_eq!(
        summarize_counters(&samples, &neither, &cfg()).profiles[0].entries,
        None
    );
}

#[test]
fn steal_is_a_fraction_of_the_span() {
    let samples = [sample("kvm", "syscall", 1), sample("kvm", "syscall", 2)];
    let counters = [
        counter(&samples[0], "guest", "steal_ns", 20_000.0, MS),
        counter(&samples[1], "guest", "steal_ns", 60_000.0, 2 * MS),
    ];
    let p = &summarize_counters(&samples, &counters, &cfg()).profiles[0];
    let steal = p.steal_fraction.as_ref().unwrap();
    assert!(close(steal.median, 0.025), "{steal:?}");
    assert_eq!((steal.source.as_str(), steal.n), ("guest", 2));
    assert!(p.reasons.is_empty() && p.other.is_empty() && p.entries.is_none());
    assert_eq!(
        (p.windows, p.sources.clone()),
        (2, vec!["guest".to_string()])
    );
}

/// The counted window of each agent run (after the measured ones), as the agent sends it.
fn counted_window(s: &WindowSample<'static>, value: f64) -> [WindowCounter<'static>; 3] {
    let mut at = *s;
    at.index = 9; // past the last measured window: no sample has it
    [
        counter(&at, "counted", "value", value, MS),
        counter(&at, "counted", "iterations", 1000.0, MS),
        counter(&at, "counted", "elapsed_ns", 1e6, MS),
    ]
}

#[test]
fn counters_of_a_counted_window_are_per_operation_of_that_window() {
    let s = sample("kvm", "cpuid", 1);
    let mut counters = counted_window(&s, 1.0).to_vec();
    let mut at = s;
    at.index = 9;
    // 2000 exits over 2 ms of a window of 1000 operations in 1 ms: 1 exit per operation.
    counters.push(counter(&at, "kvm.exits", "exit.cpuid", 2000.0, 2 * MS));
    let sum = summarize_counters(&[s], &counters, &cfg());
    assert_eq!(sum.profiles.len(), 1);
    let entries = sum.profiles[0].entries.as_ref().unwrap();
    assert!(close(entries.median, 1.0), "{entries:?}");
}

#[test]
fn counting_cost_follows_the_metric_direction() {
    let mut samples = Vec::new();
    let mut counters = Vec::new();
    for (round, better, counted, bare) in [(0, "lower", 102.0, 100.0), (1, "higher", 98.0, 100.0)] {
        // The samples are the measured windows, which nothing counts beside.
        let workload = if better == "lower" { "syscall" } else { "mem" };
        for index in 1..=3 {
            let mut s = sample("kvm", workload, index);
            (s.round, s.better, s.value) = (round, better, bare);
            samples.push(s);
        }
        let mut s = samples[samples.len() - 1];
        counters.extend(counted_window(&s, counted));
        s.round = 7; // an agent run with no measured window: it compares with nothing
        counters.extend(counted_window(&s, 1.0));
    }
    let sum = summarize_counters(&samples, &counters, &cfg());
    assert!(
        sum.profiles.is_empty(),
        "a counted window's own measurement is not a profile"
    );
    assert_eq!(sum.costs.len(), 2);
    let lower = &sum.costs[0];
    assert_eq!(
        (
            lower.platform.as_str(),
            lower.workload.as_str(),
            lower.metric.as_str()
        ),
        ("kvm", "syscall", "latency")
    );
    assert_eq!(
        (lower.counted_median, lower.uncounted_median),
        (102.0, 100.0)
    );
    assert!(close(lower.times_worse, 1.02));
    assert_eq!(lower.counted_windows, 1);
    let higher = &sum.costs[1];
    assert_eq!(higher.workload, "mem");
    assert!(
        close(higher.times_worse, 100.0 / 98.0),
        "less throughput counted is worse"
    );
}

#[test]
fn counting_cost_leaves_out_cells_with_aggressors() {
    let mut samples = Vec::new();
    let mut counters = Vec::new();
    for (scenario, counted, bare) in [
        ("noisy/none", 110.0, 100.0),
        ("noisy/cpu/shared", 500.0, 1.0),
    ] {
        let mut s = sample("kvm", "syscall", 1);
        (s.scenario, s.guest, s.value) = (scenario, "victim", bare);
        samples.push(s);
        counters.extend(counted_window(&s, counted));
    }
    let sum = summarize_counters(&samples, &counters, &cfg());
    assert_eq!(sum.costs.len(), 1);
    assert!(close(sum.costs[0].times_worse, 1.1));
}

#[test]
fn warmups_windows_without_a_sample_and_non_finite_values_are_ignored() {
    let mut warm = sample("kvm", "cpuid", 0);
    warm.warmup = true;
    let samples = [warm, sample("kvm", "cpuid", 1), sample("kvm", "cpuid", 2)];
    let mut orphan = samples[1];
    orphan.index = 5;
    let mut zero = sample("kvm", "cpuid", 3);
    zero.iterations = 0;
    let mut idle = sample("kvm", "idle", 1);
    idle.iterations = 0;
    let samples = [samples[0], samples[1], samples[2], zero, idle];
    let counters = [
        counter(&samples[0], "kvm.exits", "exit.cpuid", 1e9, MS), // a warm-up
        counter(&orphan, "kvm.exits", "exit.cpuid", 1e9, MS),     // no such window
        counter(&samples[1], "kvm.exits", "exit.cpuid", 1000.0, MS),
        counter(&samples[2], "kvm.exits", "exit.cpuid", f64::NAN, MS),
        counter(&samples[2], "kvm.exits", "exit.hlt", f64::INFINITY, MS),
        counter(&samples[2], "kvm.exits", "exit.io", 1e9, 0), // spanned nothing
        counter(&samples[3], "kvm.exits", "exit.cpuid", 1e9, MS), // 0 iterations
        counter(&samples[4], "kvm.exits", "exit.cpuid", 1e9, MS), // no profile at all
    ];
    let sum = summarize_counters(&samples, &counters, &cfg());
    assert_eq!(sum.profiles.len(), 1);
    let p = &sum.profiles[0];
    assert_eq!(p.windows, 1);
    assert_eq!(p.reasons.len(), 1);
    assert_eq!((p.reasons[0].median, p.reasons[0].n), (1.0, 1));
    assert_eq!(p.entries.as_ref().unwrap().median, 1.0);
}

#[test]
fn profiles_follow_the_samples_order() {
    let mut samples = Vec::new();
    for platform in ["xen-pv", "kvm", "host"] {
        for workload in ["syscall", "cpuid"] {
            samples.push(sample(platform, workload, 1));
        }
    }
    let mut victim = sample("kvm", "syscall", 1);
    (victim.scenario, victim.guest) = ("noisy/none", "victim");
    samples.push(victim);
    let counters: Vec<WindowCounter> = samples
        .iter()
        .rev()
        .map(|s| counter(s, "guest", "steal_ns", 0.0, MS))
        .collect();
    let sum = summarize_counters(&samples, &counters, &cfg());
    let order: Vec<(&str, &str, &str)> = sum
        .profiles
        .iter()
        .map(|p| {
            (
                p.platform.as_str(),
                p.workload.as_str(),
                p.scenario.as_str(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("xen-pv", "syscall", "baseline"),
            ("xen-pv", "cpuid", "baseline"),
            ("kvm", "syscall", "baseline"),
            ("kvm", "syscall", "noisy/none"),
            ("kvm", "cpuid", "baseline"),
            ("host", "syscall", "baseline"),
            ("host", "cpuid", "baseline"),
        ]
    );
    assert_eq!(sum.profiles[3].steal_fraction.as_ref().unwrap().median, 0.0);
}

#[test]
fn serializes_for_the_summary() {
    let samples = [sample("kvm", "cpuid", 1)];
    let counters = [counter(&samples[0], "kvm.exits", "exit.cpuid", 1000.0, MS)];
    let json = serde_json::to_value(summarize_counters(&samples, &counters, &cfg())).unwrap();
    assert_eq!(json["profiles"][0]["entries"]["median"], 1.0);
    assert_eq!(json["profiles"][0]["reasons"][0]["key"], "exit.cpuid");
    assert!(json["profiles"][0]["reasons"][0]["ci"].is_null());
    assert!(json["costs"].as_array().unwrap().is_empty());
}
