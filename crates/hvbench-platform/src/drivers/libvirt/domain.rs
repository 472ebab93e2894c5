//! The domain XML of a libvirt platform's guest: [`DomainConfig`] and [`domain_xml`], a pure
//! function from it to the XML given to `virsh create`, with the tests that pin it down.
//!
//! The XML asks for what makes the guest the same guest as the direct drivers' (kernel,
//! initramfs, command line, vCPUs, memory, the scratch and tools disks, the console) and
//! nothing else: the machine type, CPU model (unless the platform names one), disk cache and
//! every other device setting are libvirt's defaults, which the platform records as facts
//! (docs/architecture.md, "The libvirt driver").

use hvbench_spec::XenGuestType;
use std::fmt::Write as _;
use std::path::PathBuf;

/// libvirt's `<domain type=...>`: which hypervisor driver runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainKind {
    /// QEMU with KVM (`type='kvm'`).
    Kvm,
    /// QEMU's TCG, software emulation (`type='qemu'`).
    Tcg,
    /// Xen through libxl (`type='xen'`), of this guest type.
    Xen(XenGuestType),
}

impl DomainKind {
    /// The `type` attribute of `<domain>`.
    pub fn domain_type(self) -> &'static str {
        match self {
            DomainKind::Kvm => "kvm",
            DomainKind::Tcg => "qemu",
            DomainKind::Xen(_) => "xen",
        }
    }

    /// The `<os><type>` of the guest.
    fn os_type(self) -> &'static str {
        match self {
            DomainKind::Kvm | DomainKind::Tcg | DomainKind::Xen(XenGuestType::Hvm) => "hvm",
            DomainKind::Xen(XenGuestType::Pv) => "linux",
            DomainKind::Xen(XenGuestType::Pvh) => "xenpvh",
        }
    }

    /// The guest's disks' bus and their names in order (scratch first, then tools).
    fn disk_targets(self) -> (&'static str, [&'static str; 2]) {
        match self {
            DomainKind::Kvm | DomainKind::Tcg => ("virtio", ["vda", "vdb"]),
            DomainKind::Xen(_) => ("xen", ["xvda", "xvdb"]),
        }
    }
}

/// Where the guest's first serial port (or Xen PV console) goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleConfig {
    /// A pair of named pipes `PATH.in` and `PATH.out` that hvbench made; it reads `PATH.out`.
    Pipe(PathBuf),
    /// libvirt's default pty, read with the toolstack's console command (Xen: `xl console`).
    Pty,
}

/// The guest's NIC, on the trial's bridge (docs/architecture.md, "The libvirt driver").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicConfig {
    /// QEMU: virtio-net on a tap hvbench made (`<interface type='ethernet'>` with
    /// `managed='no'`: libvirt opens it and changes nothing), with vhost-net under KVM.
    Tap { dev: String, vhost: bool },
    /// Xen: netfront, its vif in dom0 handed to this hotplug script (which puts it on the
    /// trial's bridge, as the xen driver's `vif` script does).
    Script(PathBuf),
}

/// Everything the domain XML depends on; [`domain_xml`] is a pure function of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    pub name: String,
    pub kind: DomainKind,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    /// `host-passthrough`, `host-model` or a model name; `None`: no `<cpu>` element.
    pub cpu: Option<String>,
    /// vCPU i on `pin[i % len]`, through `<cputune><vcpupin>`.
    pub pin: Option<Vec<usize>>,
    /// QEMU's threads other than the vCPUs on these CPUs (`<emulatorpin>`): an isolation
    /// instance's whole QEMU stays on its cell's CPUs, as the direct driver's process does.
    pub emulator_pin: Option<Vec<usize>>,
    /// The scratch disk (raw), for plans with disk workloads.
    pub disk: Option<PathBuf>,
    /// The tools tree's ext4 image, read-only, after the scratch disk.
    pub tools: Option<PathBuf>,
    pub console: ConsoleConfig,
    pub nic: Option<NicConfig>,
    /// A QMP socket of hvbench's own beside libvirt's monitor (QEMU only), for the evidence
    /// collector: `-qmp` through `<qemu:commandline>`, which libvirt marks as a taint.
    pub qmp: Option<PathBuf>,
}

/// `s` with XML's five special characters escaped, for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn path(p: &std::path::Path) -> String {
    escape(&p.to_string_lossy())
}

