//! hvbench experiment files: TOML text -> a validated [`Plan`].
//!
//! Every problem in an experiment file is found here, before anything runs, and reported with
//! `file:line:column` and a hint (see [`SpecError`]). All problems are collected, not only the
//! first; a TOML syntax error stops parsing, so it is reported alone.
//!
//! # The experiment file
//!
//! ```toml
//! name = "quick"            # required, [A-Za-z0-9._-]+, 1..=64 characters
//! repetitions = 3           # rounds; each visits every platform in a fresh random order; 1..=10000; default 5
//! warmup = 1                # discarded windows per workload per round; 0..=100; default 1
//! samples = 1               # measured windows per workload per round; 1..=1000; default 1
//! min_window_ms = 200       # shortest measurement window; 1..=60000; default 200
//! seed = 42                 # optional; makes the platform order of every round reproducible
//!
//! [guest]                   # required when a VM platform is listed; one shape for every platform
//! vcpus = 1                 # 1..=64, default 1
//! memory_mib = 512          # 64..=1048576, default 512
//! kernel = "vmlinuz"        # optional; relative to the spec file; default: Debian's cloud kernel
//! timeout_s = 600           # per guest boot (boot + all workloads); 1..=86400, default 600
//!
//! [[platform]]
//! name = "host"             # unique, [a-z0-9-]+, 1..=64 characters
//! driver = "host"           # host | qemu
//!
//! [[platform]]
//! name = "qemu"
//! driver = "qemu"
//! accel = "auto"            # qemu only: auto | kvm | tcg; default auto
//! machine = "q35"           # qemu only; default q35
//! cpu = "max"               # qemu only; default: host with kvm, max with tcg
//! disk_cache = "none"       # qemu only: the scratch disk's cache mode; default none
//!
//! [[workload]]             # the battery; may be left out when there is an [[isolation]]
//! name = "mem-bandwidth"    # one of hvbench_proto::catalog::WORKLOADS
//! kernel = "triad"          # every other key is a parameter of the workload
//! size_mib = 64
//!
//! [[isolation]]             # optional: victim measured alone and beside aggressors
//! name = "noisy"            # required, unique among the scenarios, [a-z0-9-]+, 1..=32 characters
//! victim = ["cpu-int", { name = "mem-bandwidth", kernel = "triad" }]
//!                           # required, non-empty: workload names (default parameters) or tables
//!                           # like a [[workload]]; checked, and given ids, as the battery is
//! stressors = ["cpu", { kind = "disk", size_mib = 64 }]
//!                           # required, non-empty: kinds of hvbench_proto::catalog::STRESSORS, or
//!                           # tables { kind = ..., <integer parameters of the kind> }; the same
//!                           # kind with the same parameters only once
//! aggressors = 1            # aggressors beside the victim in each stress cell; 1..=8; default 1
//! placements = ["shared", "pinned-apart"]
//!                           # shared: same CPUs; pinned-apart: different CPUs (needs 2, checked
//!                           # where it runs); non-empty, no duplicates; default both, in this order
//! aggressor_weight = 100    # optional: the aggressors' CPU weight, 1..=10000 (cgroup cpu.weight;
//!                           # Xen credit2, 100 mapping to Xen's 256)
//! aggressor_cap_pct = 50    # optional: the aggressors' CPU cap in % of one CPU, 1..=6400
//! settle_ms = 2000          # wait after every aggressor reported; 0..=600000; default 2000
//! platforms = ["host", "qemu"]  # optional, names of [[platform]]s, no duplicates; default: all
//! ```
//!
//! Without `[[workload]]` there are no battery trials; an experiment needs at least one
//! `[[workload]]` or `[[isolation]]`.
//!
//! # Workload ids
//!
//! The same workload may be listed more than once with different parameters. Each
//! [`WorkloadSpec`] gets an `id` that is unique within the plan:
//!
//! - the workload's name when it is listed once (`syscall`);
//! - otherwise the name followed by the parameters whose resolved values differ between the
//!   entries of that name, in parameter-name order: `mem-bandwidth[kernel=copy]` and
//!   `mem-bandwidth[kernel=triad]`; `mem-bandwidth[kernel=copy,size_mib=32]` when both differ.
//!
//! Listing the same workload twice with the same resolved parameters is an error (it would
//! measure the same thing twice; raise `samples` instead), so these ids are always unique.
//! A victim's workloads get ids by the same rule, within the victim's list.
//!
//! # Isolation cells
//!
//! Each `[[isolation]]` scenario runs as cells ([`IsolationSpec::cells`]), each stored as a
//! scenario of its own and visited once per round on each of the scenario's platforms:
//!
//! - `<name>/none`: the baseline, the victim alone;
//! - then for each stressor in file order, and each placement in order,
//!   `<name>/<label>/<placement>`: the victim beside `aggressors` aggressors running that
//!   stressor, e.g. `noisy/cpu/shared`, `noisy/cpu/pinned-apart`.
//!
//! A stressor's label is its kind (`cpu`) when the kind is listed once; otherwise, as for
//! workload ids, the kind followed by the parameters whose values differ between the entries of
//! that kind, in parameter-name order, `default` standing for a parameter an entry leaves out:
//! `disk[size_mib=64]` and `disk[size_mib=default]` for `"disk"` and
//! `{ kind = "disk", size_mib = 64 }`.

