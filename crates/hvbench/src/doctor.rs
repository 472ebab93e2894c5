//! `hvbench doctor`: what this machine can run, and what would hurt measurement, each with the fix.

use hvbench_platform::drivers::kvm::{self, KvmStatus};
use hvbench_platform::drivers::qemu;
use hvbench_platform::guest::cache::Cache;
use std::fmt::Write;
use std::path::Path;

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Ok,
    Warn,
    Missing,
}

struct Check {
    level: Level,
    what: String,
    detail: String,
    fix: Option<String>,
}

fn check(level: Level, what: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        level,
        what: what.into(),
        detail: detail.into(),
        fix,
    }
}

pub fn report(cache: &Cache) -> String {
    let kvm = kvm::status();
    let xen = xen_status();
    let checks = vec![
        qemu_check(),
        kvm_check(&kvm),
        xen_check(&xen),
        libvirt_check(),
        lab_check(cache),
        network_check(),
        kernel_check(cache),
        governor_check(),
        thp_check(),
        smt_check(),
        virtual_host_check(),
        load_check(),
    ];
    let mut out = String::new();
    write_checks(&mut out, &checks);
    out.push('\n');
    out.push_str(&what_runs_here(kvm.is_usable(), xen.usable()));
    let tcg = !kvm.is_usable();
    let _ = writeln!(
        out,
        "\n{}",
        if tcg {
            "Summary: QEMU guests here run under TCG (software emulation); their timings measure emulation, not hardware virtualization."
        } else {
            "Summary: QEMU guests here run under KVM."
        }
    );
    out
}

/// One line per check, `[ok  ]`, `[warn]` or `[no  ]`, and its fix below it.
fn write_checks(out: &mut String, checks: &[Check]) {
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Missing => "no  ",
        };
        let _ = writeln!(out, "[{tag}] {}: {}", c.what, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "       fix: {fix}");
        }
    }
}

fn qemu_check() -> Check {
    let bin = qemu::qemu_binary();
    match qemu::qemu_version(&bin) {
        Ok(v) => check(Level::Ok, "QEMU", format!("{} {v}", bin.display()), None),
        Err(_) => check(
            Level::Missing,
            "QEMU",
            format!("{} not found", bin.display()),
            Some("apt-get install qemu-system-x86".into()),
        ),
    }
}

/// What this machine can run on its own hypervisors, and where a fair Xen-vs-KVM comparison
/// runs instead: real hardware needs two machines (`[[host]]` over SSH) or one dual-boot
/// machine (`[[host.boot]]`); the lab (`lab = true`) runs both nested under TCG, with emulated
/// timings (docs/architecture.md, "The lab", "Machines over SSH", "Dual-boot hosts").
fn what_runs_here(kvm_usable: bool, xen_usable: bool) -> String {
    let mut out = String::from("Where guests run:\n");
    let mut line = |s: &str| {
        let _ = writeln!(out, "  {s}");
    };
    if !kvm_usable && !xen_usable {
        line(
            "this machine can run neither KVM nor Xen guests itself: platforms with `lab = true` (as in \
             examples/xen-vs-kvm.toml) run them in hvbench's lab, a real Xen or KVM host nested under \
             QEMU's TCG here; their timings are emulated. With `lab = false`, qemu platforms run under TCG \
             here (accel = \"auto\") and xen platforms cannot run.",
        );
        line(
            "for real numbers, run the guests on machines that can: Xen and KVM on two machines \
             ([[host]] over SSH, examples/two-hosts.toml; check each with `hvbench doctor --host`), or \
             one dual-boot machine rebooted between them ([[host.boot]], examples/dual-boot.toml).",
        );
        return out;
    }
    if kvm_usable {
        line(
            "KVM: usable here — `lab = false` qemu platforms run on this machine's own KVM (accel = \"kvm\"), \
             with real timings.",
        );
    } else {
        line("KVM: not usable in this boot (see the KVM check above).");
    }
    if xen_usable {
        line(
            "Xen: usable here (this is a dom0 and `xl` answers) — `lab = false` xen platforms run on this \
             machine's own Xen, with real timings.",
        );
    } else {
        line("Xen: not running here (this machine is not booted into Xen as a dom0).");
    }
    line(
        "examples/xen-vs-kvm.toml sets `lab = true` on every guest platform, so as written its guests run in \
         the lab here too (emulated timings); set `lab = false` to run them on this machine's own hypervisor.",
    );
    line(
        "a fair Xen-vs-KVM comparison on real hardware needs both hypervisors on bare metal: two machines \
         ([[host]] over SSH, one booted into Xen, one with KVM: examples/two-hosts.toml) or one dual-boot \
         machine rebooted between Xen and KVM ([[host.boot]], examples/dual-boot.toml), not the lab.",
    );
    out
}

