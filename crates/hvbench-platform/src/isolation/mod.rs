//! Isolation cells: one victim agent run beside N aggressor runs of the same platform, after
//! the Isolation Benchmark Suite (Matthews et al., 2007; docs/architecture.md, "Isolation experiments").
//!
//! The sequence of a cell, on every driver alike:
//!
//! 1. every aggressor is launched (a guest, a domain or a process running a stress plan) on its
//!    CPUs, with its weight and cap;
//! 2. once each has reported its first stress window (proof that it is loading its resource),
//!    the co-scheduler waits `settle_ms`;
//! 3. the victim is launched and runs its workloads to the end;
//! 4. the aggressors are asked to stop (SIGTERM, then torn down), and outlasted the victim's
//!    measurement by construction.
//!
//! Every event of every instance goes out as a [`Message::Instance`] stamped with the
//! milliseconds since the cell started, on one monotonic clock, so the report can show that the
//! victim's windows lay inside the aggressors' activity. An aggressor that ends before it is
//! asked to stop, or a victim that fails, is reported as such (`Ended` with `ok: false`): the
//! report calls it DNR.

pub mod affinity;
pub mod placement;

use crate::guest::cache::Cache;
use crate::isolation::placement::{available_cpus, split_cpus, CpuGroup, InstancePlace};
use crate::trial::interrupt;
use crate::{Platform, Result, TrialEnd, TrialRequest};
use hvbench_proto::{AgentPlan, Event, InstanceEvent, Message};
use hvbench_spec::{Driver, GuestSpec, PlatformSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The victim's instance name ([`hvbench_proto::names::Role::Victim`]).
pub use hvbench_proto::names::VICTIM;

/// The name of aggressor `i` (1-based).
pub fn aggressor_name(i: u32) -> String {
    hvbench_proto::names::Role::Aggressor(i).name()
}

/// One cell of an isolation scenario, as the co-scheduler runs it (and as it travels into the
/// lab inside a job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `<scenario>/none` or `<scenario>/<stressor>/<placement>`.
    pub scenario: String,
    pub victim: AgentPlan,
    /// The aggressors' stress plan; None for the no-stress baseline cell.
    pub aggressor: Option<AgentPlan>,
    pub aggressors: u32,
    /// Aggressors on CPUs of their own (else on the victim's CPUs). The baseline cell places
    /// its victim exactly as the stress cells do.
    pub pinned_apart: bool,
    /// The aggressors' weight (cgroup v2 scale, 100 = default) and cap (% of one CPU).
    pub weight: Option<u32>,
    pub cap_pct: Option<u32>,
    pub settle_ms: u64,
    /// CPUs the victim gets: its vCPUs (at most all CPUs but one when pinned apart).
    pub victim_cpus: u32,
}

/// Makes the instances of a cell: the same platform, under a distinct name, with a given plan.
pub trait InstanceFactory {
    /// A platform named `name` (a guest, domain or plan-file name of its own) that runs `plan`.
    fn instance(&mut self, name: &str, plan: &AgentPlan) -> Result<Box<dyn Platform>>;
    /// The CPUs instances may be placed on.
    fn cpus(&self) -> Vec<usize>;
    /// Whether weight and cap are applied with cgroups (host processes, QEMU), rather than by
    /// the driver itself (Xen's credit2 parameters).
    fn uses_cgroups(&self) -> bool;
}

/// What an instance thread reports: (instance, ms since the cell started, event).
type Report = (String, u64, InstanceEvent);

/// How long aggressors that were asked to stop may take to be gone.
const STOP_WAIT: Duration = Duration::from_secs(90);

