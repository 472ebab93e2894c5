//! Platforms on another machine, reached over SSH (docs/architecture.md, "Machines over SSH").
//!
//! The controller resolves the guest images here, ships them with the static executor and the
//! agent into the machine's content-addressed cache ([`ship`]), and runs each trial or isolation
//! cell there with `hvbench-executor run`: the same job and the same drivers as inside the lab
//! ([`exec_job`]), its frames streamed back over the SSH channel and decoded here as
//! untrusted console output. The executor holds the connection's stdin open for the whole job;
//! when the connection drops it tears down every guest it started.

pub mod boot;
pub mod dual;
mod job;
pub mod ship;
pub mod ssh;

pub use job::{exec_job, ExecOptions, Job};

use crate::builder::Recipe;
use crate::guest::cache::sha256_hex;
use crate::guest::image;
use crate::guest::{plan_tools, tools};
use crate::trial::console::{self, TrialEnd};
use crate::{Platform, PlatformError, Result, Topic, TrialRequest};
use hvbench_proto::{AgentPlan, Device, Event, Message};
use hvbench_spec::{GuestSpec, HostSpec, PlatformSpec};
use ship::{ship, Shipment};
use ssh::{quote, Ssh};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time for the SSH session and the executor around a guest's own limit.
const REMOTE_ALLOWANCE: Duration = Duration::from_secs(120);

/// The private directory of the SSH multiplexing sockets of this user's hvbench runs.
pub fn control_dir() -> PathBuf {
    // SAFETY: getuid(2) cannot fail and has no preconditions.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("hvbench-ssh-{uid}"))
}

/// Create [`control_dir`] (0700) if needed.
fn make_control_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = control_dir();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(PlatformError::io(format!(
                "cannot create {}",
                dir.display()
            ))(e));
        }
    }
    Ok(dir)
}

/// Check a machine from afar (`hvbench doctor --host`): connect, ship the executor alone (only
/// if missing), and return what its `check` says, as `check` prints it (without `remote.`).
pub fn probe(
    host: &HostSpec,
    executor: &[u8],
    say: &mut dyn FnMut(&str),
) -> std::result::Result<BTreeMap<String, String>, String> {
    let dir = make_control_dir().map_err(|e| e.to_string())?;
    let ssh = Ssh::new(host, &dir);
    ssh.connect().map_err(|e| e.to_string())?;
    let files = [Shipment {
        rel: String::new(),
        data: executor.to_vec(),
        executable: true,
    }];
    let shipped = ship(&ssh, host.cache_dir.as_deref(), &files, say)?;
    let out = ship::run_ok(
        &ssh,
        &format!(
            "C={}; \"$C/objects/{}\" check --cache \"$C/store\"",
            quote(&shipped.root),
            sha256_hex(executor)
        ),
        b"",
    );
    ssh.close();
    let facts = check_facts(&out?)
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("remote.").to_string(), v))
        .collect();
    Ok(facts)
}

/// A platform on a machine reached over SSH.
pub struct RemotePlatform {
    name: String,
    driver: &'static str,
    boots_guest: bool,
    ssh: Ssh,
    /// The shell line that starts the executor on the machine.
    executor_line: String,
    /// The job of a battery trial; cells go in copies of it.
    job: Job,
    facts: BTreeMap<String, String>,
    guest_timeout: Duration,
    /// Give a trial up when its session has been silent this long (lab platforms:
    /// [`RemotePlatform::give_up_when_silent`]).
    idle: Option<Duration>,
}

/// The executor's `check` output (`key=value` lines) as facts under `remote.`.
fn check_facts(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        })
        .map(|(k, v)| (format!("remote.{k}"), v.trim().to_string()))
        .collect()
}

