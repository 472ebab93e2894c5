//! The `[guest]` table and the `[[platform]]` tables: drivers and their keys (host, qemu,
//! xen), the lab flag, CPU pinning, and the checks across platforms (unique names, a guest
//! for every VM platform).

use super::rules::{MEMORY_MIB, TIMEOUT_S, VCPUS};
use super::{did_you_mean, got, one_of, sanitize, Validator};
use crate::diag::Span;
use crate::tree::{Kind, Table};
use crate::{
    Accel, DiskCache, Driver, GuestSpec, LibvirtHypervisor, LibvirtSpec, NetMode, PlatformSpec,
    QemuSpec, TscMode, XenGuestType, XenSpec,
};
use std::collections::HashMap;
use std::path::PathBuf;

const GUEST_KEYS: &[&str] = &["vcpus", "memory_mib", "kernel", "timeout_s"];
const PLATFORM_KEYS: &[&str] = &["name", "driver", "host", "boot"];
/// Keys every VM platform takes, whatever its driver.
const VM_KEYS: &[&str] = &["lab", "cpus"];
const QEMU_KEYS: &[&str] = &["accel", "machine", "cpu", "disk_cache", "net"];
const XEN_KEYS: &[&str] = &["type", "weight", "cap", "tsc_mode"];
const LIBVIRT_KEYS: &[&str] = &["hypervisor", "accel", "type", "uri", "cpu"];
const DRIVERS: &[&str] = &["host", "qemu", "xen", "libvirt"];
/// Drivers that are planned but not built yet.
const FUTURE_DRIVERS: &[&str] = &["ssh"];

/// A platform as far as it could be read, for the checks across platforms.
pub(super) struct PlatformSeen {
    pub(super) name: Option<(String, Span)>,
    /// The `driver` value's span, when the driver boots a guest.
    pub(super) vm_driver: Option<Span>,
    /// `host = "NAME"` with the value's span, checked against the `[[host]]`s later.
    pub(super) host: Option<(String, Span)>,
    /// `boot = "NAME"` with the value's and the key's spans, checked against the host's boot
    /// entries later (`check_platform_boots`, which also sets the spec's `boot`).
    pub(super) boot: Option<(String, Span, Span)>,
    /// `lab = true` was written.
    pub(super) lab: bool,
    pub(super) spec: Option<PlatformSpec>,
}

/// The guest as far as it could be read.
pub(super) struct GuestSeen {
    pub(super) spec: GuestSpec,
    present: bool,
    /// `memory_mib` is valid (given or default) and can be compared with workload needs.
    pub(super) memory_ok: bool,
}

pub(super) fn platform_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn machine_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Why `uri` cannot be a libvirt URI of `hypervisor`'s driver, or `None`.
fn uri_problem(uri: &str, hypervisor: LibvirtHypervisor) -> Option<String> {
    if uri.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must be a URI without spaces".into());
    }
    let Some((scheme, _)) = uri.split_once("://") else {
        return Some("must be a URI such as driver:///system".into());
    };
    let driver = scheme.split('+').next().unwrap_or("");
    let fits = match hypervisor {
        LibvirtHypervisor::Kvm => driver == "qemu",
        LibvirtHypervisor::Xen => driver == "xen" || driver == "libxl",
    };
    (!fits).then(|| format!("names libvirt's `{driver}` driver, not the {hypervisor} one"))
}

fn cpu_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ',' | '+' | '=')
}