fn kvm_check(status: &KvmStatus) -> Check {
    match status.clone() {
        KvmStatus::Usable { module, nested } => check(
            Level::Ok,
            "KVM",
            format!(
                "usable ({module}, nested={})",
                nested.as_deref().unwrap_or("unknown")
            ),
            None,
        ),
        KvmStatus::Unusable { reason, hint } => check(
            Level::Warn,
            "KVM",
            format!("not usable: {reason}"),
            Some(format!("{hint}; until then accel = \"auto\" uses TCG")),
        ),
    }
}

/// Guests' networks: a tap on a bridge in a network namespace made per trial, and vhost-net for
/// KVM guests (docs/architecture.md, "Guests' networks").
fn network_check() -> Check {
    match hvbench_platform::trial::vnet::unavailable(true) {
        Some(why) => check(
            Level::Warn,
            "guest network",
            format!("no tap can be made here ({why}): QEMU guests fall back to QEMU's user network (slirp), and Xen platforms with network workloads are refused"),
            Some("run hvbench as root with iproute2 installed and the tun module available".into()),
        ),
        None => {
            let vhost = match hvbench_platform::trial::vnet::vhost_unavailable() {
                None => "vhost-net available for KVM guests".to_string(),
                Some(why) => format!("no vhost-net ({why})"),
            };
            check(
                Level::Ok,
                "guest network",
                format!("a tap on a bridge in a network namespace per trial; {vhost}"),
                None,
            )
        }
    }
}

/// Whether this machine runs under Xen, is its dom0, and `xl info` answers.
struct XenStatus {
    hypervisor: String,
    dom0: bool,
    xl: bool,
}

impl XenStatus {
    /// A dom0 whose toolstack answers: Xen guests run here.
    fn usable(&self) -> bool {
        self.hypervisor == "xen" && self.dom0 && self.xl
    }
}

fn xen_status() -> XenStatus {
    XenStatus {
        hypervisor: read_trim("/sys/hypervisor/type").unwrap_or_default(),
        dom0: read_trim("/proc/xen/capabilities").is_some_and(|c| c.contains("control_d")),
        xl: std::process::Command::new("xl")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success()),
    }
}

/// Xen directly: this machine is a dom0 with a working toolstack.
fn xen_check(status: &XenStatus) -> Check {
    match (status.hypervisor.as_str(), status.dom0, status.xl) {
        ("xen", true, true) => check(Level::Ok, "Xen", "usable directly: this is a dom0 and `xl info` answers", None),
        ("xen", true, false) => check(
            Level::Warn,
            "Xen",
            "this is a dom0, but `xl info` fails",
            Some("start the toolstack: systemctl start xencommons (or /etc/init.d/xen start)".into()),
        ),
        _ => check(
            Level::Warn,
            "Xen",
            "not usable directly (this machine is not a Xen dom0); platforms with lab = true run it in the emulated lab",
            Some("boot this machine into Xen (xen-system-amd64) for real numbers, or use lab = true".into()),
        ),
    }
}

/// libvirt (`driver = "libvirt"`): virsh, and a libvirtd answering at the default URIs.
fn libvirt_check() -> Check {
    use hvbench_platform::drivers::libvirt::{version_facts, virsh};
    let what = "libvirt";
    let timeout = std::time::Duration::from_secs(20);
    if std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_err()
    {
        return check(
            Level::Warn,
            what,
            "virsh is not installed: driver = \"libvirt\" cannot run here (it can in the lab)",
            Some(
                "apt-get install libvirt-daemon-system libvirt-clients (with \
                 libvirt-daemon-driver-qemu or libvirt-daemon-driver-xen)"
                    .into(),
            ),
        );
    }
    let answering: Vec<String> = ["qemu:///system", "xen:///system"]
        .into_iter()
        .filter_map(|uri| {
            let text = virsh(uri, &["version"], timeout).ok()?;
            let hv = version_facts(&text)
                .into_iter()
                .find(|(k, _)| *k == "libvirt.hypervisor")
                .map_or_else(String::new, |(_, v)| format!(" ({v})"));
            Some(format!("{uri}{hv}"))
        })
        .collect();
    if answering.is_empty() {
        check(
            Level::Warn,
            what,
            "virsh is installed, but no libvirtd answers at qemu:///system or xen:///system",
            Some("start libvirtd (systemctl start libvirtd), or set `uri` on the platform".into()),
        )
    } else {
        check(
            Level::Ok,
            what,
            format!("libvirtd answers at {}", answering.join(", ")),
            None,
        )
    }
}

