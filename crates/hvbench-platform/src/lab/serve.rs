//! The lab as machines reached over SSH (docs/architecture.md, "The lab"): each emulated host
//! (Xen, KVM) is booted once and kept up, with `sshd` inside reachable only on
//! `127.0.0.1:<port>` (QEMU user networking with a host forward), so that lab platforms run
//! through exactly the SSH path of a real machine. Its keys are hvbench's own: a client key,
//! and a host key per lab host that hvbench generated and pins in a known_hosts file of its own.
//! A lab host's state (pid, port, boot time) is a small JSON file under `<cache>/lab/up/`, so
//! that `hvbench lab status|down` and later runs find it.

use super::{build, write_file, LabHost, LabImages, INIT};
use crate::cache::{sha256_hex, Cache};
use crate::image::{self, Entry};
use crate::remote::ssh::Ssh;
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_spec::{HostSpec, SshTarget};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an emulated host may take from QEMU's start to answering SSH.
pub const LAB_UP_LIMIT: Duration = Duration::from_secs(300);
/// Where the lab's files live in the lab host's own cache (a tmpfs, its whole rootfs).
const LAB_REMOTE_CACHE: &str = "/hvbench-cache";

/// A lab host that is up: what `hvbench lab up` recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabMachine {
    /// `xen` or `kvm`.
    pub host: String,
    pub pid: u32,
    /// The loopback port that reaches its sshd.
    pub port: u16,
    /// When QEMU was started, and how long until SSH answered.
    pub started_ms: u64,
    pub boot_s: f64,
    /// The lab images it booted (package versions and recipe).
    pub images: String,
    /// Its console log on this machine.
    pub console: PathBuf,
}

impl LabMachine {
    /// The machine's name as a `[[host]]`: `lab-xen`, `lab-kvm`.
    pub fn name(&self) -> String {
        format!("lab-{}", self.host)
    }

    /// Whether its QEMU still runs (the pid is a QEMU of this lab host).
    pub fn alive(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|c| String::from_utf8_lossy(&c).contains(&marker(&self.host)))
            .unwrap_or(false)
    }

    /// The `[[host]]` that reaches it: root on 127.0.0.1:port with the lab's own key, its host
    /// key pinned.
    pub fn host_spec(&self, keys: &LabKeys) -> Result<HostSpec> {
        let known = keys.dir.join(format!("known_hosts-{}", self.host));
        let public = std::fs::read_to_string(keys.host_key(&self.host).with_extension("pub"))
            .map_err(PlatformError::io("cannot read the lab's host key"))?;
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        write_file(
            &known,
            format!("[127.0.0.1]:{} {}\n", self.port, key.join(" ")).as_bytes(),
            0o600,
        )?;
        Ok(HostSpec {
            name: self.name(),
            ssh: SshTarget {
                user: Some("root".into()),
                address: "127.0.0.1".into(),
                port: Some(self.port),
            },
            identity_file: Some(keys.client.clone()),
            known_hosts: Some(known),
            cache_dir: Some(LAB_REMOTE_CACHE.into()),
        })
    }
}

/// The QEMU `-name` of a lab host kept up: how its process is recognised.
fn marker(host: &str) -> String {
    format!("hvbench-lab-serve-{host}")
}

/// The lab's SSH keys, generated once into `<cache>/lab/keys/`.
pub struct LabKeys {
    pub dir: PathBuf,
    pub client: PathBuf,
}

impl LabKeys {
    pub fn ensure(cache: &Cache) -> Result<LabKeys> {
        let dir = cache
            .dir("lab/keys")
            .map_err(PlatformError::io("cannot create the lab's key directory"))?;
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let keys = LabKeys {
            client: dir.join("client"),
            dir,
        };
        for path in [
            keys.client.clone(),
            keys.host_key("xen"),
            keys.host_key("kvm"),
        ] {
            if !path.exists() {
                let out = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "hvbench-lab", "-f"])
                    .arg(&path)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| {
                        PlatformError::unavailable(
                            format!("cannot run ssh-keygen: {e}"),
                            "apt-get install openssh-client",
                        )
                    })?;
                if !out.status.success() {
                    return Err(PlatformError::unavailable(
                        format!(
                            "ssh-keygen failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        format!("remove {} and retry", keys.dir.display()),
                    ));
                }
            }
        }
        Ok(keys)
    }

    fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join(format!("host-{host}"))
    }
}