impl RemotePlatform {
    /// Connect to `host`, ship what the platform's trials need (only what the host lacks), and
    /// check the machine with the executor.
    pub fn prepare(recipe: &Recipe, host: &HostSpec) -> Result<RemotePlatform> {
        let Recipe {
            spec,
            guest,
            plan,
            // The guests' files: guest_files.
            cell_plans: _,
            cache: _,
            executor,
            notices,
        } = recipe;
        let say = &mut notices.on(Topic::Ssh);
        let ssh = Ssh::new(host, &make_control_dir()?);
        ssh.connect().map_err(|e| {
            PlatformError::unavailable(
                format!("platform `{}`: {e}", spec.name),
                format!("`hvbench doctor --host {}` checks the host", host.name),
            )
        })?;
        let agent = crate::guest::agent::agent_bytes()?;
        let mut files = vec![
            Shipment {
                rel: String::new(),
                data: executor.to_vec(),
                executable: true,
            },
            Shipment {
                rel: String::new(),
                data: agent.clone(),
                executable: true,
            },
        ];
        let mut job_guest = GuestSpec {
            kernel: None,
            ..guest.clone()
        };
        let mut facts = BTreeMap::new();
        let kernel_rel = match guest_files(recipe, &agent, &mut files)? {
            Some((rel, origin)) => {
                facts.insert("guest.kernel.origin".to_string(), origin);
                Some(rel)
            }
            None => None,
        };
        facts.extend(tool_files(recipe, &mut files)?);
        let shipped = ship(&ssh, host.cache_dir.as_deref(), &files, say).map_err(|e| {
            PlatformError::unavailable(
                format!(
                    "platform `{}`: cannot ship hvbench to host `{}`: {e}",
                    spec.name, host.name
                ),
                "check the host's free space and that its cache_dir is writable",
            )
        })?;
        // A Debian kernel is named by its cache entry (with its modules); a user's kernel by its
        // path, as the user gave it here.
        let mut kernel_env = String::new();
        match &kernel_rel {
            Some(KernelShipped::Entry(entry)) => {
                kernel_env = format!("{}={} ", image::KERNEL_ENTRY_ENV, quote(entry));
            }
            Some(KernelShipped::File(rel)) => {
                job_guest.kernel = Some(PathBuf::from(format!("{}/store/{rel}", shipped.root)));
            }
            None => {}
        }
        let root = quote(&shipped.root);
        let exe = sha256_hex(executor);
        let agent_hash = sha256_hex(&agent);
        // Tools trees come only from what was shipped: the machine may have no apt.
        let tools_env = format!("{}=1", tools::SHIPPED_ENV);
        let executor_line = format!(
            "umask 077; C={root}; W=\"$C/work/job-$$\"; HVBENCH_AGENT=\"$C/objects/{agent_hash}\" \
             HVBENCH_CACHE=\"$C/store\" {tools_env} {kernel_env}\"$C/objects/{exe}\" run --cache \
             \"$C/store\" --workdir \"$W\"; rc=$?; [ $rc = 0 ] && rm -rf \"$W\"; exit $rc"
        );
        let check = check_executor(&ssh, &root, &exe).map_err(|e| {
            PlatformError::unavailable(
                format!(
                    "platform `{}`: the executor does not run on host `{}`: {e}",
                    spec.name, host.name
                ),
                "the executor is a static x86_64 Linux binary: the host must be x86_64 Linux",
            )
        })?;
        facts.extend(check_facts(&check));
        facts.insert(hvbench_proto::facts::MACHINE.into(), host.name.clone());
        facts.insert("remote.ssh".into(), ssh.target());
        facts.insert("remote.cache".into(), shipped.root.clone());
        facts.insert(
            "remote.shipped".into(),
            format!(
                "{} file(s), {} bytes sent; {} already there",
                shipped.sent_files, shipped.sent_bytes, shipped.present_files
            ),
        );
        let job = Job {
            platform: PlatformSpec {
                host: None,
                boot: None,
                lab: false,
                ..spec.clone()
            },
            guest: job_guest,
            plan: plan.clone(),
            cell: None,
        };
        Ok(RemotePlatform {
            name: spec.name.clone(),
            driver: spec.driver.as_str(),
            boots_guest: spec.is_vm(),
            ssh,
            executor_line,
            job,
            facts,
            guest_timeout: Duration::from_secs(guest.timeout_s),
            idle: None,
        })
    }

    /// Give a trial up, as on a timeout, once its session has sent nothing for `idle`: in the
    /// lab a nested guest that hung under the emulator sends nothing more, and would otherwise
    /// hold the campaign until its whole time limit is over (docs/known-limits.md).
    pub fn give_up_when_silent(&mut self, idle: Duration) {
        self.idle = Some(idle);
    }