mod diag;
mod render;
mod tree;
mod validate;

pub use diag::{Diagnostic, SpecError};

use hvbench_proto::names::CellName;
use hvbench_proto::{AgentPlan, StressPlan, WorkloadRequest, PLAN_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A validated experiment: everything the runner needs, nothing left to check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// Rounds; each round visits every platform once, in a fresh random order.
    pub repetitions: u32,
    /// Warm-up windows per workload per round (run and discarded).
    pub warmup: u32,
    /// Measured windows per workload per round.
    pub samples: u32,
    /// The shortest measurement window, in milliseconds.
    pub min_window_ms: u64,
    /// Seed for the random platform order of each round; `None`: a fresh random order.
    pub seed: Option<u64>,
    /// Stop adding rounds early, once every median's interval is narrow enough; `repetitions`
    /// is then the maximum. `None`: run every round.
    #[serde(default)]
    pub stop_early: Option<StopEarly>,
    /// The one guest shape used on every VM platform (defaults when no platform is a VM).
    pub guest: GuestSpec,
    /// In file order.
    pub platforms: Vec<PlatformSpec>,
    /// In file order; run in this order within each agent run. May be empty when the
    /// experiment has isolation scenarios: then there are no battery trials.
    pub workloads: Vec<WorkloadSpec>,
    /// `[[isolation]]` scenarios, in file order.
    #[serde(default)]
    pub isolation: Vec<IsolationSpec>,
    /// The spec text verbatim, stored with the run.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSpec {
    pub vcpus: u32,
    pub memory_mib: u64,
    /// `None`: Debian's cloud kernel, fetched into the cache. [`load`] makes a relative path
    /// relative to the spec file's directory; [`parse`] leaves it as written.
    pub kernel: Option<PathBuf>,
    /// Limit for one guest boot: boot plus all workloads.
    pub timeout_s: u64,
}

