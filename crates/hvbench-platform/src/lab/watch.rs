//! What a lab machine's platforms do about a lab that fails under a trial
//! (docs/architecture.md, "The lab"): read what the machine's console printed during the trial,
//! probe its sshd, and let [`super::fault::diagnose`] decide whether the trial's end is a lab
//! fault. Served lab platforms and the dual-boot lab machine's platforms share it.

use super::keys::LabKeys;
use super::machine::{running, running_dual, stop, LabMachine};
use super::LabHost;
use crate::guest::cache::Cache;
use crate::remote::ssh::Ssh;
use crate::{Platform, TrialEnd};
use hvbench_proto::{InstanceEvent, Message};
use std::path::Path;
use std::time::Duration;

/// How long a lab machine may take to answer a probe after a failed trial before it counts as
/// wedged (a busy emulated host answers within seconds).
const LAB_PROBE: Duration = Duration::from_secs(60);

/// Which lab machine a platform runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Host(LabHost),
    Dual,
}

/// A lab machine watched for faults.
#[derive(Debug, Clone)]
pub struct FaultWatch {
    pub cache: Cache,
    pub which: Which,
}

impl FaultWatch {
    fn machine(&self) -> Option<LabMachine> {
        match self.which {
            Which::Host(h) => running(&self.cache, h),
            Which::Dual => running_dual(&self.cache),
        }
    }

    /// How long the machine's console log is now (where a trial's part of it begins).
    pub fn mark(&self) -> u64 {
        self.machine()
            .and_then(|m| std::fs::metadata(&m.console).ok())
            .map_or(0, |m| m.len())
    }

    /// A trial that did not complete: a lab fault when the machine's console since `from`, its
    /// sshd or the trial's reason say the lab failed under it, else the trial's own end. A
    /// wedged lab host is stopped, so that the next trial boots it again; the dual-boot machine
    /// is left to its supervisor.
    pub fn diagnose(&self, end: TrialEnd, from: u64) -> TrialEnd {
        let reason = match &end {
            TrialEnd::Failed(r) | TrialEnd::Lost(r) => r.clone(),
            _ => return end,
        };
        if crate::trial::interrupt::requested().is_some() {
            return end;
        }
        let machine = self.machine();
        let console = machine
            .as_ref()
            .and_then(|m| std::fs::read(&m.console).ok())
            .map(|b| {
                String::from_utf8_lossy(b.get(from as usize..).unwrap_or_default()).into_owned()
            })
            .unwrap_or_default();
        let ssh = machine.as_ref().and_then(|m| {
            let keys = LabKeys::ensure(&self.cache).ok()?;
            Some(Ssh::new(
                &m.host_spec(&keys).ok()?,
                &crate::remote::control_dir(),
            ))
        });
        let answers = ssh.as_ref().is_some_and(|s| {
            s.run("true", b"", LAB_PROBE)
                .is_ok_and(|o| o.status.success())
        });
        let Some(fault) = super::fault::diagnose(&reason, &console, answers) else {
            return end;
        };
        let logs = match (&ssh, answers) {
            (Some(s), true) => s
                .run(super::fault::LOGS_SCRIPT, b"", LAB_PROBE)
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let name = match self.which {
            Which::Host(h) => h.as_str(),
            Which::Dual => "dual-boot",
        };
        if fault.kind == super::fault::FaultKind::HostWedged && self.which != Which::Dual {
            if let Some(m) = &machine {
                stop(m);
            }
        }
        TrialEnd::LabFault(fault.explain(name, &reason, &logs))
    }

    /// Run `cell` on `inner` and diagnose its end. An instance that ended on its own before its
    /// end (DNR: the victim or an aggressor lost under the emulator, which a cell run on a
    /// machine over SSH reports as a completed job) is diagnosed too, so that the lab's fault
    /// is not recorded as the platform's outcome.
    pub fn run_cell(
        &self,
        inner: &mut dyn Platform,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        let from = self.mark();
        let mut dnr: Option<String> = None;
        let end = inner.run_cell(cell, timeout, logs, &mut |m| {
            if let Message::Instance {
                instance,
                event:
                    InstanceEvent::Ended {
                        ok: false,
                        stopped: false,
                        reason: Some(reason),
                    },
                ..
            } = &m
            {
                dnr.get_or_insert_with(|| format!("{instance}: {reason}"));
            }
            on_message(m)
        });
        match (end, dnr) {
            (TrialEnd::Completed, Some(dnr)) => match self.diagnose(TrialEnd::Failed(dnr), from) {
                fault @ TrialEnd::LabFault(_) => fault,
                _ => TrialEnd::Completed,
            },
            (TrialEnd::Failed(r), Some(dnr)) => {
                match self.diagnose(TrialEnd::Failed(format!("{r}\n{dnr}")), from) {
                    fault @ TrialEnd::LabFault(_) => fault,
                    _ => TrialEnd::Failed(r),
                }
            }
            (end, _) => self.diagnose(end, from),
        }
    }
}
