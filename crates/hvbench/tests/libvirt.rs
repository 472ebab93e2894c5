//! The libvirt driver end to end, against a real libvirtd (Debian's, started by the test in a
//! private mount namespace: `common::libvirtd`) running TCG guests on this machine: a campaign
//! beside its direct QEMU twin, the facts that explain their differences, and no domain left
//! behind by a trial that ran past its limit or by a Ctrl-C.

mod common;
use common::libvirtd::Libvirtd;
use common::{hvbench, require_qemu, text};

use hvbench_store::Store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn spec(uri: &str, timeout_s: u32, samples: u32, more: &str) -> String {
    format!(
        r#"name = "lv"
repetitions = 1
warmup = 1
samples = {samples}
min_window_ms = 30
seed = 5

[guest]
vcpus = 1
memory_mib = 256
timeout_s = {timeout_s}

[[platform]]
name = "lv-kvm"
driver = "libvirt"
hypervisor = "kvm"
accel = "tcg"
uri = "{uri}"
{more}
[[workload]]
name = "syscall"

[[workload]]
name = "disk-rand-read"
size_mib = 8
"#
    )
}

#[test]
fn a_campaign_through_libvirt_beside_its_direct_twin() {
    require_qemu();
    let libvirtd = Libvirtd::start();
    let dir = tempfile::tempdir().unwrap();
    let twin = "\n[[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\naccel = \"tcg\"\n\
                disk_cache = \"writeback\"\n";
    // A network workload too: the libvirt guest's NIC on the trial's bridge, as its twin's.
    let net = "\n[[workload]]\nname = \"net-rr\"\n";
    std::fs::write(
        dir.path().join("lv.toml"),
        spec(&libvirtd.uri(), 240, 2, twin) + net,
    )
    .unwrap();
    let plan = hvbench(&["plan", "lv.toml"], dir.path());
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("libvirt (qemu:///system?socket="),
        "{}",
        text(&plan)
    );
    let out = hvbench(
        &["run", "lv.toml", "--db", "lv.db", "--report", "report"],
        dir.path(),
    );
    assert!(out.status.success(), "{}\n{}", text(&out), libvirtd.log());
    let store = Store::open(&dir.path().join("lv.db")).unwrap();
    let run = store.resolve_run(Some("lv")).unwrap();
    assert!(store.failures(run.id).unwrap().is_empty(), "{}", text(&out));
    let samples = store.samples(run.id).unwrap();
    for platform in ["lv-kvm", "kvm"] {
        for workload in ["syscall", "disk-rand-read", "net-rr"] {
            let n = samples
                .iter()
                .filter(|s| s.platform == platform && s.workload == workload && !s.warmup)
                .filter(|s| s.value.is_finite() && s.value > 0.0)
                .count();
            assert_eq!(n, 2, "{platform}/{workload}\n{}", text(&out));
        }
    }
    let platforms = store.platforms(run.id).unwrap();
    let lv = &platforms.iter().find(|p| p.name == "lv-kvm").unwrap();
    assert_eq!(lv.driver, "libvirt");
    let f = &lv.facts;
    // The guest libvirt ran is the one hvbench described, and the agent saw it from inside.
    assert_eq!(f["libvirt.domain_type"], "qemu", "{f:?}");
    assert_eq!(f["accel"], "tcg");
    assert!(f["libvirt.library"].starts_with("libvirt "), "{f:?}");
    assert!(f["libvirt.domain_xml"].contains("<domain type='qemu'>"));
    assert_eq!(f["libvirt.domain_xml.sha256"].len(), 64);
    assert_eq!(f["disk.device"], "/dev/vda", "{f:?}");
    assert!(!f["mem.total_kib"].is_empty());
    // What libvirt chose where hvbench asked for nothing: the differences from the twin.
    assert!(f["libvirt.machine"].starts_with("pc-"), "{f:?}");
    assert!(f["libvirt.cpu.live"].contains("qemu64"), "{f:?}");
    assert!(f["libvirt.disk_cache"].starts_with("not set"), "{f:?}");
    assert!(
        f["libvirt.qemu_argv"].starts_with("/usr/bin/qemu-system-x86_64 "),
        "{f:?}"
    );
    // Its NIC: virtio-net on a tap libvirt opened, then moved onto the trial's bridge.
    assert_eq!(f["net.backend"], "tap", "{f:?}");
    assert_eq!(f["net.port"], "hvtap0", "{f:?}");
    assert_eq!(f["net.driver"], "virtio_net", "{f:?}");
    assert!(f["libvirt.qemu_argv"].contains("virtio-net-pci"), "{f:?}");
    // Evidence with the direct driver's collector, over hvbench's own QMP socket: under TCG,
    // the CPU time of QEMU's vCPU threads beside the counted window.
    let counters = store.counters(run.id).unwrap();
    assert!(
        counters.iter().any(|c| c.platform == "lv-kvm"
            && c.source == "host.threads"
            && c.key == "vcpu_cpu_ns"
            && c.value > 0.0),
        "{f:?}"
    );
    assert!(
        f["libvirt.qemu_argv"].contains(" -qmp unix:"),
        "evidence's own QMP socket: {f:?}"
    );
    // The report sets the libvirt platform beside its direct twin, with the defaults that differ.
    let md = std::fs::read_to_string(dir.path().join("report/report.md")).unwrap();
    let at = md
        .find("libvirt and its direct twin")
        .unwrap_or_else(|| panic!("{md}"));
    let twin = &md[at..];
    assert!(twin.contains("lv-kvm against kvm"), "{twin}");
    assert!(twin.contains("lv-kvm / kvm"), "{twin}");
    assert!(twin.contains("| syscall"), "{twin}");
    assert!(twin.contains("machine type: pc-"), "{twin}");
    assert!(twin.contains("directly (qemu.machine)"), "{twin}");
    assert_eq!(
        libvirtd.domains(),
        Vec::<String>::new(),
        "no domain is left"
    );
}