impl Default for GuestSpec {
    fn default() -> Self {
        GuestSpec {
            vcpus: 1,
            memory_mib: 512,
            kernel: None,
            timeout_s: 600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    pub name: String,
    /// Serialized flat, as in the spec file: `{"name": "kvm", "driver": "qemu", "accel": ...}`.
    #[serde(flatten)]
    pub driver: Driver,
    /// Run inside hvbench's emulated lab host (a Xen or KVM host nested under QEMU's TCG)
    /// rather than on this machine. Only for the `qemu` and `xen` drivers.
    #[serde(default)]
    pub lab: bool,
}

impl PlatformSpec {
    /// Whether this platform boots a guest (everything but the bare host).
    pub fn is_vm(&self) -> bool {
        self.driver.is_vm()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Driver {
    /// The agent as a plain process on this machine: the bare-metal baseline.
    Host,
    /// A guest under `qemu-system-x86_64`.
    Qemu(QemuSpec),
    /// A Xen domain created with `xl`.
    Xen(XenSpec),
}

impl Driver {
    /// The name used in spec files: `host`, `qemu`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Driver::Host => "host",
            Driver::Qemu(_) => "qemu",
            Driver::Xen(_) => "xen",
        }
    }

    pub fn is_vm(&self) -> bool {
        !matches!(self, Driver::Host)
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuSpec {
    pub accel: Accel,
    /// `-machine`; default `q35`.
    pub machine: String,
    /// `-cpu`; `None`: `host` with kvm, `max` with tcg (decided once the accelerator is known).
    pub cpu: Option<String>,
    /// The cache mode of the scratch disk given to disk workloads (`-drive cache=`).
    #[serde(default)]
    pub disk_cache: DiskCache,
    /// Host CPUs for the vCPU threads, e.g. "1" or "0-1": vCPU i is pinned to the i-th CPU of
    /// the list (round robin), with the thread ids QEMU reports over QMP.
    #[serde(default)]
    pub cpus: Option<String>,
}

impl Default for QemuSpec {
    fn default() -> Self {
        QemuSpec {
            accel: Accel::Auto,
            machine: "q35".to_string(),
            cpu: None,
            disk_cache: DiskCache::default(),
            cpus: None,
        }
    }
}

/// A CPU list such as "1", "0-3" or "0,2-3" as CPU numbers, in order; `None` if malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b >= 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                let n: usize = part.parse().ok()?;
                if n >= 4096 {
                    return None;
                }
                out.push(n);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// QEMU's block cache modes (`-drive cache=`): whether the host's page cache holds guest
/// writes, and whether the guest sees a volatile write cache it must flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskCache {
    /// O_DIRECT on the host, a write cache the guest flushes: what clouds use.
    #[default]
    None,
    /// The host's page cache, flushed when the guest flushes.
    Writeback,
    /// The host's page cache, every write synchronous.
    Writethrough,
    /// O_DIRECT and every write synchronous.
    Directsync,
    /// The host's page cache, guest flushes ignored (fast, unsafe on a host crash).
    Unsafe,
}

impl DiskCache {
    pub const ALL: [DiskCache; 5] = [
        DiskCache::None,
        DiskCache::Writeback,
        DiskCache::Writethrough,
        DiskCache::Directsync,
        DiskCache::Unsafe,
    ];

    /// The spelling of the spec file and of QEMU's `cache=`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskCache::None => "none",
            DiskCache::Writeback => "writeback",
            DiskCache::Writethrough => "writethrough",
            DiskCache::Directsync => "directsync",
            DiskCache::Unsafe => "unsafe",
        }
    }

    pub fn from_name(name: &str) -> Option<DiskCache> {
        DiskCache::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether QEMU opens the image with O_DIRECT, which the image's file system must support.
    pub fn uses_o_direct(self) -> bool {
        matches!(self, DiskCache::None | DiskCache::Directsync)
    }
}

impl fmt::Display for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl QemuSpec {
    /// The `-cpu` model for the accelerator that actually runs.
    pub fn cpu_for(&self, kvm: bool) -> &str {
        match &self.cpu {
            Some(cpu) => cpu,
            None if kvm => "host",
            None => "max",
        }
    }
}

/// A Xen guest: its type, and how its vCPUs are placed and weighted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XenSpec {
    #[serde(rename = "type")]
    pub kind: XenGuestType,
    /// Hard affinity of every vCPU (xl.cfg `cpus=`), e.g. "1" or "0-1"; applied with the domain.
    pub cpus: Option<String>,
    /// credit2 weight (1..=65535, Xen's default 256) and cap (% of one CPU, 0 = none).
    pub weight: Option<u32>,
    pub cap: Option<u32>,
}

impl Default for XenSpec {
    fn default() -> Self {
        XenSpec {
            kind: XenGuestType::Pvh,
            cpus: None,
            weight: None,
            cap: None,
        }
    }
}

/// Xen's guest types: paravirtualized, PVH (a PV kernel in an HVM container, needs VMX/SVM and
/// HAP), fully virtualized HVM (needs a device model in dom0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XenGuestType {
    Pv,
    Pvh,
    Hvm,
}

impl XenGuestType {
    pub const ALL: [XenGuestType; 3] = [XenGuestType::Pv, XenGuestType::Pvh, XenGuestType::Hvm];

    pub fn as_str(self) -> &'static str {
        match self {
            XenGuestType::Pv => "pv",
            XenGuestType::Pvh => "pvh",
            XenGuestType::Hvm => "hvm",
        }
    }

    pub fn from_name(name: &str) -> Option<XenGuestType> {
        XenGuestType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM where `/dev/kvm` is usable, else TCG; the report says which ran.
    Auto,
    Kvm,
    Tcg,
}

impl Accel {
    pub const ALL: [Accel; 3] = [Accel::Auto, Accel::Kvm, Accel::Tcg];

    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    pub fn from_name(name: &str) -> Option<Accel> {
        Accel::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// Unique within the plan; see the crate documentation ("Workload ids").
    pub id: String,
    /// The catalog name (`hvbench_proto::catalog::WORKLOADS`).
    pub name: String,
    /// Every parameter of the workload, defaults filled in by `WorkloadDef::resolve`.
    pub params: BTreeMap<String, serde_json::Value>,
}

impl WorkloadSpec {
    /// The catalog entry (always present in a validated plan).
    pub fn def(&self) -> Option<&'static hvbench_proto::WorkloadDef> {
        hvbench_proto::catalog::workload(&self.name)
    }