    /// The facts recorded with the platform, for a wrapper to add its own.
    pub fn facts_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.facts
    }

    /// Run `job` on the machine and read its frames until the executor is done, `timeout`
    /// passes or hvbench is told to stop (then the ssh session is killed, and the executor,
    /// seeing its stdin close, tears its guests down).
    fn run_job(
        &self,
        job: &Job,
        timeout: Duration,
        log: Option<&Path>,
        on_event: &mut dyn FnMut(Event),
    ) -> TrialEnd {
        let mut line = serde_json::to_vec(job).expect("a job serialises");
        line.push(b'\n');
        let started = Instant::now();
        let cmd = self.ssh.command(&self.executor_line);
        // The executor says why its guest trial failed before it exits 1: that reason, not
        // ssh's exit status, is the trial's.
        let failed_as = job::trial_failure(job::ExecOptions::REMOTE.label);
        let mut why = None;
        let mut end = console::run_ssh(cmd, line, timeout, self.idle, log, &mut |ev: Event| {
            if let Event::Frame(Message::Failed { workload, reason }) = &ev {
                if *workload == failed_as {
                    why = Some(reason.clone());
                }
            }
            on_event(ev)
        });
        if let TrialEnd::Failed(reason) | TrialEnd::Lost(reason) = &mut end {
            if let Some(why) = why {
                *reason = format!("{why} ({reason})");
            }
            reason.insert_str(
                0,
                &format!(
                    "on host `{}` over SSH ({} s): ",
                    self.ssh.host(),
                    started.elapsed().as_secs()
                ),
            );
        }
        end
    }
}

/// For a platform that boots guests: the guest kernel (with its modules) and the guest
/// initramfs of every plan variant, built here as for every other platform so that every machine
/// boots the same bytes, added to `files`; returns how the kernel is shipped and its origin.
fn guest_files(
    recipe: &Recipe,
    agent: &[u8],
    files: &mut Vec<Shipment>,
) -> Result<Option<(KernelShipped, String)>> {
    if !recipe.spec.is_vm() {
        return Ok(None);
    }
    let cache = &recipe.cache;
    let kernel = image::resolve_kernel(recipe.guest.kernel.as_deref(), cache)?;
    if plans(recipe).any(|p| p.needs(Device::Tools)) {
        // Refused here, before anything is shipped, rather than on the machine per trial.
        plan_tools::check_kernel_ext4(&kernel)?;
    }
    let rel = kernel_files(&kernel, files)?;
    for p in plans(recipe) {
        for variant in crate::lab::guest_plan_variants(p) {
            let (initrd, _) = image::guest_initramfs_for(&kernel, agent, &variant, cache)?;
            let name = initrd
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let data = std::fs::read(&initrd).map_err(PlatformError::io(format!(
                "cannot read {}",
                initrd.display()
            )))?;
            files.push(Shipment {
                rel: format!("initramfs/{name}"),
                data,
                executable: false,
            });
        }
    }
    Ok(Some((rel, kernel.origin)))
}

/// The platform's plans: its battery plan and its isolation cells' plans.
fn plans(recipe: &Recipe) -> impl Iterator<Item = &AgentPlan> {
    std::iter::once(&recipe.plan).chain(&recipe.cell_plans)
}

/// For plans with general benchmarks: every tools tree the platform's plans need, from this
/// machine's cache or built into it, added to `files` as its image, versions and the record of
/// each request naming it ([`tools::entry_files`], [`tools::request_file`]), each tree once.
/// The machine's executor finds them there and never builds one ([`tools::SHIPPED_ENV`]);
/// guests there get the image as their tools disk, the host driver loop-mounts it. A plan
/// without general benchmarks adds nothing. Returns the battery plan's tree facts
/// (`tools.*`), known before the first trial as on this machine.
fn tool_files(recipe: &Recipe, files: &mut Vec<Shipment>) -> Result<BTreeMap<String, String>> {
    let mut facts = BTreeMap::new();
    let mut entries: Vec<String> = Vec::new();
    for (i, p) in plans(recipe).enumerate() {
        let Some(tree) = plan_tools::tree_for(p, &recipe.cache)? else {
            continue;
        };
        if i == 0 {
            facts = plan_tools::tree_facts(p, &tree);
        }
        let mut add = |rel: String, data: Vec<u8>| {
            if !files.iter().any(|f| f.rel == rel) {
                files.push(Shipment {
                    rel,
                    data,
                    executable: false,
                });
            }
        };
        if !entries.contains(&tree.key) {
            entries.push(tree.key.clone());
            for (rel, data) in tools::entry_files(&tree)? {
                add(rel, data);
            }
        }
        let (rel, data) = tools::request_file(&plan_tools::plan_packages(p)?, &tree);
        add(rel, data);
    }
    Ok(facts)
}

