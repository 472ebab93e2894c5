//! Tests of the workload catalogue: defaults, parameter checks, memory needs and labels.

use super::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn params(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn defaults_are_filled_in() {
    let w = workload("mem-bandwidth").unwrap();
    let r = w.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(r["kernel"], "triad");
    assert_eq!(
        r["size_mib"], 0,
        "auto: 4x the last-level cache, sized by the agent"
    );
    assert_eq!(w.memory_need_mib(&r), 3 * MEM_BANDWIDTH_AUTO_FLOOR_MIB);
    let r = w
        .resolve(&params(&[("size_mib", Value::from(100))]))
        .unwrap();
    assert_eq!(w.memory_need_mib(&r), 300);
    let r = w.resolve(&params(&[("size_mib", Value::from(8))])).unwrap();
    assert_eq!(w.memory_need_mib(&r), 24, "the floor is for auto only");
}

#[test]
fn bad_parameters_are_named() {
    let w = workload("mem-bandwidth").unwrap();
    let e = w
        .resolve(&params(&[("kernel", Value::from("daxpy"))]))
        .unwrap_err();
    assert_eq!(e.param, "kernel");
    assert!(e.message.contains("\"triad\""));
    let e = w
        .resolve(&params(&[("size_mib", Value::from(65537))]))
        .unwrap_err();
    assert_eq!(e.param, "size_mib");
    let e = w.resolve(&params(&[("size", Value::from(1))])).unwrap_err();
    assert!(e.message.contains("size_mib"));
    let e = workload("syscall")
        .unwrap()
        .resolve(&params(&[("x", Value::from(1))]))
        .unwrap_err();
    assert!(e.message.contains("takes no parameters"));
}

#[test]
fn memory_needs_follow_the_size_parameters() {
    let need = |name: &str, given: &[(&str, Value)]| {
        let w = workload(name).unwrap();
        w.memory_need_mib(&w.resolve(&params(given)).unwrap())
    };
    assert_eq!(need("mem-latency", &[]), 256);
    assert_eq!(need("mem-latency", &[("max_size_mib", Value::from(1))]), 1);
    assert_eq!(need("page-fault", &[]), 16);
    assert_eq!(need("page-fault", &[("size_mib", Value::from(64))]), 64);
    assert_eq!(need("cpu-int", &[("threads", Value::from(0))]), 0);
}

#[test]
fn cpu_workloads_take_threads() {
    for name in ["cpu-int", "cpu-float"] {
        let w = workload(name).unwrap();
        assert_eq!(w.resolve(&BTreeMap::new()).unwrap()["threads"], 1);
        assert!(w.resolve(&params(&[("threads", Value::from(0))])).is_ok());
        assert!(w
            .resolve(&params(&[("threads", Value::from(1025))]))
            .is_err());
    }
}

#[test]
fn every_workload_is_labelled() {
    for w in WORKLOADS {
        assert!(!w.metric.is_empty() && !w.unit.is_empty() && !w.summary.is_empty());
        for p in w.params {
            if let ParamKind::Int { min, max, default } = p.kind {
                assert!((min..=max).contains(&default), "{}.{}", w.name, p.name);
            }
        }
    }
}

#[test]
fn disk_and_network_workloads_say_what_they_need() {
    let w = workload("disk-rand-read").unwrap();
    assert_eq!(w.devices(), [Device::Disk]);
    let r = w.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(
        (r["mode"].as_str(), r["size_mib"].as_u64()),
        (Some("direct"), Some(256))
    );
    assert_eq!(workload("net-rr").unwrap().devices(), [Device::Network]);
    assert!(workload("syscall").unwrap().devices().is_empty());
    let e = workload("net-bulk")
        .unwrap()
        .resolve(&params(&[("direction", Value::from("up"))]))
        .unwrap_err();
    assert!(e.message.contains("\"receive\""), "{e}");
}

#[test]
fn names_are_unique() {
    let mut names = workload_names();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), WORKLOADS.len());
}

#[test]
fn a_direction_is_stored_and_serialized_as_higher_or_lower() {
    for (b, text) in [(Better::Higher, "higher"), (Better::Lower, "lower")] {
        assert_eq!(b.as_str(), text);
        assert_eq!(b.to_string(), text);
        assert_eq!(serde_json::to_value(b).unwrap(), text);
        assert_eq!(Better::parse(text), Some(b));
    }
    assert_eq!(Better::parse("up"), None);
    assert_eq!(Better::parse("Higher"), None);
    assert_eq!(Better::Lower.times_worse(2.0), 2.0);
    assert_eq!(Better::Higher.times_worse(2.0), 0.5);
}

