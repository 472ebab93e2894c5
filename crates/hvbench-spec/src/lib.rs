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
//! evidence = true           # count VM exits, hypervisor events and steal time in one extra
//!                           # window per workload (docs/architecture.md, "Evidence"); default
//!                           # true, false turns it off
//!
//! [guest]                   # required when a VM platform is listed; one shape for every platform
//! vcpus = 1                 # 1..=64, default 1
//! memory_mib = 512          # 64..=1048576, default 512
//! kernel = "vmlinuz"        # optional; relative to the spec file; default: Debian's cloud kernel
//! timeout_s = 600           # per guest boot (boot + all workloads); 1..=86400, default 600
//!
//! [[host]]                 # optional: a machine reached over SSH (the system's `ssh`)
//! name = "xenbox"           # required, unique among the hosts, [a-z0-9-]+, 1..=64 characters,
//!                           # not "local"
//! ssh = "root@192.0.2.10:2222"
//!                           # required: user@address, user@address:port, user@[ipv6]:port,
//!                           # user@[ipv6], or an alias of ~/.ssh/config (no `@`)
//! identity_file = "keys/id_ed25519"
//!                           # optional: ssh -i; relative to the spec file (`~/`: your home);
//!                           # not checked for existence here
//! known_hosts = "keys/known_hosts"
//!                           # optional: the known-hosts file pinning the host's key; resolved
//!                           # as identity_file
//! cache_dir = "/var/cache/hvbench"
//!                           # optional: the remote cache, absolute or `~/...`; letters, digits
//!                           # and `/._-+,:=@` only; default ~/.cache/hvbench
//! # lab = true              # optional: hvbench's emulated dual-boot lab machine instead; then
//!                           # no ssh, identity_file, known_hosts or cache_dir (hvbench fills
//!                           # them in), and without [[host.boot]] the entries `xen` and `kvm`
//!                           # (select "hvbench-lab-select xen" / "... kvm")
//!
//! [[host.boot]]            # optional: a dual-boot machine, rebooted between these entries
//! name = "xen"              # required, unique within the host, [a-z0-9-]+, 1..=64 characters
//! select = "grub-reboot 'Debian GNU/Linux, with Xen hypervisor'"
//!                           # required: the shell command that makes the next boot this entry
//! reboot = "reboot"         # optional: the shell command that reboots; default "reboot"
//! hypervisor = "xen"        # xen | kvm: what the entry boots; may be left out when the name
//!                           # is `xen` or `kvm`
//! timeout_s = 600           # how long to wait for SSH after the reboot; 30..=3600, default 600
//!
//! [[platform]]
//! name = "host"             # unique, [a-z0-9-]+, 1..=64 characters
//! driver = "host"           # host | qemu | xen
//! host = "xenbox"           # optional: the [[host]] it runs on; default: this machine. Not
//!                           # with lab = true. driver = "host" there is that machine's baseline
//! boot = "xen"              # optional: the [[host.boot]] entry of that host to run under;
//!                           # default: the one entry whose hypervisor the driver needs (xen:
//!                           # xen; qemu and host: kvm). Only on a host with boot entries
//!
//! [[platform]]
//! name = "qemu"
//! driver = "qemu"
//! accel = "auto"            # qemu only: auto | kvm | tcg; default auto
//! machine = "q35"           # qemu only; default q35
//! cpu = "max"               # qemu only; default: host with kvm, max with tcg
//! disk_cache = "none"       # qemu only: the scratch disk's cache mode; default none (writeback with lab = true)
//! net = "auto"              # qemu only: auto (tap, else slirp) | tap | user (slirp); default auto
//!
//! [[platform]]
//! name = "xen-pvh"
//! driver = "xen"
//! type = "pvh"              # xen only: pv | pvh | hvm; default pvh
//! weight = 256              # xen only, optional: credit2 weight, 1..=65535
//! cap = 50                  # xen only, optional: credit2 cap in % of one CPU, 0..=6400
//! tsc_mode = "default"      # xen only, optional: xl.cfg's tsc_mode, default | always_emulate |
//!                           # native | native_paravirt; left out: not written, Xen's default
//! # cpus = "1"              # qemu and xen, optional: host CPUs the vCPUs are pinned to
//! # lab = true              # qemu and xen, optional: run in hvbench's emulated lab host
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
//! stressors = ["cpu", { kind = "disk", size_mib = 64 }, { kind = "stress-ng", stressor = "matrix" }]
//!                           # required, non-empty: kinds of hvbench_proto::catalog::STRESSORS, or
//!                           # tables { kind = ..., <parameters of the kind> }: integers, and for
//!                           # stress-ng `stressor`, a name the stress-ng workload takes (default
//!                           # "cpu"); the same kind with the same parameters only once
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
mod host;
mod platform;
mod render;
mod scenario;
mod tree;
mod validate;
pub use validate::{MAX_REPETITIONS, MAX_SAMPLES};