    /// Guest memory this workload needs beyond the kernel's own, in MiB.
    pub fn memory_need_mib(&self) -> u64 {
        self.def().map_or(0, |d| d.memory_need_mib(&self.params))
    }
}

/// One `[[isolation]]` scenario (DESIGN.md, "Isolation experiments"): a victim measured alone
/// and beside aggressors, one stressor kind at a time, on each of its platforms.
///
/// Its cells are: one no-stress baseline (`<name>/none`) and one cell per stressor and
/// placement (`<name>/<stressor>/<placement>`), each a scenario of its own in the store,
/// every one visited once per round in the campaign's random order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationSpec {
    /// Unique among the scenarios, `[a-z0-9-]+`, 1..=32 characters.
    pub name: String,
    /// The victim's workloads, with resolved parameters and ids as in `[[workload]]`.
    pub victim: Vec<WorkloadSpec>,
    /// One aggressor kind at a time, in file order; at least one.
    pub stressors: Vec<StressorSpec>,
    /// Aggressors started beside the victim, 1..=8 (default 1).
    pub aggressors: u32,
    /// Default both, shared first.
    pub placements: Vec<Placement>,
    /// The aggressors' CPU weight (cgroup `cpu.weight` 1..=10000 for host and QEMU; Xen
    /// credit2 weight, where 100 maps to Xen's default 256). None: the platform's default.
    pub aggressor_weight: Option<u32>,
    /// The aggressors' CPU cap, % of one CPU (1..=6400): cgroup `cpu.max`, Xen credit2 cap.
    pub aggressor_cap_pct: Option<u32>,
    /// How long the victim waits after every aggressor reported its first window (0..=600000, default 2000).
    pub settle_ms: u64,
    /// The platforms the scenario runs on, in experiment order; default: all of them.
    pub platforms: Vec<String>,
}

impl IsolationSpec {
    /// The scenario's cells, in this order: the baseline `<name>/none`, then for each
    /// stressor in order and each placement in order `<name>/<label>/<placement>`; see the crate
    /// documentation ("Isolation cells") for the labels.
    pub fn cells(&self) -> Vec<IsolationCell> {
        let mut cells = vec![IsolationCell {
            scenario: CellName::alone(&self.name).to_string(),
            stressor: None,
            placement: None,
        }];
        for (stressor, label) in self.stressors.iter().zip(self.stressor_labels()) {
            for &placement in &self.placements {
                cells.push(IsolationCell {
                    scenario: CellName::stressed(&self.name, &label, placement.as_str())
                        .to_string(),
                    stressor: Some(stressor.clone()),
                    placement: Some(placement),
                });
            }
        }
        cells
    }

    /// Each stressor's label in cell names, in order: its kind, or when the kind is listed more
    /// than once, `kind[param=value,...]` with the parameters that differ.
    pub fn stressor_labels(&self) -> Vec<String> {
        let keyed: Vec<(&str, BTreeMap<String, String>)> = self
            .stressors
            .iter()
            .map(|s| {
                let params = s
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect();
                (s.kind.as_str(), params)
            })
            .collect();
        distinct_labels(&keyed)
    }

    /// What the victim's agent is asked to do in every cell: its workloads with the plan's
    /// warm-up, samples and window.
    pub fn victim_plan(&self, plan: &Plan) -> AgentPlan {
        plan.agent_plan_for(&self.victim)
    }

    /// The plan's platforms this scenario runs on, in experiment order.
    pub fn platforms_of<'p>(&self, plan: &'p Plan) -> impl Iterator<Item = &'p PlatformSpec> {
        let names = self.platforms.clone();
        plan.platforms
            .iter()
            .filter(move |p| names.contains(&p.name))
    }

    /// Guest boots of this scenario in the whole campaign: per round, on each of its VM
    /// platforms, one victim boot per cell plus `aggressors` boots per stress cell.
    pub fn guest_boots(&self, plan: &Plan) -> u64 {
        let cells = self.cells().len() as u64;
        let per_platform = cells
            .saturating_add(u64::from(self.aggressors).saturating_mul(cells.saturating_sub(1)));
        u64::from(plan.repetitions)
            .saturating_mul(self.platforms_of(plan).filter(|p| p.is_vm()).count() as u64)
            .saturating_mul(per_platform)
    }

    /// The victim's measured samples on each of the scenario's platforms: rounds x cells x
    /// victim workloads x measured windows.
    pub fn samples_per_platform(&self, plan: &Plan) -> u64 {
        u64::from(plan.repetitions)
            .saturating_mul(self.cells().len() as u64)
            .saturating_mul(self.victim.len() as u64)
            .saturating_mul(u64::from(plan.samples))
    }
}

