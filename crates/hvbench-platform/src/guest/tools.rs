//! The tools tree: Debian 12's own benchmark tools (fio, iperf3, sysbench, stress-ng, redis,
//! PostgreSQL's pgbench, gcc) and everything they need to run, as plain files in one directory
//! and in a read-only ext4 image of it — never installed on this machine. The host baseline runs
//! them with `chroot TREE ...`; a guest (an initramfs whose PID 1 is the agent, no Debian
//! userland) mounts the image and does the same, so both run byte-identical binaries.
//!
//! # How the package set is found
//!
//! [`resolve`] asks apt's own resolver, not a re-implementation of it: `apt-get --simulate
//! install PKGS` with `Dir::State::status` pointed at a status file of ours, so that apt plans the
//! installation on an *empty* system, whatever this machine has installed, and picks among
//! alternatives (`a | b`) and providers of virtual packages exactly as Debian would. Recommends
//! and Suggests are off. The plan's `Inst NAME (VERSION ...)` lines give every package and the
//! version apt would install (its candidate, after pinning), which is what gets downloaded:
//! `apt-get download NAME=VERSION`. (`apt-cache depends --recurse` was the other way: it lists
//! every alternative and every provider of a virtual package rather than the one apt picks, and
//! it knows nothing of versioned dependencies or conflicts, so it would need a resolver of ours.)
//!
//! The status file is not quite empty: it says that the [`EXCLUDED`] packages are already
//! installed (at their candidate versions, with no dependencies of their own), so apt neither
//! installs them nor anything that only they need (e.g. perl, which only `postgresql-common`
//! and `usrmerge` pull in). Any excluded package that the plan still lists (apt may decide to
//! reinstall one) is dropped from it afterwards; a package asked for by name is never excluded.
//!
//! # The tree
//!
//! Every `.deb` is unpacked with `dpkg-deb -x` into one directory. Debian 12 is merged-/usr but
//! its packages still ship `/lib/...`, `/bin/...`: those are moved under `usr/` and `/bin`,
//! `/sbin`, `/lib`, `/lib64` become relative symlinks into `usr/`, as on an installed system
//! (the ELF interpreter `/lib64/ld-linux-x86-64.so.2` then resolves inside the tree). The
//! [`DROPPED`] documentation directories are removed; `tmp`, `dev`, `proc`, `sys` and `run` are
//! created empty, as mount points. The tools' entry points ([`tool_binaries`]) are checked: each
//! must be in the tree, its ELF interpreter must resolve inside it, and (when running as root)
//! `ld.so --list` run in a chroot of the tree must find every library.
//!
//! # The image
//!
//! Guests get the tree as a disk, not as a cpio appended to the initramfs: the default guest has
//! 512 MiB of RAM and an initramfs lives in it (the closure of all tools is several hundred
//! MiB), while a disk is read on demand through the page cache. The image is ext4 made by
//! `mke2fs -d` (no mount, no root needed), without a journal (it is read-only), with no reserved
//! blocks, with a UUID derived from the key, sized to the tree plus a margin.
//!
//! # The cache
//!
//! `<cache>/tools/<key>/` holds `tree/`, `tools.ext4` and `versions.txt` (`pkg version` lines),
//! where the key hashes the sorted `pkg=version` list and [`RECIPE`]. An entry is built in
//! `<key>.partial/` under the lock `<key>.lock` and renamed into place, so it is whole or absent.
//! `<cache>/tools/requests/<hash of the asked-for names>` names the entry built for that
//! request: a second call with the same packages returns it without asking apt, so the tools
//! stay at the versions first pinned (runs stay comparable) until that file or the entry is
//! removed, or [`RECIPE`] changes.