/// The state files' directory.
fn state_dir(cache: &Cache) -> Result<PathBuf> {
    cache
        .dir("lab/up")
        .map_err(PlatformError::io("cannot create the lab's state directory"))
}

/// The lab hosts recorded as up (alive or not).
pub fn recorded(cache: &Cache) -> Vec<LabMachine> {
    let Ok(dir) = state_dir(cache) else {
        return Vec::new();
    };
    let mut out: Vec<LabMachine> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

/// The lab host `host` if it is up and alive.
pub fn running(cache: &Cache, host: LabHost) -> Option<LabMachine> {
    recorded(cache)
        .into_iter()
        .find(|m| m.host == host.as_str() && m.alive())
}

/// The overlay that makes a lab host serve SSH: the current init, the marker that selects
/// serve mode, sshd's configuration, its host key and the authorized client key.
fn serve_overlay(keys: &LabKeys, host: &str) -> Result<Vec<u8>> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(PlatformError::io(format!("cannot read {}", p.display())))
    };
    let sshd_config = "Port 22\nHostKey /hvbench/ssh/host_key\n\
        AuthorizedKeysFile /hvbench/ssh/authorized_keys\nPermitRootLogin prohibit-password\n\
        PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
        UseDNS no\nPidFile /run/sshd.pid\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n\
        ClientAliveInterval 15\nClientAliveCountMax 4\n";
    let file = |path: &str, mode: u32, data: Vec<u8>| Entry::File {
        path: path.into(),
        mode,
        data,
    };
    let entries = vec![
        file("init", 0o755, INIT.as_bytes().to_vec()),
        Entry::Dir {
            path: "hvbench".into(),
            mode: 0o755,
        },
        file("hvbench/serve", 0o644, host.as_bytes().to_vec()),
        Entry::Dir {
            path: "hvbench/ssh".into(),
            mode: 0o700,
        },
        file(
            "hvbench/ssh/sshd_config",
            0o600,
            sshd_config.as_bytes().to_vec(),
        ),
        file("hvbench/ssh/host_key", 0o600, read(&keys.host_key(host))?),
        file(
            "hvbench/ssh/authorized_keys",
            0o600,
            read(&keys.client.with_extension("pub"))?,
        ),
    ];
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&image::cpio_newc(&entries))
        .map_err(PlatformError::io("cannot compress the lab overlay"))?;
    gz.finish()
        .map_err(PlatformError::io("cannot compress the lab overlay"))
}

/// A free loopback port (the kernel's choice; QEMU binds it right after).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(PlatformError::io("cannot find a free loopback port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(PlatformError::io("cannot find a free loopback port"))
}

