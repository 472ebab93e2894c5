//! End-to-end tests of the disk and network workloads through the `hvbench` command: on the
//! host (a scratch file, a peer on loopback) and in a real QEMU guest (TCG where KVM is not
//! usable) with its scratch disk on virtio-blk and its NIC on a tap on hvbench's bridge (QEMU's
//! restricted user network where no tap can be made; `tests/network.rs` runs both).
//! Timings are never asserted; units, directions, the platforms samples came from, and the
//! facts that explain them are.

mod common;
use common::{hvbench, require_qemu, text};

use hvbench_store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// Short windows, small regions: the point is that every path works, not what it measures.
const IO_SPEC: &str = r#"name = "io"
repetitions = 1
warmup = 1
samples = 2
min_window_ms = 30
seed = 3

[guest]
vcpus = 1
memory_mib = 256
timeout_s = 240

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "vm"
driver = "qemu"
accel = "auto"
disk_cache = "writeback"

[[workload]]
name = "disk-seq-read"
size_mib = 8

[[workload]]
name = "disk-seq-write"
mode = "buffered"
size_mib = 8

[[workload]]
name = "disk-rand-read"
mode = "direct"
size_mib = 8

[[workload]]
name = "disk-rand-read"
mode = "buffered"
size_mib = 8

[[workload]]
name = "disk-rand-write"
size_mib = 8

[[workload]]
name = "disk-fsync"
size_mib = 1

[[workload]]
name = "net-bulk"
direction = "send"

[[workload]]
name = "net-bulk"
direction = "receive"

[[workload]]
name = "net-rr"
"#;

#[test]
fn disk_and_network_on_host_and_guest() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("io.toml"), IO_SPEC).unwrap();
    let out = hvbench(&["run", "io.toml", "--db", "io.db"], dir.path());
    assert!(out.status.success(), "{}", text(&out));

    let store = Store::open(&dir.path().join("io.db")).unwrap();
    let run = store.resolve_run(Some("io")).unwrap();
    let failures = store.failures(run.id).unwrap();
    assert!(failures.is_empty(), "{failures:?}\n{}", text(&out));
    let samples = store.samples(run.id).unwrap();
    for platform in ["host", "vm"] {
        for (workload, metric, unit, better) in [
            ("disk-seq-read", "bandwidth", "MB/s", "higher"),
            ("disk-seq-write", "bandwidth", "MB/s", "higher"),
            ("disk-rand-read[mode=direct]", "iops", "IOPS", "higher"),
            ("disk-rand-read[mode=buffered]", "iops", "IOPS", "higher"),
            ("disk-rand-write", "iops", "IOPS", "higher"),
            ("disk-fsync", "latency", "µs", "lower"),
            ("net-bulk[direction=send]", "throughput", "Mbit/s", "higher"),
            (
                "net-bulk[direction=receive]",
                "throughput",
                "Mbit/s",
                "higher",
            ),
            ("net-rr", "latency", "µs", "lower"),
        ] {
            let measured: Vec<_> = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == workload && !s.warmup)
                .collect();
            assert_eq!(
                measured.len(),
                2,
                "{platform}/{workload}: two measured windows\n{}",
                text(&out)
            );
            for s in measured {
                assert!(s.value.is_finite() && s.value > 0.0, "{s:?}");
                assert_eq!(
                    (s.metric.as_str(), s.unit.as_str(), s.better.as_str()),
                    (metric, unit, better),
                    "{s:?}"
                );
                assert!(s.iterations > 0 && s.elapsed_ns > 0, "{s:?}");
            }
        }
    }

    let platforms = store.platforms(run.id).unwrap();
    let facts = |name: &str| -> &BTreeMap<String, String> {
        &platforms.iter().find(|p| p.name == name).unwrap().facts
    };
    let (host, vm) = (facts("host"), facts("vm"));
    // The guest's scratch disk: virtio-blk, in the cache mode asked for.
    assert_eq!(vm["qemu.disk_cache"], "writeback", "{vm:?}");
    assert_eq!(vm["disk.device"], "/dev/vda", "{vm:?}");
    assert_eq!(vm["disk.driver"], "virtio_blk", "{vm:?}");
    assert!(vm["disk.size_bytes"].parse::<u64>().unwrap() >= 8 << 20);
    assert!(vm["qemu.disk"].contains("virtio-blk-pci"), "{vm:?}");
    // Its modules came with the image, and its NIC reached the peer through QEMU's forwarding.
    for module in ["virtio_pci", "virtio_blk", "virtio_net"] {
        assert!(vm["modules.loaded"].contains(module), "{vm:?}");
    }
    assert!(!vm.contains_key("modules.failed"), "{vm:?}");
    assert_eq!(vm["net.interface"], "eth0");
    assert_eq!(vm["net.address"], "10.0.2.15/24");
    assert_eq!(vm["net.peer"], "10.0.2.100:5201");
    match hvbench_platform::trial::vnet::unavailable(true) {
        None => assert_eq!(vm["net.port"], "hvtap0", "{vm:?}"),
        Some(_) => assert!(vm["qemu.nic"].contains("restrict=on"), "{vm:?}"),
    }
    // The host ran on a scratch file, removed afterwards, and talked to loopback only.
    let path = Path::new(&host["disk.path"]);
    assert!(path.starts_with("/var/tmp") || std::env::var_os("HVBENCH_SCRATCH_DIR").is_some());
    assert!(!path.exists(), "the host's scratch file is removed");
    assert!(host["disk.region_vs_ram"].parse::<f64>().unwrap() > 0.0);
    assert!(host["net.peer"].starts_with("127.0.0.1:"), "{host:?}");
    assert!(!host.contains_key("disk.device"));

    // The guest's scratch image is gone with its trial.
    let qemu_dir = vm["qemu.disk"]
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    assert!(!Path::new(qemu_dir).exists(), "{qemu_dir} removed");
}