use crate::guest::cache::{sha256_hex, write_atomic, Cache, CacheLock};
use crate::{PlatformError, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Changes whenever what a tools tree holds for the same packages changes (exclusions, layout,
/// image options), so that older entries are built again.
pub const RECIPE: &str = "hvbench tools tree r2";

/// Packages a tools tree leaves out although apt would install them, and why each is safe to
/// leave out: none holds a library or program that the tools run.
pub const EXCLUDED: &[(&str, &str)] = &[
    ("debconf", "configuration questions at install time; maintainer scripts never run"),
    ("dpkg", "the package manager; nothing is installed"),
    ("tar", "needed by dpkg only"),
    ("adduser", "creates system users in maintainer scripts"),
    ("passwd", "user management for maintainer scripts"),
    ("init-system-helpers", "service registration (deb-systemd-helper, invoke-rc.d)"),
    ("sysvinit-utils", "init scripts' helpers; no init system runs the tools"),
    ("lsb-base", "init scripts' helpers"),
    ("usrmerge", "converts an installed system to merged /usr; the tree is built merged"),
    ("ucf", "configuration file handling in maintainer scripts"),
    ("sensible-utils", "sensible-editor and friends, for interactive use"),
    ("ssl-cert", "snakeoil certificate made at install time; the tools use no TLS"),
    ("locales", "locale definitions for locale-gen; the tools run in the C locale"),
    ("libc-l10n", "glibc's translated messages (usr/share/locale is dropped anyway)"),
    (
        "postgresql-common",
        "Debian's cluster wrappers (perl); the tools run /usr/lib/postgresql/15/bin directly",
    ),
    (
        "postgresql-client-common",
        "pg_wrapper (perl) behind /usr/bin/psql; pgbench and psql are run from /usr/lib/postgresql/15/bin",
    ),
    (
        "python3",
        "only fio's helper scripts (fio2gnuplot, fiologparser) use it, never the fio binary",
    ),
];

/// Directories removed from the tree: documentation and translations.
pub const DROPPED: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
];

/// Where bash-builtins keeps its example loadable builtins (C sources), and where the tree
/// keeps them for the compile workload (`hvbench_proto::COMPILE_SOURCE`).
const COMPILE_EXAMPLES: &str = "usr/share/doc/bash/examples/loadables";
use hvbench_proto::COMPILE_SOURCE;

/// Top-level directories that are symlinks into `usr/` on merged-/usr Debian 12.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib64"];

/// Empty directories the tools or their runner need as mount points or scratch space.
const MOUNT_POINTS: &[(&str, u32)] = &[
    ("tmp", 0o1777),
    ("dev", 0o755),
    ("proc", 0o755),
    ("sys", 0o755),
    ("run", 0o755),
];

/// Each tool: its name in a plan, the Debian packages it needs, and its programs (paths in the
/// tree) that are checked after building.
const TOOLS: &[(&str, &[&str], &[&str])] = &[
    ("fio", &["fio"], &["/usr/bin/fio"]),
    ("iperf3", &["iperf3"], &["/usr/bin/iperf3"]),
    ("sysbench", &["sysbench"], &["/usr/bin/sysbench"]),
    ("stress-ng", &["stress-ng"], &["/usr/bin/stress-ng"]),
    (
        "redis",
        &["redis-server", "redis-tools"],
        &[
            "/usr/bin/redis-server",
            "/usr/bin/redis-benchmark",
            "/usr/bin/redis-cli",
        ],
    ),
    (
        "oltp",
        // e2fsprogs: the guest makes an ext4 file system on its scratch disk for the database;
        // dash: initdb runs postgres through popen(3), that is /bin/sh.
        &["postgresql-15", "e2fsprogs", "dash"],
        &[
            "/usr/sbin/mke2fs",
            "/usr/lib/postgresql/15/bin/postgres",
            "/usr/lib/postgresql/15/bin/initdb",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "/usr/lib/postgresql/15/bin/pgbench",
            "/usr/lib/postgresql/15/bin/psql",
        ],
    ),
    (
        "compile",
        // bash-builtins: the source tree the compile workload builds (bash 5.2's example
        // loadable builtins, kept at COMPILE_SOURCE) with the headers they need; dash: make
        // runs its recipes with /bin/sh.
        &["gcc", "libc6-dev", "make", "bash-builtins", "dash"],
        &[
            "/usr/bin/gcc",
            "/usr/bin/make",
            "/usr/bin/as",
            "/usr/bin/ld",
            "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
        ],
    ),
];

/// The tool names [`tool_packages`] knows.
pub fn tool_names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|t| t.0)
}

/// The Debian packages a tool of a plan needs: `fio`, `iperf3`, `sysbench`, `stress-ng`,
/// `redis` (server and benchmark), `oltp` (PostgreSQL 15 with pgbench), `compile` (gcc, the C
/// library's headers, make).
pub fn tool_packages(tool: &str) -> Option<&'static [&'static str]> {
    TOOLS.iter().find(|t| t.0 == tool).map(|t| t.1)
}

/// The programs of a tool, as paths inside the tree.
pub fn tool_binaries(tool: &str) -> Option<&'static [&'static str]> {
    TOOLS.iter().find(|t| t.0 == tool).map(|t| t.2)
}

/// A built tools tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsTree {
    /// The tree: `chroot DIR /usr/bin/fio ...`.
    pub dir: PathBuf,
    /// The read-only ext4 image of the tree (label `hvbench-tools`), for guests.
    pub image: PathBuf,
    /// The image's size in bytes (a sparse file; this is its length).
    pub image_bytes: u64,
    /// The bytes of the tree's files (regular files and symlinks, apparent sizes).
    pub tree_bytes: u64,
    /// Every package in the tree and its version, sorted by name.
    pub versions: Vec<(String, String)>,
    /// The cache key: the hash of [`RECIPE`] and the sorted `pkg=version` list.
    pub key: String,
}

/// The tools tree for `packages` (and everything they depend on), from the cache or built
/// into it. `say` hears about the slow steps.
pub fn tools_tree(
    packages: &[&str],
    cache: &Cache,
    say: &mut dyn FnMut(&str),
) -> Result<ToolsTree> {
    if packages.is_empty() {
        return Err(PlatformError::unavailable(
            "a tools tree needs at least one package",
            "name the tools the plan runs",
        ));
    }
    let root = cache
        .dir("tools")
        .map_err(PlatformError::io("cannot create the tools cache"))?;
    let request = root.join("requests").join(request_hash(packages));
    if let Some(tree) = std::fs::read_to_string(&request)
        .ok()
        .and_then(|key| load(&root.join(key.trim())))
    {
        return Ok(tree);
    }
    say(&format!(
        "resolving the packages of {} on an empty Debian system",
        packages.join(" ")
    ));
    let versions = resolve(packages)?;
    let key = key_of(&versions);
    let entry = root.join(&key);
    let _lock = CacheLock::take(&root.join(format!("{key}.lock"))).map_err(PlatformError::io(
        format!("cannot lock the tools cache entry {key}"),
    ))?;
    let tree = match load(&entry) {
        Some(tree) => tree,
        None => {
            build(&versions, packages, &entry, say)?;
            load(&entry).ok_or_else(|| {
                PlatformError::unavailable(
                    format!("the tools tree {} is incomplete", entry.display()),
                    "remove it and run again",
                )
            })?
        }
    };
    std::fs::create_dir_all(root.join("requests"))
        .and_then(|()| write_atomic(&request, key.as_bytes(), 0o644))
        .map_err(PlatformError::io("cannot record the tools tree's request"))?;
    Ok(tree)
}

/// The tools tree for `packages` if the cache holds it; never builds or fetches.
pub fn cached_tree(packages: &[&str], cache: &Cache) -> Option<ToolsTree> {
    let root = cache.root().join("tools");
    let key = std::fs::read_to_string(root.join("requests").join(request_hash(packages))).ok()?;
    load(&root.join(key.trim()))
}

