//! The plan's platforms and guest shape: the `[guest]` table and each `[[platform]]`'s driver
//! (host, QEMU, Xen) with its settings, as validated values.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSpec {
    pub vcpus: u32,
    pub memory_mib: u64,
    /// `None`: Debian's cloud kernel, fetched into the cache. [`load`](crate::load) makes a relative path
    /// relative to the spec file's directory; [`parse`](crate::parse) leaves it as written.
    pub kernel: Option<PathBuf>,
    /// Limit for one guest boot: boot plus all workloads.
    pub timeout_s: u64,
}

impl Default for GuestSpec {
    fn default() -> Self {
        GuestSpec {
            vcpus: 1,
            memory_mib: 512,
            kernel: None,
            timeout_s: 600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    pub name: String,
    /// Serialized flat, as in the spec file: `{"name": "kvm", "driver": "qemu", "accel": ...}`.
    #[serde(flatten)]
    pub driver: Driver,
    /// Run inside hvbench's emulated lab host (a Xen or KVM host nested under QEMU's TCG)
    /// rather than on this machine. Only for the `qemu` and `xen` drivers.
    #[serde(default)]
    pub lab: bool,
    /// The name of the [`crate::HostSpec`] (`[[host]]`) this platform runs on, over SSH;
    /// `None`: this machine. Never with `lab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The boot entry of its host ([`crate::BootEntry`]) the host must be booted into while
    /// this platform runs: given as `boot = "NAME"`, or inferred from the driver when the host
    /// has boot entries. `None` exactly when the host has none (or there is no host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
}

impl PlatformSpec {
    /// Whether this platform boots a guest (everything but the bare host).
    pub fn is_vm(&self) -> bool {
        self.driver.is_vm()
    }

    /// Whether this platform runs on another machine, over SSH.
    pub fn is_remote(&self) -> bool {
        self.host.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Driver {
    /// The agent as a plain process on this machine: the bare-metal baseline.
    Host,
    /// A guest under `qemu-system-x86_64`.
    Qemu(QemuSpec),
    /// A Xen domain created with `xl`.
    Xen(XenSpec),
    /// A transient libvirt domain (KVM/QEMU or Xen's libxl), created with `virsh`.
    Libvirt(LibvirtSpec),
}

impl Driver {
    /// The name used in spec files: `host`, `qemu`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Driver::Host => "host",
            Driver::Qemu(_) => "qemu",
            Driver::Xen(_) => "xen",
            Driver::Libvirt(_) => "libvirt",
        }
    }

    pub fn is_vm(&self) -> bool {
        !matches!(self, Driver::Host)
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuSpec {
    pub accel: Accel,
    /// `-machine`; default `q35`.
    pub machine: String,
    /// `-cpu`; `None`: `host` with kvm, `max` with tcg (decided once the accelerator is known).
    pub cpu: Option<String>,
    /// The cache mode of the scratch disk given to disk workloads (`-drive cache=`).
    #[serde(default)]
    pub disk_cache: DiskCache,
    /// How the guest's network is made: a tap device on a bridge, or QEMU's user network.
    #[serde(default)]
    pub net: NetMode,
    /// Host CPUs for the vCPU threads, e.g. "1" or "0-1": vCPU i is pinned to the i-th CPU of
    /// the list (round robin), with the thread ids QEMU reports over QMP.
    #[serde(default)]
    pub cpus: Option<String>,
}

impl Default for QemuSpec {
    fn default() -> Self {
        QemuSpec {
            accel: Accel::Auto,
            machine: "q35".to_string(),
            cpu: None,
            disk_cache: DiskCache::default(),
            net: NetMode::default(),
            cpus: None,
        }
    }
}

/// A CPU list such as "1", "0-3" or "0,2-3" as CPU numbers, in order; `None` if malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b >= 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                let n: usize = part.parse().ok()?;
                if n >= 4096 {
                    return None;
                }
                out.push(n);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// QEMU's block cache modes (`-drive cache=`): whether the host's page cache holds guest
/// writes, and whether the guest sees a volatile write cache it must flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskCache {
    /// O_DIRECT on the host, a write cache the guest flushes: what clouds use.
    #[default]
    None,
    /// The host's page cache, flushed when the guest flushes.
    Writeback,
    /// The host's page cache, every write synchronous.
    Writethrough,
    /// O_DIRECT and every write synchronous.
    Directsync,
    /// The host's page cache, guest flushes ignored (fast, unsafe on a host crash).
    Unsafe,
}

impl DiskCache {
    pub const ALL: [DiskCache; 5] = [
        DiskCache::None,
        DiskCache::Writeback,
        DiskCache::Writethrough,
        DiskCache::Directsync,
        DiskCache::Unsafe,
    ];

    /// The spelling of the spec file and of QEMU's `cache=`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskCache::None => "none",
            DiskCache::Writeback => "writeback",
            DiskCache::Writethrough => "writethrough",
            DiskCache::Directsync => "directsync",
            DiskCache::Unsafe => "unsafe",
        }
    }

    pub fn from_name(name: &str) -> Option<DiskCache> {
        DiskCache::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether QEMU opens the image with O_DIRECT, which the image's file system must support.
    pub fn uses_o_direct(self) -> bool {
        matches!(self, DiskCache::None | DiskCache::Directsync)
    }
}

impl fmt::Display for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a QEMU guest's network is made (the `net` key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// A tap device on a bridge in a network namespace made for the trial (with vhost-net where
    /// KVM and /dev/vhost-net allow), falling back to QEMU's user network (slirp) where a tap
    /// cannot be set up; the facts say which ran.
    #[default]
    Auto,
    /// A tap device on a bridge; refused (the trial fails with a message) where it cannot be
    /// set up.
    Tap,
    /// QEMU's user network (slirp), whose figures measure QEMU's slirp rather than the
    /// hypervisor.
    User,
}

impl NetMode {
    pub const ALL: [NetMode; 3] = [NetMode::Auto, NetMode::Tap, NetMode::User];