/// One cell of an isolation scenario: the victim alone (`stressor` and `placement` `None`), or
/// beside the scenario's aggressors running one stressor, placed one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationCell {
    /// The cell's scenario name in the store: `noisy/none`, `noisy/cpu/shared`, ...
    pub scenario: String,
    pub stressor: Option<StressorSpec>,
    pub placement: Option<Placement>,
}

/// One stressor kind of a scenario and its parameters (`hvbench_proto::catalog::STRESSORS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StressorSpec {
    pub kind: String,
    /// Only the parameters the experiment file gives; the agent defaults the others.
    pub params: BTreeMap<String, u64>,
}

impl StressorSpec {
    /// The catalog entry (always present in a validated plan).
    pub fn def(&self) -> Option<&'static hvbench_proto::catalog::StressorDef> {
        hvbench_proto::catalog::stressor(&self.kind)
    }

    /// What an aggressor's agent is asked to run: this stressor for `duration_ms`, reporting
    /// every `report_ms`, its parameters as the agent's `--param k=v` takes them.
    pub fn stress_plan(&self, duration_ms: u64, report_ms: u64) -> StressPlan {
        StressPlan {
            kind: self.kind.clone(),
            params: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            duration_ms,
            report_ms,
        }
    }
}

/// Labels for a list of (name, parameters) that may repeat a name: the name where it is listed
/// once; otherwise the name followed by `[k=v,...]` with the parameters whose values differ
/// within the name's group, in parameter-name order (`default` for one an entry does not
/// give), or `name#n` (1-based) when none differ. Workload ids and stressor labels.
pub(crate) fn distinct_labels(items: &[(&str, BTreeMap<String, String>)]) -> Vec<String> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (name, _)) in items.iter().enumerate() {
        by_name.entry(name).or_default().push(i);
    }
    let mut labels: Vec<String> = items.iter().map(|(name, _)| name.to_string()).collect();
    for (name, group) in by_name.into_iter().filter(|(_, g)| g.len() > 1) {
        let differing: BTreeSet<&str> = group
            .iter()
            .flat_map(|&i| items[i].1.keys().map(String::as_str))
            .filter(|k| {
                let first = items[group[0]].1.get(*k);
                group.iter().any(|&i| items[i].1.get(*k) != first)
            })
            .collect();
        for (n, &i) in group.iter().enumerate() {
            labels[i] = if differing.is_empty() {
                format!("{name}#{}", n + 1)
            } else {
                let parts: Vec<String> = differing
                    .iter()
                    .map(|k| {
                        let v = items[i].1.get(*k).map_or("default", String::as_str);
                        format!("{k}={v}")
                    })
                    .collect();
                format!("{name}[{}]", parts.join(","))
            };
        }
    }
    labels
}

/// A parameter value as written in ids and plans: strings without quotes.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where the aggressors run relative to the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Victim and aggressors on the same host CPUs: they compete for them.
    Shared,
    /// The victim on its own CPUs, the aggressors on the others.
    PinnedApart,
}

impl Placement {
    pub const ALL: [Placement; 2] = [Placement::Shared, Placement::PinnedApart];

    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Shared => "shared",
            Placement::PinnedApart => "pinned-apart",
        }
    }

    pub fn from_name(name: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stop-early rule of an experiment: at least `min_repetitions` rounds, at most
/// `repetitions`, and stop once every median's 95% interval is at most `target_ci_pct` % of the
/// median wide.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StopEarly {
    pub min_repetitions: u32,
    pub target_ci_pct: f64,
}

/// Guest memory reserved for the guest kernel and the agent, on top of what the workloads need.
pub const GUEST_BASE_MIB: u64 = 128;

/// The built-in experiment of `hvbench run` with no SPEC (see [`Plan::default_plan`]).
pub const DEFAULT_SPEC: &str = r#"# The built-in experiment of `hvbench run` with no SPEC.
name = "default"
repetitions = 3
warmup = 1
samples = 1
min_window_ms = 200