/// A whole cache entry (`versions.txt` is the last thing staged before the entry is renamed
/// into place), or `None`.
fn load(entry: &Path) -> Option<ToolsTree> {
    load_entry(entry).filter(|t| t.dir.is_dir())
}

/// An entry's image, versions and sizes, whether or not its tree is there (an entry shipped to
/// another machine has none: [`shipped_tree`]).
fn load_entry(entry: &Path) -> Option<ToolsTree> {
    let text = std::fs::read_to_string(entry.join("versions.txt")).ok()?;
    let versions = parse_versions(&text);
    let image = entry.join("tools.ext4");
    let image_bytes = std::fs::metadata(&image).ok()?.len();
    let dir = entry.join("tree");
    let tree_bytes = std::fs::read_to_string(entry.join("tree-bytes"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if versions.is_empty() {
        return None;
    }
    Some(ToolsTree {
        dir,
        image,
        image_bytes,
        tree_bytes,
        key: key_of(&versions),
        versions,
    })
}

/// Set (to anything) in the environment of an executor a controller shipped to this machine
/// (`crate::remote`): tools trees then come only from what the controller shipped into the
/// cache ([`shipped_tree`]); nothing is resolved or built here, since such a machine (a lab host
/// above all) may have no apt lists and no network.
pub const SHIPPED_ENV: &str = "HVBENCH_TOOLS_SHIPPED";

/// Whether this process is an executor whose tools trees are shipped ([`SHIPPED_ENV`]).
pub fn shipped_only() -> bool {
    std::env::var_os(SHIPPED_ENV).is_some()
}

/// The files of `tree`'s entry another machine needs to find it with [`shipped_tree`], as
/// paths below its cache with their bytes: the image, `versions.txt` and `tree-bytes`. The
/// tree's own directory is not among them: guests mount the image, and the host driver there
/// loop-mounts that same image (`crate::trial::loopmount`), so every machine runs the bytes
/// built here. Each request for the tree goes with it: [`request_file`].
pub fn entry_files(tree: &ToolsTree) -> Result<Vec<(String, Vec<u8>)>> {
    let entry = tree.image.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for name in ["tools.ext4", "versions.txt", "tree-bytes"] {
        let path = entry.join(name);
        let data = std::fs::read(&path)
            .map_err(PlatformError::io(format!("cannot read {}", path.display())))?;
        files.push((format!("tools/{}/{name}", tree.key), data));
    }
    Ok(files)
}

/// The record of a request for `packages` naming `tree`'s entry, as a path below the cache
/// and its bytes: what [`shipped_tree`] looks up first.
pub fn request_file(packages: &[&str], tree: &ToolsTree) -> (String, Vec<u8>) {
    (
        format!("tools/requests/{}", request_hash(packages)),
        tree.key.as_bytes().to_vec(),
    )
}

/// The tools tree for `packages` on a machine a controller shipped it to ([`entry_files`],
/// [`request_file`]): the request's record names the entry, whose image and versions must
/// be there and agree with the key; its `dir` is absent there. Never resolves or builds.
pub fn shipped_tree(packages: &[&str], cache: &Cache) -> Result<ToolsTree> {
    let root = cache.root().join("tools");
    let not_shipped = |what: String| {
        PlatformError::unavailable(
            format!(
                "the tools tree for {} was not shipped to this machine: {what}",
                packages.join(" ")
            ),
            "the controller ships it with the guest images before the platform's first trial;              prepare the platform again (run the campaign again)",
        )
    };
    let record = root.join("requests").join(request_hash(packages));
    let key = std::fs::read_to_string(&record)
        .map_err(|e| not_shipped(format!("{}: {e}", record.display())))?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_shipped(format!(
            "{} names no entry ({key:?})",
            record.display()
        )));
    }
    let entry = root.join(key);
    let tree = load_entry(&entry)
        .ok_or_else(|| not_shipped(format!("{} is incomplete", entry.display())))?;
    if tree.key != key {
        return Err(not_shipped(format!(
            "{}'s versions.txt is not the entry's ({} != {key})",
            entry.display(),
            tree.key
        )));
    }
    if let Some(missing) = packages
        .iter()
        .find(|p| !tree.versions.iter().any(|(name, _)| name == *p))
    {
        return Err(not_shipped(format!(
            "{} lacks the package {missing}",
            entry.display()
        )));
    }
    Ok(tree)
}

/// `pkg version` lines.
fn parse_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, v)| (p.to_string(), v.trim().to_string()))
        .collect()
}

fn format_versions(versions: &[(String, String)]) -> String {
    versions.iter().map(|(p, v)| format!("{p} {v}\n")).collect()
}

/// The cache key of a package set: independent of its order.
pub fn key_of(versions: &[(String, String)]) -> String {
    let mut lines: Vec<String> = versions.iter().map(|(p, v)| format!("{p}={v}\n")).collect();
    lines.sort();
    let text = format!("{RECIPE}\n{}", lines.concat());
    sha256_hex(text.as_bytes())[..24].to_string()
}

/// The name of a request's record: the hash of the asked-for names, sorted and deduplicated.
fn request_hash(packages: &[&str]) -> String {
    let mut names: Vec<&str> = packages.to_vec();
    names.sort_unstable();
    names.dedup();
    sha256_hex(format!("{RECIPE}\n{}", names.join("\n")).as_bytes())[..24].to_string()
}