/// A guest of the user's own kernel gets no modules: with no built-in virtio drivers it has
/// no disk and no NIC, and the workloads say so instead of hanging or crashing.
#[test]
fn a_user_kernel_without_drivers_fails_clearly() {
    require_qemu();
    let cache = hvbench_platform::guest::cache::Cache::from_env();
    let kernel = hvbench_platform::guest::image::resolve_kernel(None, &cache)
        .expect("Debian's cloud kernel (fetched by the first guest test)");
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"name = "userkernel"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 10

[guest]
memory_mib = 256
timeout_s = 120
kernel = "{}"

[[platform]]
name = "vm"
driver = "qemu"
accel = "auto"

[[workload]]
name = "disk-rand-read"
size_mib = 1

[[workload]]
name = "net-rr"
"#,
        kernel.path.display()
    );
    std::fs::write(dir.path().join("u.toml"), spec).unwrap();
    let out = hvbench(&["run", "u.toml", "--db", "u.db"], dir.path());
    // The trial completes (the agent said Done); both workloads failed.
    let store = Store::open(&dir.path().join("u.db")).unwrap();
    let run = store.resolve_run(Some("userkernel")).unwrap();
    let failures = store.failures(run.id).unwrap();
    let reason = |w: &str| {
        failures
            .iter()
            .find(|f| f.workload.as_deref() == Some(w))
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| panic!("no failure for {w}: {failures:?}\n{}", text(&out)))
    };
    let disk = reason("disk-rand-read");
    assert!(
        disk.contains("no disk in this guest") && disk.contains("kernel = PATH"),
        "{disk}"
    );
    assert!(reason("net-rr").contains("cannot connect to the peer"));
    let vm = &store.platforms(run.id).unwrap()[0].facts;
    assert!(vm["modules.loaded"].starts_with("none"), "{vm:?}");
    assert_eq!(vm["guest.modules"], "none");
    assert!(store.samples(run.id).unwrap().is_empty());
}
