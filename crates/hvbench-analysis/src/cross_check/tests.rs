//! Tests of the cross-checks: which plan workloads pair, the ratios per platform, the unit
//! conversions, and the table's agreement with the catalog.

use super::*;
use hvbench_proto::catalog;

fn cfg() -> BootstrapConfig {
    BootstrapConfig {
        resamples: 500,
        ..BootstrapConfig::default()
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Five values around `center`, ± 1 %, the same pattern for every series.
fn around(center: f64) -> Vec<f64> {
    [0.99, 1.0, 1.01, 0.995, 1.005]
        .iter()
        .map(|f| center * f)
        .collect()
}

fn fio_randread() -> BTreeMap<String, String> {
    params(&[
        ("rw", "randread"),
        ("bs", "4k"),
        ("iodepth", "1"),
        ("ioengine", "psync"),
        ("direct", "true"),
        ("size_mib", "256"),
        ("time_s", "2"),
    ])
}

fn series<'a>(
    platform: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    values: &'a [f64],
) -> CrossSeries<'a> {
    CrossSeries {
        platform,
        workload,
        metric,
        unit,
        values,
    }
}

#[test]
fn disk_rand_read_against_fio_on_two_platforms() {
    let direct = params(&[("mode", "direct"), ("size_mib", "256")]);
    let fio = fio_randread();
    let workloads = [
        PlannedWorkload {
            label: "disk-rand-read",
            name: "disk-rand-read",
            params: &direct,
        },
        PlannedWorkload {
            label: "fio",
            name: "fio",
            params: &fio,
        },
    ];
    let (host_ours, host_fio) = (around(20_000.0), around(25_000.0));
    let (xen_ours, xen_fio) = (around(6_200.0), around(10_000.0));
    let data = [
        series("host", "disk-rand-read", "iops", "IOPS", &host_ours),
        series("host", "fio", "iops", "IOPS", &host_fio),
        series("xen-pv", "disk-rand-read", "iops", "IOPS", &xen_ours),
        series("xen-pv", "fio", "iops", "IOPS", &xen_fio),
        // fio's extra metrics are never taken for its iops.
        series("xen-pv", "fio", "bandwidth", "MiB/s", &host_ours),
    ];
    let checks = cross_checks(&["host", "kvm", "xen-pv"], &workloads, &data, &cfg());
    assert_eq!(checks.len(), 1);
    let c = &checks[0];
    assert_eq!(
        (c.workload.as_str(), c.tool_workload.as_str()),
        ("disk-rand-read", "fio")
    );
    assert_eq!(c.pair.ours.workload, "disk-rand-read");
    assert!(c.problem.is_none());
    assert!(c.one_sided.is_empty(), "kvm measured neither side");
    let names: Vec<&str> = c.platforms.iter().map(|p| p.platform.as_str()).collect();
    assert_eq!(names, ["host", "xen-pv"]);
    for (p, expected) in c.platforms.iter().zip([0.8, 0.62]) {
        let r = p.ratio.expect("a ratio");
        assert!(
            (r.point - expected).abs() < 1e-9,
            "{}: {}",
            p.platform,
            r.point
        );
        assert!(r.ci.contains(expected) && r.ci.width() < 0.05, "{:?}", r.ci);
        assert_eq!(p.tool_median_converted, p.tool.median);
    }
    assert!((c.platforms[1].ours.median - 6_200.0).abs() < 1e-9);
}

#[test]
fn fio_with_other_parameters_does_not_pair() {
    let direct = params(&[("mode", "direct")]);
    let mut randwrite = fio_randread();
    randwrite.insert("rw".into(), "randwrite".into());
    let mut large = fio_randread();
    large.insert("bs".into(), "64k".into());
    let mut deep = fio_randread();
    deep.insert("iodepth".into(), "32".into());
    let mut cached = fio_randread();
    cached.insert("direct".into(), "false".into());
    let values = around(1000.0);
    for fio in [&randwrite, &large, &deep, &cached] {
        let workloads = [
            PlannedWorkload {
                label: "disk-rand-read",
                name: "disk-rand-read",
                params: &direct,
            },
            PlannedWorkload {
                label: "fio",
                name: "fio",
                params: fio,
            },
        ];
        let data = [
            series("host", "disk-rand-read", "iops", "IOPS", &values),
            series("host", "fio", "iops", "IOPS", &values),
        ];
        assert!(
            cross_checks(&["host"], &workloads, &data, &cfg()).is_empty(),
            "{fio:?}"
        );
    }
}