/// The packages (and versions) Debian 12 would install for `packages` on an empty system,
/// less the [`EXCLUDED`] ones not asked for by name, sorted by name. See the module's doc.
pub fn resolve(packages: &[&str]) -> Result<Vec<(String, String)>> {
    if let Some(bad) = packages
        .iter()
        .find(|p| p.is_empty() || p.starts_with('-') || p.contains(char::is_whitespace))
    {
        return Err(PlatformError::unavailable(
            format!("{bad:?} is not a Debian package name"),
            "name Debian 12 packages, e.g. fio or postgresql-15",
        ));
    }
    let excluded: Vec<&str> = EXCLUDED
        .iter()
        .map(|e| e.0)
        .filter(|e| !packages.contains(e))
        .collect();
    let show = Command::new("apt-cache")
        .env("LC_ALL", "C")
        .args(["show", "--no-all-versions"])
        .args(&excluded)
        .output()
        .map_err(PlatformError::io(
            "cannot run apt-cache (is this Debian 12?)",
        ))?;
    let scratch = tempfile::tempdir().map_err(PlatformError::io("cannot create a temp dir"))?;
    let status = scratch.path().join("status");
    std::fs::write(&status, fake_status(&String::from_utf8_lossy(&show.stdout)))
        .map_err(PlatformError::io("cannot write apt's status file"))?;
    let out = Command::new("apt-get")
        .env("LC_ALL", "C")
        .arg("--simulate")
        .arg("-o")
        .arg(format!("Dir::State::status={}", status.display()))
        .args([
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Install-Recommends=false",
            "-o",
            "APT::Install-Suggests=false",
            "install",
        ])
        .args(packages)
        .output()
        .map_err(PlatformError::io("cannot run apt-get (is this Debian 12?)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(resolve_error(&stderr, packages, lists_present()));
    }
    let mut versions: Vec<(String, String)> = parse_simulation(&stdout)
        .into_iter()
        .filter(|(p, _)| !excluded.contains(&p.as_str()))
        .collect();
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        return Err(PlatformError::unavailable(
            format!("apt plans to install nothing for {}", packages.join(" ")),
            "run `apt-get update` (as root) and retry",
        ));
    }
    Ok(versions)
}