impl Validator<'_> {
    pub(super) fn guest(&mut self, root: &Table) -> GuestSeen {
        let mut seen = GuestSeen {
            spec: GuestSpec::default(),
            present: false,
            memory_ok: true,
        };
        let Some(e) = root.get("guest") else {
            return seen;
        };
        seen.present = true;
        let Kind::Table(t) = &e.value.kind else {
            self.sink.error(
                &e.value.span,
                format!("`guest` must be a table, got {}", got(&e.value.kind)),
                "write a [guest] table with vcpus, memory_mib, kernel and timeout_s",
            );
            return seen;
        };
        self.unknown_keys(t, GUEST_KEYS, "[guest]");
        seen.spec.vcpus = self.int(t, &VCPUS) as u32;
        let before = self.sink_len();
        seen.spec.memory_mib = self.int(t, &MEMORY_MIB) as u64;
        seen.memory_ok = self.sink_len() == before;
        seen.spec.timeout_s = self.int(t, &TIMEOUT_S) as u64;
        if let Some(k) = t.get("kernel") {
            if let Some((path, span)) = self.string(k, "/boot/vmlinuz") {
                if path.trim().is_empty() {
                    self.sink.error(
                        span,
                        "`kernel` is empty",
                        "give the path of a kernel image, or remove `kernel` to use Debian's \
                         cloud kernel",
                    );
                } else {
                    let mut path = PathBuf::from(path);
                    if let Some(base) = self.base {
                        if path.is_relative() {
                            path = base.join(path);
                        }
                        if !path.is_file() {
                            self.sink.error(
                                span,
                                format!("guest kernel `{}` is not a file", path.display()),
                                "give the path of a kernel image (a relative path is relative to \
                                 the experiment file), or remove `kernel` to use Debian's cloud \
                                 kernel",
                            );
                        }
                    }
                    seen.spec.kernel = Some(path);
                }
            }
        }
        seen
    }

    pub(super) fn platform(&mut self, t: &Table, span: &Span) -> PlatformSeen {
        let mut seen = PlatformSeen {
            name: self.platform_name(t, span),
            vm_driver: None,
            host: None,
            boot: None,
            lab: false,
            spec: None,
        };

        // `host = "NAME"`: which machine; `None` after a wrong type.
        let host = match t.get("host") {
            None => Some(None),
            Some(e) => self
                .string(e, "xenbox")
                .map(|(h, hspan)| Some((h.to_string(), hspan.clone()))),
        };
        seen.host = host.clone().flatten();
        let host = host.map(|h| h.map(|(name, _)| name));
        seen.lab = t
            .get("lab")
            .is_some_and(|e| matches!(e.value.kind, Kind::Bool(true)));
        // `boot = "NAME"`: which boot entry of the host; checked once the hosts are read.
        let boot_ok = match t.get("boot") {
            None => true,
            Some(e) => match self.string(e, "xen") {
                Some((b, bspan)) => {
                    seen.boot = Some((b.to_string(), bspan.clone(), e.key_span.clone()));
                    true
                }
                None => false,
            },
        };
        let host = if boot_ok { host } else { None };

        let all_keys: Vec<&str> = PLATFORM_KEYS
            .iter()
            .chain(VM_KEYS)
            .chain(QEMU_KEYS)
            .chain(XEN_KEYS)
            .chain(LIBVIRT_KEYS)
            .copied()
            .collect();
        let driver = match t.get("driver") {
            None => {
                self.sink.error(
                    span,
                    "this [[platform]] has no `driver`",
                    format!(
                        "add driver = \"host\" or driver = \"qemu\"{}",
                        match &seen.name {
                            Some((n, _)) => format!(" to platform `{n}`"),
                            None => String::new(),
                        }
                    ),
                );
                self.unknown_keys(t, &all_keys, "[[platform]]");
                return seen;
            }
            Some(e) => match self.string(e, "qemu") {
                None => return seen,
                Some((d, dspan)) => (d, dspan),
            },
        };
        let (driver, driver_span) = driver;
        let name = seen.name.as_ref().map(|(n, _)| n.as_str());
        match driver {
            "host" => seen.spec = self.host_platform(t, name, host),
            "qemu" => {
                seen.vm_driver = Some(driver_span.clone());
                seen.spec = self.qemu_platform(t, name, host);
            }
            "xen" => {
                seen.vm_driver = Some(driver_span.clone());
                seen.spec = self.xen_platform(t, name, host);
            }
            "libvirt" => {
                seen.vm_driver = Some(driver_span.clone());
                seen.spec = self.libvirt_platform(t, name, host, span);
            }
            d => self.unsupported_driver(d, driver_span),
        }
        seen
    }

    /// The platform's `name`, or `None` (reported) when it is missing or not a valid name.
    fn platform_name(&mut self, t: &Table, span: &Span) -> Option<(String, Span)> {
        let mut name = None;
        match t.get("name") {
            None => self.sink.error(
                span,
                "this [[platform]] has no `name`",
                "add a unique name, e.g. name = \"kvm\" (lowercase letters, digits and `-`)",
            ),
            Some(e) => {
                if let Some((s, span)) = self.string(e, "kvm") {
                    if !s.is_empty() && s.chars().count() <= 64 && s.chars().all(platform_name_char)
                    {
                        name = Some((s.to_string(), span.clone()));
                    } else {
                        self.sink.error(
                            span,
                            format!(
                                "a platform `name` must be 1 to 64 lowercase letters, digits or \
                                 `-`, got {s:?}"
                            ),
                            format!(
                                "try name = \"{}\"",
                                sanitize(s, platform_name_char, true, 64)
                            ),
                        );
                    }
                }
            }
        }
        name
    }

    /// A `driver = "host"` platform's keys; its spec when they and its name and host are valid.
    fn host_platform(
        &mut self,
        t: &Table,
        name: Option<&str>,
        host: Option<Option<String>>,
    ) -> Option<PlatformSpec> {
        for e in &t.entries {
            let key = e.key.as_str();
            if PLATFORM_KEYS.contains(&key) {
                continue;
            }
            if QEMU_KEYS.contains(&key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` applies only to driver = \"qemu\", not \"host\""),
                    "remove it, or set driver = \"qemu\"",
                );
            } else if XEN_KEYS.contains(&key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` applies only to driver = \"xen\", not \"host\""),
                    "remove it: the host platform runs the agent as a plain process here; \
                     or set driver = \"xen\" to boot a Xen guest",
                );
            } else if VM_KEYS.contains(&key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` applies only to guests (driver = \"qemu\" or \"xen\"), not to \"host\""),
                    "remove it: the host platform runs the agent as a plain process here",
                );
            } else {
                self.unknown_key(e, PLATFORM_KEYS, "a host platform");
            }
        }
        if let (Some(name), Some(host)) = (name, host) {
            return Some(PlatformSpec {
                name: name.to_string(),
                driver: Driver::Host,
                lab: false,
                host,
                boot: None,
            });
        }
        None
    }

    /// A `driver = "qemu"` platform's keys; its spec when they and its name and host are valid.
    fn qemu_platform(
        &mut self,
        t: &Table,
        name: Option<&str>,
        host: Option<Option<String>>,
    ) -> Option<PlatformSpec> {
        self.wrong_driver_keys(t, XEN_KEYS, "xen", "qemu");
        let known: Vec<&str> = PLATFORM_KEYS
            .iter()
            .chain(VM_KEYS)
            .chain(QEMU_KEYS)
            .copied()
            .collect();
        self.unknown_keys_except(t, &known, XEN_KEYS, "a qemu platform");
        let lab = self.lab_here(t);
        let mut qemu = self.qemu(t);
        // The lab host keeps its files in memory (tmpfs), which refuses O_DIRECT: there the
        // scratch disk's default cache mode is writeback (docs/architecture.md, "The lab").
        if let (Some(q), Some(true), None) = (qemu.as_mut(), lab, t.get("disk_cache")) {
            q.disk_cache = DiskCache::Writeback;
        }
        if let (Some(name), Some(qemu), Some(lab), Some(host)) = (name, qemu, lab, host) {
            return Some(PlatformSpec {
                name: name.to_string(),
                driver: Driver::Qemu(qemu),
                lab,
                host,
                boot: None,
            });
        }
        None
    }

    /// A `driver = "xen"` platform's keys; its spec when they and its name and host are valid.
    fn xen_platform(
        &mut self,
        t: &Table,
        name: Option<&str>,
        host: Option<Option<String>>,
    ) -> Option<PlatformSpec> {
        self.wrong_driver_keys(t, QEMU_KEYS, "qemu", "xen");
        let known: Vec<&str> = PLATFORM_KEYS
            .iter()
            .chain(VM_KEYS)
            .chain(XEN_KEYS)
            .copied()
            .collect();
        self.unknown_keys_except(t, &known, QEMU_KEYS, "a xen platform");
        let lab = self.lab_here(t);
        let xen = self.xen(t);
        if let (Some(name), Some(xen), Some(lab), Some(host)) = (name, xen, lab, host) {
            return Some(PlatformSpec {
                name: name.to_string(),
                driver: Driver::Xen(xen),
                lab,
                host,
                boot: None,
            });
        }
        None
    }

    /// A `driver = "libvirt"` platform's keys; its spec when they and its name and host are
    /// valid.
    fn libvirt_platform(
        &mut self,
        t: &Table,
        name: Option<&str>,
        host: Option<Option<String>>,
        span: &Span,
    ) -> Option<PlatformSpec> {
        let known: Vec<&str> = PLATFORM_KEYS
            .iter()
            .chain(VM_KEYS)
            .chain(LIBVIRT_KEYS)
            .copied()
            .collect();
        self.unknown_keys(t, &known, "a libvirt platform");
        let lab = self.lab_here(t);
        let spec = self.libvirt(t, span);
        if let (Some(name), Some(spec), Some(lab), Some(host)) = (name, spec, lab, host) {
            return Some(PlatformSpec {
                name: name.to_string(),
                driver: Driver::Libvirt(spec),
                lab,
                host,
                boot: None,
            });
        }
        None
    }

    fn libvirt(&mut self, t: &Table, span: &Span) -> Option<LibvirtSpec> {
        let names = LibvirtHypervisor::ALL.map(LibvirtHypervisor::as_str);
        let hypervisor = match t.get("hypervisor") {
            None => {
                self.sink.error(
                    span,
                    "this libvirt platform has no `hypervisor`",
                    "add hypervisor = \"kvm\" (libvirt's QEMU driver) or hypervisor = \"xen\" \
                     (its libxl driver)",
                );
                return None;
            }
            Some(e) => {
                LibvirtHypervisor::ALL[self.choice(e, &names, |_, dym| {
                    format!(
                    "{dym}kvm: libvirt's QEMU driver (KVM, or TCG where KVM cannot run); xen: its \
                     libxl driver"
                )
                })?]
            }
        };
        let mut spec = LibvirtSpec::new(hypervisor);
        let mut ok = true;
        // Keys that belong to the other hypervisor.
        let (other, theirs): (&str, &[&str]) = match hypervisor {
            LibvirtHypervisor::Kvm => ("xen", &["type"]),
            LibvirtHypervisor::Xen => ("kvm", &["accel", "cpu"]),
        };
        for e in &t.entries {
            if theirs.contains(&e.key.as_str()) {
                self.sink.error(
                    &e.key_span,
                    format!(
                        "`{}` applies only to hypervisor = \"{other}\", not \"{hypervisor}\"",
                        e.key
                    ),
                    format!("remove it, or set hypervisor = \"{other}\""),
                );
                ok = false;
            }
        }
        if let (LibvirtHypervisor::Kvm, Some(e)) = (hypervisor, t.get("accel")) {
            let names = Accel::ALL.map(Accel::as_str);
            match self.choice(e, &names, |_, dym| {
                format!(
                    "{dym}kvm: <domain type='kvm'>; tcg: type='qemu' (software emulation); auto: \
                     kvm where /dev/kvm is usable, else tcg"
                )
            }) {
                Some(i) => spec.accel = Accel::ALL[i],
                None => ok = false,
            }
        }
        if let (LibvirtHypervisor::Kvm, Some(e)) = (hypervisor, t.get("cpu")) {
            match self.string(e, "host-passthrough") {
                None => ok = false,
                Some((c, cspan)) => {
                    if !c.is_empty() && c.chars().all(machine_char) {
                        spec.cpu = Some(c.to_string());
                    } else {
                        self.sink.error(
                            cspan,
                            format!(
                                "`cpu` must be host-passthrough, host-model or a libvirt CPU \
                                 model such as \"EPYC\", got {c:?}"
                            ),
                            "`virsh cpu-models x86_64` lists the models; leave `cpu` out for \
                             libvirt's default",
                        );
                        ok = false;
                    }
                }
            }
        }
        if let (LibvirtHypervisor::Xen, Some(e)) = (hypervisor, t.get("type")) {
            let names = XenGuestType::ALL.map(XenGuestType::as_str);
            match self.choice(e, &names, |_, dym| {
                format!(
                    "{dym}pv: libvirt's `linux` OS type (the default); pvh: `xenpvh`; hvm: full \
                     virtualization"
                )
            }) {
                Some(i) => spec.xen_type = Some(XenGuestType::ALL[i]),
                None => ok = false,
            }
        }
        if let Some(e) = t.get("uri") {
            match self.string(e, hypervisor.default_uri()) {
                None => ok = false,
                Some((u, uspan)) => match uri_problem(u, hypervisor) {
                    None => spec.uri = Some(u.to_string()),
                    Some(why) => {
                        self.sink.error(
                            uspan,
                            format!("`uri` {why}, got {u:?}"),
                            format!(
                                "a libvirt connection URI of the {} driver, e.g. \"{}\"; leave \
                                 `uri` out for that one",
                                match hypervisor {
                                    LibvirtHypervisor::Kvm => "QEMU",
                                    LibvirtHypervisor::Xen => "libxl",
                                },
                                hypervisor.default_uri()
                            ),
                        );
                        ok = false;
                    }
                },
            }
        }
        match self.cpus(t) {
            Some(c) => spec.cpus = c,
            None => ok = false,
        }
        ok.then_some(spec)
    }

    /// A driver hvbench does not run (yet), reported with what to write instead.
    fn unsupported_driver(&mut self, driver: &str, span: &Span) {
        match driver {
            "ssh" => self.sink.error(
                span,
                "the `ssh` driver is not yet supported: SSH is where a platform runs, not a driver",
                "declare the machine in a [[host]] table (name, ssh = \"user@address\") and set \
                 host = \"NAME\" on this platform, with driver = \"host\", \"qemu\" or \"xen\"",
            ),
            d if FUTURE_DRIVERS.contains(&d) => self.sink.error(
                span,
                format!("the `{d}` driver is not yet supported"),
                format!("use driver = \"host\" or \"qemu\" for now; `{d}` comes later"),
            ),
            d @ ("kvm" | "tcg") => self.sink.error(
                span,
                format!("unknown driver `{d}`"),
                format!(
                    "{d} is an accelerator of QEMU: write driver = \"qemu\" and accel = \"{d}\""
                ),
            ),
            d => self.sink.error(
                span,
                format!("unknown driver `{d}`"),
                format!(
                    "{}expected one of: {}",
                    did_you_mean(d, DRIVERS),
                    one_of(DRIVERS)
                ),
            ),
        }
    }

    /// Keys that belong to another driver, named as such.
    fn wrong_driver_keys(&mut self, t: &Table, keys: &[&str], owner: &str, this: &str) {
        for e in &t.entries {
            let key = e.key.as_str();
            if keys.contains(&key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` applies only to driver = \"{owner}\", not \"{this}\""),
                    format!("remove it, or set driver = \"{owner}\""),
                );
            }
        }
    }

    /// Unknown keys, leaving out those already reported as another driver's.
    fn unknown_keys_except(&mut self, t: &Table, known: &[&str], reported: &[&str], what: &str) {
        for e in &t.entries {
            let key = e.key.as_str();
            if !known.contains(&key) && !reported.contains(&key) {
                self.unknown_key(e, known, what);
            }
        }
    }

    /// `lab`, refused beside `host` (the lab runs on this machine); `None` after reporting.
    fn lab_here(&mut self, t: &Table) -> Option<bool> {
        let lab = self.lab(t)?;
        if let (true, Some(e)) = (lab, t.get("host")) {
            self.sink.error(
                &e.key_span,
                "`host` cannot go with lab = true",
                "the lab runs on this machine: remove `host` to run in the lab here, or remove \
                 lab = true to run on that machine (a [[host]] with lab = true is the emulated \
                 dual-boot lab machine)",
            );
            return None;
        }
        Some(lab)
    }

    /// `lab = true | false` (default false); `None` after reporting a wrong type.
    fn lab(&mut self, t: &Table) -> Option<bool> {
        self.flag(
            t,
            "lab",
            "lab = true runs this platform inside hvbench's emulated Xen/KVM host (`hvbench lab`)",
        )
    }

    /// `cpus = "0-1"`: the host CPUs a guest's vCPUs are pinned to. `Some(None)` when absent,
    /// `None` after reporting a bad value.
    fn cpus(&mut self, t: &Table) -> Option<Option<String>> {
        let Some(e) = t.get("cpus") else {
            return Some(None);
        };
        let (c, span) = self.string(e, "1")?;
        if crate::parse_cpu_list(c).is_some() {
            Some(Some(c.to_string()))
        } else {
            self.sink.error(
                span,
                format!("`cpus` must be a CPU list such as \"1\", \"0-1\" or \"0,2\", got {c:?}"),
                "the host CPUs the guest's vCPUs are pinned to (vCPU i on the i-th CPU of the list)",
            );
            None
        }
    }

    fn xen(&mut self, t: &Table) -> Option<XenSpec> {
        let mut spec = XenSpec::default();
        let mut ok = true;
        if let Some(e) = t.get("type") {
            match self.string(e, "pvh") {
                None => ok = false,
                Some((v, span)) => match XenGuestType::from_name(v) {
                    Some(k) => spec.kind = k,
                    None => {
                        self.sink.error(
                            span,
                            format!("`type` must be one of \"pv\", \"pvh\", \"hvm\", got {v:?}"),
                            "pv: paravirtualized; pvh: PV kernel in an HVM container (needs VMX/SVM); hvm: full emulation (needs qemu-system-xen in dom0)",
                        );
                        ok = false;
                    }
                },
            }
        }
        if let Some(e) = t.get("tsc_mode") {
            let names = TscMode::ALL.map(TscMode::as_str);
            match self.choice(e, &names, |_, dym| {
                format!(
                    "{dym}xl.cfg's tsc_mode (xen-tscmode(7)): default (native where the TSC is \
                     safe, else emulated), always_emulate (every TSC read traps to Xen), native \
                     (never emulated) or native_paravirt; leave it out for Xen's default"
                )
            }) {
                Some(i) => spec.tsc_mode = Some(TscMode::ALL[i]),
                None => ok = false,
            }
        }
        match self.cpus(t) {
            Some(c) => spec.cpus = c,
            None => ok = false,
        }
        for (key, min, max, hint) in [
            (
                "weight",
                1,
                65535,
                "credit2 weight: 1 to 65535, Xen's default is 256",
            ),
            ("cap", 0, 6400, "credit2 cap in % of one CPU (0 = no cap)"),
        ] {
            if let Some(e) = t.get(key) {
                match &e.value.kind {
                    Kind::Int(n) if (min..=max).contains(n) => {
                        let v = Some(*n as u32);
                        if key == "weight" {
                            spec.weight = v;
                        } else {
                            spec.cap = v;
                        }
                    }
                    other => {
                        self.sink.error(
                            &e.value.span,
                            format!(
                                "`{key}` must be an integer from {min} to {max}, got {}",
                                got(other)
                            ),
                            hint,
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(spec)
    }

    fn qemu(&mut self, t: &Table) -> Option<QemuSpec> {
        let mut spec = QemuSpec::default();
        let mut ok = true;
        if let Some(e) = t.get("accel") {
            let names = Accel::ALL.map(Accel::as_str);
            match self.choice(e, &names, |_, dym| {
                format!(
                    "{dym}auto uses kvm where /dev/kvm is usable, else tcg (software emulation)"
                )
            }) {
                Some(i) => spec.accel = Accel::ALL[i],
                None => ok = false,
            }
        }
        if let Some(e) = t.get("machine") {
            match self.string(e, "q35") {
                None => ok = false,
                Some((m, span)) => {
                    if !m.is_empty() && m.chars().all(machine_char) {
                        spec.machine = m.to_string();
                    } else {
                        self.sink.error(
                            span,
                            format!("`machine` must be a QEMU machine type such as \"q35\" or \"pc\", got {m:?}"),
                            "`qemu-system-x86_64 -machine help` lists them; the default is q35",
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some(e) = t.get("cpu") {
            match self.string(e, "max") {
                None => ok = false,
                Some((c, span)) => {
                    if !c.is_empty() && c.chars().all(cpu_char) {
                        spec.cpu = Some(c.to_string());
                    } else {
                        self.sink.error(
                            span,
                            format!("`cpu` must be a QEMU CPU model such as \"max\", \"host\" or \"EPYC,+svm\", got {c:?}"),
                            "`qemu-system-x86_64 -cpu help` lists them; leave `cpu` out for host \
                             with kvm and max with tcg",
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some(e) = t.get("disk_cache") {
            let names = DiskCache::ALL.map(DiskCache::as_str);
            match self.choice(e, &names, |_, dym| {
                format!(
                    "{dym}the scratch disk's QEMU cache mode: none (O_DIRECT on the host, the \
                     default) is what clouds use"
                )
            }) {
                Some(i) => spec.disk_cache = DiskCache::ALL[i],
                None => ok = false,
            }
        }
        if let Some(e) = t.get("net") {
            let names = NetMode::ALL.map(NetMode::as_str);
            match self.choice(e, &names, |v, dym| {
                let lead = if v == "slirp" {
                    "slirp is QEMU's user network: write net = \"user\"; ".to_string()
                } else {
                    dym
                };
                format!(
                    "{lead}the guest's network: auto (a tap device on a bridge, else QEMU's user \
                     network; the default), tap (a tap device or the trial fails) or user (QEMU's \
                     slirp, which measures slirp, not the hypervisor)"
                )
            }) {
                Some(i) => spec.net = NetMode::ALL[i],
                None => ok = false,
            }
        }
        match self.cpus(t) {
            Some(c) => spec.cpus = c,
            None => ok = false,
        }
        ok.then_some(spec)
    }

    pub(super) fn check_platforms(&mut self, platforms: &[PlatformSeen], guest: &GuestSeen) {
        let mut first: HashMap<&str, &Span> = HashMap::new();
        for p in platforms {
            if let Some((name, span)) = &p.name {
                if let Some(before) = first.get(name.as_str()) {
                    let line = self.sink.line_of(before);
                    self.sink.error(
                        span,
                        format!("duplicate platform name `{name}`"),
                        format!(
                            "`{name}` is already the name of the platform at line {line}; give \
                             each platform a unique name"
                        ),
                    );
                } else {
                    first.insert(name, span);
                }
            }
        }
        if !guest.present {
            if let Some(p) = platforms.iter().find(|p| p.vm_driver.is_some()) {
                let span = p.vm_driver.clone().unwrap_or_default();
                let which = match &p.name {
                    Some((n, _)) => format!("platform `{n}`"),
                    None => "this platform".to_string(),
                };
                self.sink.error(
                    &span,
                    format!("{which} boots a guest, but the experiment has no [guest] table"),
                    "add a [guest] table (vcpus, memory_mib, timeout_s); an empty [guest] takes \
                     the defaults: 1 vCPU, 512 MiB, timeout 600 s",
                );
            }
        }
    }
}