#[test]
fn only_the_matching_instance_of_a_workload_listed_twice_pairs() {
    let direct = params(&[("mode", "direct")]);
    let buffered = params(&[("mode", "buffered")]);
    let read = fio_randread();
    let mut write = fio_randread();
    write.insert("rw".into(), "randwrite".into());
    // fio's bs as written in capitals and its direct as a number still read the same.
    let mut loud = fio_randread();
    loud.insert("bs".into(), "4K".into());
    loud.insert("direct".into(), "1".into());
    let workloads = [
        PlannedWorkload {
            label: "disk-rand-read[mode=direct]",
            name: "disk-rand-read",
            params: &direct,
        },
        PlannedWorkload {
            label: "disk-rand-read[mode=buffered]",
            name: "disk-rand-read",
            params: &buffered,
        },
        PlannedWorkload {
            label: "fio[rw=randread]",
            name: "fio",
            params: &read,
        },
        PlannedWorkload {
            label: "fio[rw=randwrite]",
            name: "fio",
            params: &write,
        },
    ];
    let checks = cross_checks(&["host"], &workloads, &[], &cfg());
    let labels: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c.workload.as_str(), c.tool_workload.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("disk-rand-read[mode=direct]", "fio[rw=randread]")]
    );
    assert!(checks[0].platforms.is_empty() && checks[0].one_sided.is_empty());

    let loud_only = [
        workloads[0],
        PlannedWorkload {
            label: "fio",
            name: "fio",
            params: &loud,
        },
    ];
    assert_eq!(cross_checks(&["host"], &loud_only, &[], &cfg()).len(), 1);
}

#[test]
fn no_pair_no_check() {
    let none = BTreeMap::new();
    let fio = fio_randread();
    // hvbench's side alone, the tool alone, and two workloads of different pairs.
    for workloads in [
        vec![PlannedWorkload {
            label: "disk-rand-read",
            name: "disk-rand-read",
            params: &none,
        }],
        vec![PlannedWorkload {
            label: "fio",
            name: "fio",
            params: &fio,
        }],
        vec![
            PlannedWorkload {
                label: "net-bulk",
                name: "net-bulk",
                params: &none,
            },
            PlannedWorkload {
                label: "fio",
                name: "fio",
                params: &fio,
            },
        ],
        vec![],
    ] {
        assert!(cross_checks(&["host"], &workloads, &[], &cfg()).is_empty());
    }
}

#[test]
fn units_are_converted_before_the_ratio() {
    let send = params(&[("direction", "send")]);
    let mem = params(&[("kernel", "triad"), ("size_mib", "0")]);
    let sysbench = params(&[("threads", "1"), ("block_size_kib", "1"), ("oper", "write")]);
    let none = BTreeMap::new();
    let workloads = [
        PlannedWorkload {
            label: "net-bulk",
            name: "net-bulk",
            params: &send,
        },
        PlannedWorkload {
            label: "iperf3",
            name: "iperf3",
            params: &none,
        },
        PlannedWorkload {
            label: "mem-bandwidth",
            name: "mem-bandwidth",
            params: &mem,
        },
        PlannedWorkload {
            label: "sysbench-memory",
            name: "sysbench-memory",
            params: &sysbench,
        },
    ];
    // 9400 Mbit/s against 9.4 Gbit/s: the same; 10 000 MB/s against 10 000 MiB/s: 10 000 MiB/s
    // is 10 485.76 MB/s.
    let (net, iperf) = (around(9_400.0), around(9.4));
    let (stream, sysb) = (around(10_000.0), around(10_000.0));
    let data = [
        series("kvm", "net-bulk", "throughput", "Mbit/s", &net),
        series("kvm", "iperf3", "throughput", "Gbit/s", &iperf),
        series("kvm", "mem-bandwidth", "bandwidth", "MB/s", &stream),
        series("kvm", "sysbench-memory", "transfer", "MiB/s", &sysb),
        series("kvm", "sysbench-memory", "operations", "ops/s", &net),
    ];
    let checks = cross_checks(&["kvm"], &workloads, &data, &cfg());
    assert_eq!(checks.len(), 2);
    let net = &checks[0].platforms[0];
    assert_eq!(checks[0].pair.tool.workload, "iperf3");
    assert!((net.tool_median_converted - 9_400.0).abs() < 1e-6);
    assert!((net.ratio.unwrap().point - 1.0).abs() < 1e-9);
    let mem = &checks[1].platforms[0];
    assert_eq!(checks[1].pair.tool.workload, "sysbench-memory");
    assert!(
        (mem.tool.median - 10_000.0).abs() < 1e-9,
        "the tool's own unit"
    );
    assert!((mem.tool_median_converted - 10_485.76).abs() < 1e-6);
    assert!((mem.ratio.unwrap().point - 1.0 / 1.048_576).abs() < 1e-9);
}

