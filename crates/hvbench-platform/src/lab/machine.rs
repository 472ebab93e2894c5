//! The lab as machines reached over SSH (docs/architecture.md, "The lab"): each emulated host
//! (Xen, KVM) is booted once and kept up, with `sshd` inside reachable only on
//! `127.0.0.1:<port>` (QEMU user networking with a host forward), so that lab platforms run
//! through exactly the SSH path of a real machine. Its keys are hvbench's own ([`LabKeys`]).
//! A lab host's state (pid, port, boot time) is a small JSON file under `<cache>/lab/up/`, so
//! that `hvbench lab status|down` and later runs find it.
//!
//! A third lab machine, "dual" ([`up_dual`]), is one emulated host that boots either Xen or
//! Linux with KVM, as a dual-boot machine does: a supervisor (a small `sh` script,
//! [`super::supervisor`]) runs its QEMU and, each time the host reboots, reads a boot selector
//! (a small disk that the host writes with `hvbench-lab-select xen|kvm`) and boots the chosen
//! one again on the same port.

use super::argv::dual_argv;
use super::keys::LabKeys;
use super::launch::{free_port, select_disk, serve_net, serve_until_ssh, Launch, DUAL_SELECT};
use super::overlay::{combined_initrd, serve_overlay};
use super::supervisor::{supervisor_script, DUAL_SCRIPT};
use super::{build, write_file, LabHost, LabImages};
use crate::guest::cache::Cache;
use crate::{PlatformError, Result};
use hvbench_spec::{HostSpec, SshTarget};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the lab's files live in the lab host's own cache (a tmpfs, its whole rootfs).
const LAB_REMOTE_CACHE: &str = "/hvbench-cache";
/// The dual lab machine's `host` in its record (`dual.json`; its name is `lab-dual`).
pub const DUAL: &str = "dual";

/// A lab host that is up: what `hvbench lab up` recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabMachine {
    /// `xen`, `kvm` or `dual`.
    pub host: String,
    /// Its QEMU's pid; the dual machine's supervisor's (also its process group).
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
    /// Its emulated CPU, QEMU's `-cpu` value (empty in records of older hvbench versions).
    #[serde(default)]
    pub cpu: String,
    /// The outer emulator's version, as `qemu-system-x86_64 --version` gives it (empty in
    /// records of older hvbench versions).
    #[serde(default)]
    pub emulator: String,
    /// The KVM host's transparent huge pages (`argv::kvm_host_thp`; empty for Xen, and in
    /// records of older hvbench versions).
    #[serde(default)]
    pub thp: String,
}

impl LabMachine {
    /// The machine's name as a `[[host]]`: `lab-xen`, `lab-kvm`, `lab-dual`.
    pub fn name(&self) -> String {
        format!("lab-{}", self.host)
    }

    /// The facts of a platform run on it: which lab machine, its images and address, and that
    /// its timings are emulated.
    pub fn facts(&self) -> std::collections::BTreeMap<String, String> {
        let what = if self.host == DUAL {
            "dual-boot (Xen or KVM)"
        } else {
            self.host.as_str()
        };
        [
            (hvbench_proto::facts::LAB, self.host.clone()),
            ("lab.images", self.images.clone()),
            (
                hvbench_proto::facts::LAB_EMULATION,
                format!("{what} host nested under QEMU TCG on this machine: timings are emulated"),
            ),
            ("lab.ssh", format!("127.0.0.1:{}", self.port)),
            ("lab.cpu", self.cpu.clone()),
            ("lab.emulator", format!("QEMU {} (TCG)", self.emulator)),
            ("lab.thp", self.thp.clone()),
            ("lab.boot_s", format!("{:.1}", self.boot_s)),
            (hvbench_proto::facts::HOST_EMULATED, "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Whether its QEMU still runs (the pid is a QEMU of this lab host); for the dual machine,
    /// whether its supervisor does (also while the host reboots).
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
            lab: false,
            boots: Vec::new(),
        })
    }
}

/// The QEMU `-name` of a lab host kept up: how its process is recognised.
fn marker(host: &str) -> String {
    format!("hvbench-lab-serve-{host}")
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
    running_named(cache, host.as_str())
}