/// The lab: a Xen and a KVM host nested under TCG, for machines that have neither.
fn lab_check(cache: &Cache) -> Check {
    let qemu = qemu::qemu_version(&qemu::qemu_binary()).is_ok();
    match (hvbench_platform::lab::cached(cache), qemu) {
        (_, false) => check(
            Level::Missing,
            "lab (Xen and KVM under TCG)",
            "needs QEMU",
            Some("apt-get install qemu-system-x86".into()),
        ),
        (Some(images), true) => check(
            Level::Ok,
            "lab (Xen and KVM under TCG)",
            format!(
                "built ({}); Xen and KVM are usable through the lab, with emulated timings",
                images.key
            ),
            None,
        ),
        (None, true) => check(
            Level::Warn,
            "lab (Xen and KVM under TCG)",
            "not built yet; Xen and KVM are usable through the lab once it is",
            Some("hvbench lab build (as root; a few minutes, cached afterwards)".into()),
        ),
    }
}

fn kernel_check(cache: &Cache) -> Check {
    let dir = cache.root().join("kernels");
    let cached: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("vmlinuz").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if cached.is_empty() {
        check(
            Level::Warn,
            "guest kernel",
            format!("none cached in {}", dir.display()),
            Some("the first `hvbench run` fetches Debian's linux-image-cloud-amd64 (needs apt lists: apt-get update)".into()),
        )
    } else {
        check(
            Level::Ok,
            "guest kernel",
            format!("cached: {}", cached.join(", ")),
            None,
        )
    }
}

