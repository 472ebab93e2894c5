//! A platform on a dual-boot machine ([`super::boot::DualHost`]): the machine rebooted into the
//! boot the platform needs before each trial, the platform prepared again in every new boot.

use super::boot::{BootFail, BootRecord, DualHost, Observed};
use super::RemotePlatform;
use crate::builder::Recipe;
use crate::lab::watch::{FaultWatch, Which};
use crate::{Platform, Topic, TrialEnd, TrialRequest};
use hvbench_proto::{Event, Message};
use hvbench_spec::{HostSpec, PlatformSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A platform on a dual-boot machine: a [`RemotePlatform`] prepared in the boot it needs
/// (again after every reboot, since the machine may have lost what was shipped: the lab's root
/// is a tmpfs), the machine rebooted into that boot before each trial.
pub struct DualBootPlatform {
    name: String,
    driver: &'static str,
    boots_guest: bool,
    machine: Option<String>,
    entry: String,
    host: Arc<Mutex<DualHost>>,
    inner: Option<RemotePlatform>,
    /// The boot id `inner` was prepared in.
    prepared_in: String,
    facts: BTreeMap<String, String>,
    /// Facts a wrapper adds (the lab's).
    extra: BTreeMap<String, String>,
    args: Recipe,
    /// The machine's `[[host]]` as reached (for the lab's, its address and keys).
    host_spec: HostSpec,
    /// The lab's dual-boot machine is watched for lab faults, as the lab hosts are.
    watch: Option<FaultWatch>,
}

/// A dual-boot machine, connected, as its platforms share it.
pub struct DualSeat {
    /// The machine's `[[host]]` as reached (for the lab's, its address and keys).
    pub spec: HostSpec,
    pub host: Arc<Mutex<DualHost>>,
    /// The lab's facts for its platforms when it is the lab's dual-boot machine: its CPUs are
    /// this machine's, and its platforms this machine's in the report.
    pub lab: Option<BTreeMap<String, String>>,
}

impl DualBootPlatform {
    /// The platform on `seat`'s machine; prepared now if the machine is in its boot, else
    /// before its first trial.
    pub fn new(recipe: Recipe, seat: &DualSeat) -> DualBootPlatform {
        let spec = &recipe.spec;
        let (machine, extra) = match &seat.lab {
            Some(facts) => (None, facts.clone()),
            None => (Some(seat.spec.name.clone()), BTreeMap::new()),
        };
        let entry = spec.boot.clone().unwrap_or_default();
        let mut p = DualBootPlatform {
            name: spec.name.clone(),
            driver: spec.driver.as_str(),
            boots_guest: spec.is_vm(),
            machine,
            entry,
            host: seat.host.clone(),
            inner: None,
            prepared_in: String::new(),
            facts: BTreeMap::new(),
            extra,
            watch: seat.lab.as_ref().map(|_| FaultWatch {
                cache: recipe.cache.clone(),
                which: Which::Dual,
            }),
            args: recipe.clone(),
            host_spec: seat.spec.clone(),
        };
        p.set_facts(None);
        let here = {
            let h = p.host.lock().unwrap_or_else(|e| e.into_inner());
            h.current()
                .filter(|(_, e)| e.as_deref() == Some(p.entry.as_str()))
                .map(|(o, _)| o.clone())
        };
        if let Some(observed) = here {
            if let Err(e) = p.prepare(&observed) {
                p.args.notices.say(
                    Topic::Warning,
                    &format!(
                        "platform `{}`: {e}; tried again before its first trial",
                        p.name
                    ),
                );
            }
        }
        p
    }

    fn set_facts(&mut self, boot: Option<&Observed>) {
        let mut facts = self.inner.as_ref().map(|i| i.facts()).unwrap_or_default();
        match &self.machine {
            Some(m) => facts.insert(hvbench_proto::facts::MACHINE.into(), m.clone()),
            None => facts.remove(hvbench_proto::facts::MACHINE),
        };
        facts.insert("boot.entry".into(), self.entry.clone());
        if let Some(e) = self.host_spec.boots.iter().find(|e| e.name == self.entry) {
            facts.insert("boot.select".into(), e.select.clone());
            facts.insert("boot.hypervisor".into(), e.hypervisor.as_str().into());
        }
        if let Some(o) = boot {
            facts.insert("boot.id".into(), o.boot_id.clone());
            facts.insert("boot.kernel".into(), o.kernel.clone());
            facts.insert("boot.seen".into(), o.seen());
        }
        facts.extend(self.extra.clone());
        self.facts = facts;
    }

    /// Prepare the platform in the current boot (`observed`), its facts with it.
    fn prepare(&mut self, observed: &Observed) -> Result<(), String> {
        let recipe = Recipe {
            spec: PlatformSpec {
                boot: None,
                ..self.args.spec.clone()
            },
            ..self.args.clone()
        };
        let mut inner =
            RemotePlatform::prepare(&recipe, &self.host_spec).map_err(|e| e.to_string())?;
        if self.watch.is_some() {
            inner.give_up_when_silent(crate::lab::fault::SILENCE);
        }
        self.inner = Some(inner);
        self.prepared_in = observed.boot_id.clone();
        self.set_facts(Some(observed));
        Ok(())
    }

    /// Before a trial: the machine in this platform's boot, the platform prepared in it, its
    /// facts those of the boot (the runner stores them after the trial). `Err`: how the trial
    /// ends instead.
    fn ready(&mut self) -> Result<(), TrialEnd> {
        let observed = {
            let mut h = self.host.lock().unwrap_or_else(|e| e.into_inner());
            match h.ensure(&self.entry) {
                Ok(()) => h.current().map(|(o, _)| o.clone()).unwrap_or_default(),
                Err(BootFail::Refused(r)) => return Err(TrialEnd::Failed(r)),
                Err(BootFail::Lost(r)) => return Err(TrialEnd::Lost(r)),
            }
        };
        if self.inner.is_none() || self.prepared_in != observed.boot_id {
            self.inner = None;
            if let Err(e) = self.prepare(&observed) {
                return Err(TrialEnd::Failed(format!(
                    "platform `{}` cannot be prepared in boot `{}` of host `{}`: {e}",
                    self.name, self.entry, self.host_spec.name
                )));
            }
        }
        self.set_facts(Some(&observed));
        Ok(())
    }
}

impl Platform for DualBootPlatform {
    fn name(&self) -> &str {
        &self.name
    }
    fn driver(&self) -> &'static str {
        self.driver
    }
    fn boots_guest(&self) -> bool {
        self.boots_guest
    }
    fn machine(&self) -> Option<&str> {
        self.machine.as_deref()
    }
    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }
    fn boot(&self) -> Option<&str> {
        Some(&self.entry)
    }
    fn take_boots(&mut self) -> Vec<BootRecord> {
        self.host
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_records()
    }
    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        if let Err(end) = self.ready() {
            return end;
        }
        let inner = self.inner.as_mut().expect("prepared by ready()");
        match &self.watch {
            Some(watch) => {
                let from = watch.mark();
                let end = inner.run_trial(req, on_event);
                watch.diagnose(end, from)
            }
            None => inner.run_trial(req, on_event),
        }
    }
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        if let Err(end) = self.ready() {
            return end;
        }
        let inner = self.inner.as_mut().expect("prepared by ready()");
        match &self.watch {
            Some(watch) => watch.run_cell(inner, cell, timeout, logs, on_message),
            None => inner.run_cell(cell, timeout, logs, on_message),
        }
    }
}
