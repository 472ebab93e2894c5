//! Guest images: a Linux kernel (Debian's cloud kernel, fetched into the cache, or the user's)
//! and an initramfs that hvbench builds — the static agent as `/init`, `/etc/hosts`, and the
//! guest's part of the plan — cached by content hash.

use crate::cache::{sha256_hex, write_atomic, Cache};
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_proto::AgentPlan;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian metapackage whose dependency is the current cloud kernel.
pub const CLOUD_KERNEL_META: &str = "linux-image-cloud-amd64";

/// A kernel ready to boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub path: PathBuf,
    /// Where it came from: "debian:linux-image-6.1.0-56-cloud-amd64=6.1.192-2" or "user".
    pub origin: String,
}

/// Use the user's kernel if given, else Debian's cloud kernel from the cache, fetching it first
/// if needed.
pub fn resolve_kernel(user: Option<&Path>, cache: &Cache) -> Result<Kernel> {
    match user {
        Some(p) if p.is_file() => Ok(Kernel {
            path: p.to_path_buf(),
            origin: "user".into(),
        }),
        Some(p) => Err(PlatformError::unavailable(
            format!("the guest kernel {} does not exist", p.display()),
            "fix `kernel` in [guest], or remove it to use Debian's cloud kernel",
        )),
        None => debian_cloud_kernel(cache),
    }
}

/// Debian's cloud kernel, keyed by package name and version in `<cache>/kernels/`.
pub fn debian_cloud_kernel(cache: &Cache) -> Result<Kernel> {
    let kernels = cache
        .dir("kernels")
        .map_err(PlatformError::io("cannot create the kernel cache"))?;
    let (pkg, version) = match candidate_kernel_package() {
        Ok(pv) => pv,
        // Offline, or no apt lists: a kernel fetched earlier is as good.
        Err(e) => return newest_cached(&kernels).ok_or(e),
    };
    let dir = kernels.join(format!("{pkg}_{version}"));
    let vmlinuz = dir.join("vmlinuz");
    let origin = format!("debian:{pkg}={version}");
    if vmlinuz.is_file() {
        return Ok(Kernel {
            path: vmlinuz,
            origin,
        });
    }
    fetch_kernel(&pkg, &version, &dir)?;
    Ok(Kernel {
        path: vmlinuz,
        origin,
    })
}

/// Cached kernels are kept as `<cache>/kernels/<pkg>_<version>/vmlinuz`; also the metadata
/// needed to label one found offline.
fn newest_cached(kernels: &Path) -> Option<Kernel> {
    let mut found: Vec<(std::time::SystemTime, PathBuf, String)> = std::fs::read_dir(kernels)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.path().join("vmlinuz");
            let t = std::fs::metadata(&v).ok()?.modified().ok()?;
            let name = e.file_name().to_string_lossy().replacen('_', "=", 1);
            Some((t, v, format!("debian:{name} (cached)")))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path, origin)| Kernel { path, origin })
}

/// The concrete kernel package the metapackage points to now, and its version.
fn candidate_kernel_package() -> Result<(String, String)> {
    let out = Command::new("apt-cache")
        .args(["depends", CLOUD_KERNEL_META])
        .output()
        .map_err(PlatformError::io(
            "cannot run apt-cache (is this Debian or Ubuntu?)",
        ))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pkg = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| {
            PlatformError::unavailable(
                format!("apt does not know {CLOUD_KERNEL_META}"),
                "run `apt-get update` (as root), or set `kernel = \"/path/to/vmlinuz\"` in [guest]",
            )
        })?;
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", &pkg])
        .output()
        .map_err(PlatformError::io("cannot run apt-cache"))?;
    let version = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: ").map(str::to_string))
        .ok_or_else(|| {
            PlatformError::unavailable(
                format!("apt has no version of {pkg}"),
                "run `apt-get update` (as root), or set `kernel` in [guest]",
            )
        })?;
    Ok((pkg, version))
}

