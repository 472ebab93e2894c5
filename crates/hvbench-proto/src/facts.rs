//! The keys of the platform facts that analysis reads, in one place.
//!
//! Drivers, the agent and the lab record facts as `key = value` (docs/architecture.md,
//! "Platforms", "The lab", "Machines over SSH", "Evidence"); the anomaly rules and the report
//! read them by these names, and the drivers that write them use the same constants. A key that no driver records yet is harmless: a rule whose facts
//! are absent stays silent.
//!
//! Which machine a fact describes matters: the agent's facts (`cpu.flags`, `clocksource`, ...)
//! describe where the agent ran (the bare host for a `host` platform, the guest otherwise); the
//! driver's facts describe the machine that runs the hypervisor (this one, a `[[host]]` over
//! SSH, a lab host, the boot of a dual-boot machine).

// ---- Where a platform ran ------------------------------------------------------------------

/// The `[[host]]` a platform ran on over SSH; absent: this machine (or the lab, see [`LAB`]).
pub const MACHINE: &str = "machine";
/// The lab host a platform ran in (`xen`, `kvm`, `dual`): a real Xen or KVM host nested under
/// QEMU's TCG on this machine, a different machine from this one's hypervisor's point of view.
pub const LAB: &str = "lab";
/// What the lab emulates (a sentence).
pub const LAB_EMULATION: &str = "lab.emulation";
/// The prefix of every lab fact (`lab.images`, `lab.ssh`, `lab.boot_s`, ...).
pub const LAB_PREFIX: &str = "lab.";
/// The boot entry of a dual-boot machine a platform ran in.
pub const BOOT_ENTRY: &str = "boot.entry";
/// `host` for the agent as a plain process on a machine, `guest` inside a guest.
pub const AGENT_MODE: &str = "agent.mode";
/// The machine under the platform is itself virtual or emulated (`true` / `false`).
pub const HOST_EMULATED: &str = "host.emulated";

// ---- The accelerator and the hypervisor ----------------------------------------------------

/// `kvm`, `tcg`, `xen`, `none` (the bare host).
pub const ACCEL: &str = "accel";
/// Xen's guest type: `pv`, `pvh`, `hvm`.
pub const XEN_GUEST_TYPE: &str = "xen.guest_type";
/// The KVM module of the machine that runs QEMU (`kvm_intel`, `kvm_amd`, `kvm_pvm`).
pub const KVM_MODULE: &str = "kvm.module";

// ---- Mitigations and tuning of the hypervisor ----------------------------------------------

/// Xen's XPTI boot line (`xl dmesg`).
pub const XEN_SPEC_XPTI: &str = "xen.spec.xpti";
/// Xen's L1D flush setting (`xl dmesg`).
pub const XEN_SPEC_L1D_FLUSH: &str = "xen.spec.l1d_flush";
/// Xen's speculative-execution settings line (`xl dmesg`).
pub const XEN_SPEC_SETTINGS: &str = "xen.spec.settings";
/// KVM's `vmentry_l1d_flush` (kvm_intel) on the machine that runs QEMU.
pub const KVM_VMENTRY_L1D_FLUSH: &str = "kvm.vmentry_l1d_flush";
/// KVM's halt-polling window on the machine that runs QEMU.
pub const KVM_HALT_POLL_NS: &str = "kvm.halt_poll_ns";
/// The guest kernel's L1TF status (/sys/devices/system/cpu/vulnerabilities/l1tf).
pub const CPU_VULN_L1TF: &str = "cpu.vuln.l1tf";

// ---- Paging support of the machine that runs the hypervisor --------------------------------

/// `virt_caps` of `xl info` on the machine that runs Xen: `hap` is hardware-assisted paging
/// (EPT/NPT).
pub const XEN_VIRT_CAPS: &str = "xen.virt_caps";
/// The virtualization flags of the machine that runs QEMU (`vmx svm ept npt vpid ...`, or
/// `none`), recorded by the qemu driver where it runs.
pub const HOST_CPU_VIRT_FLAGS: &str = "host.cpu.virt_flags";
/// The CPU flags that the agent saw where it ran: a `host` platform's are its machine's.
pub const CPU_FLAGS: &str = "cpu.flags";

// ---- Time ------------------------------------------------------------------------------------

/// The guest's clocksource.
pub const CLOCKSOURCE: &str = "clocksource";
/// Whether the guest's vDSO is enabled.
pub const VDSO: &str = "vdso";
/// The command line of the kernel the agent ran under.
pub const KERNEL_CMDLINE: &str = "kernel.cmdline";
/// The guest kernel's command line as the driver gave it.
pub const GUEST_CMDLINE: &str = "guest.cmdline";
/// The domain's TSC mode as `xl list -l` reports it (xen-tscmode(7)): `default`,
/// `always_emulate`, `native`, `native_paravirt`.
pub const XEN_TSC_MODE: &str = "xen.tsc_mode";
/// The TSC mode hvbench configured for the domain.
pub const XEN_TSC_MODE_CONFIGURED: &str = "xen.tsc_mode.configured";
/// Whether Xen really emulates the domain's TSC reads: `emulated` or `native` (in `default`
/// mode Xen decides by the hardware).
pub const XEN_VTSC: &str = "xen.vtsc";

// ---- Network -------------------------------------------------------------------------------

/// How the guest's NIC is connected, as configured (`auto`, `tap`, `user`, ...).
pub const NET_MODE: &str = "net.mode";
/// The guest NIC's backend: `slirp` (QEMU's user network), `tap+vhost-net`, `xen-netback (vif)`.
pub const NET_BACKEND: &str = "net.backend";
/// Why the tap backend was or was not used.
pub const NET_TAP: &str = "net.tap";
/// Whether vhost-net carried the guest's NIC (`on`, `off: <why>`).
pub const NET_VHOST: &str = "net.vhost";
/// The bridge the guest's NIC is on.
pub const NET_BRIDGE: &str = "net.bridge";
/// The guest NIC's port on the bridge (`none up` when none is).
pub const NET_PORT: &str = "net.port";
/// The MTU of [`NET_PORT`].
pub const NET_PORT_MTU: &str = "net.port.mtu";
/// The offloads of [`NET_PORT`].
pub const NET_PORT_OFFLOADS: &str = "net.port.offloads";
/// The vhost worker threads of the guest's NIC.
pub const NET_VHOST_WORKERS: &str = "net.vhost.workers";
/// The guest NIC's model as a driver may record it.
pub const NET_MODEL: &str = "net.model";

// ---- Memory --------------------------------------------------------------------------------

/// The transparent huge pages setting where the agent ran.
pub const THP_ENABLED: &str = "thp.enabled";

/// The platform ran under QEMU's software emulation: its [`ACCEL`] is `tcg`.
pub fn is_tcg(facts: &std::collections::BTreeMap<String, String>) -> bool {
    facts
        .get(ACCEL)
        .is_some_and(|a| a.trim().eq_ignore_ascii_case("tcg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_is_the_accel_fact_whatever_its_case_and_spaces() {
        let facts =
            |v: &str| std::collections::BTreeMap::from([(ACCEL.to_string(), v.to_string())]);
        assert!(is_tcg(&facts("tcg")) && is_tcg(&facts(" TCG ")));
        assert!(!is_tcg(&facts("kvm")) && !is_tcg(&facts("")));
        assert!(!is_tcg(&std::collections::BTreeMap::new()));
    }
}
