//! Starting a lab machine: its QEMU (or the dual machine's supervisor) in a process group of
//! its own with sshd forwarded to a loopback port, waiting until SSH answers, and recording it.

use super::keys::LabKeys;
use super::machine::{stop, LabMachine};
use super::{write_file, LabHost, LabImages};
use crate::remote::ssh::Ssh;
use crate::{PlatformError, Result};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an emulated host may take from QEMU's start to answering SSH.
pub(super) const LAB_UP_LIMIT: Duration = Duration::from_secs(300);
/// The dual lab machine's boot selector disk, and its size.
pub(super) const DUAL_SELECT: &str = "dual-select.img";
const DUAL_SELECT_BYTES: usize = 4096;

/// A free loopback port (the kernel's choice; QEMU binds it right after).
pub(super) fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(PlatformError::io("cannot find a free loopback port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(PlatformError::io("cannot find a free loopback port"))
}

/// QEMU's user network with sshd forwarded to `127.0.0.1:port`.
pub(super) fn serve_net(port: u16) -> Vec<OsString> {
    [
        "-netdev".to_string(),
        format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
        "-device".to_string(),
        "virtio-net-pci,netdev=n0".to_string(),
    ]
    .map(Into::into)
    .into()
}

/// The boot selector disk saying `boot`: its first line, then zeros.
pub(super) fn select_disk(boot: LabHost) -> Vec<u8> {
    let mut d = format!("{}\n", boot.as_str()).into_bytes();
    d.resize(DUAL_SELECT_BYTES, 0);
    d
}

/// A lab machine to start: what [`serve_until_ssh`] runs and where it keeps it.
pub(super) struct Launch<'a> {
    /// Lab host `host`'s QEMU, or the dual machine's supervisor.
    pub cmd: Command,
    /// The outer emulator `cmd` runs (its version is recorded).
    pub emulator: &'a Path,
    /// `xen`, `kvm` or `dual`.
    pub host: &'a str,
    /// The loopback port its sshd is forwarded to.
    pub port: u16,
    pub images: &'a LabImages,
    pub keys: &'a LabKeys,
    /// The state directory, where its record goes.
    pub dir: &'a Path,
    /// Its console log.
    pub console: &'a Path,
}

/// Start `launch.cmd`, wait until its sshd answers on `launch.port`, and record it; it is
/// stopped if it does not answer in time. Its output goes to the console log, emptied first
/// and appended to (the dual machine's supervisor appends its own lines); it runs in its own
/// process group, so that it outlives this hvbench and `hvbench lab down` ends it with
/// everything it started.
pub(super) fn serve_until_ssh(launch: Launch<'_>, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    let Launch {
        mut cmd,
        emulator,
        host,
        port,
        images,
        keys,
        dir,
        console,
    } = launch;
    let log = std::fs::File::create(console)
        .and_then(|_| std::fs::OpenOptions::new().append(true).open(console))
        .map_err(PlatformError::io(format!(
            "cannot create {}",
            console.display()
        )))?;
    cmd.stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(PlatformError::io("cannot log the lab console"))?,
        )
        .stderr(log)
        .process_group(0);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(PlatformError::io("cannot start QEMU for the lab"))?;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut machine = LabMachine {
        host: host.into(),
        pid: child.id(),
        port,
        started_ms,
        boot_s: 0.0,
        images: images.key.clone(),
        console: console.to_path_buf(),
        cpu: lab_cpu(host),
        emulator: emulator_version(emulator)?,
        thp: lab_thp(host),
    };
    // Not waited for here: it is reaped by whoever ends it, or by init once this process ends.
    std::mem::forget(child);
    wait_for_ssh(&machine, keys, started)?;
    machine.boot_s = started.elapsed().as_secs_f64();
    write_file(
        &dir.join(format!("{host}.json")),
        &serde_json::to_vec_pretty(&machine).expect("state serialises"),
        0o600,
    )?;
    say(&format!(
        "the {host} lab host answers SSH after {:.1} s",
        machine.boot_s
    ));
    Ok(machine)
}

/// Wait until `machine`, started at `started`, answers SSH; stop it if it dies first or does
/// not answer within [`LAB_UP_LIMIT`].
fn wait_for_ssh(machine: &LabMachine, keys: &LabKeys, started: Instant) -> Result<()> {
    let (host, console) = (&machine.host, &machine.console);
    let spec = machine.host_spec(keys)?;
    let ssh = Ssh::new(&spec, &crate::remote::control_dir());
    loop {
        if !machine.alive() {
            // The dual machine's QEMU may outlive its supervisor.
            stop(machine);
            return Err(PlatformError::unavailable(
                format!(
                    "the {host} lab host stopped while booting; its console: {}",
                    console.display()
                ),
                "see the console log; `hvbench lab build` rebuilds the lab",
            ));
        }
        // Alive still once SSH answers: the dual machine's supervisor may have died meanwhile,
        // its QEMU answering on (the check above then stops it).
        if ssh.connect().is_ok() && machine.alive() {
            return Ok(());
        }
        if started.elapsed() > LAB_UP_LIMIT {
            stop(machine);
            return Err(PlatformError::unavailable(
                format!(
                    "the {host} lab host did not answer SSH within {} s; its console: {}",
                    LAB_UP_LIMIT.as_secs(),
                    console.display()
                ),
                "see the console log; a loaded machine boots the lab slowly",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What `qemu-system-x86_64 --version` says of the outer emulator `binary`.
fn emulator_version(binary: &Path) -> Result<String> {
    crate::drivers::qemu::qemu_version(binary)
}

/// Why a lab machine that is up is not the one that would be booted now with the outer
/// emulator `emulator` (another emulated CPU or another emulator was asked for), or `None` when
/// it is.
pub(super) fn differs(m: &LabMachine, emulator: &Path) -> Option<String> {
    let cpu = lab_cpu(&m.host);
    if m.cpu != cpu {
        return Some(format!("its CPU is `{}`, not `{cpu}`", m.cpu));
    }
    let thp = lab_thp(&m.host);
    if m.thp != thp {
        return Some(format!(
            "its transparent huge pages are `{}`, not `{thp}`",
            m.thp
        ));
    }
    match emulator_version(emulator) {
        Ok(v) if v != m.emulator => Some(format!("its emulator is QEMU {}, not {v}", m.emulator)),
        _ => None,
    }
}

/// The transparent huge pages of lab machine `host`'s KVM boot (none for the Xen host).
fn lab_thp(host: &str) -> String {
    if host == "xen" {
        String::new()
    } else {
        super::argv::kvm_host_thp()
    }
}

/// The emulated CPU of lab machine `host` (`xen`, `kvm` or the dual machine, whose two boots
/// have one CPU unless an override gives each its own).
pub(super) fn lab_cpu(host: &str) -> String {
    match host {
        "xen" => super::argv::cpu_model(LabHost::Xen),
        "kvm" => super::argv::cpu_model(LabHost::Kvm),
        _ => {
            let (x, k) = (
                super::argv::cpu_model(LabHost::Xen),
                super::argv::cpu_model(LabHost::Kvm),
            );
            if x == k {
                x
            } else {
                format!("xen: {x}; kvm: {k}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_disk_says_the_boot_on_its_first_line() {
        let d = select_disk(LabHost::Kvm);
        assert_eq!(d.len(), DUAL_SELECT_BYTES);
        assert!(d.starts_with(b"kvm\n\0"));
        assert!(d[4..].iter().all(|&b| b == 0));
    }
}