/// `apt-get download` the package into a scratch directory, unpack it with `dpkg-deb -x`, keep
/// only the kernel image (and its config, for the record). Never installs anything.
fn fetch_kernel(pkg: &str, version: &str, dir: &Path) -> Result<()> {
    let scratch = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(PlatformError::io("cannot create a scratch directory"))?;
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd
            .output()
            .map_err(PlatformError::io(format!("cannot run {what}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PlatformError::unavailable(
                format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
                "check the network and apt sources, or set `kernel = \"/path/to/vmlinuz\"` in [guest]",
            ))
        }
    };
    run(
        Command::new("apt-get")
            .current_dir(&scratch)
            .args(["download", &format!("{pkg}={version}")]),
        &format!("apt-get download {pkg}={version}"),
    )?;
    let deb = std::fs::read_dir(&scratch)
        .map_err(PlatformError::io("cannot list the download directory"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            PlatformError::unavailable(
                "apt-get download produced no .deb",
                "run `apt-get update` and retry",
            )
        })?;
    let root = scratch.join("root");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        "dpkg-deb -x",
    )?;
    let boot = root.join("boot");
    let entries: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(PlatformError::io(format!("the package {pkg} has no /boot")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let pick = |prefix: &str| {
        entries
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .cloned()
    };
    let vmlinuz = pick("vmlinuz-").ok_or_else(|| {
        PlatformError::unavailable(
            format!("the package {pkg} holds no vmlinuz"),
            "set `kernel` in [guest]",
        )
    })?;
    let staged = scratch.join("staged");
    std::fs::create_dir_all(&staged).map_err(PlatformError::io("cannot stage the kernel"))?;
    std::fs::rename(&vmlinuz, staged.join("vmlinuz"))
        .map_err(PlatformError::io("cannot stage the kernel"))?;
    if let Some(config) = pick("config-") {
        let _ = std::fs::rename(config, staged.join("config"));
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staged, dir).map_err(PlatformError::io(format!(
        "cannot move the kernel to {}",
        dir.display()
    )))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// One file or directory of an initramfs.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    CharDev {
        path: String,
        mode: u32,
        major: u32,
        minor: u32,
    },
}

/// The entries of a guest's initramfs: the agent as `/init`, the plan, `/etc/hosts` (a static
/// binary needs it for name lookups), the mount points the agent uses, and `/dev/console` so
/// that the kernel can give `/init` its console before devtmpfs is mounted.
pub fn guest_entries(agent: &[u8], plan: &AgentPlan) -> Vec<Entry> {
    let plan_json = serde_json::to_vec_pretty(plan).expect("plan serialises");
    let dir = |p: &str| Entry::Dir {
        path: p.into(),
        mode: 0o755,
    };
    vec![
        dir("dev"),
        Entry::CharDev {
            path: "dev/console".into(),
            mode: 0o600,
            major: 5,
            minor: 1,
        },
        dir("proc"),
        dir("sys"),
        dir("tmp"),
        dir("etc"),
        Entry::File {
            path: "etc/hosts".into(),
            mode: 0o644,
            data: b"127.0.0.1 localhost\n::1 localhost\n".to_vec(),
        },
        dir("hvbench"),
        Entry::File {
            path: "hvbench/plan.json".into(),
            mode: 0o644,
            data: plan_json,
        },
        Entry::File {
            path: "init".into(),
            mode: 0o755,
            data: agent.to_vec(),
        },
    ]
}

/// Serialise entries as a cpio archive in the "newc" format the kernel unpacks
/// (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header of
/// 13 eight-digit hex fields after the magic "070701", the NUL-terminated name, the data, each
/// padded to 4 bytes; the archive ends with an entry named "TRAILER!!!".
pub fn cpio_newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ino, e) in entries.iter().enumerate() {
        let (path, mode, data, rdev): (&str, u32, &[u8], (u32, u32)) = match e {
            Entry::Dir { path, mode } => (path, 0o040000 | mode, &[], (0, 0)),
            Entry::File { path, mode, data } => (path, 0o100000 | mode, data, (0, 0)),
            Entry::CharDev {
                path,
                mode,
                major,
                minor,
            } => (path, 0o020000 | mode, &[], (*major, *minor)),
        };
        let nlink = if matches!(e, Entry::Dir { .. }) { 2 } else { 1 };
        write_cpio_entry(&mut out, ino as u32 + 1, mode, nlink, rdev, path, data);
    }
    write_cpio_entry(&mut out, 0, 0, 1, (0, 0), "TRAILER!!!", &[]);
    out
}

