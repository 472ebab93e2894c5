//! The `qemu` driver: the agent as PID 1 of a minimal guest under `qemu-system-x86_64`, with
//! KVM where it can really run an ordinary guest and TCG (software emulation) otherwise — the
//! accelerator that ran is always recorded.

use crate::cache::Cache;
use crate::console::{self, TrialEnd};
use crate::image::{self, Kernel};
use crate::kvm::{self, KvmStatus};
use crate::{agent, Platform, PlatformError, Result, TrialRequest};
use hvbench_proto::{AgentPlan, Event};
use hvbench_spec::{Accel, GuestSpec, QemuSpec};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The accelerator a guest actually runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAccel {
    Kvm,
    Tcg,
}

impl RunAccel {
    pub fn as_str(self) -> &'static str {
        match self {
            RunAccel::Kvm => "kvm",
            RunAccel::Tcg => "tcg",
        }
    }
}

/// Everything the QEMU command line depends on; [`argv`] is a pure function of it.
#[derive(Debug, Clone, PartialEq)]
pub struct QemuConfig {
    pub name: String,
    pub accel: RunAccel,
    pub machine: String,
    pub cpu: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
}

/// The kernel command line of every hvbench guest: console on the first serial port, quiet
/// boot (kernel messages would only add noise around the frames), and on panic no reboot, so
/// that QEMU (`-no-reboot`) exits and the failure is seen at once.
pub const GUEST_APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=3";

/// The QEMU argument vector (program excluded). No shell ever sees it.
pub fn argv(c: &QemuConfig) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("hvbench-{}", c.name));
    push("-machine");
    push(&format!("{},accel={}", c.machine, c.accel.as_str()));
    push("-cpu");
    push(&c.cpu);
    push("-smp");
    push(&c.vcpus.to_string());
    push("-m");
    push(&format!("{}M", c.memory_mib));
    // No default devices, no user config, no display, no network: only what the guest needs.
    push("-nodefaults");
    push("-no-user-config");
    push("-display");
    push("none");
    push("-no-reboot");
    // The first serial port is the agent's console, on QEMU's stdout, which the driver reads.
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    push("-kernel");
    a.push(c.kernel.clone().into_os_string());
    a.push("-initrd".into());
    a.push(c.initrd.clone().into_os_string());
    a.push("-append".into());
    a.push(c.append.clone().into());
    a
}

/// Decide the accelerator: `kvm` demands usable KVM, `tcg` is always possible, `auto` takes KVM
/// only where it can run an ordinary guest.
pub fn resolve_accel(wanted: Accel, kvm: &KvmStatus) -> Result<RunAccel> {
    match (wanted, kvm) {
        (Accel::Tcg, _) => Ok(RunAccel::Tcg),
        (_, KvmStatus::Usable { .. }) => Ok(RunAccel::Kvm),
        (Accel::Auto, KvmStatus::Unusable { .. }) => Ok(RunAccel::Tcg),
        (Accel::Kvm, KvmStatus::Unusable { reason, hint }) => Err(PlatformError::unavailable(
            format!("accel = \"kvm\" was asked for, but KVM cannot run guests here: {reason}"),
            format!("{hint}; or set accel = \"auto\" or \"tcg\""),
        )),
    }
}

