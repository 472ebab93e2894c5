//! The lab's outer emulator (docs/architecture.md, "The lab"): the QEMU whose TCG runs the
//! emulated Xen and KVM hosts. By default the QEMU of this machine's own guests; with
//! `HVBENCH_LAB_QEMU=backports`, QEMU from Debian's `bookworm-backports` suite, fetched as files
//! the way the guest kernel is (a private apt list of that suite, `apt-get download`,
//! `dpkg-deb -x` into `<cache>/lab/qemu-<version>/`), never installed: Debian 12's QEMU 7.2
//! stays the machine's QEMU. The unpacked QEMU uses the libraries Debian 12's QEMU package
//! installed (setup.sh installs it); its firmware directories are passed with `-L` by a small
//! wrapper script, so that every caller (a lab host's command, the dual machine's supervisor)
//! runs it as one program.

use super::LabHost;
use crate::guest::cache::{write_atomic, Cache, CacheLock};
use crate::{PlatformError, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The suite, and the packages whose files make a runnable `qemu-system-x86_64`: the binary,
/// its modules and keymaps, its firmware, and SeaBIOS (QEMU 10's machine types need a newer one
/// than Debian 12's).
pub const BACKPORTS: &str = "bookworm-backports";
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
];
/// What `HVBENCH_LAB_QEMU` says to ask for the backports QEMU.
pub const BACKPORTS_VALUE: &str = "backports";

/// The outer emulator (QEMU) that runs lab machine `host` (`None`: the dual machine, one QEMU
/// for both of its boots): `HVBENCH_LAB_QEMU_XEN` or `HVBENCH_LAB_QEMU_KVM` for one lab host,
/// else `HVBENCH_LAB_QEMU` for all — a path, or `backports` ([`backports`]) — else the QEMU that
/// runs this machine's own guests (`HVBENCH_QEMU`, or `qemu-system-x86_64` from PATH). Its
/// version is recorded with the lab machine and as the fact `lab.emulator`.
pub fn select(host: Option<LabHost>, cache: &Cache, say: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let own = host.map(|h| match h {
        LabHost::Xen => "HVBENCH_LAB_QEMU_XEN",
        LabHost::Kvm => "HVBENCH_LAB_QEMU_KVM",
    });
    let asked = own
        .into_iter()
        .chain(["HVBENCH_LAB_QEMU"])
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty());
    match asked {
        Some(v) if v == BACKPORTS_VALUE => backports(cache, say),
        Some(v) => Ok(PathBuf::from(v)),
        None => Ok(crate::drivers::qemu::qemu_binary()),
    }
}

