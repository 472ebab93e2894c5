//! The xl config of a trial's domain (xl.cfg(5)): [`XlConfig`], everything it depends on, and
//! [`xl_config`], a pure function of it that quotes every string value and refuses what could
//! escape its string.

use hvbench_spec::{TscMode, XenGuestType};
use std::path::{Path, PathBuf};

/// The kernel command line of a Xen guest: the console is the PV console `hvc0` on PV and PVH,
/// the emulated serial port on HVM.
pub fn guest_extra(kind: XenGuestType) -> &'static str {
    match kind {
        XenGuestType::Hvm => "console=ttyS0 panic=-1 quiet loglevel=3",
        _ => "console=hvc0 panic=-1 quiet loglevel=3",
    }
}

/// Everything an xl config depends on; [`xl_config`] is a pure function of it.
#[derive(Debug, Clone, PartialEq)]
pub struct XlConfig {
    pub name: String,
    pub kind: XenGuestType,
    pub kernel: PathBuf,
    pub ramdisk: PathBuf,
    pub extra: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// `cpus=`: the physical CPUs every vCPU may run on (hard affinity), e.g. "1" or "0-1".
    pub cpus: Option<String>,
    /// credit2 weight and cap, applied with the domain.
    pub weight: Option<u32>,
    pub cap: Option<u32>,
    /// `tsc_mode=` (xl.cfg(5)); `None`: not written, Xen's default.
    pub tsc_mode: Option<TscMode>,
    /// A raw image given to the guest as `xvda` (blkback in dom0, blkfront in the guest).
    pub disk: Option<PathBuf>,
    /// The tools tree's ext4 image, for plans with general benchmarks: a second disk, after
    /// the scratch disk, read-only ([`tools_vdev`]).
    pub tools: Option<ToolsDisk>,
    /// A NIC (netfront in the guest, a vif of netback in dom0), whose vif this hotplug script
    /// puts on the trial's bridge ([`crate::trial::vnet::xen_vif_hook`]).
    pub vif_script: Option<PathBuf>,
}

/// The tools disk of a trial's domain: the image on a read-only loop device hvbench attached
/// (`crate::trial::loopmount`), served by blkback (`backendtype=phy`), with a hotplug script of
/// hvbench's ([`tools_disk_hook`]) instead of Xen's `block` script.
///
/// Not the qdisk back-end of the scratch disk: QEMU 7.2 (Debian 12's, in dom0) refuses a
/// read-only qdisk ("realization of device xen-disk failed: Block node is read-only"). Not
/// Xen's `block` script either: it sets up its own loop device and checks sharing across every
/// domain, which under the lab's emulation outlived libxl's hotplug timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsDisk {
    /// The loop device, e.g. `/dev/loop3`.
    pub device: PathBuf,
    /// The hotplug script, written for the trial.
    pub script: PathBuf,
}

/// The hotplug script xl runs (`add`, `remove`) for the tools disk on `device` (major and
/// minor numbers): it tells blkback which device to serve, as Xen's `block` script does for a
/// block device (`physical-device` as hex `major:minor`, and `hotplug-status`), in the backend
/// directory libxl passes in `$XENBUS_PATH`. Removing needs nothing: hvbench detaches the loop
/// device after the domain is destroyed.
pub fn tools_disk_hook(
    device: &Path,
    number: (u32, u32),
) -> std::result::Result<String, UnsafeValue> {
    let dev = device.to_string_lossy();
    let name = dev.strip_prefix("/dev/").unwrap_or("");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(UnsafeValue(dev.into_owned()));
    }
    let (major, minor) = number;
    Ok([
        "#!/bin/sh",
        "# hvbench: the hotplug script of a trial's read-only tools disk (xl-disk-configuration(5),",
        "# script=): the loop device hvbench attached for it, given to blkback as it is.",
        "[ \"$1\" = add ] || exit 0",
        &format!(
            "exec xenstore-write \"$XENBUS_PATH/physical-device\" {major:x}:{minor:x} \
             \"$XENBUS_PATH/physical-device-path\" {dev} \"$XENBUS_PATH/hotplug-status\" connected"
        ),
        "",
    ]
    .join("\n"))
}

