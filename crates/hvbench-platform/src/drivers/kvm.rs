//! Can this machine really run an ordinary guest under KVM?
//!
//! `/dev/kvm` existing is not enough. A PVM host (the `kvm_pvm` module, used by some cloud
//! sandboxes) exposes `/dev/kvm` without hardware virtualization and runs only PVM-aware
//! guests: an ordinary guest under `-accel kvm` hangs or aborts. Ordinary KVM needs the CPU's
//! VMX or SVM extension and the matching `kvm_intel` or `kvm_amd` module.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum KvmStatus {
    /// Usable; `module` is `kvm_intel` or `kvm_amd`, `nested` that module's nested setting.
    Usable {
        module: String,
        nested: Option<String>,
    },
    /// Not usable, and why, with what to do.
    Unusable { reason: String, hint: String },
}

impl KvmStatus {
    pub fn is_usable(&self) -> bool {
        matches!(self, KvmStatus::Usable { .. })
    }
}

/// Where to look; tests point it at a fake tree.
#[derive(Debug, Clone)]
pub struct Probe {
    pub dev_kvm: PathBuf,
    pub sys_module: PathBuf,
    pub cpuinfo: PathBuf,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            dev_kvm: "/dev/kvm".into(),
            sys_module: "/sys/module".into(),
            cpuinfo: "/proc/cpuinfo".into(),
        }
    }
}

pub fn status() -> KvmStatus {
    Probe::default().status()
}

impl Probe {
    pub fn status(&self) -> KvmStatus {
        if !self.dev_kvm.exists() {
            return unusable(
                format!("{} does not exist", self.dev_kvm.display()),
                "load kvm_intel or kvm_amd (modprobe), enable virtualization in the firmware, or use the lab",
            );
        }
        if self.sys_module.join("kvm_pvm").exists() {
            return unusable(
                "/dev/kvm is provided by kvm_pvm (a PVM host): it runs only PVM guests, and ordinary guests hang under it",
                "hvbench uses TCG (software emulation) here; real KVM runs in the lab (`hvbench lab`) or on hardware with VMX/SVM",
            );
        }
        let flags = cpu_flags(&self.cpuinfo);
        let module = if flags.iter().any(|f| f == "vmx") {
            "kvm_intel"
        } else if flags.iter().any(|f| f == "svm") {
            "kvm_amd"
        } else {
            return unusable(
                "the CPU offers neither VMX nor SVM (no hardware virtualization visible)",
                "enable VT-x/AMD-V in the firmware, or enable nested virtualization for this VM",
            );
        };
        if !self.sys_module.join(module).exists() {
            return unusable(
                format!("the {module} module is not loaded"),
                format!("modprobe {module}"),
            );
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.dev_kvm)
        {
            return unusable(
                format!(
                    "cannot open {} for reading and writing: {e}",
                    self.dev_kvm.display()
                ),
                "run as root or add your user to the kvm group",
            );
        }
        let nested =
            std::fs::read_to_string(self.sys_module.join(module).join("parameters/nested"))
                .ok()
                .map(|s| s.trim().to_string());
        KvmStatus::Usable {
            module: module.to_string(),
            nested,
        }
    }
}

fn unusable(reason: impl Into<String>, hint: impl Into<String>) -> KvmStatus {
    KvmStatus::Unusable {
        reason: reason.into(),
        hint: hint.into(),
    }
}

/// The flags of the first CPU in a cpuinfo file.
pub fn cpu_flags(cpuinfo: &Path) -> Vec<String> {
    std::fs::read_to_string(cpuinfo)
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, f)| f.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(flags: &str, modules: &[&str], dev: bool) -> (tempfile::TempDir, Probe) {
        let d = tempfile::tempdir().unwrap();
        let p = Probe {
            dev_kvm: d.path().join("kvm"),
            sys_module: d.path().join("module"),
            cpuinfo: d.path().join("cpuinfo"),
        };
        std::fs::write(
            &p.cpuinfo,
            format!("processor\t: 0\nflags\t\t: fpu {flags}\n"),
        )
        .unwrap();
        for m in modules {
            std::fs::create_dir_all(p.sys_module.join(m).join("parameters")).unwrap();
            std::fs::write(p.sys_module.join(m).join("parameters/nested"), "1\n").unwrap();
        }
        if dev {
            std::fs::write(&p.dev_kvm, "").unwrap();
        }
        (d, p)
    }

    #[test]
    fn pvm_host_is_not_usable() {
        let (_d, p) = fake("hypervisor", &["kvm", "kvm_pvm"], true);
        match p.status() {
            KvmStatus::Unusable { reason, .. } => assert!(reason.contains("PVM"), "{reason}"),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn no_device_is_not_usable() {
        let (_d, p) = fake("svm", &["kvm", "kvm_amd"], false);
        assert!(!p.status().is_usable());
    }

    #[test]
    fn svm_without_module_says_modprobe() {
        let (_d, p) = fake("svm", &["kvm"], true);
        match p.status() {
            KvmStatus::Unusable { hint, .. } => assert_eq!(hint, "modprobe kvm_amd"),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn vmx_with_module_is_usable() {
        let (_d, p) = fake("vmx ept", &["kvm", "kvm_intel"], true);
        assert_eq!(
            p.status(),
            KvmStatus::Usable {
                module: "kvm_intel".into(),
                nested: Some("1".into())
            }
        );
    }

    #[test]
    fn no_virtualization_flags() {
        let (_d, p) = fake("sse2", &["kvm"], true);
        assert!(
            matches!(p.status(), KvmStatus::Unusable { reason, .. } if reason.contains("neither VMX nor SVM"))
        );
    }
}