/// The Debian archive a private apt list of [`BACKPORTS`] uses: the first `URIs:` (deb822) or
/// `deb URI bookworm` (one-line) entry of the machine's sources that is not a security
/// archive, else Debian's CDN.
pub fn archive_uri(sources: &[String]) -> String {
    for text in sources {
        for line in text.lines().map(str::trim) {
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(u) = uri.filter(|u| !u.contains("security")) {
                return u.trim_end_matches('/').to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

fn machine_sources() -> Vec<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// apt with a list of [`BACKPORTS`] of its own under `dir`, so the machine's apt configuration
/// is neither read for packages nor changed.
fn apt(program: &str, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.arg("-o")
        .arg(format!(
            "Dir::Etc::sourcelist={}",
            dir.join("sources.list").display()
        ))
        .args(["-o", "Dir::Etc::sourceparts=-"])
        .arg("-o")
        .arg(format!("Dir::State::Lists={}", dir.join("lists").display()))
        .arg("-o")
        .arg(format!(
            "Dir::Cache::archives={}",
            dir.join("archives").display()
        ));
    c
}

/// The version of `pkg` that `apt-cache policy` (on the private list) would take from the suite.
fn candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .map(str::to_string)
        .filter(|v| v != "(none)")
}

/// The wrapper script that runs the unpacked QEMU under `root` with its own data directories.
pub fn wrapper(root: &Path) -> String {
    format!(
        "#!/bin/sh\n# QEMU from Debian's {BACKPORTS}, unpacked by hvbench (lab/emulator.rs), not installed.\n\
         exec '{root}/usr/bin/qemu-system-x86_64' -L '{root}/usr/share/qemu' -L '{root}/usr/share/seabios' \"$@\"\n",
        root = root.display()
    )
}

/// The backports QEMU, fetched and unpacked on first use (under a lock), then taken from the
/// cache: the path of its wrapper script.
pub fn backports(cache: &Cache, say: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let lab = cache
        .dir("lab")
        .map_err(PlatformError::io("cannot create the lab's cache directory"))?;
    let lock = lab.join("qemu-backports.lock");
    let _lock = CacheLock::take(&lock)
        .map_err(PlatformError::io(format!("cannot lock {}", lock.display())))?;
    // A fetched QEMU is used as it is: the lab's emulator changes only when asked to.
    let current = lab.join("qemu-backports");
    if let Ok(root) = std::fs::read_link(&current) {
        let script = root.join("qemu-system-x86_64");
        if script.exists() {
            return Ok(script);
        }
    }
    let dir = lab.join("apt-backports");
    for sub in ["lists/partial", "archives/partial"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(PlatformError::io("cannot create the lab's apt directory"))?;
    }
    let list = format!("deb {} {BACKPORTS} main\n", archive_uri(&machine_sources()));
    write_atomic(&dir.join("sources.list"), list.as_bytes(), 0o644)
        .map_err(PlatformError::io("cannot write the lab's apt list"))?;
    let hint = "hvbench fetches the lab's QEMU from Debian's bookworm-backports: check the \
                network, or leave HVBENCH_LAB_QEMU unset to use this machine's QEMU";
    say(&format!("fetching QEMU from {BACKPORTS} for the lab"));
    super::super::guest::apt::run(apt("apt-get", &dir).arg("update"), "apt-get update")?;
    let mut wanted = Vec::new();
    for pkg in PACKAGES {
        let out = apt("apt-cache", &dir)
            .args(["policy", pkg])
            .output()
            .map_err(PlatformError::io("cannot run apt-cache"))?;
        let version = candidate(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| PlatformError::unavailable(format!("{BACKPORTS} has no {pkg}"), hint))?;
        wanted.push((pkg.to_string(), version));
    }
    let qemu_version = &wanted[0].1;
    let root = lab.join(format!(
        "qemu-{}",
        qemu_version.replace([':', '~', '+'], "_")
    ));
    let scratch = lab.join("qemu-backports.partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(PlatformError::io("cannot create the lab's QEMU directory"))?;
    let mut download = apt("apt-get", &dir);
    download.current_dir(&scratch).arg("download");
    for (pkg, version) in &wanted {
        download.arg(format!("{pkg}={version}"));
    }
    super::super::guest::apt::run(&mut download, "apt-get download (QEMU from backports)")?;
    let unpacked = scratch.join("root");
    for deb in std::fs::read_dir(&scratch)
        .map_err(PlatformError::io("cannot list the downloaded packages"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
    {
        super::super::guest::apt::run(
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
            "dpkg-deb -x",
        )?;
    }
    write_atomic(
        &unpacked.join("qemu-system-x86_64"),
        wrapper(&root).as_bytes(),
        0o755,
    )
    .map_err(PlatformError::io("cannot write the lab's QEMU wrapper"))?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&unpacked, &root).map_err(PlatformError::io(
        "cannot move the lab's QEMU into the cache",
    ))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let link = lab.join("qemu-backports.new");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&root, &link)
        .and_then(|()| std::fs::rename(&link, &current))
        .map_err(PlatformError::io("cannot record the lab's QEMU"))?;
    let script = root.join("qemu-system-x86_64");
    let version = crate::drivers::qemu::qemu_version(&script)?;
    say(&format!("the lab's emulator is QEMU {version}"));
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_comes_from_the_machines_sources() {
        // This machine's /etc/apt/sources.list.d/debian.sources (deb822), as Debian 12 writes it.
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            archive_uri(&[deb822.to_string()]),
            "http://deb.debian.org/debian"
        );
        let security_first =
            "deb http://security.debian.org/debian-security bookworm-security main\n\
                              deb [arch=amd64] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(
            archive_uri(&[security_first.to_string()]),
            "http://mirror.example/debian"
        );
        assert_eq!(archive_uri(&[]), "http://deb.debian.org/debian");
    }

    #[test]
    fn the_candidate_is_read_from_apt_cache_policy() {
        // `apt-cache policy qemu-system-x86` on the private list of bookworm-backports, here.
        let policy = "qemu-system-x86:\n  Installed: 1:7.2+dfsg-7+deb12u18+b3\n  Candidate: 1:10.0.2+ds-2+deb13u1~bpo12+1\n  Version table:\n";
        assert_eq!(
            candidate(policy).as_deref(),
            Some("1:10.0.2+ds-2+deb13u1~bpo12+1")
        );
        assert_eq!(
            candidate("x:\n  Installed: (none)\n  Candidate: (none)\n"),
            None
        );
        assert_eq!(candidate(""), None);
    }

    #[test]
    fn the_wrapper_passes_the_unpacked_firmware() {
        let w = wrapper(Path::new("/c/lab/qemu-1_10.0.2"));
        assert!(w.starts_with("#!/bin/sh\n"));
        assert!(w.contains(
            "exec '/c/lab/qemu-1_10.0.2/usr/bin/qemu-system-x86_64' -L '/c/lab/qemu-1_10.0.2/usr/share/qemu' -L '/c/lab/qemu-1_10.0.2/usr/share/seabios' \"$@\""
        ));
    }
}

#[cfg(test)]
mod fetch {
    /// Fetches QEMU from bookworm-backports into a fresh cache and runs it (network; about
    /// 15 MB): `cargo test -p hvbench-platform backports_qemu -- --ignored`.
    #[test]
    #[ignore = "downloads QEMU from Debian's archive"]
    fn backports_qemu_is_fetched_unpacked_and_runs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = crate::guest::cache::Cache::at(dir.path());
        let mut said = Vec::new();
        let script = super::backports(&cache, &mut |m: &str| said.push(m.to_string())).unwrap();
        let version = crate::drivers::qemu::qemu_version(&script).unwrap();
        assert!(version.contains("bpo12"), "{version}");
        // The second call takes it from the cache, saying nothing.
        let again = super::backports(&cache, &mut |m: &str| panic!("said {m}")).unwrap();
        assert_eq!(again, script);
        assert!(said
            .iter()
            .any(|m| m.contains("the lab's emulator is QEMU")));
    }
}
