//! Lab faults (docs/architecture.md, "The lab"): a trial in the lab that failed because the lab
//! itself did — its emulated host wedged (a soft lockup or an RCU stall on its console, its
//! sshd refusing or silent), or the emulator reset the nested guest under the trial — rather
//! than because the platform did. Such a trial is recorded as a lab fault, with what the lab
//! host's console and kernel logs said, and run again; a wedged host is restarted first.

/// Lines of a lab host's console that say it is wedged or dying: the Linux kernel's soft-lockup
/// and hung-task watchdogs, RCU's stall detector, oopses and panics (Linux's or Xen's).
const WEDGE_SIGNS: &[&str] = &[
    "soft lockup",
    "self-detected stall",
    "rcu_preempt detected stalls",
    "rcu_sched detected stalls",
    "blocked for more than",
    "Kernel panic",
    "(XEN) Panic",
    "general protection fault",
    "BUG: unable to handle",
    "Oops:",
];

/// What a failed trial's reason says when the nested guest under it vanished while its agent
/// still ran: QEMU (KVM) or `xl` (Xen) ended with status 0, which a guest reset by the emulator
/// or a domain crashed under Xen looks like from the lab host.
const GUEST_GONE: &str = "exited (exit status: 0) before the agent finished";

/// What a failed trial's reason says when the nested guest hung: it sent no `Done` before its
/// timeout, or nothing at all for [`SILENCE`], while the lab host stayed well. In the lab this
/// has been the emulator's doing (a nested KVM guest under TCG hung right after a truncated
/// frame, or after a whole one: docs/known-limits.md); a platform that really hangs still fails
/// once its reruns are spent.
const GUEST_HUNG: &[&str] = &["timed out after", "silent for "];

/// How long a lab trial's session may send nothing before it is given up as hung (a nested
/// guest's boot and its slowest window in the lab take well under a minute).
pub const SILENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// What ssh says when the lab host's sshd refused, reset or never answered.
const SSH_GONE: &[&str] = &[
    "ssh exited (exit status: 255)",
    "Connection reset by peer",
    "Connection refused",
    "Connection timed out",
    "kex_exchange_identification",
    "banner exchange",
    "no answer within",
];

/// A lab fault as found: what kind, whether the lab host must be restarted, and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct LabFault {
    pub kind: FaultKind,
    /// The console lines that say the host wedged (at most [`MAX_LINES`]).
    pub console: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The lab host's kernel or hypervisor wedged (console lines) or its sshd stopped answering:
    /// it is restarted.
    HostWedged,
    /// The nested guest under the trial vanished while the lab host stayed well.
    GuestLost,
}

impl FaultKind {
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::HostWedged => "the lab host wedged (restarted)",
            FaultKind::GuestLost => "the nested guest was lost under the emulator",
        }
    }
}

/// At most this many console lines are kept as evidence.
const MAX_LINES: usize = 6;

/// The lab fault behind a trial that ended with `reason`, given what the lab host's console
/// printed during the trial and whether its sshd still answers; `None` when the lab looks well
/// and the failure is the platform's own.
pub fn diagnose(reason: &str, console: &str, ssh_answers: bool) -> Option<LabFault> {
    let lines: Vec<String> = console
        .lines()
        .filter(|l| WEDGE_SIGNS.iter().any(|s| l.contains(s)))
        .map(|l| l.trim().chars().take(240).collect())
        .take(MAX_LINES)
        .collect();
    if !lines.is_empty() || !ssh_answers {
        return Some(LabFault {
            kind: FaultKind::HostWedged,
            console: lines,
        });
    }
    if reason.contains(GUEST_GONE)
        || GUEST_HUNG.iter().any(|s| reason.contains(s))
        || SSH_GONE.iter().any(|s| reason.contains(s))
    {
        return Some(LabFault {
            kind: FaultKind::GuestLost,
            console: lines,
        });
    }
    None
}