/// The dual lab machine if it is up and alive (also while it reboots).
pub fn running_dual(cache: &Cache) -> Option<LabMachine> {
    running_named(cache, DUAL)
}

fn running_named(cache: &Cache, host: &str) -> Option<LabMachine> {
    recorded(cache)
        .into_iter()
        .find(|m| m.host == host && m.alive())
}

/// A lab machine that is up, if it is the one that would be booted now; one booted with
/// another emulated CPU or outer emulator (`HVBENCH_LAB_CPU_*`, `HVBENCH_LAB_QEMU*`) is taken
/// down, so that what a run asks for is what its facts say it ran on.
fn reusable(
    up: Option<LabMachine>,
    emulator: &std::path::Path,
    say: &mut dyn FnMut(&str),
) -> Option<LabMachine> {
    let m = up?;
    let Some(why) = super::launch::differs(&m, emulator) else {
        return Some(m);
    };
    say(&format!(
        "the {} lab host that is up is not the one asked for ({why}): booting it again",
        m.host
    ));
    stop(&m);
    None
}

/// Boot lab host `host` and keep it up, serving SSH on a loopback port; returns once SSH
/// answers. An old record of it (a host that died) is replaced.
pub fn up(cache: &Cache, host: LabHost, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    let emulator = super::emulator::select(Some(host), cache, say)?;
    if let Some(m) = reusable(running(cache, host), &emulator, say) {
        return Ok(m);
    }
    let images: LabImages = build(cache, say)?;
    let keys = LabKeys::ensure(cache)?;
    let overlay = serve_overlay(&keys, host.as_str())?;
    let dir = state_dir(cache)?;
    let initrd = combined_initrd(&dir, &images, host.as_str(), &overlay)?;
    let port = free_port()?;
    let console = dir.join(format!("{}-console.log", host.as_str()));
    let mut argv = super::host_argv(&format!("serve-{}", host.as_str()), host, &images, &initrd);
    argv.extend(serve_net(port));
    let mut cmd = Command::new(&emulator);
    cmd.args(&argv);
    say(&format!(
        "booting the {} lab host (ssh on 127.0.0.1:{port})",
        host.as_str()
    ));
    serve_until_ssh(
        Launch {
            cmd,
            emulator: &emulator,
            host: host.as_str(),
            port,
            images: &images,
            keys: &keys,
            dir: &dir,
            console: &console,
        },
        say,
    )
}

/// Boot the dual lab machine and keep it up, serving SSH on a loopback port; returns once SSH
/// answers (its first boot is Xen, as GRUB's first entry). If it is up (alive, also while it
/// reboots), it is returned as it is. Inside, `hvbench-lab-select xen|kvm` then `reboot`
/// boots the other one on the same port, with the same host key.
pub fn up_dual(cache: &Cache, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    let emulator = super::emulator::select(None, cache, say)?;
    if let Some(m) = reusable(running_dual(cache), &emulator, say) {
        return Ok(m);
    }
    let images: LabImages = build(cache, say)?;
    let keys = LabKeys::ensure(cache)?;
    let overlay = serve_overlay(&keys, DUAL)?;
    let dir = state_dir(cache)?;
    let initrd = combined_initrd(&dir, &images, DUAL, &overlay)?;
    let port = free_port()?;
    let select = dir.join(DUAL_SELECT);
    write_file(&select, &select_disk(LabHost::Xen), 0o600)?;
    // One log for all its boots, each headed by a line of the supervisor's.
    let console = dir.join(format!("{DUAL}-console.log"));
    let boot = |h: LabHost| {
        let mut a = dual_argv(h, &images, &initrd, &select);
        a.extend(serve_net(port));
        a
    };
    let script = dir.join(DUAL_SCRIPT);
    write_file(
        &script,
        &supervisor_script(
            &emulator,
            &select,
            &console,
            &boot(LabHost::Xen),
            &boot(LabHost::Kvm),
        ),
        0o700,
    )?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(&script);
    say(&format!(
        "booting the dual lab machine, Xen first (ssh on 127.0.0.1:{port})"
    ));
    serve_until_ssh(
        Launch {
            cmd,
            emulator: &emulator,
            host: DUAL,
            port,
            images: &images,
            keys: &keys,
            dir: &dir,
            console: &console,
        },
        say,
    )
}

