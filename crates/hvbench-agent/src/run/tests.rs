//! Tests of whole runs on a host: frame order and counts, every workload's samples in its
//! catalog unit, failures that stay one workload's, aggressor plans.

use super::measure::measure;
use super::*;
use crate::workloads::Workload;
use hvbench_proto::{catalog, Decoder, Event, WorkloadRequest, PLAN_VERSION};
use serde_json::Value;
use std::time::Duration;

fn request(name: &str, params: &[(&str, Value)]) -> WorkloadRequest {
    WorkloadRequest {
        name: name.to_string(),
        id: String::new(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

fn tiny_plan(workloads: Vec<WorkloadRequest>) -> AgentPlan {
    AgentPlan {
        version: PLAN_VERSION,
        warmup: 1,
        samples: 2,
        min_window_ms: 20,
        workloads,
        peer: None,
        stress: None,
        evidence: false,
        tools_root: None,
    }
}

fn decode(bytes: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let mut events = decoder.push(bytes);
    events.extend(decoder.finish());
    events
        .into_iter()
        .map(|e| match e {
            Event::Frame(m) => m,
            Event::Bad { error, excerpt } => panic!("bad frame {error}: {excerpt}"),
        })
        .collect()
}

fn run(plan: &AgentPlan) -> (RunSummary, Vec<Message>) {
    let mut out = Vec::new();
    let summary = run_plan(plan, Mode::Host, &mut out).unwrap();
    (summary, decode(&out))
}

/// Checks the samples of one workload and returns how many there were.
fn check_samples(messages: &[Message], name: &str, plan: &AgentPlan) -> usize {
    let def = catalog::workload(name).unwrap();
    let samples: Vec<_> = messages
        .iter()
        .filter(|m| matches!(m, Message::Sample { workload, .. } if workload == name))
        .collect();
    for (i, m) in samples.iter().enumerate() {
        let Message::Sample {
            metric,
            unit,
            better,
            warmup,
            index,
            value,
            iterations,
            elapsed_ns,
            ..
        } = m
        else {
            unreachable!()
        };
        assert_eq!(
            (metric.as_str(), unit.as_str(), *better),
            (def.metric, def.unit, def.better)
        );
        assert_eq!(*index as usize, i);
        assert_eq!(*warmup, (i as u32) < plan.warmup);
        assert!(value.is_finite() && *value > 0.0, "{name}: {value}");
        assert!(*iterations > 0 && *elapsed_ns > 0);
    }
    samples.len()
}

#[test]
fn cpu_int_gives_finite_positive_throughput() {
    let plan = tiny_plan(vec![request("cpu-int", &[])]);
    let (summary, messages) = run(&plan);
    assert_eq!(check_samples(&messages, "cpu-int", &plan), 3);
    assert_eq!(
        summary,
        RunSummary {
            samples: 3,
            failures: 0
        }
    );
}

#[test]
fn syscall_gives_finite_positive_latency() {
    let plan = tiny_plan(vec![request("syscall", &[])]);
    let (summary, messages) = run(&plan);
    assert_eq!(check_samples(&messages, "syscall", &plan), 3);
    assert_eq!(summary.failures, 0);
}

#[test]
fn mem_bandwidth_gives_finite_positive_bandwidth_for_every_kernel() {
    let plan = tiny_plan(
        ["copy", "scale", "add", "triad"]
            .iter()
            .map(|k| {
                request(
                    "mem-bandwidth",
                    &[("kernel", Value::from(*k)), ("size_mib", Value::from(1))],
                )
            })
            .collect(),
    );
    let plan = AgentPlan {
        warmup: 0,
        samples: 1,
        ..plan
    };
    let (summary, messages) = run(&plan);
    assert_eq!(
        summary,
        RunSummary {
            samples: 4,
            failures: 0
        }
    );
    for m in &messages {
        if let Message::Sample { value, unit, .. } = m {
            assert!(value.is_finite() && *value > 0.0);
            assert_eq!(unit, "MB/s");
        }
    }
}

#[test]
fn frame_order_and_counts() {
    let plan = AgentPlan {
        warmup: 2,
        samples: 1,
        min_window_ms: 1,
        ..tiny_plan(vec![request("syscall", &[]), request("no-such", &[])])
    };
    let (summary, messages) = run(&plan);
    assert!(matches!(&messages[0], Message::Hello { mode, .. } if mode == "host"));
    assert!(
        matches!(&messages[1], Message::Facts { facts } if facts.contains_key("kernel.release"))
    );
    assert!(matches!(&messages[5], Message::Failed { workload, .. } if workload == "no-such"));
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: 3,
            failures: 1
        })
    );
    assert_eq!(messages.len(), 7);
    assert_eq!(
        summary,
        RunSummary {
            samples: 3,
            failures: 1
        }
    );
}

