//! The `libvirt` driver: the same guest as the direct drivers' (kernel, initramfs with the
//! agent, vCPUs, memory, scratch and tools disks), as a transient libvirt domain on libvirt's
//! QEMU driver (KVM, or TCG where KVM cannot run) or its libxl driver (Xen), with libvirt's
//! defaults for everything hvbench does not ask for (docs/architecture.md, "The libvirt
//! driver").
//!
//! hvbench talks to libvirt with `virsh`, libvirt's own command line, rather than linking
//! libvirt through a binding: the executor that runs this driver on machines over SSH and in
//! the lab is a static binary, which cannot link the libvirt shared library, and `virsh` is
//! there wherever libvirtd is (Debian's libvirt-clients).
//!
//! `domain` writes the XML; `platform` prepares and runs the guests ([`LibvirtPlatform`]).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod domain;
mod platform;

pub use domain::{domain_xml, ConsoleConfig, DomainConfig, DomainKind, NicConfig};
pub use platform::LibvirtPlatform;

/// How long one `virsh` command may take (a domain's start included) before it is given up.
pub const VIRSH_TIMEOUT: Duration = Duration::from_secs(120);

/// The prefix of every domain hvbench creates: `hvbench-PLATFORM-PID-TRIAL`.
pub const DOMAIN_PREFIX: &str = "hvbench-";

/// Run `virsh -c URI ARGS...` and return its stdout, or an error with its stderr; given up
/// (killed) after `timeout`.
pub fn virsh(uri: &str, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new("virsh")
        .arg("-q")
        .arg("-c")
        .arg(uri)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run virsh: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "virsh {} did not finish within {} s (is libvirtd answering at {uri}?)",
                    args.join(" "),
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("cannot wait for virsh: {e}")),
        }
    }?;
    let stdout = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&ereader.join().unwrap_or_default()).into_owned();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "virsh -c {uri} {} failed ({status}): {}",
            args.join(" "),
            stderr.trim()
        ))
    }
}

/// `virsh version`'s lines as facts: the library, the daemon and the hypervisor they drive.
pub fn version_facts(text: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let key = match k.trim() {
            "Using library" => "libvirt.library",
            "Running against daemon" => "libvirt.daemon",
            "Running hypervisor" => "libvirt.hypervisor",
            "Using API" => "libvirt.api",
            _ => continue,
        };
        out.push((key, v.trim().to_string()));
    }
    out
}

/// Whether the domain `name` is one hvbench made in a process that is gone (a campaign that
/// was killed before it could destroy it): `hvbench-PLATFORM-PID-N` whose PID is not alive.
/// Only the platform's own prefix is considered, so other tools' domains are never touched.
pub fn is_orphan(name: &str, platform: &str, alive: impl Fn(u32) -> bool) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{DOMAIN_PREFIX}{platform}-")) else {
        return false;
    };
    let mut parts = rest.split('-');
    let (Some(pid), Some(trial), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    match (pid.parse::<u32>(), trial.parse::<u32>()) {
        (Ok(pid), Ok(_)) => !alive(pid),
        _ => false,
    }
}

/// Whether process `pid` exists on this machine.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virsh_version_as_facts() {
        let text = "Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\n\
                    Using API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n\
                    Running against daemon: 9.0.0\n";
        assert_eq!(
            version_facts(text),
            vec![
                ("libvirt.library", "libvirt 9.0.0".to_string()),
                ("libvirt.api", "QEMU 9.0.0".to_string()),
                ("libvirt.hypervisor", "QEMU 7.2.22".to_string()),
                ("libvirt.daemon", "9.0.0".to_string()),
            ]
        );
    }

    #[test]
    fn only_this_platforms_domains_of_dead_campaigns_are_orphans() {
        let alive = |pid: u32| pid == 100;
        assert!(is_orphan("hvbench-lv-200-3", "lv", alive));
        assert!(!is_orphan("hvbench-lv-100-3", "lv", alive));
        // Another platform whose name starts the same way: `lv-kvm`'s domains are not `lv`'s.
        assert!(!is_orphan("hvbench-lv-kvm-200-3", "lv", alive));
        assert!(is_orphan("hvbench-lv-kvm-200-3", "lv-kvm", alive));
        assert!(!is_orphan("web-1", "lv", alive));
        assert!(!is_orphan("hvbench-lv-x-3", "lv", alive));
    }

    #[test]
    fn a_missing_daemon_is_a_clear_error() {
        let e = virsh(
            "qemu:///system?socket=/nonexistent/libvirt-sock",
            &["version"],
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert!(
            e.contains("/nonexistent/libvirt-sock") || e.contains("cannot run virsh"),
            "{e}"
        );
    }
}
