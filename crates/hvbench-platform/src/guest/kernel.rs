//! Guest kernels: Debian's cloud kernel, fetched into the cache by package version (with the
//! modules its guests load), a cache entry a controller named (`HVBENCH_KERNEL_ENTRY`), or the
//! user's own kernel file.

use crate::guest::cache::Cache;
use crate::guest::modules::{self, KernelModules};
use crate::{PlatformError, Result};
use std::path::{Path, PathBuf};

/// The Debian metapackage whose dependency is the current cloud kernel.
pub const CLOUD_KERNEL_META: &str = "linux-image-cloud-amd64";

/// Cache entries are `<cache>/kernels/<pkg>_<version><suffix>/` holding `vmlinuz`, `config` and
/// `modules/<release>/...` (the [`modules::GUEST_MODULES`] and their dependencies). The suffix
/// changes whenever what an entry holds changes, so that older entries are fetched again:
/// entries without one hold `vmlinuz` and `config` only.
pub const KERNEL_ENTRY_SUFFIX: &str = ".m1";
/// Names the cached kernel entry (`<pkg>_<version>.m1`) to use instead of asking apt: set by a
/// controller for the executor it runs on a machine it shipped that kernel to.
pub const KERNEL_ENTRY_ENV: &str = "HVBENCH_KERNEL_ENTRY";

/// A kernel ready to boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub path: PathBuf,
    /// Where it came from: "debian:linux-image-6.1.0-56-cloud-amd64=6.1.192-2" or "user".
    pub origin: String,
    /// The modules its guests load (disk and network drivers), in load order; `None` for a
    /// user's kernel, which must have what it needs built in.
    pub modules: Option<KernelModules>,
}