/// An isolation cell through libvirt: the victim and its aggressor each a transient domain, on
/// CPUs apart through `<cputune>` (vCPUs and QEMU's other threads), the aggressor's weight and
/// cap through `virsh schedinfo`; what libvirt has in force is recorded per instance.
#[test]
fn an_isolation_cell_placed_through_libvirt() {
    require_qemu();
    let libvirtd = Libvirtd::start();
    let dir = tempfile::tempdir().unwrap();
    let cell = "\n[[isolation]]\nname = \"hog\"\nvictim = [\"syscall\"]\nstressors = [\"cpu\"]\n\
                placements = [\"pinned-apart\"]\naggressor_weight = 50\naggressor_cap_pct = 50\n\
                settle_ms = 100\n";
    let text_of = spec(&libvirtd.uri(), 240, 2, "").replace(
        "\n[[workload]]\nname = \"disk-rand-read\"\nsize_mib = 8\n",
        "",
    ) + cell;
    std::fs::write(dir.path().join("iso.toml"), text_of).unwrap();
    let out = hvbench(&["run", "iso.toml", "--db", "iso.db"], dir.path());
    assert!(out.status.success(), "{}\n{}", text(&out), libvirtd.log());
    let store = Store::open(&dir.path().join("iso.db")).unwrap();
    let run = store.resolve_run(Some("lv")).unwrap();
    let samples = store.samples(run.id).unwrap();
    for scenario in ["hog/none", "hog/cpu/pinned-apart"] {
        assert!(
            samples
                .iter()
                .any(|s| s.scenario == scenario && s.guest == "victim" && !s.warmup),
            "{scenario}\n{}",
            text(&out)
        );
    }
    let f = &store.platforms(run.id).unwrap()[0].facts;
    let fact = |who: &str, k: &str| {
        f.get(&format!("isolation.hog/cpu/pinned-apart.{who}.{k}"))
            .cloned()
            .unwrap_or_else(|| panic!("{who}.{k} missing: {f:#?}"))
    };
    let (victim, aggressor) = (fact("victim", "cpus"), fact("aggressor1", "cpus"));
    assert_ne!(victim, aggressor);
    // libvirt's own account of the placement: each instance's vCPU on its CPUs.
    assert_eq!(
        fact("victim", "libvirt.applied.vcpupin"),
        format!("0:{victim}")
    );
    assert_eq!(
        fact("aggressor1", "libvirt.applied.vcpupin"),
        format!("0:{aggressor}")
    );
    assert_eq!(fact("aggressor1", "libvirt.applied.emulatorpin"), aggressor);
    // The weight and cap in force, as libvirt reads them back.
    let set = f.get("isolation.hog/cpu/pinned-apart.aggressor1.libvirt.applied.schedinfo.set");
    assert_eq!(set, None, "libvirt refused the weight or cap");
    // Weight 50 of cgroup v2's 100; on cgroup v1, 50% of cpu.shares' 1024.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let shares = if v2 { "50" } else { "512" };
    assert_eq!(
        fact("aggressor1", "libvirt.applied.schedinfo.cpu_shares"),
        shares
    );
    assert_eq!(
        fact("aggressor1", "libvirt.applied.schedinfo.global_quota"),
        "50000"
    );
    eprintln!(
        "aggressor's schedinfo: {:?}",
        f.iter()
            .filter(|(k, _)| k.contains("aggressor1.libvirt.applied"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        libvirtd.domains(),
        Vec::<String>::new(),
        "no domain is left"
    );
}

/// Wait until the daemon runs a domain; its name.
fn running_domain(libvirtd: &Libvirtd, child: &mut std::process::Child) -> String {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(d) = libvirtd.domains().into_iter().next() {
            return d;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "hvbench ended before its domain ran"
        );
        assert!(Instant::now() < until, "no domain after 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn no_domain_outlives_a_trial_past_its_limit_or_a_ctrl_c() {
    require_qemu();
    let libvirtd = Libvirtd::start();
    let dir = tempfile::tempdir().unwrap();
    // Far more windows than a 20 s limit allows under TCG: the trial is killed at its limit.
    std::fs::write(
        dir.path().join("slow.toml"),
        spec(&libvirtd.uri(), 20, 200, "").replace("min_window_ms = 30", "min_window_ms = 500"),
    )
    .unwrap();
    let out = hvbench(&["run", "slow.toml", "--db", "slow.db"], dir.path());
    assert!(!out.status.success(), "{}", text(&out));
    let store = Store::open(&dir.path().join("slow.db")).unwrap();
    let run = store.resolve_run(Some("lv")).unwrap();
    let failures = store.failures(run.id).unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.reason.contains("timed out after 20 s")),
        "{failures:?}\n{}",
        text(&out)
    );
    assert_eq!(libvirtd.domains(), Vec::<String>::new(), "{}", text(&out));

    // Ctrl-C while the guest runs: hvbench stops, and the domain goes with it.
    std::fs::write(
        dir.path().join("int.toml"),
        spec(&libvirtd.uri(), 240, 200, "").replace("min_window_ms = 30", "min_window_ms = 500"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "int.toml", "--db", "int.db"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let domain = running_domain(&libvirtd, &mut child);
    assert!(domain.starts_with("hvbench-lv-kvm-"), "{domain}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert_eq!(libvirtd.domains(), Vec::<String>::new());
}