/// A status file saying that the packages of `apt-cache show` output are installed, with no
/// dependencies of their own (so nothing they need is pulled in for them).
fn fake_status(show: &str) -> String {
    let mut out = String::new();
    for stanza in show.split("\n\n") {
        let keep: Vec<&str> = stanza
            .lines()
            .filter(|l| {
                [
                    "Package:",
                    "Version:",
                    "Architecture:",
                    "Multi-Arch:",
                    "Provides:",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .collect();
        if keep.iter().any(|l| l.starts_with("Package:"))
            && keep.iter().any(|l| l.starts_with("Version:"))
        {
            out.push_str(&keep.join("\n"));
            out.push_str("\nStatus: install ok installed\n\n");
        }
    }
    out
}

/// The packages and versions of `apt-get --simulate install` output: its
/// `Inst NAME [OLD] (VERSION RELEASE [ARCH])` lines.
fn parse_simulation(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next().filter(|n| !n.starts_with(['(', '[']))?;
            let mut word = words.next()?;
            if word.starts_with('[') {
                word = words.next()?;
            }
            let version = word.strip_prefix('(').filter(|v| !v.is_empty())?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

fn lists_present() -> bool {
    std::fs::read_dir("/var/lib/apt/lists")
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false)
}

/// The error for a failed `apt-get --simulate install`, naming the package at fault.
fn resolve_error(stderr: &str, packages: &[&str], lists: bool) -> PlatformError {
    if !lists {
        return PlatformError::unavailable(
            format!(
                "apt has no package lists, so it cannot find {}",
                packages.join(" ")
            ),
            "run `apt-get update` (as root) once, then retry",
        );
    }
    let unknown: Vec<&str> = stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("E: Unable to locate package ").or_else(|| {
                l.strip_prefix("E: Package '")
                    .and_then(|r| r.split_once('\'').map(|(p, _)| p))
            })
        })
        .map(str::trim)
        .collect();
    if !unknown.is_empty() {
        return PlatformError::unavailable(
            format!("apt does not know the package {}", unknown.join(", ")),
            "check the name (a Debian 12 package), or run `apt-get update` (as root) and retry",
        );
    }
    PlatformError::unavailable(
        format!(
            "apt cannot plan installing {}: {}",
            packages.join(" "),
            stderr.trim()
        ),
        "run `apt-get update` (as root) and retry",
    )
}

/// Download, unpack, lay out, check and image the tree into `entry` (via `<entry>.partial`,
/// removed whether or not that works).
fn build(
    versions: &[(String, String)],
    packages: &[&str],
    entry: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let scratch = entry.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    let built = build_in(versions, packages, entry, &scratch, say);
    let _ = std::fs::remove_dir_all(&scratch);
    built
}

fn build_in(
    versions: &[(String, String)],
    packages: &[&str],
    entry: &Path,
    scratch: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let debs = scratch.join("debs");
    let staged = scratch.join("staged");
    let tree = staged.join("tree");
    for d in [&debs, &tree] {
        std::fs::create_dir_all(d)
            .map_err(PlatformError::io(format!("cannot create {}", d.display())))?;
    }
    say(&format!("downloading {} packages", versions.len()));
    download(versions, &debs)?;
    say("unpacking them");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&debs)
        .map_err(PlatformError::io("cannot list the downloaded packages"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    files.sort();
    if files.len() != versions.len() {
        return Err(PlatformError::unavailable(
            format!(
                "apt-get download gave {} of the {} packages",
                files.len(),
                versions.len()
            ),
            "check the network and apt sources, run `apt-get update` (as root), and retry",
        ));
    }
    for deb in &files {
        crate::guest::apt::run(
            Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree),
            &format!("dpkg-deb -x {}", deb.display()),
        )?;
    }
    let _ = std::fs::remove_dir_all(&debs);
    lay_out(&tree).map_err(PlatformError::io("cannot lay out the tools tree"))?;
    let binaries: Vec<&str> = TOOLS
        .iter()
        .filter(|t| t.1.iter().all(|p| packages.contains(p)))
        .flat_map(|t| t.2.iter().copied())
        .collect();
    check_runnable(&tree, &binaries)?;
    let (tree_bytes, blocks, inodes) =
        usage(&tree).map_err(PlatformError::io("cannot measure the tools tree"))?;
    say("making the ext4 image");
    make_image(
        &tree,
        &staged.join("tools.ext4"),
        &key_of(versions),
        blocks,
        inodes,
    )?;
    let write = |name: &str, text: String| {
        write_atomic(&staged.join(name), text.as_bytes(), 0o644)
            .map_err(PlatformError::io(format!("cannot write {name}")))
    };
    write("tree-bytes", format!("{tree_bytes}\n"))?;
    write("versions.txt", format_versions(versions))?;
    let _ = std::fs::remove_dir_all(entry);
    std::fs::rename(&staged, entry).map_err(PlatformError::io(format!(
        "cannot move the tools tree to {}",
        entry.display()
    )))?;
    Ok(())
}

/// `apt-get download pkg=version ...` into `dir`, all in one call.
fn download(versions: &[(String, String)], dir: &Path) -> Result<()> {
    let out = Command::new("apt-get")
        .env("LC_ALL", "C")
        .current_dir(dir)
        .arg("download")
        .args(versions.iter().map(|(p, v)| format!("{p}={v}")))
        .output()
        .map_err(PlatformError::io("cannot run apt-get download"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("Err:"))
        .collect();
    Err(PlatformError::unavailable(
        format!(
            "apt-get download of {} packages failed: {}",
            versions.len(),
            if failed.is_empty() {
                stderr.trim().to_string()
            } else {
                failed.join("; ")
            }
        ),
        "check the network and apt sources; a version that is gone (404) needs `apt-get update` (as root)",
    ))
}

/// Merge `/bin`, `/sbin`, `/lib`, `/lib64` into `usr/` and make them symlinks, drop the
/// [`DROPPED`] directories, create the [`MOUNT_POINTS`].
fn lay_out(tree: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for top in MERGED {
        let path = tree.join(top);
        let usr = tree.join("usr").join(top);
        let meta = std::fs::symlink_metadata(&path).ok();
        if meta.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
            continue;
        }
        std::fs::create_dir_all(&usr)?;
        if meta.is_some() {
            merge_into(&path, &usr)?;
        }
        std::os::unix::fs::symlink(format!("usr/{top}"), &path)?;
    }
    // The compile workload's sources live among bash-builtins' documentation: kept apart first.
    let examples = tree.join(COMPILE_EXAMPLES);
    if examples.is_dir() {
        let to = tree.join(COMPILE_SOURCE.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a parent"))?;
        std::fs::rename(&examples, &to)?;
    }
    for d in DROPPED {
        let p = tree.join(d);
        if p.exists() {
            std::fs::remove_dir_all(p)?;
        }
    }
    for (d, mode) in MOUNT_POINTS {
        let p = tree.join(d);
        std::fs::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
    }
    // Users for programs that look themselves up (PostgreSQL refuses to run as root and asks
    // getpwuid(3) who it is): root, and nobody, whom the agent runs the database as.
    std::fs::create_dir_all(tree.join("etc"))?;
    std::fs::write(tree.join("etc/passwd"), PASSWD)?;
    std::fs::write(tree.join("etc/group"), GROUP)?;
    Ok(())
}

/// The tree's `/etc/passwd` and `/etc/group`: Debian's ids for root and nobody.
const PASSWD: &str =
    "root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// Move everything in `src` into `dst` (merging directories) and remove `src`. Where both hold
/// the same non-directory, the one under `/usr` is kept.
fn merge_into(src: &Path, dst: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let from_dir = e.file_type()?.is_dir();
        match std::fs::symlink_metadata(&to) {
            Err(_) => std::fs::rename(&from, &to)?,
            Ok(m) if from_dir && m.file_type().is_dir() => merge_into(&from, &to)?,
            Ok(_) if from_dir => std::fs::remove_dir_all(&from)?,
            Ok(_) => std::fs::remove_file(&from)?,
        }
    }
    std::fs::remove_dir(src)
}

/// Resolve `path` (absolute, as seen inside the tree) to a file of the tree, following symlinks
/// the way a chroot would: absolute targets start again at the tree's root.
fn resolve_in(tree: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here: PathBuf = tree.join(done.join("/")).join(&c);
        let meta = std::fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&here).ok()?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                done.clear();
            }
            pending.extend(
                target
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .rev()
                    .map(str::to_string),
            );
        } else {
            done.push(c);
        }
    }
    Some(tree.join(done.join("/")))
}

/// The ELF interpreter (PT_INTERP) of a 64-bit little-endian ELF file; `None` for anything else
/// (a script, a static binary).
fn elf_interpreter(data: &[u8]) -> Option<String> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(data.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == 3 {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let len = usize::try_from(u64_at(ph + 32)?).ok()?;
            let raw = data.get(off..off.checked_add(len)?)?;
            let raw = raw.split(|b| *b == 0).next()?;
            return Some(String::from_utf8_lossy(raw).into_owned());
        }
    }
    None
}