fn write_cpio_entry(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: fixed, so that equal content gives equal archives
        data.len() as u32,
        0, // dev major
        0, // dev minor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Build (or find in the cache) the gzip-compressed initramfs for a guest running `plan`.
/// Returns its path and its content hash.
pub fn guest_initramfs(agent: &[u8], plan: &AgentPlan, cache: &Cache) -> Result<(PathBuf, String)> {
    let cpio = cpio_newc(&guest_entries(agent, plan));
    let hash = sha256_hex(&cpio);
    let dir = cache
        .dir("initramfs")
        .map_err(PlatformError::io("cannot create the initramfs cache"))?;
    let path = dir.join(format!("guest-{}.cpio.gz", &hash[..16]));
    if !path.is_file() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&cpio)
            .and_then(|_| gz.flush())
            .map_err(PlatformError::io("cannot compress the initramfs"))?;
        let bytes = gz
            .finish()
            .map_err(PlatformError::io("cannot compress the initramfs"))?;
        write_atomic(&path, &bytes, 0o644).map_err(PlatformError::io(format!(
            "cannot write {}",
            path.display()
        )))?;
    }
    Ok((path, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_proto::PLAN_VERSION;

    fn plan() -> AgentPlan {
        AgentPlan {
            version: PLAN_VERSION,
            warmup: 1,
            samples: 1,
            min_window_ms: 10,
            workloads: vec![],
        }
    }

    #[test]
    fn cpio_is_readable_by_gnu_cpio() {
        // The real consumer is the kernel; GNU cpio reads the same newc format and lists it.
        if Command::new("cpio").arg("--version").output().is_err() {
            eprintln!("skipping: GNU cpio is not installed (apt-get install cpio)");
            return;
        }
        let bytes = cpio_newc(&guest_entries(b"#!/bin/false\n", &plan()));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.cpio");
        std::fs::write(&p, &bytes).unwrap();
        let out = Command::new("cpio")
            .args(["-itv", "-F"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        for name in ["dev/console", "init", "hvbench/plan.json", "etc/hosts"] {
            assert!(listing.contains(name), "{name} missing from:\n{listing}");
        }
        assert!(
            listing.lines().any(|l| l.starts_with("crw-------")
                && l.contains("5,")
                && l.ends_with("dev/console")),
            "{listing}"
        );
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" init")),
            "{listing}"
        );
    }

    #[test]
    fn cpio_layout_is_aligned_and_terminated() {
        let bytes = cpio_newc(&[Entry::File {
            path: "a".into(),
            mode: 0o644,
            data: b"xyz".to_vec(),
        }]);
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn initramfs_is_cached_by_content() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::at(d.path());
        let (p1, h1) = guest_initramfs(b"agent", &plan(), &cache).unwrap();
        let (p2, h2) = guest_initramfs(b"agent", &plan(), &cache).unwrap();
        assert_eq!((&p1, &h1), (&p2, &h2));
        let mut other = plan();
        other.samples = 2;
        let (p3, _) = guest_initramfs(b"agent", &other, &cache).unwrap();
        assert_ne!(p1, p3, "a different plan is a different image");
    }

    #[test]
    fn missing_user_kernel_is_explained() {
        let e = resolve_kernel(Some(Path::new("/nonexistent/vmlinuz")), &Cache::at("/tmp"))
            .unwrap_err();
        assert!(e.to_string().contains("does not exist"));
        assert!(e.to_string().contains("hint:"));
    }
}
