//! The one place that builds platforms: a validated spec platform and where it runs — this
//! machine, a machine over SSH, a dual-boot machine, or the lab — become a `Box<dyn Platform>`
//! (docs/architecture.md, "Adding a driver"). The CLI calls [`build`] and nothing else.
//!
//! Every platform of a plan is built before the first trial, so that a missing QEMU or kernel
//! is reported before anything runs. A machine that cannot be reached does not stop the
//! campaign: its platforms fail every trial with the reason ([`Unreachable`]), and the other
//! machines' platforms run.

use crate::drivers::{
    host::HostPlatform, libvirt::LibvirtPlatform, qemu::QemuPlatform, xen::XenPlatform,
};
use crate::guest::cache::Cache;
use crate::isolation::placement::available_cpus;
use crate::isolation::{Isolating, LocalFactory};
use crate::lab::keys::LabKeys;
use crate::lab::machine;
use crate::lab::platform::ServedLabPlatform;
use crate::lab::LabHost;
use crate::remote::boot::DualHost;
use crate::remote::dual::{DualBootPlatform, DualSeat};
use crate::remote::{RemotePlatform, Unreachable};
use crate::{Notices, Platform, PlatformError, Topic};
use hvbench_proto::AgentPlan;
use hvbench_spec::{Driver, GuestSpec, HostSpec, Plan, PlatformSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What building a campaign's platforms needs.
pub struct Context<'a> {
    pub plan: &'a Plan,
    pub cache: &'a Cache,
    /// A private directory for the files handed to host agents.
    pub workdir: &'a Path,
    /// The static executor's bytes, shipped to machines over SSH and lab hosts.
    pub executor: &'static [u8],
    /// The agent plans of a platform's isolation cells (the runner's `cell_plans`).
    pub cell_plans: fn(&Plan, &str) -> Vec<AgentPlan>,
    pub notices: Notices,
    /// The built-in default comparison: a platform this machine cannot run is left out (and
    /// said) instead of stopping the campaign.
    pub leave_out_unavailable: bool,
}

/// What preparing one platform needs; kept by the platforms that prepare again (a lab host
/// booted again, a dual-boot machine rebooted).
#[derive(Clone, Debug)]
pub struct Recipe {
    pub spec: PlatformSpec,
    pub guest: GuestSpec,
    pub plan: AgentPlan,
    pub cell_plans: Vec<AgentPlan>,
    pub cache: Cache,
    pub executor: &'static [u8],
    pub notices: Notices,
}

