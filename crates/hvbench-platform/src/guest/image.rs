//! Guest images: a Linux kernel (Debian's cloud kernel, fetched into the cache, or the user's)
//! and an initramfs that hvbench builds — the static agent as `/init`, `/etc/hosts`, the
//! guest's part of the plan, and the kernel's disk and network modules with their load order
//! (see [`crate::guest::modules`]) — cached by content hash.

use crate::guest::cache::{sha256_hex, write_atomic, Cache};
pub use crate::guest::kernel::{
    debian_cloud_kernel, resolve_kernel, Kernel, CLOUD_KERNEL_META, KERNEL_ENTRY_ENV,
    KERNEL_ENTRY_SUFFIX,
};
use crate::guest::modules::KernelModules;
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_proto::AgentPlan;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The entries that carry `modules` into a guest: the files under
/// `/lib/modules/<release>/` (every directory before what it holds: the kernel's unpacker
/// creates no parents) and [`MODULES_LIST`], their paths in load order.
pub fn module_entries(modules: &KernelModules) -> std::io::Result<Vec<Entry>> {
    let base = format!("lib/modules/{}", modules.release);
    let mut dirs = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    let mut list = String::from("# kernel modules in load order (hvbench)\n");
    for m in &modules.files {
        let rel = m.rel.to_string_lossy();
        let path = format!("{base}/{rel}");
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
        files.push(Entry::File {
            path: path.clone(),
            mode: 0o644,
            data: std::fs::read(&m.path)?,
        });
        list.push_str(&format!("/{path}\n"));
    }
    // BTreeSet order puts every directory before its subdirectories.
    let mut out: Vec<Entry> = dirs
        .into_iter()
        .map(|path| Entry::Dir { path, mode: 0o755 })
        .collect();
    out.extend(files);
    out.push(Entry::File {
        path: MODULES_LIST.trim_start_matches('/').to_string(),
        mode: 0o644,
        data: list.into_bytes(),
    });
    Ok(out)
}

/// Where the guest image lists its modules in load order (the agent reads it).
pub const MODULES_LIST: &str = "/hvbench/modules.list";

/// Build (or find in the cache) the gzip-compressed initramfs for a guest running `plan`, with
/// no kernel modules. Returns its path and its content hash.
pub fn guest_initramfs(agent: &[u8], plan: &AgentPlan, cache: &Cache) -> Result<(PathBuf, String)> {
    guest_initramfs_with_modules(agent, plan, None, cache)
}

/// Build (or find in the cache) the gzip-compressed initramfs for a guest of `kernel` running
/// `plan`, with the kernel's modules. Returns its path and its content hash.
pub fn guest_initramfs_for(
    kernel: &Kernel,
    agent: &[u8],
    plan: &AgentPlan,
    cache: &Cache,
) -> Result<(PathBuf, String)> {
    guest_initramfs_with_modules(agent, plan, kernel.modules.as_ref(), cache)
}

fn guest_initramfs_with_modules(
    agent: &[u8],
    plan: &AgentPlan,
    modules: Option<&KernelModules>,
    cache: &Cache,
) -> Result<(PathBuf, String)> {
    let mut entries = guest_entries(agent, plan);
    if let Some(m) = modules {
        entries.extend(
            module_entries(m).map_err(PlatformError::io("cannot read the kernel modules"))?,
        );
    }
    let cpio = cpio_newc(&entries);
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
    use std::process::Command;

    fn plan() -> AgentPlan {
        AgentPlan {
            version: PLAN_VERSION,
            warmup: 1,
            samples: 1,
            min_window_ms: 10,
            workloads: vec![],
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        }
    }

    #[test]
    fn cpio_is_readable_by_gnu_cpio() {
        // The real consumer is the kernel; GNU cpio reads the same newc format and lists it.
        assert!(
            Command::new("cpio").arg("--version").output().is_ok(),
            "GNU cpio is needed for this test: apt-get install cpio (scripts/setup.sh does)"
        );
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

    fn fake_modules(dir: &Path) -> KernelModules {
        let file = |name: &str, rel: &str, deps: &[&str]| {
            let path = dir.join(format!("{name}.ko"));
            std::fs::write(&path, format!("module {name}")).unwrap();
            crate::guest::modules::ModuleFile {
                name: name.into(),
                depends: deps.iter().map(|d| d.to_string()).collect(),
                path,
                rel: rel.into(),
            }
        };
        KernelModules {
            release: "6.1.0-test".into(),
            files: vec![
                file("virtio_ring", "kernel/drivers/virtio/virtio_ring.ko", &[]),
                file(
                    "virtio",
                    "kernel/drivers/virtio/virtio.ko",
                    &["virtio_ring"],
                ),
                file(
                    "virtio_blk",
                    "kernel/drivers/block/virtio_blk.ko",
                    &["virtio"],
                ),
            ],
        }
    }

    #[test]
    fn modules_travel_with_their_directories_and_load_order() {
        let d = tempfile::tempdir().unwrap();
        let mods = fake_modules(d.path());
        let mut entries = guest_entries(b"agent", &plan());
        entries.extend(module_entries(&mods).unwrap());
        let names: Vec<(&str, bool)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Dir { path, .. } => Some((path.as_str(), true)),
                Entry::File { path, .. } => Some((path.as_str(), false)),
                Entry::CharDev { .. } => None,
            })
            .collect();
        // Every directory comes before anything inside it.
        for (i, (path, _)) in names.iter().enumerate() {
            let mut parent = Path::new(path).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                let at = names
                    .iter()
                    .position(|(n, dir)| *dir && Path::new(n) == p)
                    .unwrap_or_else(|| panic!("no directory entry for {}", p.display()));
                assert!(at < i, "{} comes after {path}", p.display());
                parent = p.parent();
            }
        }
        let list = entries
            .iter()
            .find_map(|e| match e {
                Entry::File { path, data, .. } if path == "hvbench/modules.list" => {
                    Some(String::from_utf8(data.clone()).unwrap())
                }
                _ => None,
            })
            .unwrap();
        let listed: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            listed,
            [
                "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_ring.ko",
                "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko",
                "/lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko",
            ]
        );
        // The same plan with modules is a different image, cached apart.
        let cache = Cache::at(d.path().join("cache"));
        let kernel = Kernel {
            path: "/boot/vmlinuz".into(),
            origin: "test".into(),
            modules: Some(mods),
        };
        let (with, _) = guest_initramfs_for(&kernel, b"agent", &plan(), &cache).unwrap();
        let (without, _) = guest_initramfs(b"agent", &plan(), &cache).unwrap();
        assert_ne!(with, without);
    }

    #[test]
    fn missing_user_kernel_is_explained() {
        let e = resolve_kernel(Some(Path::new("/nonexistent/vmlinuz")), &Cache::at("/tmp"))
            .unwrap_err();
        assert!(e.to_string().contains("does not exist"));
        assert!(e.to_string().contains("hint:"));
    }
}