/// Boot lab host `host` and keep it up, serving SSH on a loopback port; returns once SSH
/// answers. An old record of it (a host that died) is replaced.
pub fn up(cache: &Cache, host: LabHost, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    if let Some(m) = running(cache, host) {
        return Ok(m);
    }
    let images: LabImages = build(cache, say)?;
    let keys = LabKeys::ensure(cache)?;
    let overlay = serve_overlay(&keys, host.as_str())?;
    let dir = state_dir(cache)?;
    // Named after the lab images and the overlay both: a rebuilt lab (new packages or recipe)
    // must not boot an old combined image. Older ones of this host are removed.
    let mut keyed = images.key.as_bytes().to_vec();
    keyed.extend_from_slice(&overlay);
    let name = format!("{}-{}.cpio.gz", host.as_str(), &sha256_hex(&keyed)[..12]);
    let initrd = dir.join(&name);
    for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let n = old.file_name().to_string_lossy().into_owned();
        if n != name && n.starts_with(&format!("{}-", host.as_str())) && n.ends_with(".cpio.gz") {
            let _ = std::fs::remove_file(old.path());
        }
    }
    if !initrd.exists() {
        let mut combined = std::fs::read(&images.rootfs)
            .map_err(PlatformError::io("cannot read the lab rootfs"))?;
        combined.extend_from_slice(&overlay);
        write_file(&initrd, &combined, 0o600)?;
    }
    let port = free_port()?;
    let console = dir.join(format!("{}-console.log", host.as_str()));
    let log = std::fs::File::create(&console).map_err(PlatformError::io(format!(
        "cannot create {}",
        console.display()
    )))?;
    let mut argv = super::host_argv(&format!("serve-{}", host.as_str()), host, &images, &initrd);
    argv.extend(
        [
            "-netdev".to_string(),
            format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
            "-device".to_string(),
            "virtio-net-pci,netdev=n0".to_string(),
        ]
        .map(Into::into),
    );
    let mut cmd = Command::new(crate::qemu::qemu_binary());
    cmd.args(&argv)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(PlatformError::io("cannot log the lab console"))?,
        )
        .stderr(log)
        // Its own session: the lab host outlives this hvbench (`hvbench lab down` ends it).
        .process_group(0);
    say(&format!(
        "booting the {} lab host (ssh on 127.0.0.1:{port})",
        host.as_str()
    ));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(PlatformError::io("cannot start QEMU for the lab"))?;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut machine = LabMachine {
        host: host.as_str().into(),
        pid: child.id(),
        port,
        started_ms,
        boot_s: 0.0,
        images: images.key.clone(),
        console: console.clone(),
    };
    // Not waited for here: it is reaped by whoever ends it, or by init once this process ends.
    std::mem::forget(child);
    let spec = machine.host_spec(&keys)?;
    let ssh = Ssh::new(&spec, &crate::remote::control_dir());
    loop {
        if !machine.alive() {
            return Err(PlatformError::unavailable(
                format!(
                    "the {} lab host stopped while booting; its console: {}",
                    host.as_str(),
                    console.display()
                ),
                "see the console log; `hvbench lab build` rebuilds the lab",
            ));
        }
        if ssh.connect().is_ok() {
            break;
        }
        if started.elapsed() > LAB_UP_LIMIT {
            stop_pid(&machine);
            return Err(PlatformError::unavailable(
                format!(
                    "the {} lab host did not answer SSH within {} s; its console: {}",
                    host.as_str(),
                    LAB_UP_LIMIT.as_secs(),
                    console.display()
                ),
                "see the console log; a loaded machine boots the lab slowly",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    machine.boot_s = started.elapsed().as_secs_f64();
    write_file(
        &dir.join(format!("{}.json", host.as_str())),
        &serde_json::to_vec_pretty(&machine).expect("state serialises"),
        0o600,
    )?;
    say(&format!(
        "the {} lab host answers SSH after {:.1} s",
        host.as_str(),
        machine.boot_s
    ));
    Ok(machine)
}

/// End a lab host's QEMU: SIGTERM, then SIGKILL after 5 s.
fn stop_pid(m: &LabMachine) {
    let pid = m.pid as libc::pid_t;
    if !m.alive() {
        return;
    }
    // SAFETY: kill(2) with a pid checked just above to be this lab host's QEMU.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t = Instant::now();
    while m.alive() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if m.alive() {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // Reap it if it is our child (it is when this process booted it).
    // SAFETY: waitpid(2) on one pid with WNOHANG, no status wanted.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
}

/// Take lab host `host` down (every lab host with None), and forget it.
pub fn down(cache: &Cache, host: Option<LabHost>) -> Vec<LabMachine> {
    let mut ended = Vec::new();
    let Ok(dir) = state_dir(cache) else {
        return ended;
    };
    for m in recorded(cache) {
        if host.is_some_and(|h| h.as_str() != m.host) {
            continue;
        }
        stop_pid(&m);
        let _ = std::fs::remove_file(dir.join(format!("{}.json", m.host)));
        ended.push(m);
    }
    ended
}

/// A `lab = true` platform run through the SSH path: a [`crate::remote::RemotePlatform`] on the
/// lab host of its hypervisor, booted once (or found up) rather than once per trial. A lab host
/// that died is booted again before the next trial, and the platform prepared on it again.
pub struct ServedLabPlatform {
    inner: crate::remote::RemotePlatform,
    host: LabHost,
    /// Whether this campaign booted the lab host (then it takes it down at the end).
    booted_here: bool,
    args: Prepared,
}

/// What preparing the platform again needs.
struct Prepared {
    spec: hvbench_spec::PlatformSpec,
    guest: hvbench_spec::GuestSpec,
    plan: hvbench_proto::AgentPlan,
    cell_plans: Vec<hvbench_proto::AgentPlan>,
    cache: Cache,
    executor: &'static [u8],
}

impl ServedLabPlatform {
    pub fn prepare(
        spec: &hvbench_spec::PlatformSpec,
        guest: &hvbench_spec::GuestSpec,
        plan: &hvbench_proto::AgentPlan,
        cell_plans: &[hvbench_proto::AgentPlan],
        cache: &Cache,
        executor: &'static [u8],
        say: &mut dyn FnMut(&str),
    ) -> Result<ServedLabPlatform> {
        let host = LabHost::for_driver(&spec.driver).ok_or_else(|| {
            PlatformError::unavailable(
                "the host driver cannot run in the lab",
                "remove `lab = true` from the host platform",
            )
        })?;
        let args = Prepared {
            spec: spec.clone(),
            guest: guest.clone(),
            plan: plan.clone(),
            cell_plans: cell_plans.to_vec(),
            cache: cache.clone(),
            executor,
        };
        let was_up = running(cache, host).is_some();
        let inner = Self::on_host(&args, host, say)?;
        Ok(ServedLabPlatform {
            inner,
            host,
            booted_here: !was_up,
            args,
        })
    }

    /// Bring the lab host up if needed and prepare the platform on it.
    fn on_host(
        args: &Prepared,
        host: LabHost,
        say: &mut dyn FnMut(&str),
    ) -> Result<crate::remote::RemotePlatform> {
        let machine = up(&args.cache, host, say)?;
        let keys = LabKeys::ensure(&args.cache)?;
        let spec = machine.host_spec(&keys)?;
        let mut inner = crate::remote::RemotePlatform::prepare(
            &args.spec,
            &spec,
            &args.guest,
            &args.plan,
            &args.cell_plans,
            &args.cache,
            args.executor,
            say,
        )?;
        let facts = inner.facts_mut();
        // The lab runs on this machine: its platforms are this machine's in the report.
        facts.remove("machine");
        facts.insert("lab".into(), host.as_str().into());
        facts.insert("lab.images".into(), machine.images.clone());
        facts.insert(
            "lab.emulation".into(),
            format!(
                "{} host nested under QEMU TCG on this machine: timings are emulated",
                host.as_str()
            ),
        );
        facts.insert("lab.ssh".into(), format!("127.0.0.1:{}", machine.port));
        facts.insert("lab.boot_s".into(), format!("{:.1}", machine.boot_s));
        facts.insert("host.emulated".into(), "true".into());
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
        let mut say = |m: &str| eprintln!("lab: {m}");
        say(&format!(
            "the {} lab host is gone; booting it again",
            self.host.as_str()
        ));
        match Self::on_host(&self.args, self.host, &mut say) {
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
        self.inner.run_trial(req, on_event)
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
        self.inner.run_cell(cell, timeout, logs, on_message)
    }
}
