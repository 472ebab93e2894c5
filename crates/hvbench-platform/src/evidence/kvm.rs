//! Counting beside a QEMU guest: KVM's statistics of the VM's vCPUs (debugfs; QMP's
//! `query-stats` kicks every vCPU out of the guest to answer, so it is not used), VM exits by reason from the `kvm:kvm_exit` tracepoint
//! (a tracefs histogram keyed on thread and exit reason, read for the VM's vCPU threads), and
//! the CPU time of the VM's host-side threads (vCPU threads apart from QEMU's others).
//!
//! The histogram is the kernel's own aggregation (Documentation/trace/histogram.rst): no event
//! is copied to user space, so counting costs a few instructions per exit. It is installed when
//! the first window begins and removed when the trial ends.

use super::parse::{kvm_exit_hist, svm_exit_name, task_cpu_ticks, vmx_exit_name};
use super::{delta, tick_ns, Collector, Counted, WindowKey};
use crate::drivers::qemu::qmp::Qmp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const TRACEFS: &str = "/sys/kernel/tracing";
/// The histogram hvbench installs on `kvm:kvm_exit`: hit counts by thread and exit reason.
const HIST: &str = "hist:keys=common_pid,exit_reason:vals=hitcount:size=8192";

/// What one snapshot read.
struct Snapshot {
    at: Instant,
    stats: Option<BTreeMap<String, f64>>,
    exits: Option<BTreeMap<u32, u64>>,
    /// (vCPU threads, other threads) CPU time in ticks.
    threads: Option<(u64, u64)>,
}

/// The collector of one QEMU trial.
pub struct KvmCollector {
    socket: PathBuf,
    qmp: Option<Qmp>,
    vcpus: Vec<u32>,
    pid: Option<u32>,
    trigger: Option<PathBuf>,
    svm: bool,
    before: Option<Snapshot>,
    facts: BTreeMap<String, String>,
    connected_once: bool,
    /// Whether the guest runs under KVM (else QEMU's own emulation: threads only).
    kvm: bool,
}

impl KvmCollector {
    /// A collector that will reach QEMU on `socket` (its `-qmp` socket) once the first window
    /// begins. `kvm`: whether the guest runs under KVM (else only thread times are counted).
    pub fn new(socket: &Path, kvm: bool) -> KvmCollector {
        let mut facts = BTreeMap::new();
        if kvm {
            for p in ["halt_poll_ns", "halt_poll_ns_grow", "halt_poll_ns_shrink"] {
                if let Ok(v) = std::fs::read_to_string(format!("/sys/module/kvm/parameters/{p}")) {
                    facts.insert(format!("kvm.{p}"), v.trim().to_string());
                }
            }
            if let Ok(v) =
                std::fs::read_to_string("/sys/module/kvm_intel/parameters/vmentry_l1d_flush")
            {
                facts.insert("kvm.vmentry_l1d_flush".into(), v.trim().to_string());
            }
        }
        KvmCollector {
            socket: socket.to_path_buf(),
            qmp: None,
            vcpus: Vec::new(),
            pid: None,
            trigger: None,
            svm: std::path::Path::new("/sys/module/kvm_amd").exists(),
            before: None,
            facts,
            connected_once: false,
            kvm,
        }
    }

    /// Connect to QMP, learn the vCPU threads and install the exit histogram, once.
    fn connect(&mut self) {
        if self.connected_once {
            return;
        }
        self.connected_once = true;
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        match Qmp::connect(&self.socket, deadline, &stop) {
            Ok(mut qmp) => {
                if let Ok(reply) = qmp.execute(r#"{"execute":"query-cpus-fast"}"#) {
                    self.vcpus = super::parse::vcpu_threads(&reply.to_string());
                }
                self.qmp = Some(qmp);
            }
            Err(e) => {
                self.facts
                    .insert("evidence.kvm.stats".into(), format!("unavailable: {e}"));
            }
        }
        self.pid = self.vcpus.first().and_then(|t| thread_group(*t));
        if !self.kvm {
            return;
        }
        match install_histogram() {
            Ok(trigger) => self.trigger = Some(trigger),
            Err(e) => {
                self.facts
                    .insert("evidence.kvm.exits".into(), format!("unavailable: {e}"));
            }
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        // KVM's statistics of this VM from debugfs, not QMP's `query-stats`: QEMU answers that
        // by running a function on every vCPU thread, kicking it out of the guest, which in
        // the lab left nested guests hung or rebooted. Reading debugfs disturbs no vCPU.
        let stats = self.pid.filter(|_| self.kvm).and_then(debugfs_stats);
        let exits = self.trigger.as_ref().and_then(|t| {
            let hist = std::fs::read_to_string(t.with_file_name("hist")).ok()?;
            Some(kvm_exit_hist(&hist, &self.vcpus))
        });
        let threads = self.pid.map(|pid| thread_ticks(pid, &self.vcpus));
        Snapshot {
            at: Instant::now(),
            stats,
            exits,
            threads,
        }
    }

    fn exit_name(&self, code: u32) -> String {
        let name = if self.svm {
            svm_exit_name(code)
        } else {
            vmx_exit_name(code)
        };
        match name {
            Some(n) => format!("exit.{n}"),
            None => format!("exit.{code:#x}"),
        }
    }
}

impl Collector for KvmCollector {
    fn begin(&mut self) {
        self.connect();
        self.before = Some(self.snapshot());
    }