/// Run the shipped executor's `check` on the machine (`root`: the shipped cache, quoted; `exe`:
/// the executor's hash); its output.
fn check_executor(ssh: &Ssh, root: &str, exe: &str) -> std::result::Result<String, String> {
    ship::run_ok(
        ssh,
        &format!(
            "C={root}; HVBENCH_CACHE=\"$C/store\" \"$C/objects/{exe}\" check --cache \"$C/store\""
        ),
        b"",
    )
}

/// How the job names the kernel it was shipped.
enum KernelShipped {
    /// A Debian kernel's cache entry (`<pkg>_<version>.m1`), with its modules.
    Entry(String),
    /// A user's kernel file, below the store.
    File(String),
}

/// The kernel's files as shipments below `kernels/<entry>/`, and how the job names it.
fn kernel_files(kernel: &image::Kernel, files: &mut Vec<Shipment>) -> Result<KernelShipped> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(PlatformError::io(format!("cannot read {}", p.display())))
    };
    let dir = kernel
        .path
        .parent()
        .filter(|_| kernel.origin.starts_with("debian:"));
    match dir {
        Some(dir) => {
            let entry = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut stack = vec![(dir.to_path_buf(), format!("kernels/{entry}"))];
            while let Some((d, rel)) = stack.pop() {
                let rd = std::fs::read_dir(&d)
                    .map_err(PlatformError::io(format!("cannot list {}", d.display())))?;
                for e in rd.flatten() {
                    let path = e.path();
                    let r = format!("{rel}/{}", e.file_name().to_string_lossy());
                    if path.is_dir() {
                        stack.push((path, r));
                    } else if path.is_file() {
                        files.push(Shipment {
                            rel: r,
                            data: read(&path)?,
                            executable: false,
                        });
                    }
                }
            }
            Ok(KernelShipped::Entry(entry))
        }
        None => {
            let data = read(&kernel.path)?;
            let rel = format!("kernels/user-{}/vmlinuz", &sha256_hex(&data)[..16]);
            files.push(Shipment {
                rel: rel.clone(),
                data,
                executable: false,
            });
            Ok(KernelShipped::File(rel))
        }
    }
}

impl Platform for RemotePlatform {
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
        Some(self.ssh.host())
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        let job = Job {
            plan: req.plan.clone(),
            ..self.job.clone()
        };
        self.run_job(
            &job,
            req.timeout + REMOTE_ALLOWANCE,
            req.console_log.as_deref(),
            on_event,
        )
    }

    /// The whole cell runs on the machine, co-scheduled there by the executor with the real
    /// driver; its instances' events come back as `Instance` frames.
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        let job = Job {
            cell: Some(cell.clone()),
            ..self.job.clone()
        };
        let log = logs.map(|d| d.join("remote.log"));
        let mut on_event = |ev: Event| match ev {
            Event::Frame(m) => on_message(m),
            Event::Bad { error, excerpt } => on_message(Message::Failed {
                workload: hvbench_proto::names::CONSOLE_WORKLOAD.into(),
                reason: format!("untrusted frame ignored: {error}; it began: {excerpt}"),
            }),
        };
        let limit = timeout * 3 + Duration::from_millis(cell.settle_ms) + REMOTE_ALLOWANCE;
        self.run_job(
            &job,
            limit.max(self.guest_timeout),
            log.as_deref(),
            &mut on_event,
        )
    }
}

