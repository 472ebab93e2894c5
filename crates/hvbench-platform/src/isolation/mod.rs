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
use crate::isolation::placement::{split_cpus, CpuGroup, InstancePlace};
use crate::trial::interrupt;
use crate::{Platform, Result, TrialEnd, TrialRequest};
use hvbench_proto::{AgentPlan, Event, InstanceEvent, Message};
use hvbench_spec::{GuestSpec, PlatformSpec};
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
    let (tx, rx) = mpsc::channel::<Report>();
    let mut run = CellRun {
        t0: Instant::now(),
        tag: unique_tag(),
        logs,
        on_message,
        tx,
        rx,
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
        warming: BTreeSet::new(),
        running: BTreeSet::new(),
    };
    let (victim_cpus, aggressor_cpus) = match split_cpus(
        &factory.cpus(),
        cell.victim_cpus as usize,
        cell.pinned_apart,
    ) {
        Ok(split) => split,
        Err(e) => return run.fail_victim(format!("not run: {e}")),
    };
    // 1. The aggressors. 2. Wait for every aggressor's first window, then settle.
    run.start_aggressors(cell, factory, aggressor_cpus, timeout);
    let aborted = run.settle(cell, timeout);
    // 3. The victim.
    let victim_end = match aborted {
        Some(reason) => run.fail_victim(reason),
        None => run.victim(cell, factory, victim_cpus, timeout),
    };
    // 4. Stop the aggressors and wait until they are gone.
    run.stop_aggressors();
    victim_end
}

/// One cell while it runs: its instances' threads, their reports, and who is still loading.
struct CellRun<'a> {
    t0: Instant,
    /// Keeps this cell's cgroups apart from concurrent cells'.
    tag: String,
    logs: Option<&'a Path>,
    on_message: &'a mut dyn FnMut(Message),
    tx: mpsc::Sender<Report>,
    rx: mpsc::Receiver<Report>,
    /// Set when the aggressors are to stop.
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Aggressors still to report their first window.
    warming: BTreeSet<String>,
    /// Instances that have not ended.
    running: BTreeSet<String>,
}

/// One instance to launch on a thread of its own.
struct Instance {
    name: String,
    platform: Box<dyn Platform>,
    plan: AgentPlan,
    place: InstancePlace,
    /// Set when the instance is to stop (aggressors); None: it runs to its end (the victim).
    stop: Option<Arc<AtomicBool>>,
    timeout: Duration,
}