    fn end(&mut self, _window: &WindowKey) -> Vec<Counted> {
        let Some(before) = self.before.take() else {
            return Vec::new();
        };
        let after = self.snapshot();
        let span_ns = after.at.duration_since(before.at).as_nanos() as u64;
        let mut out = Vec::new();
        if let (Some(a), Some(b)) = (&before.stats, &after.stats) {
            out.push(("kvm.stats".to_string(), span_ns, delta(a, b)));
        }
        if let (Some(a), Some(b)) = (&before.exits, &after.exits) {
            let mut values = BTreeMap::new();
            for (code, n) in b {
                let d = n.saturating_sub(a.get(code).copied().unwrap_or(0));
                if d > 0 {
                    *values.entry(self.exit_name(*code)).or_insert(0.0) += d as f64;
                }
            }
            out.push(("kvm.exits".to_string(), span_ns, values));
        }
        if let (Some((va, oa)), Some((vb, ob))) = (before.threads, after.threads) {
            let tick = tick_ns();
            out.push((
                "host.threads".to_string(),
                span_ns,
                BTreeMap::from([
                    (
                        "vcpu_cpu_ns".to_string(),
                        vb.saturating_sub(va) as f64 * tick,
                    ),
                    (
                        "other_cpu_ns".to_string(),
                        ob.saturating_sub(oa) as f64 * tick,
                    ),
                ]),
            ));
        }
        out
    }

    fn finish(&mut self) -> Vec<(WindowKey, Counted)> {
        if let Some(t) = self.trigger.take() {
            // Remove the histogram: `!` + the trigger as it was written.
            let _ = add_trigger(&t, &format!("!{HIST}"));
        }
        Vec::new()
    }

    fn facts(&mut self) -> BTreeMap<String, String> {
        std::mem::take(&mut self.facts)
    }
}

/// Install [`HIST`] on `kvm:kvm_exit`, mounting tracefs first when it is not (as root).
/// Returns the trigger file.
fn install_histogram() -> Result<PathBuf, String> {
    let event = Path::new(TRACEFS).join("events/kvm/kvm_exit");
    if !event.exists() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "tracefs", "nodev", TRACEFS])
            .output();
    }
    if !event.exists() {
        return Err(format!(
            "{} is missing (no tracefs, or the kvm module is not loaded)",
            event.display()
        ));
    }
    let trigger = event.join("trigger");
    // A histogram left by a killed run would make this write fail: remove it first.
    let _ = add_trigger(&trigger, &format!("!{HIST}"));
    add_trigger(&trigger, HIST)
        .map_err(|e| format!("cannot install a histogram on kvm:kvm_exit: {e}"))?;
    Ok(trigger)
}

/// Write one command to an event's `trigger` file, appending: opening it with `O_TRUNC` (as
/// `std::fs::write` does) removes every trigger of the event, others' included — the KVM lab
/// host's watch for nested guests' triple faults (`lab_init.sh`) was lost so after each trial.
fn add_trigger(file: &Path, command: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(file)?
        .write_all(command.as_bytes())
}

/// KVM's statistics of process `pid`'s VM, summed over its vCPUs: the files of
/// `/sys/kernel/debug/kvm/PID-FD/` (Documentation/virt/kvm/api.rst, "KVM_GET_STATS_FD", names
/// the same statistics), mounting debugfs as root when it is not.
fn debugfs_stats(pid: u32) -> Option<BTreeMap<String, f64>> {
    let root = Path::new("/sys/kernel/debug/kvm");
    if !root.exists() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "debugfs", "none", "/sys/kernel/debug"])
            .output();
    }
    let prefix = format!("{pid}-");
    let vm = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))?
        .path();
    let mut stats = BTreeMap::new();
    for dir in std::fs::read_dir(&vm).ok()?.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !name.starts_with("vcpu") || !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).ok()?.flatten() {
            let value = std::fs::read_to_string(f.path())
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            if let Some(v) = value {
                *stats
                    .entry(f.file_name().to_string_lossy().into_owned())
                    .or_insert(0.0) += v as f64;
            }
        }
    }
    (!stats.is_empty()).then_some(stats)
}

/// The process a thread belongs to (`Tgid:` of /proc/TID/status).
fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU ticks (user + system) of process `pid`'s threads: those in `vcpus`, and the others.
fn thread_ticks(pid: u32, vcpus: &[u32]) -> (u64, u64) {
    let mut vcpu = 0u64;
    let mut other = 0u64;
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((u, s)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|t| task_cpu_ticks(&t))
        else {
            continue;
        };
        if vcpus.contains(&tid) {
            vcpu += u + s;
        } else {
            other += u + s;
        }
    }
    (vcpu, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_threads_and_a_group() {
        let pid = std::process::id();
        assert_eq!(thread_group(pid), Some(pid));
        let (vcpu, _other) = thread_ticks(pid, &[]);
        assert_eq!(vcpu, 0, "no thread is a vCPU");
    }

    #[test]
    fn a_collector_without_qemu_counts_nothing_and_says_why() {
        let mut c = KvmCollector::new(Path::new("/nonexistent/qmp.sock"), false);
        c.connected_once = true; // do not wait for a QMP socket that will never come
        c.begin();
        let counted = c.end(&WindowKey {
            workload: "w".into(),
            metric: "m".into(),
            index: 1,
        });
        assert!(counted.is_empty(), "{counted:?}");
    }
}
