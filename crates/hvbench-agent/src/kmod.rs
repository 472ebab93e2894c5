//! Loading the kernel modules a guest image carries (virtio and Xen front-end drivers for the
//! scratch disk and the network), before any workload runs.
//!
//! The image builder lists them in dependency order in [`MODULES_LIST`], one absolute path a
//! line (the kernel package ships no `modules.dep`, and an agent needs no `modprobe`). Each is
//! loaded with `finit_module(2)`. A module already there is fine, and so is one whose driver
//! finds no hardware (ENODEV: Xen's front ends in a QEMU guest); one that fails otherwise is
//! reported and the rest are still tried: a workload that needed it will say what it misses.

use crate::facts::Facts;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where the guest image lists its modules, in load order.
pub const MODULES_LIST: &str = "/hvbench/modules.list";

/// What became of each listed module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Whether the image has a module list at all (a `kernel = PATH` guest has none).
    pub listed: bool,
    /// Loaded now, or already in the kernel, by module name, in load order.
    pub loaded: Vec<String>,
    /// Refused with ENODEV: a driver for hardware this guest does not have (the Xen front
    /// ends under QEMU). Not a failure.
    pub no_device: Vec<String>,
    /// Module name and why it could not be loaded.
    pub failed: Vec<(String, String)>,
}

impl LoadReport {
    /// The `modules.*` facts.
    pub fn facts(&self) -> Facts {
        let mut facts = Facts::new();
        let loaded = if !self.listed {
            "none (the guest image carries no modules)".to_string()
        } else if self.loaded.is_empty() {
            "none".to_string()
        } else {
            self.loaded.join(",")
        };
        facts.insert("modules.loaded".into(), loaded);
        if !self.no_device.is_empty() {
            facts.insert("modules.no_device".into(), self.no_device.join(","));
        }
        if !self.failed.is_empty() {
            let failed: Vec<String> = self
                .failed
                .iter()
                .map(|(m, e)| format!("{m}: {e}"))
                .collect();
            facts.insert("modules.failed".into(), failed.join("; "));
        }
        facts
    }

    /// One line per failure, for `Log` frames.
    pub fn notes(&self) -> Vec<String> {
        self.failed
            .iter()
            .map(|(m, e)| format!("cannot load kernel module {m}: {e}"))
            .collect()
    }
}

/// Load every module named in the list file `list`, in order.
pub fn load_listed(list: &Path) -> LoadReport {
    let Ok(text) = std::fs::read_to_string(list) else {
        return LoadReport::default();
    };
    let mut report = LoadReport {
        listed: true,
        ..LoadReport::default()
    };
    for path in parse_list(&text) {
        let name = module_name(&path);
        match load(&path) {
            Ok(()) => report.loaded.push(name),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => report.loaded.push(name),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => report.no_device.push(name),
            Err(e) => report.failed.push((name, e.to_string())),
        }
    }
    report
}

/// The paths of a list file: one a line; blank lines and `#` comments are skipped.
pub fn parse_list(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .collect()
}

/// A module's name as the kernel knows it: the file name without `.ko`, `-` read as `_`.
pub fn module_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(".ko").unwrap_or(&file).replace('-', "_")
}

/// `finit_module(fd, "", 0)`: no parameters, and the kernel checks version magic and
/// signature as it would for modprobe.
fn load(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    let no_params = c"";
    // SAFETY: the fd is open for the whole call and `no_params` is a valid NUL-terminated
    // string; finit_module reads both and touches no other memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            no_params.as_ptr(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_names() {
        let paths = parse_list(
            "# load order\n/lib/modules/6.1/kernel/drivers/virtio/virtio_ring.ko\n\n  \
             /lib/modules/6.1/kernel/drivers/block/xen-blkfront.ko  \n",
        );
        assert_eq!(paths.len(), 2);
        assert_eq!(module_name(&paths[0]), "virtio_ring");
        assert_eq!(module_name(&paths[1]), "xen_blkfront");
    }

    #[test]
    fn no_list_means_no_modules() {
        let report = load_listed(Path::new("/nonexistent/hvbench/modules.list"));
        assert!(!report.listed);
        assert!(report.facts()["modules.loaded"].starts_with("none"));
        assert!(report.notes().is_empty());
    }

    #[test]
    fn failures_are_reported_not_fatal() {
        let d = std::env::temp_dir().join(format!("hvbench-kmod-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let list = d.join("modules.list");
        // A missing file and a file that is no module: neither stops the other.
        let junk = d.join("junk.ko");
        std::fs::write(&junk, b"not an ELF file").unwrap();
        std::fs::write(
            &list,
            format!("{}\n{}\n", d.join("missing.ko").display(), junk.display()),
        )
        .unwrap();
        let report = load_listed(&list);
        assert!(report.listed);
        assert_eq!(report.failed.len(), 2, "{report:?}");
        assert_eq!(report.facts()["modules.loaded"], "none");
        assert!(report.facts()["modules.failed"].contains("missing"));
        assert_eq!(report.notes().len(), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