/// Run `cell`: see the module documentation. `timeout` limits the victim (boot and workloads)
/// and, separately, the aggressors' start; `logs` is a directory for each instance's console.
/// Returns the victim's end.
pub fn run_cell(
    cell: &Cell,
    factory: &mut dyn InstanceFactory,
    timeout: Duration,
    logs: Option<&Path>,
    on_message: &mut dyn FnMut(Message),
) -> TrialEnd {
    let t0 = Instant::now();
    let mut emit = |instance: &str, at_ms: u64, event: InstanceEvent| {
        on_message(Message::Instance {
            instance: instance.to_string(),
            at_ms,
            event,
        })
    };
    let fail_victim =
        |emit: &mut dyn FnMut(&str, u64, InstanceEvent), reason: String| -> TrialEnd {
            emit(
                VICTIM,
                ms_since(t0),
                InstanceEvent::Ended {
                    ok: false,
                    stopped: false,
                    reason: Some(reason.clone()),
                },
            );
            TrialEnd::Failed(reason)
        };
    let (victim_cpus, aggressor_cpus) = match split_cpus(
        &factory.cpus(),
        cell.victim_cpus as usize,
        cell.pinned_apart,
    ) {
        Ok(split) => split,
        Err(e) => return fail_victim(&mut emit, format!("not run: {e}")),
    };
    let tag = unique_tag();
    let (tx, rx) = mpsc::channel::<Report>();
    let stop = Arc::new(AtomicBool::new(false));
    let log = |name: &str| logs.map(|d| d.join(format!("{name}.log")));
    let mut threads = Vec::new();
    // Aggressors still to report their first window, and those that have not ended.
    let mut warming: BTreeSet<String> = BTreeSet::new();
    let mut running: BTreeSet<String> = BTreeSet::new();

    // 1. The aggressors.
    if let Some(plan) = &cell.aggressor {
        for i in 1..=cell.aggressors {
            let name = aggressor_name(i);
            let place = place(
                factory.uses_cgroups(),
                &format!("{tag}-{name}"),
                aggressor_cpus.clone(),
                cell.weight,
                cell.cap_pct,
            );
            emit(
                &name,
                ms_since(t0),
                InstanceEvent::Started {
                    placement: place.facts(),
                },
            );
            match factory.instance(&name, plan) {
                Ok(platform) => {
                    warming.insert(name.clone());
                    running.insert(name.clone());
                    threads.push(launch(
                        &name,
                        platform,
                        plan.clone(),
                        place,
                        Some(stop.clone()),
                        // Stopped once the victim is done; the limit only catches a hang.
                        timeout * 2 + Duration::from_millis(cell.settle_ms),
                        log(&name),
                        tx.clone(),
                        t0,
                    ));
                }
                Err(e) => emit(
                    &name,
                    ms_since(t0),
                    InstanceEvent::Ended {
                        ok: false,
                        stopped: false,
                        reason: Some(format!("cannot start: {e}")),
                    },
                ),
            }
        }
    }
    let forward = |r: Report,
                   warming: &mut BTreeSet<String>,
                   running: &mut BTreeSet<String>,
                   emit: &mut dyn FnMut(&str, u64, InstanceEvent)|
     -> bool {
        let (name, at, event) = r;
        let mut victim_ended = false;
        match &event {
            InstanceEvent::Frame { message } if matches!(**message, Message::Sample { .. }) => {
                warming.remove(&name);
            }
            InstanceEvent::Ended { .. } => {
                warming.remove(&name);
                running.remove(&name);
                victim_ended = name == VICTIM;
            }
            _ => {}
        }
        emit(&name, at, event);
        victim_ended
    };

    // 2. Wait for every aggressor's first window, then settle.
    let start_deadline = t0 + timeout;
    let mut settle_until: Option<Instant> = None;
    let mut aborted: Option<String> = None;
    loop {
        if let Some(sig) = interrupt::requested() {
            aborted = Some(format!(
                "not run: interrupted by {}",
                interrupt::signal_name(sig)
            ));
            break;
        }
        let now = Instant::now();
        if warming.is_empty() {
            let until = *settle_until.get_or_insert(now + Duration::from_millis(cell.settle_ms));
            if now >= until {
                break;
            }
        } else if now >= start_deadline {
            aborted = Some(format!(
                "not run: aggressor(s) {} did not start loading within {} s",
                warming.iter().cloned().collect::<Vec<_>>().join(", "),
                timeout.as_secs()
            ));
            break;
        }
        if let Ok(r) = rx.recv_timeout(interrupt::POLL) {
            forward(r, &mut warming, &mut running, &mut emit);
        }
    }
    if aborted.is_none() && cell.aggressor.is_some() && running.is_empty() {
        aborted = Some(
            "not run: every aggressor stopped before the victim started (aggressor DNR)".into(),
        );
    }

    // 3. The victim.
    let victim_end = match aborted {
        Some(reason) => fail_victim(&mut emit, reason),
        None => {
            let place = place(
                factory.uses_cgroups(),
                &format!("{tag}-{VICTIM}"),
                victim_cpus,
                // The victim keeps the default weight, in a group of its own only when the
                // aggressors have one, so both compete as equals but for the knobs.
                cell.weight.map(|_| 100),
                None,
            );
            emit(
                VICTIM,
                ms_since(t0),
                InstanceEvent::Started {
                    placement: place.facts(),
                },
            );
            match factory.instance(VICTIM, &cell.victim) {
                Err(e) => fail_victim(&mut emit, format!("cannot start: {e}")),
                Ok(platform) => {
                    threads.push(launch(
                        VICTIM,
                        platform,
                        cell.victim.clone(),
                        place,
                        None,
                        timeout,
                        log(VICTIM),
                        tx.clone(),
                        t0,
                    ));
                    let mut end = None;
                    while end.is_none() {
                        match rx.recv() {
                            Ok(r) => {
                                let ended = match &r.2 {
                                    InstanceEvent::Ended { ok, reason, .. } if r.0 == VICTIM => {
                                        Some(if *ok {
                                            TrialEnd::Completed
                                        } else {
                                            TrialEnd::Failed(reason.clone().unwrap_or_default())
                                        })
                                    }
                                    _ => None,
                                };
                                forward(r, &mut warming, &mut running, &mut emit);
                                end = ended;
                            }
                            Err(_) => {
                                end = Some(TrialEnd::Failed("the victim's thread vanished".into()))
                            }
                        }
                    }
                    end.unwrap_or(TrialEnd::Completed)
                }
            }
        }
    };

    // 4. Stop the aggressors and wait until they are gone.
    stop.store(true, Ordering::SeqCst);
    drop(tx);
    let gone_by = Instant::now() + STOP_WAIT;
    while !running.is_empty() && Instant::now() < gone_by {
        match rx.recv_timeout(interrupt::POLL) {
            Ok(r) => {
                forward(r, &mut warming, &mut running, &mut emit);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for name in running {
        emit(
            &name,
            ms_since(t0),
            InstanceEvent::Ended {
                ok: false,
                stopped: true,
                reason: Some(format!(
                    "did not end within {} s of being asked to stop",
                    STOP_WAIT.as_secs()
                )),
            },
        );
    }
    for t in threads {
        if t.is_finished() {
            let _ = t.join();
        }
    }
    victim_end
}

fn ms_since(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A tag that keeps the cgroups of concurrent cells (other hvbench processes) apart.
fn unique_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An instance's placement: its CPUs, and a cgroup when weight or cap are asked for on a
/// driver that uses cgroups. A cgroup that cannot be made is said in the facts, not hidden.
fn place(
    cgroups: bool,
    group_name: &str,
    cpus: Vec<usize>,
    weight: Option<u32>,
    cap_pct: Option<u32>,
) -> InstancePlace {
    let mut place = InstancePlace {
        cpus,
        weight,
        cap_pct,
        cgroup: None,
        unapplied: None,
    };
    if cgroups && (weight.is_some() || cap_pct.is_some()) {
        match CpuGroup::create(group_name, weight, cap_pct) {
            Ok(g) => place.cgroup = Some(g),
            Err(e) => {
                // Not applied: the facts say so instead of claiming a weight that did not hold.
                place.weight = None;
                place.cap_pct = None;
                place.unapplied = Some(e);
            }
        }
    }
    place
}

#[allow(clippy::too_many_arguments)]
fn launch(
    name: &str,
    mut platform: Box<dyn Platform>,
    plan: AgentPlan,
    place: InstancePlace,
    stop: Option<Arc<AtomicBool>>,
    timeout: Duration,
    console_log: Option<PathBuf>,
    tx: mpsc::Sender<Report>,
    t0: Instant,
) -> thread::JoinHandle<()> {
    let name = name.to_string();
    thread::spawn(move || {
        let req = TrialRequest {
            plan: &plan,
            timeout,
            console_log,
            stop: stop.as_deref(),
            place: Some(&place),
        };
        let end = platform.run_trial(&req, &mut |ev| {
            let event = match ev {
                Event::Frame(m) => InstanceEvent::Frame {
                    message: Box::new(m),
                },
                Event::Bad { error, excerpt } => InstanceEvent::Bad {
                    error: error.to_string(),
                    excerpt,
                },
            };
            let _ = tx.send((name.clone(), ms_since(t0), event));
        });
        let stopped = stop.is_some_and(|s| s.load(Ordering::SeqCst));
        let (ok, reason) = match end {
            TrialEnd::Completed => (true, None),
            TrialEnd::Failed(r) | TrialEnd::Lost(r) | TrialEnd::LabFault(r) => (false, Some(r)),
        };
        // The cgroup goes once the instance's processes are gone.
        drop(platform);
        drop(place);
        let _ = tx.send((
            name,
            ms_since(t0),
            InstanceEvent::Ended {
                ok,
                stopped,
                reason,
            },
        ));
    })
}

/// Makes the instances of a platform that runs on this machine.
pub struct LocalFactory {
    pub spec: PlatformSpec,
    pub guest: GuestSpec,
    pub cache: Cache,
    pub workdir: PathBuf,
}

impl InstanceFactory for LocalFactory {
    fn instance(&mut self, name: &str, plan: &AgentPlan) -> Result<Box<dyn Platform>> {
        let mut spec = self.spec.clone();
        // An instance is placed by its cell, not by the platform's own pinning.
        match &mut spec.driver {
            Driver::Qemu(q) => q.cpus = None,
            Driver::Xen(x) => x.cpus = None,
            Driver::Host => {}
        }
        let full = format!("{}-{name}", self.spec.name);
        crate::builder::local(&spec, &full, &self.guest, plan, &self.cache, &self.workdir)
    }

    fn cpus(&self) -> Vec<usize> {
        match &self.spec.driver {
            // Physical CPUs of the Xen host, which dom0's own affinity does not show.
            Driver::Xen(_) => crate::drivers::xen::host_cpus().unwrap_or_else(available_cpus),
            _ => available_cpus(),
        }
    }

    fn uses_cgroups(&self) -> bool {
        !matches!(self.spec.driver, Driver::Xen(_))
    }
}

/// A platform of this machine that can also run isolation cells: its battery trials go to the
/// platform prepared for the battery plan, its cells to instances made on demand.
pub struct Isolating {
    inner: Box<dyn Platform>,
    factory: LocalFactory,
}

impl Isolating {
    pub fn new(inner: Box<dyn Platform>, factory: LocalFactory) -> Self {
        Isolating { inner, factory }
    }
}

impl Platform for Isolating {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }
    fn boots_guest(&self) -> bool {
        self.inner.boots_guest()
    }
    fn facts(&self) -> BTreeMap<String, String> {
        self.inner.facts()
    }
    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        self.inner.run_trial(req, on_event)
    }
    fn run_cell(
        &mut self,
        cell: &Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        run_cell(cell, &mut self.factory, timeout, logs, on_message)
    }
}