/// The first line of `qemu-system-x86_64 --version`, or an error that says how to install it.
pub fn qemu_version(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| {
            PlatformError::unavailable(
                format!("cannot run {}: {e}", binary.display()),
                "install QEMU: apt-get install qemu-system-x86 (or set HVBENCH_QEMU to its path)",
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
    Ok(first
        .strip_prefix("QEMU emulator version ")
        .unwrap_or(first)
        .to_string())
}

/// `$HVBENCH_QEMU`, else `qemu-system-x86_64` from PATH.
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("HVBENCH_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| QEMU_BINARY.into())
}

pub struct QemuPlatform {
    name: String,
    binary: PathBuf,
    config: QemuConfig,
    facts: BTreeMap<String, String>,
}

impl QemuPlatform {
    /// Check QEMU, pick the accelerator, get the kernel, build the initramfs for `plan`.
    pub fn prepare(
        name: &str,
        spec: &QemuSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cache: &Cache,
    ) -> Result<Self> {
        let binary = qemu_binary();
        let version = qemu_version(&binary)?;
        let kvm = kvm::status();
        let accel = resolve_accel(spec.accel, &kvm)?;
        let kernel: Kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let agent = agent::agent_bytes()?;
        let (initrd, initrd_hash) = image::guest_initramfs(&agent, plan, cache)?;
        let cpu = spec.cpu.clone().unwrap_or_else(|| match accel {
            RunAccel::Kvm => "host".into(),
            RunAccel::Tcg => "max".into(),
        });
        let config = QemuConfig {
            name: name.to_string(),
            accel,
            machine: spec.machine.clone(),
            cpu,
            vcpus: guest.vcpus,
            memory_mib: guest.memory_mib,
            kernel: kernel.path.clone(),
            initrd,
            append: GUEST_APPEND.to_string(),
        };
        let mut facts = BTreeMap::new();
        let mut fact = |k: &str, v: String| {
            facts.insert(k.to_string(), v);
        };
        fact("accel", accel.as_str().into());
        fact("accel.requested", spec.accel.as_str().into());
        match &kvm {
            KvmStatus::Usable { module, nested } => {
                fact("kvm.module", module.clone());
                if let Some(n) = nested {
                    fact("kvm.nested", n.clone());
                }
            }
            KvmStatus::Unusable { reason, .. } => fact("kvm.unusable", reason.clone()),
        }
        fact(
            "hypervisor",
            if accel == RunAccel::Kvm {
                "kvm"
            } else {
                "qemu-tcg (software emulation)"
            }
            .into(),
        );
        fact("qemu.version", version);
        fact("qemu.machine", config.machine.clone());
        fact("qemu.cpu", config.cpu.clone());
        fact("guest.vcpus", guest.vcpus.to_string());
        fact("guest.memory_mib", guest.memory_mib.to_string());
        fact("guest.kernel", kernel.path.display().to_string());
        fact("guest.kernel.origin", kernel.origin);
        fact("guest.initramfs.sha256", initrd_hash);
        fact("guest.cmdline", config.append.clone());
        fact("host.emulated", crate::host::host_is_virtual().to_string());
        Ok(QemuPlatform {
            name: name.to_string(),
            binary,
            config,
            facts,
        })
    }

    pub fn config(&self) -> &QemuConfig {
        &self.config
    }
}

impl Platform for QemuPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "qemu"
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        // The plan is baked into the initramfs at prepare time; a trial must ask for that plan.
        let mut cmd = Command::new(&self.binary);
        cmd.args(argv(&self.config));
        console::run(cmd, req.timeout, req.console_log.as_deref(), on_event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QemuConfig {
        QemuConfig {
            name: "qemu".into(),
            accel: RunAccel::Tcg,
            machine: "q35".into(),
            cpu: "max".into(),
            vcpus: 2,
            memory_mib: 512,
            kernel: "/cache/kernels/vmlinuz".into(),
            initrd: "/cache/initramfs/guest-0123.cpio.gz".into(),
            append: GUEST_APPEND.into(),
        }
    }

    /// Snapshot of the whole command line: any change to it is deliberate and reviewed here.
    #[test]
    fn argv_snapshot() {
        let got: Vec<String> = argv(&config())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let want = [
            "-name",
            "hvbench-qemu",
            "-machine",
            "q35,accel=tcg",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-m",
            "512M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-chardev",
            "stdio,id=console,signal=off",
            "-serial",
            "chardev:console",
            "-kernel",
            "/cache/kernels/vmlinuz",
            "-initrd",
            "/cache/initramfs/guest-0123.cpio.gz",
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=3",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn paths_with_spaces_stay_one_argument() {
        let mut c = config();
        c.kernel = "/my kernels/vmlinuz; rm -rf /".into();
        let a = argv(&c);
        let i = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[i + 1], "/my kernels/vmlinuz; rm -rf /");
    }

    #[test]
    fn accel_resolution() {
        let pvm = KvmStatus::Unusable {
            reason: "PVM host".into(),
            hint: "use the lab".into(),
        };
        let ok = KvmStatus::Usable {
            module: "kvm_amd".into(),
            nested: None,
        };
        assert_eq!(resolve_accel(Accel::Auto, &pvm).unwrap(), RunAccel::Tcg);
        assert_eq!(resolve_accel(Accel::Auto, &ok).unwrap(), RunAccel::Kvm);
        assert_eq!(resolve_accel(Accel::Tcg, &ok).unwrap(), RunAccel::Tcg);
        let e = resolve_accel(Accel::Kvm, &pvm).unwrap_err().to_string();
        assert!(
            e.contains("PVM host") && e.contains("accel = \"auto\""),
            "{e}"
        );
    }

    #[test]
    fn missing_qemu_says_how_to_install() {
        let e = qemu_version(Path::new("/nonexistent/qemu-system-x86_64"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get install qemu-system-x86"), "{e}");
    }
}