    /// The spelling of the spec file.
    pub fn as_str(self) -> &'static str {
        match self {
            NetMode::Auto => "auto",
            NetMode::Tap => "tap",
            NetMode::User => "user",
        }
    }

    pub fn from_name(name: &str) -> Option<NetMode> {
        NetMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl QemuSpec {
    /// The `-cpu` model for the accelerator that actually runs.
    pub fn cpu_for(&self, kvm: bool) -> &str {
        match &self.cpu {
            Some(cpu) => cpu,
            None if kvm => "host",
            None => "max",
        }
    }
}

/// The hypervisor a libvirt platform's domain runs on: libvirt's QEMU driver (KVM, or TCG
/// where KVM cannot run) or its libxl driver (Xen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LibvirtHypervisor {
    Kvm,
    Xen,
}

impl LibvirtHypervisor {
    pub const ALL: [LibvirtHypervisor; 2] = [LibvirtHypervisor::Kvm, LibvirtHypervisor::Xen];

    pub fn as_str(self) -> &'static str {
        match self {
            LibvirtHypervisor::Kvm => "kvm",
            LibvirtHypervisor::Xen => "xen",
        }
    }

    /// libvirt's connection URI for the system instance of this hypervisor's driver.
    pub fn default_uri(self) -> &'static str {
        match self {
            LibvirtHypervisor::Kvm => "qemu:///system",
            LibvirtHypervisor::Xen => "xen:///system",
        }
    }
}

impl fmt::Display for LibvirtHypervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A guest managed by libvirt: the same kernel, initramfs, vCPUs and memory as the direct
/// drivers' guests, as a transient domain whose XML hvbench writes; whatever this does not
/// set is libvirt's default (docs/architecture.md, "The libvirt driver").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibvirtSpec {
    pub hypervisor: LibvirtHypervisor,
    /// `kvm` only: `<domain type='kvm'>` or, under TCG, `type='qemu'`; `auto` takes KVM where
    /// it can run an ordinary guest.
    #[serde(default = "accel_auto")]
    pub accel: Accel,
    /// `xen` only: the guest type (PV by default: libvirt's `linux` OS type).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub xen_type: Option<XenGuestType>,
    /// The connection URI; `None`: [`LibvirtHypervisor::default_uri`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `kvm` only: the CPU, as `host-passthrough`, `host-model` or a libvirt CPU model name;
    /// `None`: no `<cpu>` element, libvirt's (and QEMU's) default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Host CPUs for the vCPUs (`<cputune><vcpupin>`, vCPU i on the i-th CPU of the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
}