#[test]
fn general_benchmarks_need_the_tools_tree_and_name_their_tool() {
    let w = workload("sysbench-cpu").unwrap();
    assert_eq!(w.class, WorkloadClass::General);
    assert_eq!(
        (w.metric, w.unit, w.better),
        ("events-per-second", "events/s", Better::Higher)
    );
    assert_eq!(w.devices(), [Device::Tools]);
    assert_eq!(w.tool(), Some("sysbench"));
    let p = w.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(p["time_s"], Value::from(2));
    assert!(w.resolve(&params(&[("time_s", Value::from(0))])).is_err());
    assert_eq!(workload("stress-ng").unwrap().tool(), Some("stress-ng"));
    assert_eq!(
        workload("sysbench-memory").unwrap().tool(),
        Some("sysbench")
    );
    assert_eq!(
        workload("sysbench-memory").unwrap().metrics(),
        ["transfer", "operations"]
    );
    for def in WORKLOADS {
        assert_eq!(def.metrics()[0], def.metric, "{}", def.name);
        // Every general benchmark runs a tool; nothing else does.
        assert_eq!(
            def.class == WorkloadClass::General,
            def.tool().is_some(),
            "{}",
            def.name
        );
    }
    assert_eq!(
        WorkloadClass::ALL[WorkloadClass::ALL.len() - 2],
        WorkloadClass::General
    );
    assert_eq!(WorkloadClass::General.label(), "general benchmarks");
    assert_eq!(
        w.window_ms(&params(&[("time_s", Value::from(3))]), 200),
        3000
    );
    assert_eq!(
        workload("syscall")
            .unwrap()
            .window_ms(&BTreeMap::new(), 200),
        200
    );
}

#[test]
fn fio_needs_a_disk_and_reports_the_directions_it_runs() {
    let fio = workload("fio").unwrap();
    assert_eq!(fio.devices(), [Device::Tools, Device::Disk]);
    assert_eq!(fio.tool(), Some("fio"));
    let defaults = fio.resolve(&BTreeMap::new()).unwrap();
    assert_eq!(
        (
            defaults["rw"].as_str(),
            defaults["bs"].as_str(),
            defaults["iodepth"].as_u64(),
            defaults["direct"].as_bool(),
            defaults["size_mib"].as_u64()
        ),
        (Some("randread"), Some("4k"), Some(1), Some(true), Some(256))
    );
    assert_eq!(
        fio.metrics_with(&defaults),
        ["iops", "bandwidth", "read-clat-p50", "read-clat-p99"]
    );
    let write = fio
        .resolve(&params(&[("rw", Value::from("write"))]))
        .unwrap();
    assert_eq!(
        fio.metrics_with(&write),
        ["iops", "bandwidth", "write-clat-p50", "write-clat-p99"]
    );
    let both = fio
        .resolve(&params(&[("rw", Value::from("randrw"))]))
        .unwrap();
    assert_eq!(fio.metrics_with(&both), fio.metrics());
    // A boolean is a boolean: `direct = "yes"` is refused with what is allowed.
    let e = fio
        .resolve(&params(&[("direct", Value::from("yes"))]))
        .unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
    assert_eq!(
        fio.resolve(&params(&[("direct", Value::from(false))]))
            .unwrap()["direct"],
        Value::from(false)
    );
    let threads = workload("sysbench-threads").unwrap();
    assert_eq!(threads.metrics(), ["events-per-second", "latency-avg"]);
    assert_eq!(threads.metrics_with(&BTreeMap::new()), threads.metrics());
}

/// The stress-ng isolation stressor runs the tool the `stress-ng` workload runs, with the same
/// stressor names (one list), and needs the tools tree; the agent's own stressors need none.
#[test]
fn the_stress_ng_stressor_shares_the_workloads_stressor_names_and_needs_the_tools_tree() {
    let def = stressor("stress-ng").unwrap();
    assert_eq!(def.tool, workload("stress-ng").unwrap().tool());
    let ParamKind::Choice { choices, default } = workload("stress-ng")
        .unwrap()
        .params
        .iter()
        .find(|p| p.name == "stressor")
        .unwrap()
        .kind
    else {
        panic!("the stress-ng workload's `stressor` is a choice")
    };
    assert_eq!(def.choices, [("stressor", choices, default)]);
    assert_eq!(def.param_names(), ["instances", "stressor"]);
    assert_eq!(stressor_devices("stress-ng"), [Device::Tools]);
    for s in STRESSORS.iter().filter(|s| s.kind != "stress-ng") {
        assert_eq!(s.tool, None, "{}", s.kind);
        assert!(!stressor_devices(s.kind).contains(&Device::Tools));
    }
}