/// The domain XML for `virsh create`.
pub fn domain_xml(c: &DomainConfig) -> String {
    let mut x = String::new();
    let _ = write_domain(&mut x, c);
    x
}

fn write_domain(x: &mut String, c: &DomainConfig) -> std::fmt::Result {
    let qmp = c
        .qmp
        .as_ref()
        .filter(|_| matches!(c.kind, DomainKind::Kvm | DomainKind::Tcg));
    match qmp {
        Some(_) => writeln!(
            x,
            "<domain type='{}' xmlns:qemu='{QEMU_NS}'>",
            c.kind.domain_type()
        )?,
        None => writeln!(x, "<domain type='{}'>", c.kind.domain_type())?,
    }
    writeln!(x, "  <name>{}</name>", escape(&c.name))?;
    writeln!(x, "  <memory unit='MiB'>{}</memory>", c.memory_mib)?;
    writeln!(x, "  <vcpu>{}</vcpu>", c.vcpus)?;
    let pin = c.pin.as_ref().filter(|p| !p.is_empty());
    let emulator = c
        .emulator_pin
        .as_ref()
        .filter(|p| !p.is_empty() && matches!(c.kind, DomainKind::Kvm | DomainKind::Tcg));
    if pin.is_some() || emulator.is_some() {
        writeln!(x, "  <cputune>")?;
        if let Some(pin) = pin {
            for v in 0..c.vcpus as usize {
                writeln!(
                    x,
                    "    <vcpupin vcpu='{v}' cpuset='{}'/>",
                    pin[v % pin.len()]
                )?;
            }
        }
        if let Some(cpus) = emulator {
            writeln!(
                x,
                "    <emulatorpin cpuset='{}'/>",
                crate::isolation::placement::cpu_list(cpus)
            )?;
        }
        writeln!(x, "  </cputune>")?;
    }
    writeln!(x, "  <os>")?;
    match c.kind {
        // The machine type is libvirt's default for the emulator (q35 or pc, versioned).
        DomainKind::Kvm | DomainKind::Tcg => {
            writeln!(x, "    <type arch='x86_64'>{}</type>", c.kind.os_type())?
        }
        DomainKind::Xen(_) => writeln!(x, "    <type>{}</type>", c.kind.os_type())?,
    }
    writeln!(x, "    <kernel>{}</kernel>", path(&c.kernel))?;
    writeln!(x, "    <initrd>{}</initrd>", path(&c.initrd))?;
    writeln!(x, "    <cmdline>{}</cmdline>", escape(&c.cmdline))?;
    writeln!(x, "  </os>")?;
    match c.cpu.as_deref() {
        None => {}
        Some(mode @ ("host-passthrough" | "host-model")) => {
            writeln!(x, "  <cpu mode='{mode}'/>")?;
        }
        Some(model) => {
            writeln!(x, "  <cpu mode='custom' match='exact'>")?;
            writeln!(x, "    <model fallback='forbid'>{}</model>", escape(model))?;
            writeln!(x, "  </cpu>")?;
        }
    }
    // The guest powers off when the agent is done (and never reboots: a panic powers off too,
    // panic=-1 and no reboot), and a transient domain that is shut off is gone.
    writeln!(x, "  <on_poweroff>destroy</on_poweroff>")?;
    writeln!(x, "  <on_reboot>destroy</on_reboot>")?;
    writeln!(x, "  <on_crash>destroy</on_crash>")?;
    if matches!(c.kind, DomainKind::Kvm | DomainKind::Tcg) {
        // QEMU runs as root and nothing is relabelled, as the direct driver's QEMU: the kernel,
        // initramfs and images stay in hvbench's private (0700) directories.
        writeln!(
            x,
            "  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>"
        )?;
    }
    writeln!(x, "  <devices>")?;
    let (bus, names) = c.kind.disk_targets();
    let disks = [(c.disk.as_ref(), false), (c.tools.as_ref(), true)];
    for (i, (file, readonly)) in disks
        .into_iter()
        .filter_map(|(f, ro)| f.map(|f| (f, ro)))
        .enumerate()
    {
        writeln!(x, "    <disk type='file' device='disk'>")?;
        // QEMU's block layer on both: for Xen that is libxl's qdisk back-end, as the xen
        // driver's scratch disk has (libxl's default for a file, its `block` hotplug script
        // on a loop device, waits for udev, which the lab host does not run).
        writeln!(x, "      <driver name='qemu' type='raw'/>")?;
        writeln!(x, "      <source file='{}'/>", path(file))?;
        writeln!(x, "      <target dev='{}' bus='{bus}'/>", names[i])?;
        if readonly {
            writeln!(x, "      <readonly/>")?;
        }
        writeln!(x, "    </disk>")?;
    }
    match &c.nic {
        None => {}
        Some(NicConfig::Tap { dev, vhost }) => {
            writeln!(x, "    <interface type='ethernet'>")?;
            writeln!(x, "      <target dev='{}' managed='no'/>", escape(dev))?;
            writeln!(x, "      <model type='virtio'/>")?;
            if *vhost {
                writeln!(x, "      <driver name='vhost'/>")?;
            }
            writeln!(x, "    </interface>")?;
        }
        Some(NicConfig::Script(script)) => {
            writeln!(x, "    <interface type='ethernet'>")?;
            writeln!(x, "      <script path='{}'/>", path(script))?;
            writeln!(x, "    </interface>")?;
        }
    }
    match &c.console {
        ConsoleConfig::Pipe(p) => {
            writeln!(x, "    <serial type='pipe'>")?;
            writeln!(x, "      <source path='{}'/>", path(p))?;
            writeln!(x, "      <target port='0'/>")?;
            writeln!(x, "    </serial>")?;
        }
        ConsoleConfig::Pty => match c.kind {
            DomainKind::Xen(XenGuestType::Pv | XenGuestType::Pvh) => writeln!(
                x,
                "    <console type='pty'><target type='xen' port='0'/></console>"
            )?,
            _ => writeln!(x, "    <serial type='pty'><target port='0'/></serial>")?,
        },
    }
    writeln!(x, "  </devices>")?;
    if let Some(socket) = qmp {
        writeln!(x, "  <qemu:commandline>")?;
        writeln!(x, "    <qemu:arg value='-qmp'/>")?;
        writeln!(
            x,
            "    <qemu:arg value='unix:{},server=on,wait=off'/>",
            path(socket)
        )?;
        writeln!(x, "  </qemu:commandline>")?;
    }
    writeln!(x, "</domain>")
}

