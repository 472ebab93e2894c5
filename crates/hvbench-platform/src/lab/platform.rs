//! A `lab = true` platform: a [`crate::remote::RemotePlatform`] on the lab host of its
//! hypervisor, and what it does about a lab that fails under a trial ([`super::fault`]).

use super::keys::LabKeys;
use super::machine::{running, stop, up};
use super::LabHost;
use crate::builder::Recipe;
use crate::remote::ssh::Ssh;
use crate::{PlatformError, Result, Topic};
use std::path::Path;
use std::time::Duration;

/// How long a lab host may take to answer a probe after a failed trial before it counts as
/// wedged (a busy emulated host answers within seconds).
const LAB_PROBE: Duration = Duration::from_secs(60);

/// A `lab = true` platform run through the SSH path: a [`crate::remote::RemotePlatform`] on the
/// lab host of its hypervisor, booted once (or found up) rather than once per trial. A lab host
/// that died is booted again before the next trial, and the platform prepared on it again.
pub struct ServedLabPlatform {
    inner: crate::remote::RemotePlatform,
    host: LabHost,
    /// Whether this campaign booted the lab host (then it takes it down at the end).
    booted_here: bool,
    args: Recipe,
}

impl ServedLabPlatform {
    /// The platform on its hypervisor's lab host, booted first if it is not up.
    pub fn prepare(recipe: Recipe) -> Result<ServedLabPlatform> {
        let host = LabHost::for_driver(&recipe.spec.driver).ok_or_else(|| {
            PlatformError::unavailable(
                "the host driver cannot run in the lab",
                "remove `lab = true` from the host platform",
            )
        })?;
        let args = recipe;
        let cache = &args.cache;
        let was_up = running(cache, host).is_some();
        let inner = Self::on_host(&args, host)?;
        Ok(ServedLabPlatform {
            inner,
            host,
            booted_here: !was_up,
            args,
        })
    }

    /// Bring the lab host up if needed and prepare the platform on it.
    fn on_host(args: &Recipe, host: LabHost) -> Result<crate::remote::RemotePlatform> {
        let machine = up(&args.cache, host, &mut args.notices.on(Topic::Lab))?;
        let keys = LabKeys::ensure(&args.cache)?;
        let spec = machine.host_spec(&keys)?;
        let mut inner = crate::remote::RemotePlatform::prepare(args, &spec)?;
        let facts = inner.facts_mut();
        // The lab runs on this machine: its platforms are this machine's in the report.
        facts.remove(hvbench_proto::facts::MACHINE);
        facts.extend(machine.facts());
        Ok(inner)
    }

    /// How long the lab host's console log is now (where a trial's part of it begins).
    fn console_len(&self) -> u64 {
        running(&self.args.cache, self.host)
            .and_then(|m| std::fs::metadata(&m.console).ok())
            .map_or(0, |m| m.len())
    }

    /// A trial that did not complete: a lab fault ([`super::fault`]) when the lab host's console
    /// since `from`, its sshd or the trial's reason say the lab failed under it (a wedged host is
    /// stopped, so that the next trial boots it again), else the trial's own end.
    fn lab_fault(&mut self, end: crate::TrialEnd, from: u64) -> crate::TrialEnd {
        let reason = match &end {
            crate::TrialEnd::Failed(r) | crate::TrialEnd::Lost(r) => r.clone(),
            _ => return end,
        };
        if crate::trial::interrupt::requested().is_some() {
            return end;
        }
        let machine = running(&self.args.cache, self.host);
        let console = machine
            .as_ref()
            .and_then(|m| std::fs::read(&m.console).ok())
            .map(|b| {
                String::from_utf8_lossy(b.get(from as usize..).unwrap_or_default()).into_owned()
            })
            .unwrap_or_default();
        let ssh = machine.as_ref().and_then(|m| {
            let keys = LabKeys::ensure(&self.args.cache).ok()?;
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
        if fault.kind == super::fault::FaultKind::HostWedged {
            if let Some(m) = &machine {
                stop(m);
            }
        }
        crate::TrialEnd::LabFault(fault.explain(self.host.as_str(), &reason, &logs))
    }

    /// The lab host this platform runs on.
    pub fn lab_host(&self) -> LabHost {
        self.host
    }

    /// Whether this campaign booted its lab host.
    pub fn booted_here(&self) -> bool {
        self.booted_here
    }

    /// Before a trial: a lab host that died is booted again, and the platform prepared on it.
    fn ensure_up(&mut self) -> std::result::Result<(), String> {
        if running(&self.args.cache, self.host).is_some() {
            return Ok(());
        }
        self.args.notices.say(
            Topic::Lab,
            &format!(
                "the {} lab host is gone; booting it again",
                self.host.as_str()
            ),
        );
        match Self::on_host(&self.args, self.host) {
            Ok(inner) => {
                self.inner = inner;
                self.booted_here = true;
                Ok(())
            }
            Err(e) => Err(format!(
                "the {} lab host could not be booted again: {e}",
                self.host.as_str()
            )),
        }
    }
}

impl crate::Platform for ServedLabPlatform {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }
    /// The lab hosts run on this machine's CPUs: their platforms take turns with this
    /// machine's others, so that one never measures beside another.
    fn machine(&self) -> Option<&str> {
        None
    }
    fn facts(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.facts()
    }
    fn run_trial(
        &mut self,
        req: &crate::TrialRequest<'_>,
        on_event: &mut dyn FnMut(hvbench_proto::Event),
    ) -> crate::TrialEnd {
        if let Err(e) = self.ensure_up() {
            return crate::TrialEnd::Failed(e);
        }
        let from = self.console_len();
        let end = self.inner.run_trial(req, on_event);
        self.lab_fault(end, from)
    }
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(hvbench_proto::Message),
    ) -> crate::TrialEnd {
        if let Err(e) = self.ensure_up() {
            return crate::TrialEnd::Failed(e);
        }
        let from = self.console_len();
        // An instance that ended on its own before its end (an aggressor lost under the
        // emulator: DNR) is diagnosed too, so that the lab's fault is not recorded as the
        // platform's outcome.
        let mut dnr: Option<String> = None;
        let end = self.inner.run_cell(cell, timeout, logs, &mut |m| {
            if let hvbench_proto::Message::Instance {
                instance,
                event:
                    hvbench_proto::InstanceEvent::Ended {
                        ok: false,
                        stopped: false,
                        reason: Some(reason),
                    },
                ..
            } = &m
            {
                if instance != hvbench_proto::names::VICTIM {
                    dnr.get_or_insert_with(|| format!("{instance}: {reason}"));
                }
            }
            on_message(m)
        });
        match (end, dnr) {
            (crate::TrialEnd::Completed, Some(dnr)) => {
                match self.lab_fault(crate::TrialEnd::Failed(dnr), from) {
                    fault @ crate::TrialEnd::LabFault(_) => fault,
                    _ => crate::TrialEnd::Completed,
                }
            }
            (crate::TrialEnd::Failed(r), Some(dnr)) => {
                match self.lab_fault(crate::TrialEnd::Failed(format!("{r}\n{dnr}")), from) {
                    fault @ crate::TrialEnd::LabFault(_) => fault,
                    _ => crate::TrialEnd::Failed(r),
                }
            }
            (end, _) => self.lab_fault(end, from),
        }
    }
}