#[test]
fn plan_failure_is_reported_as_workload_plan() {
    let mut out = Vec::new();
    let summary = report_plan_failure(Mode::Guest, "no plan", &mut out).unwrap();
    let messages = decode(&out);
    assert!(matches!(&messages[0], Message::Hello { mode, .. } if mode == "guest"));
    assert!(matches!(&messages[1], Message::Facts { .. }));
    assert_eq!(
        messages[2],
        Message::Failed {
            workload: "plan".into(),
            reason: "no plan".into()
        }
    );
    assert_eq!(
        summary,
        RunSummary {
            samples: 0,
            failures: 1
        }
    );
}

struct Faulty {
    panic_after: u64,
    value: f64,
}

impl Workload for Faulty {
    fn run(&mut self, iterations: u64) {
        self.panic_after = self.panic_after.saturating_sub(1);
        assert!(self.panic_after > 0, "workload blew up");
        std::thread::sleep(Duration::from_millis(iterations.min(2)));
    }
    fn value(&self, _iterations: u64, _elapsed: Duration) -> f64 {
        self.value
    }
}

fn measure_faulty(faulty: &mut Faulty) -> Vec<Message> {
    let plan = AgentPlan {
        min_window_ms: 1,
        ..tiny_plan(vec![])
    };
    let def = catalog::workload("cpu-int").unwrap();
    let mut out = Vec::new();
    measure(
        &plan,
        def,
        def.name,
        faulty,
        &mut FrameWriter::new(&mut out),
    )
    .unwrap();
    decode(&out)
}

#[test]
fn a_panicking_workload_is_a_failure_not_a_crash() {
    let messages = measure_faulty(&mut Faulty {
        panic_after: 4,
        value: 1.0,
    });
    let Some(Message::Failed { reason, .. }) = messages.last() else {
        panic!("{messages:?}")
    };
    assert!(reason.contains("workload blew up"), "{reason}");
}

#[test]
fn non_finite_values_are_failures() {
    let messages = measure_faulty(&mut Faulty {
        panic_after: u64::MAX,
        value: f64::NAN,
    });
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        matches!(&messages[0], Message::Failed { reason, .. } if reason.contains("non-finite"))
    );
}

#[test]
fn disk_and_network_workloads_report_facts_then_samples() {
    let listener = crate::peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let peer = crate::peer::spawn(listener).unwrap().to_string();
    let plan = AgentPlan {
        warmup: 0,
        samples: 1,
        min_window_ms: 5,
        peer: Some(peer.clone()),
        stress: None,
        evidence: false,
        tools_root: None,
        ..tiny_plan(vec![
            request(
                "disk-rand-read",
                &[
                    ("mode", Value::from("buffered")),
                    ("size_mib", Value::from(1)),
                ],
            ),
            request("net-rr", &[]),
        ])
    };
    let (summary, messages) = run(&plan);
    assert_eq!(
        summary,
        RunSummary {
            samples: 2,
            failures: 0
        },
        "{messages:?}"
    );
    let facts: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Facts { facts } => Some(facts),
            _ => None,
        })
        .collect();
    assert_eq!(facts.len(), 3, "run facts, then one frame per workload");
    assert!(facts[1].contains_key("disk.path"));
    assert_eq!(facts[2]["net.peer"], peer);
    assert_eq!(check_samples(&messages, "disk-rand-read", &plan), 1);
    assert_eq!(check_samples(&messages, "net-rr", &plan), 1);
}