fn read_trim(p: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn governor_check() -> Check {
    match read_trim("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") {
        None => check(
            Level::Ok,
            "CPU governor",
            "no cpufreq interface (frequency not controlled by this kernel)",
            None,
        ),
        Some(g) if g == "performance" => check(Level::Ok, "CPU governor", g, None),
        Some(g) => check(
            Level::Warn,
            "CPU governor",
            format!("{g}: frequency changes under load add noise"),
            Some("cpupower frequency-set -g performance".into()),
        ),
    }
}

fn thp_check() -> Check {
    let raw = read_trim("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let mode = raw
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(['[', ']']).to_string());
    match mode.as_deref() {
        None => check(Level::Ok, "transparent huge pages", "not available", None),
        Some("always") => check(
            Level::Warn,
            "transparent huge pages",
            "always: memory workloads vary with khugepaged's timing",
            Some("echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (and record it: hvbench does)".into()),
        ),
        Some(m) => check(Level::Ok, "transparent huge pages", m.to_string(), None),
    }
}

fn smt_check() -> Check {
    match read_trim("/sys/devices/system/cpu/smt/active").as_deref() {
        Some("1") => check(
            Level::Warn,
            "SMT",
            "active: sibling hyperthreads share a core with the measurement",
            Some("pin platforms to separate cores, or echo off > /sys/devices/system/cpu/smt/control".into()),
        ),
        Some(_) => check(Level::Ok, "SMT", "inactive", None),
        None => check(Level::Ok, "SMT", "unknown (no sysfs control)", None),
    }
}

fn virtual_host_check() -> Check {
    if hvbench_platform::drivers::host::host_is_virtual() {
        check(
            Level::Warn,
            "bare metal",
            "this machine is itself a virtual machine (CPUID hypervisor bit): the `host` baseline is a guest of another hypervisor",
            Some("run on bare metal for absolute numbers; ratios measured side by side remain meaningful".into()),
        )
    } else {
        check(Level::Ok, "bare metal", "no hypervisor bit", None)
    }
}

fn load_check() -> Check {
    let load: f64 = read_trim("/proc/loadavg")
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if load > 0.5 {
        check(
            Level::Warn,
            "other load",
            format!("1-minute load average {load:.2} on {cpus} CPUs: other work competes with the measurement"),
            Some("stop other jobs before measuring".into()),
        )
    } else {
        check(
            Level::Ok,
            "other load",
            format!("load average {load:.2} on {cpus} CPUs"),
            None,
        )
    }
}

/// `hvbench doctor --host`: check a machine from afar — reachable, key trusted, login works
/// (all three by connecting), root, KVM usable, Xen dom0 with `xl`, QEMU, cache space — with the
/// executor that campaigns run there. Returns the report and whether the host can be used.
pub fn host_report(host: &hvbench_spec::HostSpec) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "host `{}` ({}):", host.name, host.ssh);
    let mut say = |m: &str| eprintln!("ssh: {m}");
    let facts = match hvbench_platform::remote::probe(host, crate::executor::EXECUTOR, &mut say) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(out, "[no  ] SSH: {e}");
            return (out, false);
        }
    };
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("");
    let mut checks = vec![check(
        Level::Ok,
        "SSH",
        format!(
            "reachable, host key trusted, login works; {} {} ({} CPUs), kernel {}",
            get("machine"),
            if get("host.virtual") == "true" {
                "virtual machine"
            } else {
                "machine"
            },
            get("cpus"),
            get("kernel.release")
        ),
        None,
    )];
    checks.push(if get("root") == "true" {
        check(Level::Ok, "root", "logged in as root", None)
    } else {
        check(
            Level::Warn,
            "root",
            "not root: xl, KVM's /dev/kvm and cgroups usually need it",
            Some(format!(
                "log in as root: ssh = \"root@{}\"",
                host.ssh.address
            )),
        )
    });
    checks.push(if get("kvm.rw") == "true" {
        check(Level::Ok, "KVM", "/dev/kvm opens read-write", None)
    } else {
        check(
            Level::Missing,
            "KVM",
            format!(
                "not usable: {}",
                facts.get("kvm.error").map_or("-", |e| e.as_str())
            ),
            Some("boot the machine into plain Linux with kvm-intel or kvm-amd loaded".into()),
        )
    });
    let xl = get("xl");
    checks.push(match (get("xen.control_d") == "true", xl.is_empty()) {
        (true, false) => check(Level::Ok, "Xen", format!("dom0, xl at {xl}"), None),
        (true, true) => check(
            Level::Missing,
            "Xen",
            "dom0, but no xl on the login PATH",
            Some("apt-get install xen-utils (and put /usr/sbin on root's PATH)".into()),
        ),
        (false, _) => check(
            Level::Missing,
            "Xen",
            "not a Xen dom0",
            Some("boot the machine with Xen (grub: Debian GNU/Linux, with Xen hypervisor)".into()),
        ),
    });
    let qemu = get("qemu");
    checks.push(if qemu.is_empty() {
        check(
            Level::Missing,
            "QEMU",
            "qemu-system-x86_64 not found",
            Some("apt-get install qemu-system-x86 (for KVM platforms)".into()),
        )
    } else {
        check(Level::Ok, "QEMU", qemu.to_string(), None)
    });
    checks.push(match (get("net.tap"), get("net.vhost")) {
        ("ok", vhost) => check(
            Level::Ok,
            "guest network",
            format!(
                "a tap on a bridge in a network namespace per trial; {}",
                if vhost == "ok" {
                    "vhost-net available for KVM guests".to_string()
                } else {
                    format!("no vhost-net ({vhost})")
                }
            ),
            None,
        ),
        ("", _) => check(
            Level::Warn,
            "guest network",
            "unknown (an older executor)",
            None,
        ),
        (why, _) => check(
            Level::Warn,
            "guest network",
            format!("no tap can be made there ({why}): QEMU guests fall back to slirp, and Xen platforms with network workloads are refused"),
            Some("log in as root and install iproute2".into()),
        ),
    });
    let free: Option<u64> = get("cache.free_bytes").parse().ok();
    checks.push(match free {
        Some(b) if b >= 2 << 30 => check(
            Level::Ok,
            "cache",
            format!(
                "{} ({:.1} GiB free)",
                get("cache.dir"),
                b as f64 / (1u64 << 30) as f64
            ),
            None,
        ),
        Some(b) => check(
            Level::Warn,
            "cache",
            format!(
                "{} has only {:.2} GiB free",
                get("cache.dir"),
                b as f64 / (1u64 << 30) as f64
            ),
            Some("free space there or set cache_dir in the [[host]]".into()),
        ),
        None => check(
            Level::Warn,
            "cache",
            format!(
                "free space unknown: {}",
                facts.get("cache.error").map_or("-", |e| e.as_str())
            ),
            None,
        ),
    });
    write_checks(&mut out, &checks);
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::what_runs_here;

    #[test]
    fn without_kvm_or_xen_the_lab_runs_the_guests() {
        let text = what_runs_here(false, false);
        assert!(
            text.contains("can run neither KVM nor Xen guests itself")
                && text.contains("`lab = true`")
                && text.contains("[[host]] over SSH")
                && text.contains("examples/dual-boot.toml"),
            "{text}"
        );
        assert!(!text.contains("usable here"), "{text}");
    }

    #[test]
    fn with_kvm_it_says_what_runs_here_and_where_a_fair_comparison_runs() {
        let text = what_runs_here(true, false);
        assert!(
            text.contains(
                "KVM: usable here — `lab = false` qemu platforms run on this machine's own KVM"
            ),
            "{text}"
        );
        assert!(text.contains("Xen: not running here"), "{text}");
        assert!(
            text.contains("two machines ([[host]] over SSH")
                && text.contains("one dual-boot machine")
                && text.contains("[[host.boot]], examples/dual-boot.toml")
                && text.contains("not the lab"),
            "{text}"
        );
    }

    #[test]
    fn a_dom0_runs_xen_guests_itself() {
        let text = what_runs_here(false, true);
        assert!(
            text.contains("Xen: usable here") && text.contains("KVM: not usable in this boot"),
            "{text}"
        );
        assert!(text.contains("examples/dual-boot.toml"), "{text}");
    }
}