#[test]
fn a_unit_other_than_the_tables_is_not_converted() {
    let none = BTreeMap::new();
    let workloads = [
        PlannedWorkload {
            label: "net-bulk",
            name: "net-bulk",
            params: &none,
        },
        PlannedWorkload {
            label: "iperf3",
            name: "iperf3",
            params: &none,
        },
    ];
    let (net, iperf) = (around(9_400.0), around(9_400.0));
    let data = [
        series("kvm", "net-bulk", "throughput", "Mbit/s", &net),
        series("kvm", "iperf3", "throughput", "Mbit/s", &iperf),
    ];
    let checks = cross_checks(&["kvm"], &workloads, &data, &cfg());
    assert_eq!(checks.len(), 1);
    let problem = checks[0].problem.as_deref().expect("a problem");
    assert!(
        problem.contains("iperf3") && problem.contains("Gbit/s"),
        "{problem}"
    );
    assert!(checks[0].platforms.is_empty());
}

#[test]
fn a_platform_with_one_side_is_named_apart() {
    let none = BTreeMap::new();
    let sysbench = params(&[("threads", "4")]);
    let one = params(&[("threads", "1")]);
    let with = |p| {
        [
            PlannedWorkload {
                label: "mem-bandwidth",
                name: "mem-bandwidth",
                params: &none,
            },
            PlannedWorkload {
                label: "sysbench-memory",
                name: "sysbench-memory",
                params: p,
            },
        ]
    };
    let v = around(5_000.0);
    let data = [
        series("host", "mem-bandwidth", "bandwidth", "MB/s", &v),
        series("host", "sysbench-memory", "transfer", "MiB/s", &v),
        series("xen-pvh", "mem-bandwidth", "bandwidth", "MB/s", &v),
    ];
    assert!(
        cross_checks(&["host", "xen-pvh"], &with(&sysbench), &data, &cfg()).is_empty(),
        "four sysbench threads are not one mem-bandwidth thread"
    );
    let checks = cross_checks(&["host", "xen-pvh"], &with(&one), &data, &cfg());
    assert_eq!(checks[0].platforms.len(), 1);
    assert_eq!(checks[0].one_sided, ["xen-pvh"]);
}

/// Every side whose workload the catalog holds names one of its metrics and parameters, with
/// the catalog's unit for its first metric; a side outside the catalog yet (a tool being added)
/// is checked as soon as it is there.
#[test]
fn the_table_agrees_with_the_catalog() {
    for pair in CROSS_CHECKS {
        assert!(pair.tool_factor.is_finite() && pair.tool_factor > 0.0);
        for side in [&pair.ours, &pair.tool] {
            let Some(def) = catalog::workload(side.workload) else {
                continue;
            };
            assert!(
                def.metrics().contains(&side.metric),
                "{}: no metric {}",
                side.workload,
                side.metric
            );
            if def.metric == side.metric {
                assert_eq!(def.unit, side.unit, "{}", side.workload);
            }
            for c in side.conditions {
                assert!(
                    def.params.iter().any(|p| p.name == c.param),
                    "{}: no parameter {}",
                    side.workload,
                    c.param
                );
            }
        }
    }
    // hvbench's own sides are in the catalog today.
    for pair in CROSS_CHECKS {
        assert!(catalog::workload(pair.ours.workload).is_some());
    }
}

#[test]
fn conditions_read_as_text() {
    let fio = &CROSS_CHECKS[0].tool;
    assert_eq!(
        fio.describe_conditions(),
        "rw = randread, bs = 4k, iodepth = 1, direct = true"
    );
    assert_eq!(CROSS_CHECKS[1].tool.describe_conditions(), "");
}
