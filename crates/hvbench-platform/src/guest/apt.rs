//! Debian packages as files: find what apt would install, download it and unpack it into a
//! directory of ours with `dpkg-deb -x`. Nothing is ever installed on the machine.

use crate::{PlatformError, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package a metapackage (e.g. `linux-image-amd64`) depends on now, and its version.
pub fn candidate(meta: &str, prefix: &str, hint: &str) -> Result<(String, String)> {
    let out = Command::new("apt-cache")
        .args(["depends", meta])
        .output()
        .map_err(PlatformError::io(
            "cannot run apt-cache (is this Debian or Ubuntu?)",
        ))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pkg = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with(prefix))
        .map(str::to_string)
        .ok_or_else(|| PlatformError::unavailable(format!("apt does not know {meta}"), hint))?;
    let version = version(&pkg, hint)?;
    Ok((pkg, version))
}

/// The version apt would install of `pkg`.
pub fn version(pkg: &str, hint: &str) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", pkg])
        .output()
        .map_err(PlatformError::io("cannot run apt-cache"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: ").map(str::to_string))
        .ok_or_else(|| PlatformError::unavailable(format!("apt has no version of {pkg}"), hint))
}

/// Download `pkg=version` into `scratch` and unpack it into `scratch/<pkg>`; returns that root.
pub fn download_and_unpack(pkg: &str, version: &str, scratch: &Path) -> Result<PathBuf> {
    let dl = scratch.join(format!("{pkg}.download"));
    std::fs::create_dir_all(&dl)
        .map_err(PlatformError::io(format!("cannot create {}", dl.display())))?;
    run(
        Command::new("apt-get")
            .current_dir(&dl)
            .args(["download", &format!("{pkg}={version}")]),
        &format!("apt-get download {pkg}={version}"),
    )?;
    let deb = std::fs::read_dir(&dl)
        .map_err(PlatformError::io("cannot list the download directory"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            PlatformError::unavailable(
                format!("apt-get download {pkg} produced no .deb"),
                "run `apt-get update` and retry",
            )
        })?;
    let root = scratch.join(pkg);
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        "dpkg-deb -x",
    )?;
    let _ = std::fs::remove_dir_all(&dl);
    Ok(root)
}

/// Run a command to completion; a failure carries its stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .map_err(PlatformError::io(format!("cannot run {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PlatformError::unavailable(
            format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "check the network and apt sources (apt-get update)",
        ))
    }
}