/// libvirt's namespace for QEMU command-line passthrough (formatdomain.html, "QEMU command-line
/// passthrough").
const QEMU_NS: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

#[cfg(test)]
mod tests {
    use super::*;

    fn kvm() -> DomainConfig {
        DomainConfig {
            name: "hvbench-lv-1-1".into(),
            kind: DomainKind::Tcg,
            vcpus: 2,
            memory_mib: 384,
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/guest.cpio.gz".into(),
            cmdline: "console=ttyS0 panic=-1 quiet loglevel=3".into(),
            cpu: None,
            pin: None,
            emulator_pin: None,
            disk: None,
            tools: None,
            console: ConsoleConfig::Pipe("/t/console".into()),
            nic: None,
            qmp: None,
        }
    }

    #[test]
    fn a_tcg_guest_with_libvirts_defaults() {
        let xml = domain_xml(&kvm());
        assert_eq!(
            xml,
            "<domain type='qemu'>
  <name>hvbench-lv-1-1</name>
  <memory unit='MiB'>384</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>/c/vmlinuz</kernel>
    <initrd>/c/guest.cpio.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet loglevel=3</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
  <devices>
    <serial type='pipe'>
      <source path='/t/console'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"
        );
    }

    #[test]
    fn disks_cpu_and_pinning() {
        let mut c = kvm();
        c.kind = DomainKind::Kvm;
        c.cpu = Some("EPYC".into());
        c.pin = Some(vec![1]);
        c.disk = Some("/s/hvbench-lv-1-1.raw".into());
        c.tools = Some("/cache/tools & more.img".into());
        let xml = domain_xml(&c);
        assert!(xml.starts_with("<domain type='kvm'>"), "{xml}");
        assert!(xml.contains(
            "  <cputune>\n    <vcpupin vcpu='0' cpuset='1'/>\n    <vcpupin vcpu='1' cpuset='1'/>\n  </cputune>\n"
        ));
        assert!(xml.contains(
            "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>EPYC</model>\n  </cpu>\n"
        ));
        let scratch = xml.find("<source file='/s/hvbench-lv-1-1.raw'/>").unwrap();
        let tools = xml
            .find("<source file='/cache/tools &amp; more.img'/>")
            .unwrap();
        assert!(scratch < tools, "the scratch disk stays vda");
        assert!(xml.contains("<target dev='vda' bus='virtio'/>\n    </disk>"));
        assert!(xml.contains("<target dev='vdb' bus='virtio'/>\n      <readonly/>"));
        c.cpu = Some("host-passthrough".into());
        assert!(domain_xml(&c).contains("  <cpu mode='host-passthrough'/>\n"));
        c.emulator_pin = Some(vec![2, 1]);
        assert!(domain_xml(&c).contains(
            "    <vcpupin vcpu='1' cpuset='1'/>\n    <emulatorpin cpuset='1-2'/>\n  </cputune>\n"
        ));
    }