/// Where a platform runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site<'p> {
    /// This machine: its own drivers.
    Local,
    /// The lab host of its hypervisor, on this machine's CPUs (`lab = true`).
    Lab,
    /// A machine over SSH (`host = "..."`).
    Remote(&'p HostSpec),
    /// A dual-boot machine over SSH, rebooted into the platform's boot before each trial.
    Dual(&'p HostSpec),
}

impl<'p> Site<'p> {
    pub fn of(plan: &'p Plan, p: &PlatformSpec) -> Site<'p> {
        if let Some(host) = p
            .host
            .as_deref()
            .and_then(|n| plan.hosts.iter().find(|h| h.name == n))
        {
            return if host.boots.is_empty() {
                Site::Remote(host)
            } else {
                Site::Dual(host)
            };
        }
        if p.lab {
            Site::Lab
        } else {
            Site::Local
        }
    }
}

/// Why a campaign's platforms could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("platform `{name}` cannot run")]
    Platform {
        name: String,
        #[source]
        source: PlatformError,
    },
    #[error("no platform can run on this machine (see `hvbench doctor`)")]
    NothingRuns,
}

/// A campaign's platforms, in the plan's order, and the lab hosts it brought up (taken down
/// when this is dropped, after the platforms).
pub struct Built {
    pub platforms: Vec<Box<dyn Platform>>,
    pub lab: LabSession,
}

/// Build every platform of `ctx.plan`.
pub fn build(ctx: &Context<'_>) -> Result<Built, BuildError> {
    let lab = LabSession::of(ctx.plan, ctx.cache, ctx.notices.clone());
    boot_lab_hosts(ctx);
    let mut b = Builder {
        ctx,
        unreachable: BTreeMap::new(),
        duals: BTreeMap::new(),
    };
    let mut platforms: Vec<Box<dyn Platform>> = Vec::new();
    for p in &ctx.plan.platforms {
        match b.platform(p) {
            Ok(platform) => platforms.push(platform),
            Err(e) if ctx.leave_out_unavailable => ctx.notices.say(
                Topic::Warning,
                &format!(
                    "platform `{}` left out of the default comparison: {e}",
                    p.name
                ),
            ),
            Err(source) => {
                return Err(BuildError::Platform {
                    name: p.name.clone(),
                    source,
                })
            }
        }
    }
    if platforms.is_empty() {
        return Err(BuildError::NothingRuns);
    }
    Ok(Built { platforms, lab })
}

/// A platform on this machine, under `name`, running `plan`: the driver arm.
pub fn local(
    spec: &PlatformSpec,
    name: &str,
    guest: &GuestSpec,
    plan: &AgentPlan,
    cache: &Cache,
    workdir: &Path,
) -> crate::Result<Box<dyn Platform>> {
    Ok(match &spec.driver {
        Driver::Host => Box::new(HostPlatform::prepare(
            name,
            plan,
            cache,
            workdir.to_path_buf(),
        )?),
        Driver::Qemu(q) => Box::new(QemuPlatform::prepare(name, q, guest, plan, cache)?),
        Driver::Xen(x) => Box::new(XenPlatform::prepare(
            name,
            x,
            guest,
            plan,
            cache,
            workdir.to_path_buf(),
        )?),
        Driver::Libvirt(l) => Box::new(LibvirtPlatform::prepare(name, l, guest, plan, cache)?),
    })
}

/// `spec` without the platform's own vCPU pinning: an isolation instance is placed by its cell.
pub fn unpinned(spec: &PlatformSpec) -> PlatformSpec {
    let mut spec = spec.clone();
    match &mut spec.driver {
        Driver::Qemu(q) => q.cpus = None,
        Driver::Xen(x) => x.cpus = None,
        Driver::Libvirt(l) => l.cpus = None,
        Driver::Host => {}
    }
    spec
}

/// The CPUs a driver's isolation instances may be placed on, on this machine.
pub fn instance_cpus(driver: &Driver) -> Vec<usize> {
    match driver {
        // Physical CPUs of the Xen host, which dom0's own affinity does not show.
        Driver::Xen(_) => crate::drivers::xen::host_cpus().unwrap_or_else(available_cpus),
        Driver::Libvirt(l) if l.hypervisor == hvbench_spec::LibvirtHypervisor::Xen => {
            crate::drivers::xen::host_cpus().unwrap_or_else(available_cpus)
        }
        Driver::Qemu(_) | Driver::Libvirt(_) | Driver::Host => available_cpus(),
    }
}

/// Whether a driver's instances get weight and cap through cgroups hvbench makes (host
/// processes, QEMU), rather than from the driver itself (Xen's credit2 parameters; libvirt's
/// `schedinfo`, on the cgroup libvirt makes for the domain or on Xen's scheduler).
pub fn uses_cgroups(driver: &Driver) -> bool {
    !matches!(driver, Driver::Xen(_) | Driver::Libvirt(_))
}

/// The state shared while one plan's platforms are built.
struct Builder<'c, 'a> {
    ctx: &'c Context<'a>,
    /// A machine that could not be prepared once is not tried again for its next platform.
    unreachable: BTreeMap<String, String>,
    /// Dual-boot machines, each connected once and shared by its platforms.
    duals: BTreeMap<String, DualMachine>,
}

impl Builder<'_, '_> {
    fn recipe(&self, p: &PlatformSpec) -> Recipe {
        let ctx = self.ctx;
        Recipe {
            spec: p.clone(),
            guest: ctx.plan.guest.clone(),
            plan: ctx.plan.agent_plan(),
            cell_plans: (ctx.cell_plans)(ctx.plan, &p.name),
            cache: ctx.cache.clone(),
            executor: ctx.executor,
            notices: ctx.notices.clone(),
        }
    }

    fn platform(&mut self, p: &PlatformSpec) -> crate::Result<Box<dyn Platform>> {
        let ctx = self.ctx;
        Ok(match Site::of(ctx.plan, p) {
            Site::Dual(host) => self.dual(p, host),
            Site::Remote(host) => self.remote(p, host),
            Site::Lab => Box::new(ServedLabPlatform::prepare(self.recipe(p))?),
            Site::Local => {
                // Battery trials on the platform prepared here; isolation cells on instances
                // prepared on demand (their images are cached by content).
                let plan = ctx.plan.agent_plan();
                let inner = local(p, &p.name, &ctx.plan.guest, &plan, ctx.cache, ctx.workdir)?;
                Box::new(Isolating::new(
                    inner,
                    LocalFactory {
                        spec: p.clone(),
                        guest: ctx.plan.guest.clone(),
                        cache: ctx.cache.clone(),
                        workdir: ctx.workdir.to_path_buf(),
                    },
                ))
            }
        })
    }

    /// Platform `p` on `host`, which cannot be reached: its trials are lost with `reason`,
    /// said here and stored with each trial (`--resume` runs them once it is fixed).
    fn unreachable(&self, p: &PlatformSpec, host: &HostSpec, reason: String) -> Box<dyn Platform> {
        self.ctx.notices.say(
            Topic::Warning,
            &format!(
                "platform `{}` cannot run, its trials will be recorded as lost (`--resume` runs them once it is fixed): {reason}",
                p.name
            ),
        );
        Box::new(Unreachable {
            name: p.name.clone(),
            machine: host.name.clone(),
            driver: p.driver.as_str(),
            boots_guest: p.is_vm(),
            reason,
        })
    }

    /// A platform on a machine over SSH. A machine that cannot be prepared (down, key not
    /// trusted, login refused) fails its platforms' trials with the reason.
    fn remote(&mut self, p: &PlatformSpec, host: &HostSpec) -> Box<dyn Platform> {
        if let Some(reason) = self.unreachable.get(&host.name) {
            let reason = reason.clone();
            return self.unreachable(p, host, reason);
        }
        match RemotePlatform::prepare(&self.recipe(p), host) {
            Ok(r) => Box::new(r),
            Err(e) => {
                let reason = e.to_string();
                if matches!(e, PlatformError::Unavailable { .. }) {
                    self.unreachable.insert(host.name.clone(), reason.clone());
                }
                self.unreachable(p, host, reason)
            }
        }
    }

    /// A platform on a dual-boot machine: prepared now when the machine is in its boot, else
    /// before its first trial there. A machine that cannot be reached fails its trials as lost.
    fn dual(&mut self, p: &PlatformSpec, host: &HostSpec) -> Box<dyn Platform> {
        let ctx = self.ctx;
        let recipe = self.recipe(p);
        let machine = self
            .duals
            .entry(host.name.clone())
            .or_insert_with(|| DualMachine::connect(host, ctx.cache, &ctx.notices));
        match machine {
            DualMachine::Down(reason) => {
                let reason = reason.clone();
                self.unreachable(p, host, reason)
            }
            DualMachine::Up(seat) => Box::new(DualBootPlatform::new(recipe, seat)),
        }
    }
}

/// A dual-boot machine as its platforms share it: connected (the lab's booted first), or why
/// not.
enum DualMachine {
    Up(DualSeat),
    Down(String),
}

impl DualMachine {
    fn connect(host: &HostSpec, cache: &Cache, notices: &Notices) -> DualMachine {
        let (spec, lab) = if host.lab {
            let machine = match machine::up_dual(cache, &mut notices.on(Topic::Lab)) {
                Ok(m) => m,
                Err(e) => return DualMachine::Down(format!("the dual-boot lab machine: {e}")),
            };
            let spec = match LabKeys::ensure(cache).and_then(|k| machine.host_spec(&k)) {
                Ok(s) => s,
                Err(e) => return DualMachine::Down(e.to_string()),
            };
            // The user's name and boot entries, the lab's address and keys.
            let spec = HostSpec {
                name: host.name.clone(),
                boots: host.boots.clone(),
                lab: true,
                ..spec
            };
            (spec, Some(machine.facts()))
        } else {
            (host.clone(), None)
        };
        match DualHost::connect(&spec, notices.clone()) {
            Ok(dual) => {
                if let Some((o, entry)) = dual.current() {
                    notices.say(
                        Topic::Boot,
                        &format!(
                            "host `{}` is in {} ({}, kernel {}, boot id {})",
                            spec.name,
                            entry
                                .as_deref()
                                .map_or("no boot entry".to_string(), |e| format!("boot `{e}`")),
                            o.seen(),
                            o.kernel,
                            o.boot_id
                        ),
                    );
                }
                DualMachine::Up(DualSeat {
                    spec,
                    host: Arc::new(Mutex::new(dual)),
                    lab,
                })
            }
            Err(e) => DualMachine::Down(format!("dual-boot host `{}`: {e}", spec.name)),
        }
    }
}

/// The lab hosts a plan needs that are not up now.
fn lab_hosts_down(plan: &Plan, cache: &Cache) -> Vec<LabHost> {
    let mut hosts = Vec::new();
    for p in &plan.platforms {
        if Site::of(plan, p) != Site::Lab {
            continue;
        }
        if let Some(h) = LabHost::for_driver(&p.driver) {
            if !hosts.contains(&h) && machine::running(cache, h).is_none() {
                hosts.push(h);
            }
        }
    }
    hosts
}

/// Boot the lab hosts the plan needs at once (each takes tens of seconds under TCG); one that
/// fails is reported when its platforms are prepared.
fn boot_lab_hosts(ctx: &Context<'_>) {
    let hosts = lab_hosts_down(ctx.plan, ctx.cache);
    if hosts.len() < 2 {
        return; // one host boots when its first platform is prepared
    }
    let cache = ctx.cache;
    // The images first, once, before two threads would race to build them.
    if let Err(e) = crate::lab::build(cache, &mut ctx.notices.on(Topic::Lab)) {
        ctx.notices.say(Topic::Lab, &e.to_string());
        return;
    }
    std::thread::scope(|s| {
        for h in hosts {
            let notices = ctx.notices.clone();
            s.spawn(move || {
                if let Err(e) = machine::up(cache, h, &mut notices.on(Topic::Lab)) {
                    notices.say(
                        Topic::Lab,
                        &format!("the {} lab host did not come up: {e}", h.as_str()),
                    );
                }
            });
        }
    });
}

/// The lab hosts a campaign needs that were not up when it started: the campaign brings them
/// up (they stay up across its trials) and takes them down when it ends, however it ends. Lab
/// hosts that were up before (`hvbench lab up`) are left up.
pub struct LabSession {
    cache: Cache,
    hosts: Vec<LabHost>,
    /// The dual-boot lab machine (`[[host]] lab = true`) was not up: the campaign boots it.
    dual: bool,
    notices: Notices,
}

impl LabSession {
    fn of(plan: &Plan, cache: &Cache, notices: Notices) -> LabSession {
        let dual = plan.platforms.iter().any(|p| {
            p.host
                .as_deref()
                .is_some_and(|n| plan.hosts.iter().any(|h| h.lab && h.name == n))
        }) && machine::running_dual(cache).is_none();
        LabSession {
            cache: cache.clone(),
            hosts: lab_hosts_down(plan, cache),
            dual,
            notices,
        }
    }
}

impl Drop for LabSession {
    fn drop(&mut self) {
        if self.dual {
            for m in machine::down_dual(&self.cache) {
                self.notices.say(
                    Topic::Lab,
                    &format!(
                        "the {} lab machine is down (it was up for this run only)",
                        m.host
                    ),
                );
            }
        }
        for &h in &self.hosts {
            for m in machine::down(&self.cache, Some(h)) {
                self.notices.say(
                    Topic::Lab,
                    &format!(
                        "the {} lab host is down (it was up for this run only)",
                        m.host
                    ),
                );
            }
        }
    }
}
