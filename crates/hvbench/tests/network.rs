//! Guests' networks through the `hvbench` command, with real TCG guests: a NIC on a tap on
//! hvbench's bridge in a network namespace made for the trial (`net = "tap"`), and one on
//! QEMU's user network (`net = "user"`); and what a run killed mid-trial leaves behind — its
//! namespace, with the peer still in it — removed by the next run on the machine. Timings are
//! never asserted.

mod common;
use common::{hvbench, require_qemu, text};

use hvbench_store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"name = "net"
repetitions = 1
warmup = 0
samples = 1
min_window_ms = 50
seed = 5

[guest]
vcpus = 1
memory_mib = 256
timeout_s = 240

[[platform]]
name = "tap"
driver = "qemu"
accel = "tcg"
net = "tap"

[[platform]]
name = "user"
driver = "qemu"
accel = "tcg"
net = "user"

[[workload]]
name = "net-bulk"

[[workload]]
name = "net-rr"
"#;

/// hvbench's namespaces on this machine now.
fn namespaces() -> BTreeSet<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(hvbench_platform::trial::vnet::NETNS_PREFIX))
        .map(String::from)
        .collect()
}

#[test]
fn tap_and_user_networks_and_nothing_left_after_a_killed_run() {
    require_qemu();
    if let Some(why) = hvbench_platform::trial::vnet::unavailable(true) {
        eprintln!("skipped: a tap network cannot be made here: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.toml"), SPEC).unwrap();

    // A run killed while a guest is on its tap: its namespace (and the peer in it) stays.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "net.toml", "--db", "t.db"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mine = format!(
        "{}{}-",
        hvbench_platform::trial::vnet::NETNS_PREFIX,
        child.id()
    );
    let started = Instant::now();
    let left = loop {
        if let Some(n) = namespaces().into_iter().find(|n| n.starts_with(&mine)) {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no namespace {mine}* appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "hvbench ended early");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(namespaces().contains(&left), "a SIGKILL leaves {left}");

    // The next run removes it (its process is gone), then runs what the killed one did not.
    let out = hvbench(&["run", "--resume", "1", "--db", "t.db"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let now = namespaces();
    assert!(!now.contains(&left), "{left} outlived its run: {now:?}");
    assert!(
        !now.iter().any(|n| n.starts_with(&mine)),
        "the resumed run left {now:?}"
    );

    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let samples = store.samples(1).unwrap();
    for platform in ["tap", "user"] {
        for workload in ["net-bulk", "net-rr"] {
            assert!(
                samples
                    .iter()
                    .any(|s| s.platform == platform && s.workload == workload && !s.warmup),
                "{platform}/{workload}\n{}",
                text(&out)
            );
        }
    }
    let platforms = store.platforms(1).unwrap();
    let facts = |name: &str| &platforms.iter().find(|p| p.name == name).unwrap().facts;
    let tap = facts("tap");
    assert_eq!(tap["net.backend"], "tap", "{tap:?}");
    assert_eq!(
        tap["net.port"],
        hvbench_platform::trial::vnet::TAP,
        "{tap:?}"
    );
    assert_eq!(tap["net.address"], "10.0.2.15/24", "{tap:?}");
    assert!(
        tap["net.port.mtu"].parse::<u32>().unwrap() >= 576,
        "{tap:?}"
    );
    assert!(tap.contains_key("net.port.offloads"), "{tap:?}");
    // vhost-net serves KVM guests only; this one runs under TCG.
    assert!(tap["net.vhost"].starts_with("off: "), "{tap:?}");
    assert_eq!(tap["net.vhost.workers"], "none", "{tap:?}");
    assert!(tap["qemu.nic"].contains("network namespace"), "{tap:?}");
    let user = facts("user");
    assert_eq!(user["net.backend"], "slirp", "{user:?}");
    assert!(user["qemu.nic"].contains("restrict=on"), "{user:?}");
    assert!(user["qemu.nic"].contains("slirp"), "{user:?}");
    assert!(!user.contains_key("net.port"), "{user:?}");

    // The report says what user-network figures measure.
    let report = hvbench(&["report", "--db", "t.db"], dir.path());
    let report = String::from_utf8_lossy(&report.stdout);
    let warnings: String = report
        .lines()
        .filter_map(|l| l.strip_prefix("!! "))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        warnings.contains("Platform user had the guest's NIC on QEMU's user network")
            && warnings.contains("measure QEMU's slirp"),
        "{report}"
    );
    assert!(!Path::new("/sys/class/net")
        .join(hvbench_platform::trial::vnet::BRIDGE)
        .exists());
}
