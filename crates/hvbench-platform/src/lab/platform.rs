//! A `lab = true` platform: a [`crate::remote::RemotePlatform`] on the lab host of its
//! hypervisor, and what it does about a lab that fails under a trial ([`super::fault`]).

use super::keys::LabKeys;
use super::machine::{running, up};
use super::watch::{FaultWatch, Which};
use super::LabHost;
use crate::builder::Recipe;
use crate::{PlatformError, Result, Topic};
use std::path::Path;
use std::time::Duration;

/// A `lab = true` platform run through the SSH path: a [`crate::remote::RemotePlatform`] on the
/// lab host of its hypervisor, booted once (or found up) rather than once per trial. A lab host
/// that died is booted again before the next trial, and the platform prepared on it again.
pub struct ServedLabPlatform {
    inner: crate::remote::RemotePlatform,
    host: LabHost,
    /// Whether this campaign booted the lab host (then it takes it down at the end).
    booted_here: bool,
    args: Recipe,
    watch: FaultWatch,
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
        let watch = FaultWatch {
            cache: args.cache.clone(),
            which: Which::Host(host),
        };
        Ok(ServedLabPlatform {
            inner,
            host,
            booted_here: !was_up,
            args,
            watch,
        })
    }

    /// Bring the lab host up if needed and prepare the platform on it.
    fn on_host(args: &Recipe, host: LabHost) -> Result<crate::remote::RemotePlatform> {
        let machine = up(&args.cache, host, &mut args.notices.on(Topic::Lab))?;
        let keys = LabKeys::ensure(&args.cache)?;
        let spec = machine.host_spec(&keys)?;
        let mut inner = crate::remote::RemotePlatform::prepare(args, &spec)?;
        inner.give_up_when_silent(super::fault::SILENCE);
        let facts = inner.facts_mut();
        // The lab runs on this machine: its platforms are this machine's in the report.
        facts.remove(hvbench_proto::facts::MACHINE);
        facts.extend(machine.facts());
        Ok(inner)
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
        let from = self.watch.mark();
        let end = self.inner.run_trial(req, on_event);
        self.watch.diagnose(end, from)
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
        self.watch
            .run_cell(&mut self.inner, cell, timeout, logs, on_message)
    }
}