#[test]
fn network_workloads_without_a_peer_fail_clearly() {
    let (summary, messages) = run(&tiny_plan(vec![request("net-bulk", &[])]));
    assert_eq!(summary.failures, 1);
    assert!(messages.iter().any(
        |m| matches!(m, Message::Failed { reason, .. } if reason.contains("no network peer"))
    ));
}

/// The CPU, memory, kernel-path and exit workloads, with tiny settings: each gives finite
/// positive values under its catalog unit and direction, or (futex-wake with one CPU,
/// port-io anywhere but a guest's PID 1) a `Failed` frame that says it was skipped.
#[test]
fn part_a_battery_gives_finite_positive_values_with_catalog_units() {
    let tiny: &[(&str, &[(&str, Value)])] = &[
        ("cpu-int", &[("threads", Value::from(0))]),
        ("cpu-float", &[]),
        ("mem-bandwidth", &[("size_mib", Value::from(1))]),
        ("page-fault", &[("size_mib", Value::from(1))]),
        ("clock-gettime", &[]),
        ("pipe-switch", &[]),
        ("fork-exit", &[]),
        ("mmap", &[("pages", Value::from(2))]),
        ("futex-wake", &[]),
        ("timer-overshoot", &[("sleep_us", Value::from(20))]),
        ("cpuid", &[]),
        ("port-io", &[]),
    ];
    let plan = AgentPlan {
        warmup: 1,
        samples: 1,
        min_window_ms: 5,
        ..tiny_plan(tiny.iter().map(|(n, p)| request(n, p)).collect())
    };
    let (summary, messages) = run(&plan);
    let skipped: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Failed { workload, reason } => {
                assert!(reason.starts_with("skipped:"), "{workload}: {reason}");
                Some(workload.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(skipped.contains(&"port-io"), "never on a host");
    for (name, _) in tiny {
        if !skipped.contains(name) {
            assert_eq!(check_samples(&messages, name, &plan), 2, "{name}");
        }
    }
    assert_eq!(summary.failures as usize, skipped.len());
}

#[test]
fn mem_latency_sends_one_metric_per_size() {
    let plan = AgentPlan {
        warmup: 0,
        samples: 2,
        min_window_ms: 2,
        ..tiny_plan(vec![request(
            "mem-latency",
            &[("max_size_mib", Value::from(1))],
        )])
    };
    let (summary, messages) = run(&plan);
    assert_eq!(summary.failures, 0, "{messages:?}");
    let mut per_metric: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for m in &messages {
        if let Message::Sample {
            metric,
            unit,
            better,
            index,
            value,
            ..
        } = m
        {
            assert_eq!(
                (unit.as_str(), *better),
                ("ns", hvbench_proto::Better::Lower)
            );
            assert!(value.is_finite() && *value > 0.0);
            per_metric.entry(metric.as_str()).or_default().push(*index);
        }
    }
    let metrics: Vec<&str> = per_metric.keys().copied().collect();
    assert_eq!(metrics.len(), 7, "16 KiB to 1 MiB: {metrics:?}");
    assert!(metrics.contains(&"latency@16KiB") && metrics.contains(&"latency@1MiB"));
    // Windows are numbered per metric, so (workload, metric, index) stays unique.
    assert!(per_metric.values().all(|idx| idx == &[0, 1]));
}

#[test]
fn an_aggressor_plan_runs_its_stressor_not_its_workloads() {
    let plan = AgentPlan {
        stress: Some(hvbench_proto::StressPlan {
            kind: "cpu".into(),
            params: Default::default(),
            duration_ms: 250,
            report_ms: 100,
        }),
        evidence: false,
        tools_root: None,
        ..tiny_plan(vec![request("syscall", &[])])
    };
    let (summary, messages) = run(&plan);
    assert!(matches!(&messages[0], Message::Hello { .. }));
    assert!(matches!(&messages[1], Message::Facts { .. }));
    let labels: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Sample { workload, .. } => Some(workload.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        (2..=4).contains(&labels.len()) && labels.iter().all(|l| *l == "stress-cpu"),
        "{messages:?}"
    );
    assert_eq!(
        summary,
        RunSummary {
            samples: labels.len() as u32,
            failures: 0
        }
    );
}

#[test]
fn bad_parameters_fail_only_their_workload() {
    let plan = tiny_plan(vec![
        request("mem-bandwidth", &[("size_mib", Value::from(65537))]),
        request("cpu-int", &[]),
    ]);
    let (summary, messages) = run(&plan);
    assert_eq!(
        summary,
        RunSummary {
            samples: 3,
            failures: 1
        }
    );
    assert!(messages
        .iter()
        .any(|m| matches!(m, Message::Failed { workload, .. } if workload == "mem-bandwidth")));
}

/// With evidence on, the measured windows are as without it, and one counted window, marked at
/// both edges, ends each metric with its own measurement and the guest's steal time over it.
#[test]
fn evidence_counts_beside_one_extra_marked_window_only() {
    let mut plan = tiny_plan(vec![request("syscall", &[])]);
    plan.evidence = true;
    let (summary, messages) = run(&plan);
    assert_eq!(
        summary.samples, 3,
        "warm-up + 2 measured, as without evidence"
    );
    let kinds: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Window { index, edge, .. } => Some(format!("{edge:?}{index}")),
            Message::Sample { index, warmup, .. } => {
                Some(format!("S{index}{}", if *warmup { "w" } else { "" }))
            }
            Message::Counters { index, source, .. } => Some(format!("{source}{index}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        ["S0w", "S1", "S2", "Begin3", "End3", "counted3", "guest3"],
        "{kinds:?}"
    );
    let counted = messages
        .iter()
        .find_map(|m| match m {
            Message::Counters {
                source,
                values,
                workload,
                metric,
                ..
            } if source == "counted" => Some((workload, metric, values)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (counted.0.as_str(), counted.1.as_str()),
        ("syscall", "latency")
    );
    assert!(counted.2["value"] > 0.0 && counted.2["iterations"] >= 1.0);
    // Without evidence: none of it.
    plan.evidence = false;
    let (_, plain) = run(&plan);
    assert!(!plain
        .iter()
        .any(|m| matches!(m, Message::Window { .. } | Message::Counters { .. })));
}

/// Records the iteration count of every `run`.
struct Recording(Vec<u64>);

impl Workload for Recording {
    fn run(&mut self, iterations: u64) {
        self.0.push(iterations);
        std::thread::sleep(Duration::from_micros(iterations.min(10_000) * 100));
    }
    fn value(&self, iterations: u64, _elapsed: Duration) -> f64 {
        iterations as f64
    }
}

/// The counted window's workload already runs, untimed, between the opening mark and the timed
/// part (a tracer that starts late still sees it run); its timed part is what `counted` says.
#[test]
fn the_counted_window_runs_a_lead_in_before_its_timed_part() {
    let plan = AgentPlan {
        min_window_ms: 100,
        warmup: 0,
        samples: 1,
        evidence: true,
        ..tiny_plan(vec![])
    };
    let def = catalog::workload("cpu-int").unwrap();
    let mut out = Vec::new();
    let mut workload = Recording(Vec::new());
    measure(
        &plan,
        def,
        def.name,
        &mut workload,
        &mut FrameWriter::new(&mut out),
    )
    .unwrap();
    let messages = decode(&out);
    // Calibration's runs, one measured window, then lead-in and counted window.
    let runs = &workload.0;
    let n = runs.len();
    assert!(n >= 4, "{runs:?}");
    let per_window = runs[n - 3];
    assert_eq!(runs[n - 2], per_window * 5, "a 0.5 s lead-in: {runs:?}");
    assert_eq!(
        runs[n - 1],
        per_window * 5,
        "a 0.5 s counted window: {runs:?}"
    );
    let counted = messages
        .iter()
        .find_map(|m| match m {
            Message::Counters { source, values, .. } if source == "counted" => Some(values),
            _ => None,
        })
        .unwrap();
    assert_eq!(counted["iterations"], (per_window * 5) as f64);
}