pub use diag::{Diagnostic, SpecError};
pub use host::{
    lab_boots, BootEntry, HostSpec, Hypervisor, SshTarget, DEFAULT_BOOT_TIMEOUT_S,
    DEFAULT_CACHE_DIR, DEFAULT_REBOOT, SSH_FORMS,
};
pub use platform::{
    parse_cpu_list, Accel, DiskCache, Driver, GuestSpec, LibvirtHypervisor, LibvirtSpec, NetMode,
    PlatformSpec, QemuSpec, TscMode, XenGuestType, XenSpec,
};
pub(crate) use scenario::{distinct_labels, json_text};
pub use scenario::{IsolationCell, IsolationSpec, Placement, StressorSpec, WorkloadSpec};

use hvbench_proto::{AgentPlan, WorkloadRequest, PLAN_VERSION};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// Collect evidence (docs/architecture.md, "Evidence"): one counted window per workload and
    /// metric, after the measured ones, beside which the machine running the guest counts VM
    /// exits, hypervisor events and host-side CPU time, and the guest its steal time. On unless
    /// the experiment says `evidence = false`; a stored plan without the field is from before
    /// evidence existed, and collected none.
    #[serde(default)]
    pub evidence: bool,
    /// The one guest shape used on every VM platform (defaults when no platform is a VM).
    pub guest: GuestSpec,
    /// `[[host]]`s: machines reached over SSH, in file order. Empty: everything runs on this
    /// machine (and in plans stored before hosts existed).
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
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
/// file's directory, and must exist. A `[[host]]`'s `identity_file` and `known_hosts` are made
/// absolute the same way (`~/` being the user's home), but not checked: they are read on the
/// machine that runs. I/O errors are [`SpecError`]s too.
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
/// Pure: no file is read, and relative paths (`[guest] kernel`, a host's `identity_file` and
/// `known_hosts`) stay as written.
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
            evidence: self.evidence,
            tools_root: None,
        }
    }

    /// The programs of the tools tree the plan runs (docs/architecture.md, "The tools tree"),
    /// sorted, once each: those of its general benchmarks, in the battery and in the isolation
    /// scenarios' victims, and of the stressors that run one (`stress-ng`).
    pub fn tools(&self) -> Vec<&'static str> {
        let workloads = self
            .workloads
            .iter()
            .chain(self.isolation.iter().flat_map(|s| &s.victim))
            .filter_map(|w| w.def().and_then(|d| d.tool()));
        let stressors = self
            .isolation
            .iter()
            .flat_map(|s| &s.stressors)
            .filter_map(|x| x.def().and_then(|d| d.tool));
        let mut tools: Vec<&'static str> = workloads.chain(stressors).collect();
        tools.sort_unstable();
        tools.dedup();
        tools
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

    /// The `[[host]]` of this name.
    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The `[[host]]` a platform runs on; `None`: this machine.
    pub fn host_of(&self, platform: &PlatformSpec) -> Option<&HostSpec> {
        platform.host.as_deref().and_then(|h| self.host(h))
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

    /// The platform the report compares the others with when they have no baseline of their
    /// own: the first `host`-driver platform, else the first (docs/architecture.md, "Analysis
    /// and report").
    pub fn baseline(&self) -> Option<&PlatformSpec> {
        self.platforms
            .iter()
            .find(|p| p.driver == Driver::Host)
            .or(self.platforms.first())
    }

    /// The platform the report compares `platform` with: its machine's baseline (the first
    /// `host`-driver platform of its `[[host]]`, or of this machine), else the run's
    /// ([`Plan::baseline`]); `None` for a baseline itself.
    pub fn baseline_of(&self, platform: &PlatformSpec) -> Option<&PlatformSpec> {
        let run_base = self.baseline()?;
        let base = self
            .platforms
            .iter()
            .find(|b| b.driver == Driver::Host && b.host == platform.host)
            .unwrap_or(run_base);
        let is_base = |b: &PlatformSpec| b.name == platform.name;
        (!is_base(base) && !is_base(run_base)).then_some(base)
    }

    /// The platforms the report compares with a baseline ([`Plan::baseline_of`]), in file order.
    pub fn compared_platforms(&self) -> Vec<&PlatformSpec> {
        self.platforms
            .iter()
            .filter(|p| self.baseline_of(p).is_some())
            .collect()
    }

    /// The metrics of the battery: one per workload, except `mem-latency`, which reports one
    /// per working-set size (the catalog: sizes double from 16 KiB up to `max_size_mib`), and
    /// the general benchmarks, which report every metric of their tool's (the catalog's
    /// `WorkloadDef::metrics`).
    pub fn battery_metrics(&self) -> u64 {
        self.workloads
            .iter()
            .map(|w| {
                if w.name != "mem-latency" {
                    return w
                        .def()
                        .map_or(1, |d| d.metrics_with(&w.params).len() as u64);
                }
                let max_kib = w
                    .params
                    .get("max_size_mib")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(256)
                    .saturating_mul(1024);
                // 16 KiB, 32 KiB, ... below the maximum, then the maximum itself.
                let mut n = 1;
                let mut size = 16u64;
                while size < max_kib {
                    n += 1;
                    size *= 2;
                }
                n
            })
            .sum()
    }

    /// The battery's tests: each compared platform against its baseline on each metric, Holm
    /// corrected together ([`Plan::compared_platforms`] x [`Plan::battery_metrics`]).
    pub fn battery_comparisons(&self) -> u64 {
        (self.compared_platforms().len() as u64).saturating_mul(self.battery_metrics())
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