/// End a lab host: its QEMU, or the dual machine's supervisor and QEMU.
pub(super) fn stop(m: &LabMachine) {
    if m.host == DUAL {
        stop_group(m)
    } else {
        stop_pid(m)
    }
}

/// End the dual machine's process group (the supervisor and its QEMU): SIGTERM, then SIGKILL
/// after 10 s.
fn stop_group(m: &LabMachine) {
    let pgid = m.pid as libc::pid_t;
    // A supervisor that died (killed alone) may leave its QEMU running in its group.
    if !m.alive() && !group_has_marked(pgid, &marker(&m.host)) {
        return;
    }
    // SAFETY: kill(2) on the dual machine's process group (the supervisor was started in a
    // group of its own): its supervisor or its QEMU, checked just above, is in it.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let gone = || {
        // Reap the supervisor if it is our child (it is when this process booted it).
        // SAFETY: waitpid(2) on one pid with WNOHANG, no status wanted.
        unsafe { libc::waitpid(pgid, std::ptr::null_mut(), libc::WNOHANG) };
        // SAFETY: signal 0 only checks whether the group has a member.
        unsafe { libc::kill(-pgid, 0) != 0 }
    };
    let t = Instant::now();
    while !gone() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !gone() {
        // SAFETY: as above; the group is still the dual machine's (its members remain).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let t = Instant::now();
        while !gone() && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether a process of process group `pgid` has `marker` in its command line.
fn group_has_marked(pgid: libc::pid_t, marker: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|e| {
        let dir = e.path();
        // The fields after the command's closing parenthesis: state, ppid, pgrp, ...
        let pgrp = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')').and_then(|(_, rest)| {
                    rest.split_whitespace().nth(2)?.parse::<libc::pid_t>().ok()
                })
            });
        pgrp == Some(pgid)
            && std::fs::read(dir.join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
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

/// Take lab host `host` down (every lab host with None, the dual machine too), and forget it.
pub fn down(cache: &Cache, host: Option<LabHost>) -> Vec<LabMachine> {
    down_where(cache, |h| host.is_none_or(|host| host.as_str() == h))
}

/// Take the dual lab machine down (its supervisor and QEMU), and forget it.
pub fn down_dual(cache: &Cache) -> Vec<LabMachine> {
    down_where(cache, |h| h == DUAL)
}

fn down_where(cache: &Cache, which: impl Fn(&str) -> bool) -> Vec<LabMachine> {
    let mut ended = Vec::new();
    let Ok(dir) = state_dir(cache) else {
        return ended;
    };
    for m in recorded(cache) {
        if !which(&m.host) {
            continue;
        }
        stop(&m);
        let _ = std::fs::remove_file(dir.join(format!("{}.json", m.host)));
        ended.push(m);
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_group_is_found_by_the_marker_of_its_members() {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 30; exit 0", "hvbench-lab-serve-dual-test"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as libc::pid_t;
        let t = Instant::now();
        while !group_has_marked(pgid, "hvbench-lab-serve-dual-test") {
            assert!(t.elapsed() < Duration::from_secs(5), "not found");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_has_marked(pgid, "hvbench-lab-serve-xen"));
        // SAFETY: getpgrp(2) has no preconditions.
        let ours = unsafe { libc::getpgrp() };
        assert!(!group_has_marked(ours, "hvbench-lab-serve-dual-test"));
        // SAFETY: kill(2) on the group this test started (the shell and its sleep).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        child.wait().unwrap();
        assert!(!group_has_marked(pgid, "hvbench-lab-serve-dual-test"));
    }

    #[test]
    fn dual_machine_is_named_and_marked() {
        assert!(DUAL_SCRIPT.contains(&marker(DUAL)));
        let m = LabMachine {
            host: DUAL.into(),
            pid: std::process::id(),
            port: 1,
            started_ms: 0,
            boot_s: 0.0,
            images: String::new(),
            console: PathBuf::new(),
            cpu: String::new(),
            emulator: String::new(),
            thp: String::new(),
        };
        assert_eq!(m.name(), "lab-dual");
        // This test's process is no supervisor.
        assert!(!m.alive());
    }
}