/// A platform whose machine could not be prepared (down, key not trusted, login refused, the
/// executor cannot run there): every trial is lost with that reason (interrupted, for
/// `--resume` once the machine is fixed), so the other machines' trials still run and the
/// report names the problem.
pub struct Unreachable {
    pub name: String,
    /// The `[[host]]` it would run on.
    pub machine: String,
    pub driver: &'static str,
    pub boots_guest: bool,
    pub reason: String,
}

impl Platform for Unreachable {
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
        Some(&self.machine)
    }
    fn facts(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                hvbench_proto::facts::MACHINE.to_string(),
                self.machine.clone(),
            ),
            ("remote.unreachable".to_string(), self.reason.clone()),
        ])
    }
    fn run_trial(&mut self, _: &TrialRequest<'_>, _: &mut dyn FnMut(Event)) -> TrialEnd {
        TrialEnd::Lost(self.reason.clone())
    }
    fn run_cell(
        &mut self,
        _: &crate::isolation::Cell,
        _: Duration,
        _: Option<&Path>,
        _: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        TrialEnd::Lost(self.reason.clone())
    }
}

impl Drop for RemotePlatform {
    fn drop(&mut self) {
        self.ssh.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::cache::Cache;
    use crate::guest::tools::{key_of, shipped_tree};
    use hvbench_proto::{WorkloadRequest, PLAN_VERSION};

    fn plan(names: &[&str]) -> AgentPlan {
        AgentPlan {
            version: PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: names
                .iter()
                .map(|n| WorkloadRequest {
                    name: n.to_string(),
                    id: String::new(),
                    params: BTreeMap::new(),
                })
                .collect(),
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        }
    }

    /// A tools cache entry as `tools_tree` leaves it (tree, image, versions), and the records
    /// of the requests for `requests`, so that this machine finds it without apt.
    fn cached_tree(cache: &Path, packages: &[(&str, &str)], requests: &[&[&str]]) -> String {
        let versions: Vec<(String, String)> = packages
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect();
        let key = key_of(&versions);
        let entry = cache.join("tools").join(&key);
        std::fs::create_dir_all(entry.join("tree/usr/bin")).unwrap();
        std::fs::write(entry.join("tools.ext4"), b"an ext4 image").unwrap();
        std::fs::write(entry.join("tree-bytes"), "1234\n").unwrap();
        let text: String = versions.iter().map(|(p, v)| format!("{p} {v}\n")).collect();
        std::fs::write(entry.join("versions.txt"), text).unwrap();
        let tree = crate::guest::tools::ToolsTree {
            dir: entry.join("tree"),
            image: entry.join("tools.ext4"),
            image_bytes: 13,
            tree_bytes: 1234,
            versions,
            key: key.clone(),
        };
        std::fs::create_dir_all(cache.join("tools/requests")).unwrap();
        for r in requests {
            let (rel, data) = tools::request_file(r, &tree);
            std::fs::write(cache.join(rel), data).unwrap();
        }
        key
    }

    fn recipe(cache: &Path, plan: AgentPlan, cell_plans: Vec<AgentPlan>) -> Recipe {
        Recipe {
            spec: PlatformSpec {
                name: "m-host".into(),
                driver: hvbench_spec::Driver::Host,
                lab: false,
                host: Some("m".into()),
                boot: None,
            },
            guest: GuestSpec::default(),
            plan,
            cell_plans,
            cache: Cache::at(cache),
            executor: b"",
            notices: crate::Notices::silent(),
        }
    }

    /// What goes to a machine for general benchmarks: each tree once (its image, versions and
    /// size, never its directory) and the record of every request naming it; the battery
    /// plan's versions as facts. A plan without general benchmarks ships no tools file.
    #[test]
    fn tools_are_shipped_as_the_image_and_the_records_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let both = cached_tree(
            d.path(),
            &[
                ("libc6", "2.36-9"),
                ("stress-ng", "0.15.06-2"),
                ("sysbench", "1.0.20+ds-5"),
            ],
            &[&["stress-ng", "sysbench"]],
        );
        let one = cached_tree(
            d.path(),
            &[("libc6", "2.36-9"), ("sysbench", "1.0.20+ds-5")],
            &[&["sysbench"]],
        );
        let battery = plan(&["sysbench-cpu", "stress-ng", "syscall"]);
        let cells = vec![
            plan(&["sysbench-memory"]),
            plan(&["stress-ng", "sysbench-cpu"]),
        ];
        let mut files = Vec::new();
        let facts = tool_files(&recipe(d.path(), battery, cells), &mut files).unwrap();
        let mut rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        rels.sort_unstable();
        let mut want = vec![
            format!("tools/{both}/tools.ext4"),
            format!("tools/{both}/tree-bytes"),
            format!("tools/{both}/versions.txt"),
            format!("tools/{one}/tools.ext4"),
            format!("tools/{one}/tree-bytes"),
            format!("tools/{one}/versions.txt"),
        ];
        want.sort_unstable();
        let (requests, entries): (Vec<&str>, Vec<&str>) =
            rels.iter().partition(|r| r.starts_with("tools/requests/"));
        assert_eq!(entries, want);
        // Two package sets, two records (the third plan's set is the battery's).
        assert_eq!(requests.len(), 2, "{rels:?}");
        for f in &files {
            assert!(ship::safe_rel(&f.rel), "{}", f.rel);
            assert!(!f.executable);
        }
        let image = files
            .iter()
            .find(|f| f.rel.ends_with("tools.ext4"))
            .unwrap();
        assert_eq!(image.data, b"an ext4 image");
        assert_eq!(facts["tools.sysbench"], "1.0.20+ds-5");
        assert_eq!(facts["tools.stress-ng"], "0.15.06-2");
        assert!(!facts.contains_key("tools.libc6"));

        let mut none = Vec::new();
        let facts = tool_files(
            &recipe(d.path(), plan(&["syscall"]), vec![plan(&["cpu-int"])]),
            &mut none,
        )
        .unwrap();
        assert!(none.is_empty() && facts.is_empty());
    }