impl LabFault {
    /// One line for the store and the report: the kind, the trial's own reason, the console's
    /// lines and the lab host's logs (`logs`: what its kernel and hypervisor said last).
    pub fn explain(&self, host: &str, reason: &str, logs: &str) -> String {
        let mut s = format!(
            "{} ({host} lab host): {}",
            self.kind.describe(),
            one_line(reason)
        );
        if !self.console.is_empty() {
            s.push_str(&format!("; console: {}", self.console.join(" | ")));
        }
        let logs = one_line(logs);
        if !logs.is_empty() {
            s.push_str(&format!("; lab host logs: {logs}"));
        }
        s
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What to ask a lab host after a fault: the last lines of its kernel log, and of Xen's where it
/// is dom0, that say something went wrong (a guest's triple fault, a crashed domain, a lockup);
/// and on the KVM lab host, the SVM SHUTDOWN exits (a nested guest's triple fault) its init
/// counts by guest RIP (`lab_init.sh`), which are then cleared so that each fault shows its own,
/// and the nested page faults taken in the nested guests' page walks (per QEMU thread).
pub const LOGS_SCRIPT: &str = "{ dmesg 2>/dev/null | tail -n 200; xl dmesg 2>/dev/null | tail -n 200; } \
     | grep -i -E 'lockup|stall|blocked for|panic|crash|triple|oom|killed process|segfault|general protection|bug:|oops' \
     | tail -n 8; \
     t=/sys/kernel/tracing/events/kvm/kvm_exit; \
     grep -h '^{ common_pid:.*guest_rip:' $t/hist 2>/dev/null | tr -s ' \t' ' ' | sed 's/^/triple fault (SVM shutdown exit): /' | tail -n 4; \
     grep -h '^{ common_pid:' $t/hist 2>/dev/null | grep -v guest_rip | tr -s ' \t' ' ' | sed 's/^/nested page faults in page walks since boot: /' | tail -n 4; \
     echo 'hist:keys=common_pid,guest_rip:vals=hitcount:clear if exit_reason == 127' >> $t/trigger 2>/dev/null; true";

#[cfg(test)]
mod tests {
    use super::*;

    /// As the KVM lab host's console printed it when it wedged in a user's run (issue 21).
    const WEDGED: &str = "[  270.112233] rcu: INFO: rcu_preempt self-detected stall on CPU\n\
        [  271.000000] rcu: \t1-....: (20999 ticks this GP)\n\
        [  300.1] watchdog: BUG: soft lockup - CPU#1 stuck for 48s! [qemu-system-x86:262]\n\
        [  363.2] INFO: task khugepaged:36 blocked for more than 120 seconds.\n";

    #[test]
    fn a_console_that_shows_a_lockup_is_a_wedged_host() {
        let f = diagnose("ssh exited (exit status: 255) after 90 s", WEDGED, true).unwrap();
        assert_eq!(f.kind, FaultKind::HostWedged);
        assert_eq!(f.console.len(), 3);
        assert!(f.console[1].contains("soft lockup - CPU#1 stuck for 48s"));
        let line = f.explain("kvm", "ssh exited (exit status: 255)", "");
        assert!(line.starts_with("the lab host wedged (restarted) (kvm lab host): ssh exited"));
        assert!(line.contains("console: [  270.112233] rcu: INFO"));
    }

    #[test]
    fn a_host_whose_sshd_is_silent_is_wedged_even_with_a_quiet_console() {
        let f = diagnose(
            "kex_exchange_identification: read: Connection reset by peer",
            "",
            false,
        );
        assert_eq!(f.unwrap().kind, FaultKind::HostWedged);
    }

    #[test]
    fn a_nested_guest_that_vanished_on_a_well_host_is_a_lost_guest() {
        for reason in [
            "qemu-system-x86_64 exited (exit status: 0) before the agent finished; last console lines: ...",
            "xl exited (exit status: 0) before the agent finished",
        ] {
            let f = diagnose(reason, "hvbench-lab: serving SSH on eth0\n", true).unwrap();
            assert_eq!(f.kind, FaultKind::GuestLost);
            let line = f.explain("xen", reason, "(XEN) d1v0 Triple fault - invoking HVM shutdown action 1\n");
            assert!(line.contains("lab host logs: (XEN) d1v0 Triple fault"), "{line}");
        }
    }

    #[test]
    fn a_nested_guest_that_hung_on_a_well_host_is_a_lost_guest() {
        // As a nested KVM guest hung in the lab test's campaign (its executor's reason).
        let reason = "on host `lab-kvm` over SSH (241 s): timed out after 240 s and was killed \
                      console log: /hvbench-cache/work/job-241/guest-console.log";
        let f = diagnose(reason, "hvbench-lab: serving SSH on eth0\n", true).unwrap();
        assert_eq!(f.kind, FaultKind::GuestLost);
        // Given up sooner, when its session fell silent (console.rs's reason for it).
        let silent = "on host `lab-kvm` over SSH (150 s): silent for 120 s; last console lines: \
                      | {\"type\":\"window\",\"workload\":\"cpuid\",\"edge\":\"begin\"}";
        let f = diagnose(silent, "", true).unwrap();
        assert_eq!(f.kind, FaultKind::GuestLost);
        // A silent session on a host that no longer answers is the host's fault.
        let f = diagnose(silent, "", false).unwrap();
        assert_eq!(f.kind, FaultKind::HostWedged);
    }

    #[test]
    fn a_platforms_own_failure_is_no_lab_fault() {
        for reason in [
            "the guest did not finish within 300 s; last console lines: ...",
            "workload `disk-rand-read` failed: cannot open /dev/vdb",
            "corrupt frame: checksum mismatch",
        ] {
            assert_eq!(
                diagnose(reason, "hvbench-lab: serving SSH\n", true),
                None,
                "{reason}"
            );
        }
    }
}