fn accel_auto() -> Accel {
    Accel::Auto
}

impl LibvirtSpec {
    pub fn new(hypervisor: LibvirtHypervisor) -> Self {
        LibvirtSpec {
            hypervisor,
            accel: Accel::Auto,
            xen_type: None,
            uri: None,
            cpu: None,
            cpus: None,
        }
    }

    /// The URI hvbench connects to.
    pub fn uri(&self) -> &str {
        self.uri
            .as_deref()
            .unwrap_or_else(|| self.hypervisor.default_uri())
    }

    /// The Xen guest type that runs (`xen` only).
    pub fn xen_type(&self) -> XenGuestType {
        self.xen_type.unwrap_or(XenGuestType::Pv)
    }
}

/// A Xen guest: its type, and how its vCPUs are placed and weighted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XenSpec {
    #[serde(rename = "type")]
    pub kind: XenGuestType,
    /// Hard affinity of every vCPU (xl.cfg `cpus=`), e.g. "1" or "0-1"; applied with the domain.
    pub cpus: Option<String>,
    /// credit2 weight (1..=65535, Xen's default 256) and cap (% of one CPU, 0 = none).
    pub weight: Option<u32>,
    pub cap: Option<u32>,
    /// xl.cfg `tsc_mode=`: how the guest's TSC reads are served (xen-tscmode(7)); `None`: not
    /// written, Xen's own default. Plans stored before the key existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_mode: Option<TscMode>,
}

impl Default for XenSpec {
    fn default() -> Self {
        XenSpec {
            kind: XenGuestType::Pvh,
            cpus: None,
            weight: None,
            cap: None,
            tsc_mode: None,
        }
    }
}

/// Xen's TSC modes (xl.cfg(5) `tsc_mode`, xen-tscmode(7)): whether the guest's `rdtsc` runs
/// natively or traps to Xen to be emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TscMode {
    /// Native where the TSC is safe to expose (invariant, not migrated), else emulated.
    Default,
    /// Every TSC read traps and is emulated.
    AlwaysEmulate,
    /// Every TSC read is native, whatever the hardware's TSC.
    Native,
    /// Native TSC reads, Xen keeping `TSC_AUX` so that a pvclock-aware guest can adjust after a
    /// restore or migration. Not every Xen still accepts it: where `xl` refuses it, the trial
    /// fails with xl's message.
    NativeParavirt,
}

impl TscMode {
    pub const ALL: [TscMode; 4] = [
        TscMode::Default,
        TscMode::AlwaysEmulate,
        TscMode::Native,
        TscMode::NativeParavirt,
    ];

    /// The spelling of the spec file and of xl.cfg.
    pub fn as_str(self) -> &'static str {
        match self {
            TscMode::Default => "default",
            TscMode::AlwaysEmulate => "always_emulate",
            TscMode::Native => "native",
            TscMode::NativeParavirt => "native_paravirt",
        }
    }

    pub fn from_name(name: &str) -> Option<TscMode> {
        TscMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for TscMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Xen's guest types: paravirtualized, PVH (a PV kernel in an HVM container, needs VMX/SVM and
/// HAP), fully virtualized HVM (needs a device model in dom0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XenGuestType {
    Pv,
    Pvh,
    Hvm,
}

impl XenGuestType {
    pub const ALL: [XenGuestType; 3] = [XenGuestType::Pv, XenGuestType::Pvh, XenGuestType::Hvm];

    pub fn as_str(self) -> &'static str {
        match self {
            XenGuestType::Pv => "pv",
            XenGuestType::Pvh => "pvh",
            XenGuestType::Hvm => "hvm",
        }
    }

    pub fn from_name(name: &str) -> Option<XenGuestType> {
        XenGuestType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM where `/dev/kvm` is usable, else TCG; the report says which ran.
    Auto,
    Kvm,
    Tcg,
}

impl Accel {
    pub const ALL: [Accel; 3] = [Accel::Auto, Accel::Kvm, Accel::Tcg];

    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    pub fn from_name(name: &str) -> Option<Accel> {
        Accel::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