/// The tools disk's virtual device: `xvdb`, after the scratch disk's `xvda`, on PV and PVH.
/// An HVM guest's `xvda` to `xvdd` are also emulated IDE disks, which qemu-xen cannot make
/// read-only (libxl refuses the domain), so there it is `xvde`, a PV disk only. Either way the
/// agent finds it by its label, and its disk workloads skip it: blkfront marks a disk that
/// blkback serves read-only as read-only (`/sys/block/xvdX/ro` = 1).
pub fn tools_vdev(kind: XenGuestType) -> &'static str {
    match kind {
        XenGuestType::Hvm => "xvde",
        _ => "xvdb",
    }
}

/// A value that cannot be written safely inside an xl config string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the value {0:?} cannot go into an xl config (quotes, backslashes and control characters are refused)")]
pub struct UnsafeValue(pub String);

/// Quote one xl config value. xl's config grammar has C-like strings; rather than escape, we
/// refuse what would need escaping, so that no value can end its string and add a key.
pub fn quote(v: &str) -> std::result::Result<String, UnsafeValue> {
    if v.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(UnsafeValue(v.to_string()));
    }
    Ok(format!("\"{v}\""))
}

/// The xl config text (xl.cfg(5)); every string value quoted.
pub fn xl_config(c: &XlConfig) -> std::result::Result<String, UnsafeValue> {
    let path = |p: &Path| quote(&p.to_string_lossy());
    let mut lines = vec![
        format!("name = {}", quote(&c.name)?),
        format!("type = {}", quote(c.kind.as_str())?),
        format!("kernel = {}", path(&c.kernel)?),
        format!("ramdisk = {}", path(&c.ramdisk)?),
        format!("extra = {}", quote(&c.extra)?),
        format!("memory = {}", c.memory_mib),
        format!("vcpus = {}", c.vcpus),
        "on_poweroff = \"destroy\"".to_string(),
        "on_reboot = \"destroy\"".to_string(),
        "on_crash = \"destroy\"".to_string(),
    ];
    if c.kind == XenGuestType::Hvm {
        // No display; the agent's console is the first emulated serial port, which xl console
        // reaches as the domain's serial console.
        lines.push("vnc = 0".to_string());
        lines.push("serial = \"pty\"".to_string());
    }
    if let Some(cpus) = &c.cpus {
        lines.push(format!("cpus = {}", quote(cpus)?));
    }
    if let Some(w) = c.weight {
        lines.push(format!("weight = {w}"));
    }
    if let Some(cap) = c.cap {
        lines.push(format!("cap = {cap}"));
    }
    if let Some(mode) = c.tsc_mode {
        lines.push(format!("tsc_mode = {}", quote(mode.as_str())?));
    }
    // xl-disk-configuration(5): target= must come last; the path may then hold commas. The
    // scratch disk comes first, so that it stays the guest's first writable disk.
    let mut disks = Vec::new();
    if let Some(d) = &c.disk {
        disks.push(quote(&format!(
            "format=raw, vdev=xvda, access=rw, backendtype=qdisk, target={}",
            d.to_string_lossy()
        ))?);
    }
    if let Some(t) = &c.tools {
        // Settings before target= split on commas, so the script's path may hold none.
        let script = t.script.to_string_lossy();
        if script.contains(',') || script.contains('=') {
            return Err(UnsafeValue(script.into_owned()));
        }
        disks.push(quote(&format!(
            "format=raw, vdev={}, access=ro, backendtype=phy, script={script}, target={}",
            tools_vdev(c.kind),
            t.device.to_string_lossy()
        ))?);
    }
    if !disks.is_empty() {
        lines.push(format!("disk = [ {} ]", disks.join(", ")));
    }
    if let Some(script) = &c.vif_script {
        // xl-network-configuration(5): settings split on commas, so the path may hold none.
        // type=vif: a PV NIC only, also on HVM (no emulated NIC beside it).
        let path = script.to_string_lossy();
        if path.contains(',') || path.contains('=') {
            return Err(UnsafeValue(path.into_owned()));
        }
        lines.push(format!(
            "vif = [ {} ]",
            quote(&format!("type=vif, script={path}"))?
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> XlConfig {
        XlConfig {
            name: "hvbench-xen-pv-1".into(),
            kind: XenGuestType::Pv,
            kernel: "/cache/vmlinuz".into(),
            ramdisk: "/cache/guest.cpio.gz".into(),
            extra: guest_extra(XenGuestType::Pv).into(),
            memory_mib: 512,
            vcpus: 1,
            cpus: None,
            weight: None,
            cap: None,
            tsc_mode: None,
            disk: None,
            tools: None,
            vif_script: None,
        }
    }

    /// The tools disk: read-only, after the scratch disk (which stays `xvda`, the first
    /// writable disk); alone when the plan has no disk workloads; `xvde` on HVM.
    #[test]
    fn xl_config_with_the_tools_disk_snapshot() {
        let mut c = config();
        c.disk = Some("/tmp/job/hvbench-xen-pv-1.raw".into());
        c.tools = Some(ToolsDisk {
            device: "/dev/loop3".into(),
            script: "/tmp/job/hvbench-xen-pv-1.tools.sh".into(),
        });
        assert_eq!(
            xl_config(&c).unwrap(),
            "name = \"hvbench-xen-pv-1\"\n\
             type = \"pv\"\n\
             kernel = \"/cache/vmlinuz\"\n\
             ramdisk = \"/cache/guest.cpio.gz\"\n\
             extra = \"console=hvc0 panic=-1 quiet loglevel=3\"\n\
             memory = 512\n\
             vcpus = 1\n\
             on_poweroff = \"destroy\"\n\
             on_reboot = \"destroy\"\n\
             on_crash = \"destroy\"\n\
             disk = [ \"format=raw, vdev=xvda, access=rw, backendtype=qdisk, \
             target=/tmp/job/hvbench-xen-pv-1.raw\", \"format=raw, vdev=xvdb, access=ro, \
             backendtype=phy, script=/tmp/job/hvbench-xen-pv-1.tools.sh, target=/dev/loop3\" ]\n"
        );
        c.disk = None;
        assert!(xl_config(&c).unwrap().ends_with(
            "disk = [ \"format=raw, vdev=xvdb, access=ro, backendtype=phy, \
             script=/tmp/job/hvbench-xen-pv-1.tools.sh, target=/dev/loop3\" ]\n"
        ));
        c.kind = XenGuestType::Pvh;
        assert!(xl_config(&c).unwrap().contains("vdev=xvdb, access=ro"));
        c.kind = XenGuestType::Hvm;
        assert!(xl_config(&c).unwrap().contains("vdev=xvde, access=ro"));
        // No tools, no second disk: the config of a plan without general benchmarks.
        c.tools = None;
        assert!(!xl_config(&c).unwrap().contains("\ndisk = "));
        for (device, script) in [
            ("/dev/loop\"3", "/tmp/x.sh"),
            ("/dev/loop3", "/tmp/a,b/x.sh"),
        ] {
            c.tools = Some(ToolsDisk {
                device: device.into(),
                script: script.into(),
            });
            assert!(xl_config(&c).is_err(), "{device} {script}");
        }
    }

    /// The hook tells blkback the loop device's numbers in hex, in the backend directory xl
    /// names, on `add` only; a device path that is not a plain `/dev/NAME` is refused.
    #[test]
    fn the_tools_disk_hook_hands_blkback_the_loop_device() {
        let hook = tools_disk_hook(Path::new("/dev/loop12"), (7, 12)).unwrap();
        assert!(hook.starts_with("#!/bin/sh\n"), "{hook}");
        assert!(hook.contains("[ \"$1\" = add ] || exit 0\n"), "{hook}");
        assert!(
            hook.ends_with(
                "exec xenstore-write \"$XENBUS_PATH/physical-device\" 7:c \
                 \"$XENBUS_PATH/physical-device-path\" /dev/loop12 \
                 \"$XENBUS_PATH/hotplug-status\" connected\n"
            ),
            "{hook}"
        );
        for bad in ["/dev/loop1; reboot", "/tmp/loop1", "/dev/"] {
            assert!(tools_disk_hook(Path::new(bad), (7, 1)).is_err(), "{bad}");
        }
        // A real shell runs it: `add` writes, anything else does nothing.
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = d.path().join("written");
        std::fs::write(
            bin.join("xenstore-write"),
            format!("#!/bin/sh\necho \"$@\" > {}\n", log.display()),
        )
        .unwrap();
        let script = d.path().join("hook.sh");
        std::fs::write(&script, &hook).unwrap();
        let run = |arg: &str| {
            std::process::Command::new("sh")
                .arg(&script)
                .arg(arg)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .env("XENBUS_PATH", "backend/vbd/7/51728")
                .status()
                .unwrap()
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            bin.join("xenstore-write"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert!(run("remove").success());
        assert!(!log.exists());
        assert!(run("add").success());
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "backend/vbd/7/51728/physical-device 7:c backend/vbd/7/51728/physical-device-path \
             /dev/loop12 backend/vbd/7/51728/hotplug-status connected\n"
        );
    }

    #[test]
    fn a_nic_is_a_pv_vif_whose_hook_puts_it_on_the_trials_bridge() {
        let mut c = config();
        c.vif_script = Some("/tmp/job/hvbench-xen-pv-1.vif.sh".into());
        assert!(xl_config(&c)
            .unwrap()
            .ends_with("vif = [ \"type=vif, script=/tmp/job/hvbench-xen-pv-1.vif.sh\" ]\n"));
        // A path xl would split into settings is refused.
        c.vif_script = Some("/tmp/a,b/x.sh".into());
        assert!(xl_config(&c).is_err());
        c.vif_script = Some("/tmp/a=b/x.sh".into());
        assert!(xl_config(&c).is_err());
    }

    #[test]
    fn scratch_disk_is_xvda_with_target_last() {
        let mut c = config();
        c.disk = Some("/tmp/job/hvbench-xen-pv-1.raw".into());
        assert!(xl_config(&c)
            .unwrap()
            .contains("disk = [ \"format=raw, vdev=xvda, access=rw, backendtype=qdisk, target=/tmp/job/hvbench-xen-pv-1.raw\" ]\n"));
    }

    /// Snapshot of a whole generated config.
    #[test]
    fn xl_config_snapshot() {
        let mut c = config();
        c.cpus = Some("1".into());
        c.weight = Some(512);
        c.cap = Some(50);
        c.tsc_mode = Some(TscMode::AlwaysEmulate);
        assert_eq!(
            xl_config(&c).unwrap(),
            "name = \"hvbench-xen-pv-1\"\n\
             type = \"pv\"\n\
             kernel = \"/cache/vmlinuz\"\n\
             ramdisk = \"/cache/guest.cpio.gz\"\n\
             extra = \"console=hvc0 panic=-1 quiet loglevel=3\"\n\
             memory = 512\n\
             vcpus = 1\n\
             on_poweroff = \"destroy\"\n\
             on_reboot = \"destroy\"\n\
             on_crash = \"destroy\"\n\
             cpus = \"1\"\n\
             weight = 512\n\
             cap = 50\n\
             tsc_mode = \"always_emulate\"\n"
        );
    }

    /// Without `tsc_mode` in the experiment, the config says nothing of it: Xen's default.
    #[test]
    fn tsc_mode_is_written_only_when_set() {
        let c = config();
        assert!(!xl_config(&c).unwrap().contains("tsc_mode"));
        for mode in TscMode::ALL {
            let mut c = config();
            c.tsc_mode = Some(mode);
            let text = xl_config(&c).unwrap();
            assert!(
                text.ends_with(&format!("on_crash = \"destroy\"\ntsc_mode = \"{mode}\"\n")),
                "{text}"
            );
        }
    }

    #[test]
    fn hvm_uses_the_serial_console_and_no_display() {
        let mut c = config();
        c.kind = XenGuestType::Hvm;
        c.extra = guest_extra(XenGuestType::Hvm).into();
        let text = xl_config(&c).unwrap();
        assert!(
            text.contains("type = \"hvm\"")
                && text.contains("vnc = 0")
                && text.contains("console=ttyS0")
        );
    }

    #[test]
    fn values_that_could_escape_their_string_are_refused() {
        for evil in [
            "a\"; kernel = \"/evil",
            "a\nkernel=\"/evil\"",
            "back\\slash",
        ] {
            let mut c = config();
            c.kernel = PathBuf::from(evil);
            assert!(xl_config(&c).is_err(), "{evil:?}");
        }
        let mut c = config();
        c.kernel = "/path with spaces/vmlinuz".into();
        assert!(xl_config(&c)
            .unwrap()
            .contains("kernel = \"/path with spaces/vmlinuz\""));
    }
}