[guest]
vcpus = 1
memory_mib = 512
timeout_s = 600

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "qemu"
driver = "qemu"
accel = "auto"

[[workload]]
name = "cpu-int"

[[workload]]
name = "cpu-float"

[[workload]]
name = "syscall"

[[workload]]
name = "mem-bandwidth"

[[workload]]
name = "mem-latency"

[[workload]]
name = "page-fault"

[[workload]]
name = "clock-gettime"

[[workload]]
name = "pipe-switch"

[[workload]]
name = "fork-exit"

[[workload]]
name = "fork-exec"

[[workload]]
name = "mmap"

[[workload]]
name = "futex-wake"

[[workload]]
name = "timer-overshoot"

[[workload]]
name = "cpuid"

[[workload]]
name = "port-io"

[[workload]]
name = "disk-seq-read"

[[workload]]
name = "disk-seq-write"

[[workload]]
name = "disk-rand-read"

[[workload]]
name = "disk-rand-write"

[[workload]]
name = "disk-fsync"

[[workload]]
name = "net-bulk"

[[workload]]
name = "net-rr"
"#;

/// Read and validate an experiment file. A relative `[guest] kernel` is made relative to the
/// file's directory, and must exist. I/O errors are [`SpecError`]s too.
pub fn load(path: &Path) -> Result<Plan, SpecError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        SpecError::unplaced(
            &origin,
            format!("cannot read the experiment file: {e}"),
            Some("check the path; an experiment file is UTF-8 TOML".to_string()),
        )
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    validate::parse(&origin, &text, Some(base))
}

/// Validate experiment text. `origin` names the text in messages (usually the file name).
/// Pure: no file is read, and a relative `[guest] kernel` stays as written.
pub fn parse(origin: &str, text: &str) -> Result<Plan, SpecError> {
    validate::parse(origin, text, None)
}

impl Plan {
    /// What each agent run of the battery is asked to do: every workload, in order, with its
    /// parameters.
    pub fn agent_plan(&self) -> AgentPlan {
        self.agent_plan_for(&self.workloads)
    }

    /// An agent plan for these workloads with this plan's warm-up, samples and window.
    fn agent_plan_for(&self, workloads: &[WorkloadSpec]) -> AgentPlan {
        AgentPlan {
            version: PLAN_VERSION,
            warmup: self.warmup,
            samples: self.samples,
            min_window_ms: self.min_window_ms,
            workloads: workloads
                .iter()
                .map(|w| WorkloadRequest {
                    name: w.name.clone(),
                    id: w.id.clone(),
                    params: w.params.clone(),
                })
                .collect(),
            peer: None,
            stress: None,
        }
    }

    /// The expanded plan in words, for `hvbench plan SPEC`.
    pub fn render(&self) -> String {
        render::render(self)
    }

    /// The built-in experiment for `hvbench run` with no SPEC: host and qemu (accel auto),
    /// every workload of the catalog with default parameters, 3 rounds, 1 warm-up and 1
    /// measured window. Its `source` is [`DEFAULT_SPEC`].
    pub fn default_plan() -> Plan {
        match parse("<default>", DEFAULT_SPEC) {
            Ok(plan) => plan,
            Err(e) => panic!("the built-in default experiment is invalid:\n{e}"),
        }
    }

    /// The platforms that boot a guest.
    pub fn vm_platforms(&self) -> impl Iterator<Item = &PlatformSpec> {
        self.platforms.iter().filter(|p| p.is_vm())
    }

    /// Guest boots in the whole campaign: for the battery, one per round per VM platform (none
    /// without workloads); plus each isolation scenario's ([`IsolationSpec::guest_boots`]: per
    /// round, on each of its VM platforms, one victim boot per cell and `aggressors` boots per
    /// stress cell).
    pub fn guest_boots(&self) -> u64 {
        let battery = if self.workloads.is_empty() {
            0
        } else {
            u64::from(self.repetitions).saturating_mul(self.vm_platforms().count() as u64)
        };
        self.isolation
            .iter()
            .fold(battery, |n, s| n.saturating_add(s.guest_boots(self)))
    }

    /// Measured battery samples per platform: rounds x workloads x measured windows (0 without
    /// workloads). An isolation scenario's victim samples are
    /// [`IsolationSpec::samples_per_platform`].
    pub fn samples_per_platform(&self) -> u64 {
        u64::from(self.repetitions)
            .saturating_mul(self.workloads.len() as u64)
            .saturating_mul(u64::from(self.samples))
    }
}

#[cfg(test)]
mod tests;