/// Use the user's kernel if given, else Debian's cloud kernel from the cache, fetching it first
/// if needed.
pub fn resolve_kernel(user: Option<&Path>, cache: &Cache) -> Result<Kernel> {
    match user {
        Some(p) if p.is_file() => Ok(Kernel {
            path: p.to_path_buf(),
            origin: "user".into(),
            modules: None,
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
    // A controller that shipped its kernel to this machine names the entry: that kernel, not
    // whatever this machine's apt would pick.
    if let Some(entry) = std::env::var_os(KERNEL_ENTRY_ENV) {
        let dir = kernels.join(&entry);
        let name = entry.to_string_lossy().into_owned();
        let vmlinuz = dir.join("vmlinuz");
        if !vmlinuz.is_file() || name.contains('/') {
            return Err(PlatformError::unavailable(
                format!(
                    "{KERNEL_ENTRY_ENV}={name}: no such kernel in {}",
                    kernels.display()
                ),
                "the controller ships it before every job; run the campaign again",
            ));
        }
        let name = name.strip_suffix(KERNEL_ENTRY_SUFFIX).unwrap_or(&name);
        return Ok(Kernel {
            path: vmlinuz,
            origin: format!("debian:{}", name.replacen('_', "=", 1)),
            modules: modules::read_cached(&dir.join("modules")),
        });
    }
    let (pkg, version) = match candidate_kernel_package() {
        Ok(pv) => pv,
        // Offline, or no apt lists: a kernel fetched earlier is as good.
        Err(e) => return newest_cached(&kernels).ok_or(e),
    };
    let dir = kernels.join(format!("{pkg}_{version}{KERNEL_ENTRY_SUFFIX}"));
    let vmlinuz = dir.join("vmlinuz");
    let origin = format!("debian:{pkg}={version}");
    if !vmlinuz.is_file() {
        fetch_kernel(&pkg, &version, &dir)?;
    }
    Ok(Kernel {
        path: vmlinuz,
        origin,
        modules: modules::read_cached(&dir.join("modules")),
    })
}

/// The newest cached kernel, for when apt cannot say which is current; an entry of the
/// current layout (with modules) before any older one.
fn newest_cached(kernels: &Path) -> Option<Kernel> {
    let mut found: Vec<(bool, std::time::SystemTime, PathBuf)> = std::fs::read_dir(kernels)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let t = std::fs::metadata(e.path().join("vmlinuz"))
                .ok()?
                .modified()
                .ok()?;
            let current = e
                .file_name()
                .to_string_lossy()
                .ends_with(KERNEL_ENTRY_SUFFIX);
            Some((current, t, e.path()))
        })
        .collect();
    found.sort();
    let (_, _, dir) = found.pop()?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let name = name.strip_suffix(KERNEL_ENTRY_SUFFIX).unwrap_or(&name);
    Some(Kernel {
        path: dir.join("vmlinuz"),
        origin: format!("debian:{} (cached)", name.replacen('_', "=", 1)),
        modules: modules::read_cached(&dir.join("modules")),
    })
}

/// The concrete kernel package the metapackage points to now, and its version.
fn candidate_kernel_package() -> Result<(String, String)> {
    crate::guest::apt::candidate(
        CLOUD_KERNEL_META,
        "linux-image-",
        "run `apt-get update` (as root), or set `kernel = \"/path/to/vmlinuz\"` in [guest]",
    )
}

/// `apt-get download` the package into a scratch directory, unpack it with `dpkg-deb -x`, keep
/// only the kernel image, its config (for the record) and the guests' modules. Never installs
/// anything.
fn fetch_kernel(pkg: &str, version: &str, dir: &Path) -> Result<()> {
    let scratch = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(PlatformError::io("cannot create a scratch directory"))?;
    let root = crate::guest::apt::download_and_unpack(pkg, version, &scratch)?;
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
    stage_modules(pkg, &root.join("lib/modules"), &staged.join("modules"))?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staged, dir).map_err(PlatformError::io(format!(
        "cannot move the kernel to {}",
        dir.display()
    )))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Copy the guests' modules (and their dependencies) from an unpacked package's
/// `lib/modules` to `dest/<release>/...`. A package without modules stages none.
fn stage_modules(pkg: &str, lib_modules: &Path, dest: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(lib_modules) else {
        return Ok(());
    };
    let trees: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    for tree in trees {
        let release = tree
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let picked = modules::select(&tree, modules::GUEST_MODULES).map_err(|e| {
            PlatformError::unavailable(
                format!("cannot pick the guest modules out of {pkg}: {e}"),
                "retry (the download may be damaged), or set `kernel` in [guest]",
            )
        })?;
        modules::copy_tree(&picked, &release, dest)
            .map_err(PlatformError::io("cannot stage the kernel modules"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_cache_entry_is_that_debian_kernel_with_its_modules() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("linux-image-6.1.0-9-cloud-amd64_6.1.27-1{KERNEL_ENTRY_SUFFIX}");
        let entry = dir.path().join("kernels").join(&name);
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(entry.join("vmlinuz"), b"k").unwrap();
        // The variable is this test's alone: no other test of this crate reads or sets it.
        std::env::set_var(KERNEL_ENTRY_ENV, &name);
        let k = debian_cloud_kernel(&Cache::at(dir.path()));
        std::env::set_var(KERNEL_ENTRY_ENV, "missing.m1");
        let missing = debian_cloud_kernel(&Cache::at(dir.path()));
        std::env::remove_var(KERNEL_ENTRY_ENV);
        let k = k.unwrap();
        assert_eq!(k.origin, "debian:linux-image-6.1.0-9-cloud-amd64=6.1.27-1");
        assert_eq!(k.path, entry.join("vmlinuz"));
        assert!(missing.is_err());
    }

    #[test]
    fn offline_the_newest_entry_with_modules_wins() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("linux-image-6.1.0-9-cloud-amd64_6.1.1-1");
        let new = d.path().join(format!(
            "linux-image-6.1.0-8-cloud-amd64_6.1.0-1{KERNEL_ENTRY_SUFFIX}"
        ));
        for dir in [&new, &old] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("vmlinuz"), b"kernel").unwrap();
        }
        let k = newest_cached(d.path()).unwrap();
        assert_eq!(k.path, new.join("vmlinuz"));
        assert_eq!(
            k.origin,
            "debian:linux-image-6.1.0-8-cloud-amd64=6.1.0-1 (cached)"
        );
        assert!(k.modules.is_none(), "this entry has no modules/ directory");
    }
}