    /// On the machine, what was shipped (here: written where the store's links would be) is
    /// found by the request's record, without apt (there is none in a cache of this test's
    /// own); the tree's directory is not there, its image is.
    #[test]
    fn the_machine_finds_the_shipped_tree_without_apt() {
        let here = tempfile::tempdir().unwrap();
        let key = cached_tree(
            here.path(),
            &[("libc6", "2.36-9"), ("sysbench", "1.0.20+ds-5")],
            &[&["sysbench"]],
        );
        let mut files = Vec::new();
        tool_files(
            &recipe(here.path(), plan(&["sysbench-cpu"]), vec![]),
            &mut files,
        )
        .unwrap();
        let there = tempfile::tempdir().unwrap();
        let store = Cache::at(there.path());
        let e = shipped_tree(&["sysbench"], &store).unwrap_err().to_string();
        assert!(e.contains("was not shipped"), "{e}");
        for f in &files {
            let path = there.path().join(&f.rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &f.data).unwrap();
        }
        let tree = shipped_tree(&["sysbench"], &store).unwrap();
        assert_eq!(tree.key, key);
        assert_eq!(
            tree.image,
            there.path().join(format!("tools/{key}/tools.ext4"))
        );
        assert!(tree.image.is_file() && !tree.dir.exists());
        assert_eq!((tree.image_bytes, tree.tree_bytes), (13, 1234));
        // Another package set was not shipped: an error, not a build.
        let e = shipped_tree(&["fio"], &store).unwrap_err().to_string();
        assert!(e.contains("fio") && e.contains("was not shipped"), "{e}");
        // An entry that does not hold what the record promised is refused.
        std::fs::write(
            there.path().join(format!("tools/{key}/versions.txt")),
            "libc6 2.36-9\n",
        )
        .unwrap();
        let e = shipped_tree(&["sysbench"], &store).unwrap_err().to_string();
        assert!(e.contains("not the entry's"), "{e}");
    }

    #[test]
    fn check_output_becomes_remote_facts() {
        let f = check_facts("kernel=6.1.0\nkvm=usable\nbad key=x\n=y\nnoequals\nroot=true\n");
        assert_eq!(
            f,
            BTreeMap::from([
                ("remote.kernel".to_string(), "6.1.0".to_string()),
                ("remote.kvm".to_string(), "usable".to_string()),
                ("remote.root".to_string(), "true".to_string()),
            ])
        );
    }
}