    /// The NIC on the trial's bridge: a tap hvbench made, opened by libvirt as it is, with
    /// vhost-net under KVM; for Xen, the vif's hotplug script.
    #[test]
    fn nics() {
        let mut c = kvm();
        c.kind = DomainKind::Kvm;
        c.nic = Some(NicConfig::Tap {
            dev: "hvl42-1".into(),
            vhost: true,
        });
        assert!(domain_xml(&c).contains(
            "    <interface type='ethernet'>\n      <target dev='hvl42-1' managed='no'/>\n      \
             <model type='virtio'/>\n      <driver name='vhost'/>\n    </interface>\n    <serial"
        ));
        c.kind = DomainKind::Xen(XenGuestType::Pv);
        c.nic = Some(NicConfig::Script("/w/vif-hook".into()));
        assert!(domain_xml(&c).contains(
            "    <interface type='ethernet'>\n      <script path='/w/vif-hook'/>\n    </interface>\n"
        ));
    }

    /// Evidence: hvbench's own QMP socket through libvirt's QEMU passthrough; never on Xen.
    #[test]
    fn a_qmp_socket_of_its_own_for_evidence() {
        let mut c = kvm();
        c.qmp = Some("/d/1.qmp".into());
        let xml = domain_xml(&c);
        assert!(xml.starts_with(
            "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        ));
        assert!(xml.ends_with(
            "  </devices>\n  <qemu:commandline>\n    <qemu:arg value='-qmp'/>\n    \
             <qemu:arg value='unix:/d/1.qmp,server=on,wait=off'/>\n  </qemu:commandline>\n</domain>\n"
        ));
        c.kind = DomainKind::Xen(XenGuestType::Pv);
        c.emulator_pin = Some(vec![1]);
        let xml = domain_xml(&c);
        assert!(
            !xml.contains("qemu:") && !xml.contains("emulatorpin"),
            "{xml}"
        );
    }

    #[test]
    fn xen_guest_types() {
        let mut c = kvm();
        c.cmdline = "console=hvc0 panic=-1 quiet loglevel=3".into();
        c.console = ConsoleConfig::Pty;
        c.tools = Some("/t.img".into());
        for (t, os) in [
            (XenGuestType::Pv, "<type>linux</type>"),
            (XenGuestType::Pvh, "<type>xenpvh</type>"),
        ] {
            c.kind = DomainKind::Xen(t);
            let xml = domain_xml(&c);
            assert!(xml.starts_with("<domain type='xen'>"), "{xml}");
            assert!(xml.contains(os), "{xml}");
            assert!(xml.contains("<target dev='xvda' bus='xen'/>"), "{xml}");
            assert!(!xml.contains("seclabel"));
            assert!(xml.contains("<driver name='qemu' type='raw'/>"), "{xml}");
            assert!(xml.contains("<console type='pty'><target type='xen' port='0'/></console>"));
        }
        c.kind = DomainKind::Xen(XenGuestType::Hvm);
        let xml = domain_xml(&c);
        assert!(xml.contains("<type>hvm</type>") && xml.contains("<serial type='pty'>"));
    }

    #[test]
    fn names_and_text_are_escaped() {
        let mut c = kvm();
        c.cmdline = "a<b & 'c'".into();
        let xml = domain_xml(&c);
        assert!(
            xml.contains("<cmdline>a&lt;b &amp; &apos;c&apos;</cmdline>"),
            "{xml}"
        );
    }
}