/// Each program must be in the tree, its interpreter must resolve inside it, and (as root, in a
/// chroot of the tree) the interpreter must find all its libraries.
fn check_runnable(tree: &Path, binaries: &[&str]) -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    for bin in binaries {
        let missing = |what: String| {
            PlatformError::unavailable(
                format!("the tools tree at {}: {what}", tree.display()),
                "the Debian packages changed; hvbench's tool table needs updating (report it)",
            )
        };
        let file = resolve_in(tree, bin).ok_or_else(|| missing(format!("{bin} is missing")))?;
        let data = std::fs::read(&file).map_err(|_| missing(format!("{bin} is missing")))?;
        let Some(interp) = elf_interpreter(&data) else {
            continue;
        };
        if !resolve_in(tree, &interp).is_some_and(|p| p.is_file()) {
            return Err(missing(format!("{bin}'s interpreter {interp} is missing")));
        }
        if !root {
            continue;
        }
        let out = Command::new("chroot")
            .arg(tree)
            .args([interp.as_str(), "--list", bin])
            .output()
            .map_err(PlatformError::io("cannot run chroot"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let lost: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("not found"))
            .map(str::trim)
            .collect();
        if !out.status.success() || !lost.is_empty() {
            return Err(missing(format!(
                "{bin} cannot load its libraries: {}{}",
                lost.join(", "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// The tree's apparent bytes (regular files and symlinks), the 4 KiB blocks its files and
/// directories take, and its inode count.
fn usage(tree: &Path) -> std::io::Result<(u64, u64, u64)> {
    let (mut bytes, mut blocks, mut inodes) = (0u64, 0u64, 1u64);
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        blocks += 1;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let m = std::fs::symlink_metadata(e.path())?;
            inodes += 1;
            if m.is_dir() {
                blocks += m.len().div_ceil(4096).saturating_sub(1);
                stack.push(e.path());
            } else {
                bytes += m.len();
                // A symlink of under 60 bytes lives in its inode.
                if !(m.file_type().is_symlink() && m.len() < 60) {
                    blocks += m.len().div_ceil(4096);
                }
            }
        }
    }
    Ok((bytes, blocks, inodes))
}

/// The image's size for a tree of `blocks` 4 KiB blocks and `inodes` inodes: the data plus a
/// tenth, the inode tables, and 16 MiB for the rest of the metadata, in whole MiB.
fn image_size(blocks: u64, inodes: u64) -> u64 {
    let bytes = blocks * 4096 + blocks * 4096 / 10 + inodes_for(inodes) * 256 + (16 << 20);
    bytes.div_ceil(1 << 20) << 20
}

fn inodes_for(inodes: u64) -> u64 {
    inodes + inodes / 10 + 64
}

/// A UUID (8-4-4-4-12 hex) made of a key's hash, so that one tree gives one UUID.
fn uuid_of(key: &str) -> String {
    let h = sha256_hex(key.as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `mke2fs -t ext4 -d TREE` into `image`; a size found too small is grown and tried again.
fn make_image(tree: &Path, image: &Path, key: &str, blocks: u64, inodes: u64) -> Result<()> {
    let uuid = uuid_of(key);
    let mut size = image_size(blocks, inodes);
    let mut last = String::new();
    for _ in 0..4 {
        let _ = std::fs::remove_file(image);
        let out = Command::new("mke2fs")
            .env("LC_ALL", "C")
            .args([
                "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
            ])
            .args(["-O", "^has_journal,^resize_inode"])
            .args(["-N", &inodes_for(inodes).to_string()])
            .args(["-U", &uuid, "-E", &format!("hash_seed={uuid}")])
            .args(["-L", "hvbench-tools", "-d"])
            .arg(tree)
            .arg(image)
            .arg(format!("{}k", size / 1024))
            .output()
            .map_err(PlatformError::io("cannot run mke2fs (install e2fsprogs)"))?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
        size += size / 3;
    }
    let _ = std::fs::remove_file(image);
    Err(PlatformError::unavailable(
        format!("mke2fs could not make the tools image: {last}"),
        "check the free space of the cache directory",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of `apt-get --simulate install sysbench` on Debian 12 with a status file
    /// holding only debconf (see `fixtures/`).
    const SIM_SYSBENCH: &str = include_str!("fixtures/apt-get-s-sysbench.txt");
    const SIM_UNKNOWN: &str = include_str!("fixtures/apt-get-s-unknown.txt");
    const SHOW_DEBCONF: &str = include_str!("fixtures/apt-cache-show-debconf.txt");

    #[test]
    fn tools_simulation_lists_every_package_with_its_version() {
        let v = parse_simulation(SIM_SYSBENCH);
        assert_eq!(v.len(), 32, "{v:?}");
        assert!(v.contains(&("sysbench".into(), "1.0.20+ds-5".into())));
        assert!(v.contains(&("libc6".into(), "2.36-9+deb12u14".into())));
        // An epoch stays in the version.
        assert!(v.contains(&("mariadb-common".into(), "1:10.11.19-0+deb12u1".into())));
        // The "Conf" lines repeat the packages and are not counted twice.
        assert_eq!(v.iter().filter(|(p, _)| p == "libc6").count(), 1);
        assert!(!v.iter().any(|(p, _)| p == "debconf"), "faked as installed");
    }

    #[test]
    fn tools_simulation_of_an_upgrade_takes_the_new_version() {
        let v = parse_simulation(
            "Inst locales [2.36-9] (2.36-9+deb12u14 Debian:12.15/oldstable [all])\n",
        );
        assert_eq!(v, vec![("locales".into(), "2.36-9+deb12u14".into())]);
        for junk in [
            "Inst broken",
            "Inst (x y)",
            "Inst a [b]",
            "Inst a [b] c",
            "Inst a ( 1)",
            "Inst",
        ] {
            assert!(parse_simulation(junk).is_empty(), "{junk}");
        }
    }

    #[test]
    fn tools_fake_status_keeps_what_apt_needs_and_no_dependencies() {
        let s = fake_status(SHOW_DEBCONF);
        assert!(s.starts_with("Package: debconf\n"), "{s}");
        assert!(s.contains("Version: 1.5.82\n"));
        assert!(s.contains("Provides: debconf-2.0"));
        assert!(s.contains("Status: install ok installed\n\n"));
        assert!(!s.contains("Depends"), "{s}");
        assert!(fake_status("").is_empty());
        assert!(fake_status("Package: x\n\n").is_empty(), "no version");
    }

    #[test]
    fn tools_unknown_package_error_names_it_and_says_what_to_do() {
        let e =
            resolve_error(SIM_UNKNOWN, &["sysbench", "no-such-package-hvbench"], true).to_string();
        assert!(
            e.contains("apt does not know the package no-such-package-hvbench"),
            "{e}"
        );
        assert!(e.contains("apt-get update"), "{e}");
        let e = resolve_error(SIM_UNKNOWN, &["fio"], false).to_string();
        assert!(
            e.contains("no package lists") && e.contains("run `apt-get update`"),
            "{e}"
        );
        let e = resolve_error(
            "E: Package 'mail-transport-agent' has no installation candidate\n",
            &["x"],
            true,
        )
        .to_string();
        assert!(e.contains("mail-transport-agent"), "{e}");
    }

    #[test]
    fn tools_key_is_stable_and_order_independent() {
        let a = vec![
            ("fio".to_string(), "3.33-3".to_string()),
            ("libc6".to_string(), "2.36-9+deb12u14".to_string()),
        ];
        let b: Vec<_> = a.iter().rev().cloned().collect();
        assert_eq!(key_of(&a), key_of(&b));
        assert_eq!(key_of(&a).len(), 24);
        let mut c = a.clone();
        c[0].1 = "3.33-4".into();
        assert_ne!(key_of(&a), key_of(&c));
        assert_eq!(
            request_hash(&["fio", "gcc"]),
            request_hash(&["gcc", "fio", "fio"])
        );
        assert_ne!(request_hash(&["fio"]), request_hash(&["gcc"]));
    }

    #[test]
    fn tools_exclusions_spare_libraries_and_the_tools() {
        for (name, why) in EXCLUDED {
            assert!(!why.is_empty());
            assert!(!name.starts_with("lib") || *name == "libc-l10n", "{name}");
            for t in TOOLS {
                assert!(!t.1.contains(name), "{name} is a tool's package");
            }
        }
        for d in DROPPED {
            assert!(d.starts_with("usr/share/"));
        }
    }

    #[test]
    fn tools_table_maps_every_tool() {
        assert_eq!(
            tool_packages("oltp"),
            Some(&["postgresql-15", "e2fsprogs", "dash"][..])
        );
        assert_eq!(
            tool_packages("redis"),
            Some(&["redis-server", "redis-tools"][..])
        );
        assert!(tool_packages("compile").unwrap().contains(&"gcc"));
        assert!(tool_packages("nope").is_none());
        assert_eq!(tool_names().count(), 7);
        for t in tool_names() {
            assert!(tool_binaries(t).is_some_and(|b| b.iter().all(|p| p.starts_with('/'))));
        }
    }

    #[test]
    fn tools_layout_merges_usr_and_drops_docs() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path();
        for f in [
            "lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/libz.so.1",
            "lib/x86_64-linux-gnu/libz.so.1",
            "bin/sh",
            "usr/share/doc/fio/copyright",
            "usr/share/man/man1/fio.1.gz",
        ] {
            std::fs::create_dir_all(t.join(f).parent().unwrap()).unwrap();
            std::fs::write(t.join(f), f).unwrap();
        }
        std::fs::create_dir_all(t.join("lib64")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            t.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        std::fs::write(t.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "ld").unwrap();
        lay_out(t).unwrap();
        for top in MERGED {
            assert_eq!(
                std::fs::read_link(t.join(top)).unwrap(),
                PathBuf::from(format!("usr/{top}"))
            );
        }
        let rd = |p: &str| std::fs::read_to_string(t.join(p)).unwrap();
        assert_eq!(
            rd("usr/lib/x86_64-linux-gnu/libc.so.6"),
            "lib/x86_64-linux-gnu/libc.so.6"
        );
        // Both had it: /usr's is kept.
        assert_eq!(
            rd("usr/lib/x86_64-linux-gnu/libz.so.1"),
            "usr/lib/x86_64-linux-gnu/libz.so.1"
        );
        assert_eq!(rd("usr/bin/sh"), "bin/sh");
        assert!(!t.join("usr/share/doc").exists() && !t.join("usr/share/man").exists());
        assert!(t.join("tmp").is_dir() && t.join("proc").is_dir());
        // The interpreter resolves inside the tree, through an absolute symlink.
        assert_eq!(
            resolve_in(t, "/lib64/ld-linux-x86-64.so.2").unwrap(),
            t.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        assert!(resolve_in(t, "/usr/bin/none").is_none());
    }

    #[test]
    fn tools_elf_interpreter_of_a_real_binary_and_of_garbage() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(
            elf_interpreter(&me).as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        for n in [0, 4, 63, 64, 100, 1000] {
            let _ = elf_interpreter(&me[..n.min(me.len())]);
        }
    }

    #[test]
    fn tools_image_size_covers_the_data() {
        let s = image_size(1000, 500);
        assert!(s >= 1000 * 4096 + 500 * 256);
        assert_eq!(s % (1 << 20), 0);
    }

    fn run_in(tree: &Path, argv: &[&str]) -> String {
        let out = Command::new("timeout")
            .arg("30")
            .arg("chroot")
            .arg(tree)
            .args(argv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{argv:?} in the tree: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Builds sysbench's tree for real (apt lists needed; as root, for chroot), runs it, checks
    /// the image, and finds it cached the second time.
    #[test]
    fn tools_tree_of_sysbench_runs_in_a_chroot_and_is_imaged() {
        // SAFETY: geteuid(2) has no preconditions and touches no memory.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test runs sysbench in a chroot: run it as root"
        );
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::at(d.path());
        // Two callers at once: one builds, the other waits for the lock and finds it built.
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let mut said = Vec::new();
                    let t = tools_tree(&["sysbench"], &cache, &mut |s| said.push(s.to_string()));
                    (t.unwrap_or_else(|e| panic!("{e}")), said)
                })
            })
            .collect();
        let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        let downloads = results
            .iter()
            .filter(|(_, said)| said.iter().any(|s| s.contains("downloading")))
            .count();
        assert_eq!(downloads, 1, "{results:?}");
        assert_eq!(results[0].0, results[1].0);
        let t = results[0].0.clone();
        assert!(t.versions.iter().any(|(p, _)| p == "sysbench"));
        assert!(!t
            .versions
            .iter()
            .any(|(p, _)| p == "debconf" || p == "dpkg"));
        assert!(run_in(&t.dir, &["/usr/bin/sysbench", "--version"]).starts_with("sysbench 1.0"));
        assert!(!t.dir.join("usr/share/doc").exists());
        let versions = std::fs::read_to_string(t.dir.parent().unwrap().join("versions.txt"));
        assert!(versions
            .unwrap()
            .lines()
            .any(|l| l.starts_with("sysbench ")));

        let out = Command::new("debugfs")
            .args(["-R", "ls -l /usr/bin"])
            .arg(&t.image)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("sysbench"), "{listing}");
        let out = Command::new("dumpe2fs")
            .arg("-h")
            .arg(&t.image)
            .output()
            .unwrap();
        let header = String::from_utf8_lossy(&out.stdout);
        assert!(header.contains("hvbench-tools"), "{header}");
        assert_eq!(t.image_bytes, std::fs::metadata(&t.image).unwrap().len());
        assert!(t.tree_bytes > 1 << 20 && t.image_bytes > t.tree_bytes);

        let start = std::time::Instant::now();
        let again = tools_tree(&["sysbench"], &cache, &mut |s| panic!("cached, yet: {s}")).unwrap();
        assert_eq!(again, t);
        assert!(start.elapsed().as_millis() < 500, "{:?}", start.elapsed());
    }

    #[test]
    fn tools_unknown_package_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = tools_tree(
            &["no-such-package-hvbench"],
            &Cache::at(d.path()),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no-such-package-hvbench"), "{e}");
        assert!(e.contains("apt-get update"), "{e}");
        let e = tools_tree(&["-o"], &Cache::at(d.path()), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a Debian package name"), "{e}");
    }

    /// The numbers for the closing note: for each tool alone and for all together, the
    /// closure's packages, the tree's and the image's MiB, and the build time cold (when not
    /// cached yet) and warm; every tool is run in a chroot of the whole tree. Builds into the
    /// real cache: `cargo test -p hvbench-platform tools_tree_sizes -- --ignored --nocapture`.
    #[test]
    #[ignore = "downloads a few hundred MiB into the real cache"]
    fn tools_tree_sizes_of_every_tool() {
        let cache = Cache::from_env();
        let mut sets: Vec<(String, Vec<&str>)> = tool_names()
            .map(|t| (t.to_string(), tool_packages(t).unwrap().to_vec()))
            .collect();
        sets.push((
            "all".into(),
            tool_names()
                .flat_map(|t| tool_packages(t).unwrap().iter().copied())
                .collect(),
        ));
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        let mut rows = Vec::new();
        let mut all = None;
        for (name, packages) in &sets {
            let start = std::time::Instant::now();
            let mut built = false;
            let t = tools_tree(packages, &cache, &mut |s| {
                built = true;
                eprintln!("  {name}: {s}");
            })
            .unwrap_or_else(|e| panic!("{e}"));
            let first = start.elapsed();
            let start = std::time::Instant::now();
            tools_tree(packages, &cache, &mut |s| panic!("cached, yet: {s}")).unwrap();
            let warm = start.elapsed();
            rows.push(format!(
                "{name:<10} {:>4} pkgs  tree {:>7.1} MiB  image {:>7.1} MiB  {} {:>6.1} s  warm {:>5.3} s  {}",
                t.versions.len(),
                mib(t.tree_bytes),
                mib(t.image_bytes),
                if built { "cold" } else { "(cached)" },
                first.as_secs_f64(),
                warm.as_secs_f64(),
                t.key,
            ));
            if name == "all" {
                all = Some(t);
            }
        }
        let t = all.unwrap();
        for argv in [
            &["/usr/bin/fio", "--version"][..],
            &["/usr/bin/sysbench", "--version"],
            &["/usr/bin/stress-ng", "--version"],
            &["/usr/bin/iperf3", "--version"],
            &["/usr/bin/redis-server", "--version"],
            &["/usr/bin/redis-benchmark", "--version"],
            &["/usr/lib/postgresql/15/bin/pgbench", "--version"],
            &["/usr/lib/postgresql/15/bin/postgres", "--version"],
            &["/usr/lib/postgresql/15/bin/initdb", "--version"],
            &["/usr/bin/gcc", "--version"],
            &["/usr/bin/make", "--version"],
        ] {
            let out = run_in(&t.dir, argv);
            println!("{:<40} {}", argv[0], out.lines().next().unwrap_or(""));
        }
        // A C program compiled, linked and run inside the tree.
        std::fs::write(
            t.dir.join("tmp/hvbench-check.c"),
            "#include <stdio.h>\nint main(void) { puts(\"compiled\"); return 0; }\n",
        )
        .unwrap();
        run_in(
            &t.dir,
            &[
                "/usr/bin/gcc",
                "-O2",
                "-o",
                "/tmp/hvbench-check",
                "/tmp/hvbench-check.c",
            ],
        );
        let ran = run_in(&t.dir, &["/tmp/hvbench-check"]);
        for f in ["tmp/hvbench-check.c", "tmp/hvbench-check"] {
            let _ = std::fs::remove_file(t.dir.join(f));
        }
        assert_eq!(ran, "compiled\n");
        for r in rows {
            println!("{r}");
        }
    }
}