impl CellRun<'_> {
    fn emit(&mut self, instance: &str, at_ms: u64, event: InstanceEvent) {
        (self.on_message)(Message::Instance {
            instance: instance.to_string(),
            at_ms,
            event,
        })
    }

    fn now_ms(&self) -> u64 {
        ms_since(self.t0)
    }

    fn fail_victim(&mut self, reason: String) -> TrialEnd {
        let at = self.now_ms();
        self.emit(
            VICTIM,
            at,
            InstanceEvent::Ended {
                ok: false,
                stopped: false,
                reason: Some(reason.clone()),
            },
        );
        TrialEnd::Failed(reason)
    }

    /// Pass an instance's report on, keeping track of who loads and who runs; true when it is
    /// the victim's end.
    fn forward(&mut self, r: Report) -> bool {
        let (name, at, event) = r;
        let mut victim_ended = false;
        match &event {
            InstanceEvent::Frame { message } if matches!(**message, Message::Sample { .. }) => {
                self.warming.remove(&name);
            }
            InstanceEvent::Ended { .. } => {
                self.warming.remove(&name);
                self.running.remove(&name);
                victim_ended = name == VICTIM;
            }
            _ => {}
        }
        self.emit(&name, at, event);
        victim_ended
    }

    /// Announce `place` for instance `name`, and make its platform with `plan`.
    fn instance(
        &mut self,
        factory: &mut dyn InstanceFactory,
        name: &str,
        plan: &AgentPlan,
        place: &InstancePlace,
    ) -> Result<Box<dyn Platform>> {
        let at = self.now_ms();
        self.emit(
            name,
            at,
            InstanceEvent::Started {
                placement: place.facts(),
            },
        );
        factory.instance(name, plan)
    }

    fn start_aggressors(
        &mut self,
        cell: &Cell,
        factory: &mut dyn InstanceFactory,
        cpus: Vec<usize>,
        timeout: Duration,
    ) {
        let Some(plan) = &cell.aggressor else {
            return;
        };
        for i in 1..=cell.aggressors {
            let name = aggressor_name(i);
            let place = place(
                factory.uses_cgroups(),
                &format!("{}-{name}", self.tag),
                cpus.clone(),
                cell.weight,
                cell.cap_pct,
            );
            match self.instance(factory, &name, plan, &place) {
                Ok(platform) => {
                    self.warming.insert(name.clone());
                    self.running.insert(name.clone());
                    self.launch(Instance {
                        name,
                        platform,
                        plan: plan.clone(),
                        place,
                        stop: Some(self.stop.clone()),
                        // Stopped once the victim is done; the limit only catches a hang.
                        timeout: timeout * 2 + Duration::from_millis(cell.settle_ms),
                    });
                }
                Err(e) => {
                    let at = self.now_ms();
                    self.emit(
                        &name,
                        at,
                        InstanceEvent::Ended {
                            ok: false,
                            stopped: false,
                            reason: Some(format!("cannot start: {e}")),
                        },
                    )
                }
            }
        }
    }

    /// Wait for every aggressor's first window, then settle. Some(reason): the victim is not
    /// run.
    fn settle(&mut self, cell: &Cell, timeout: Duration) -> Option<String> {
        let start_deadline = self.t0 + timeout;
        let mut settle_until: Option<Instant> = None;
        loop {
            if let Some(sig) = interrupt::requested() {
                return Some(format!(
                    "not run: interrupted by {}",
                    interrupt::signal_name(sig)
                ));
            }
            let now = Instant::now();
            if self.warming.is_empty() {
                let until =
                    *settle_until.get_or_insert(now + Duration::from_millis(cell.settle_ms));
                if now >= until {
                    break;
                }
            } else if now >= start_deadline {
                return Some(format!(
                    "not run: aggressor(s) {} did not start loading within {} s",
                    self.warming.iter().cloned().collect::<Vec<_>>().join(", "),
                    timeout.as_secs()
                ));
            }
            if let Ok(r) = self.rx.recv_timeout(interrupt::POLL) {
                self.forward(r);
            }
        }
        if cell.aggressor.is_some() && self.running.is_empty() {
            return Some(
                "not run: every aggressor stopped before the victim started (aggressor DNR)".into(),
            );
        }
        None
    }

    /// Run the victim to its end.
    fn victim(
        &mut self,
        cell: &Cell,
        factory: &mut dyn InstanceFactory,
        cpus: Vec<usize>,
        timeout: Duration,
    ) -> TrialEnd {
        let place = place(
            factory.uses_cgroups(),
            &format!("{}-{VICTIM}", self.tag),
            cpus,
            // The victim keeps the default weight, in a group of its own only when the
            // aggressors have one, so both compete as equals but for the knobs.
            cell.weight.map(|_| 100),
            None,
        );
        let platform = match self.instance(factory, VICTIM, &cell.victim, &place) {
            Ok(p) => p,
            Err(e) => return self.fail_victim(format!("cannot start: {e}")),
        };
        self.launch(Instance {
            name: VICTIM.to_string(),
            platform,
            plan: cell.victim.clone(),
            place,
            stop: None,
            timeout,
        });
        loop {
            let Ok(r) = self.rx.recv() else {
                return TrialEnd::Failed("the victim's thread vanished".into());
            };
            let ended = match &r.2 {
                InstanceEvent::Ended { ok, reason, .. } if r.0 == VICTIM => Some(if *ok {
                    TrialEnd::Completed
                } else {
                    TrialEnd::Failed(reason.clone().unwrap_or_default())
                }),
                _ => None,
            };
            self.forward(r);
            if let Some(end) = ended {
                return end;
            }
        }
    }

    /// Run `i` on a thread of its own, its events and end sent to this cell.
    fn launch(&mut self, i: Instance) {
        let Instance {
            name,
            mut platform,
            plan,
            place,
            stop,
            timeout,
        } = i;
        let console_log = self.logs.map(|d| d.join(format!("{name}.log")));
        let tx = self.tx.clone();
        let t0 = self.t0;
        let handle = thread::spawn(move || {
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
        });
        self.threads.push(handle);
    }

    /// Stop the aggressors and wait until they are gone (those that are not by
    /// [`STOP_WAIT`] are said to have ended, stopped).
    fn stop_aggressors(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        let gone_by = Instant::now() + STOP_WAIT;
        while !self.running.is_empty() && Instant::now() < gone_by {
            match self.rx.recv_timeout(interrupt::POLL) {
                Ok(r) => {
                    self.forward(r);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for name in std::mem::take(&mut self.running) {
            let at = self.now_ms();
            self.emit(
                &name,
                at,
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
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
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

/// Makes the instances of a platform that runs on this machine.
pub struct LocalFactory {
    pub spec: PlatformSpec,
    pub guest: GuestSpec,
    pub cache: Cache,
    pub workdir: PathBuf,
}

impl InstanceFactory for LocalFactory {
    fn instance(&mut self, name: &str, plan: &AgentPlan) -> Result<Box<dyn Platform>> {
        // An instance is placed by its cell, not by the platform's own pinning.
        let spec = crate::builder::unpinned(&self.spec);
        let full = format!("{}-{name}", self.spec.name);
        crate::builder::local(&spec, &full, &self.guest, plan, &self.cache, &self.workdir)
    }

    fn cpus(&self) -> Vec<usize> {
        crate::builder::instance_cpus(&self.spec.driver)
    }

    fn uses_cgroups(&self) -> bool {
        crate::builder::uses_cgroups(&self.spec.driver)
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
