//! The QEMU command line: [`QemuConfig`] and the devices a trial adds to it, and [`argv`], a
//! pure function from it to the argument vector, with the snapshots that pin it down.

use super::{RunAccel, GUEST_PEER};
use hvbench_spec::DiskCache;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

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
    /// The scratch disk, for plans with disk workloads.
    pub disk: Option<DiskConfig>,
    /// The tools tree's ext4 image (read-only, after the scratch disk), for plans with general
    /// benchmarks.
    pub tools: Option<PathBuf>,
    /// The NIC and its back-end, for plans with network workloads.
    pub net: Option<NetConfig>,
    /// A QMP socket, for pinning vCPU threads.
    pub qmp: Option<PathBuf>,
}

/// A raw image on virtio-blk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    pub path: PathBuf,
    pub cache: DiskCache,
}

/// A virtio-net NIC and its back-end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetConfig {
    /// QEMU's user network (slirp), which forwards [`GUEST_PEER`] to the host's
    /// `127.0.0.1:host_port` and lets the guest reach nothing else (`restrict=on`).
    User { host_port: u16 },
    /// An existing tap, `ifname`, in the network namespace QEMU runs in (see `crate::trial::vnet`),
    /// with the virtio rings served by the vhost-net kernel thread when `vhost`.
    Tap { ifname: String, vhost: bool },
}

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
    if let Some(d) = &c.disk {
        let mut drive = file_option(&d.path);
        drive.extend_from_slice(
            format!(
                ",if=none,id=disk0,format=raw,cache={},aio=threads",
                d.cache.as_str()
            )
            .as_bytes(),
        );
        a.push("-drive".into());
        a.push(OsString::from_vec(drive));
        a.push("-device".into());
        a.push("virtio-blk-pci,drive=disk0".into());
    }
    if let Some(image) = &c.tools {
        // After the scratch disk, so the scratch disk keeps its name (vda); read-only, which
        // also keeps the agent from ever taking it for scratch.
        let mut drive = file_option(image);
        drive.extend_from_slice(b",if=none,id=tools,format=raw,readonly=on");
        a.push("-drive".into());
        a.push(OsString::from_vec(drive));
        a.push("-device".into());
        a.push("virtio-blk-pci,drive=tools".into());
    }
    if let Some(n) = &c.net {
        a.push("-netdev".into());
        a.push(
            match n {
                NetConfig::User { host_port } => format!(
                    "user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,\
                     guestfwd=tcp:{GUEST_PEER}-tcp:127.0.0.1:{host_port}"
                ),
                // No scripts: hvbench made the tap and put it on the bridge.
                NetConfig::Tap { ifname, vhost } => format!(
                    "tap,id=net0,ifname={ifname},script=no,downscript=no,vhost={}",
                    if *vhost { "on" } else { "off" }
                ),
            }
            .into(),
        );
        a.push("-device".into());
        // No option ROM: nothing boots from the network, and no firmware file is needed.
        a.push("virtio-net-pci,netdev=net0,romfile=".into());
    }
    if let Some(q) = &c.qmp {
        let mut spec = b"unix:".to_vec();
        for &b in q.as_os_str().as_bytes() {
            spec.push(b);
            if b == b',' {
                spec.push(b',');
            }
        }
        spec.extend_from_slice(b",server=on,wait=off");
        a.push("-qmp".into());
        a.push(OsString::from_vec(spec));
    }
    a.push("-kernel".into());
    a.push(c.kernel.clone().into_os_string());
    a.push("-initrd".into());
    a.push(c.initrd.clone().into_os_string());
    a.push("-append".into());
    a.push(c.append.clone().into());
    a
}

/// `file=PATH` for `-drive`: QEMU options separate on commas; a comma inside a value is
/// written twice.
fn file_option(path: &std::path::Path) -> Vec<u8> {
    let mut drive = b"file=".to_vec();
    for &b in path.as_os_str().as_bytes() {
        drive.push(b);
        if b == b',' {
            drive.push(b',');
        }
    }
    drive
}

#[cfg(test)]
mod tests {
    use super::super::GUEST_APPEND;
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
            disk: None,
            tools: None,
            net: None,
            qmp: None,
        }
    }

    #[test]
    fn qmp_socket_for_pinning() {
        let mut c = config();
        c.qmp = Some("/run/hvbench-qmp-x,y/qmp.sock".into());
        let a: Vec<String> = argv(&c)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let i = a.iter().position(|s| s == "-qmp").unwrap();
        assert_eq!(
            a[i + 1],
            "unix:/run/hvbench-qmp-x,,y/qmp.sock,server=on,wait=off"
        );
        assert!(i < a.iter().position(|s| s == "-kernel").unwrap());
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

    /// With a scratch disk and a NIC: the devices come after the console, before the kernel.
    #[test]
    fn argv_with_devices_snapshot() {
        let mut c = config();
        c.disk = Some(DiskConfig {
            path: "/var/tmp/hvbench-qemu-x/disk-1.raw".into(),
            cache: DiskCache::Writeback,
        });
        c.net = Some(NetConfig::User { host_port: 40123 });
        let got: Vec<String> = argv(&c)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let at = got.iter().position(|s| s == "chardev:console").unwrap() + 1;
        assert_eq!(
            got[at..at + 8],
            [
                "-drive",
                "file=/var/tmp/hvbench-qemu-x/disk-1.raw,if=none,id=disk0,format=raw,\
                 cache=writeback,aio=threads",
                "-device",
                "virtio-blk-pci,drive=disk0",
                "-netdev",
                "user,id=net0,restrict=on,ipv6=off,net=10.0.2.0/24,\
                 guestfwd=tcp:10.0.2.100:5201-tcp:127.0.0.1:40123",
                "-device",
                "virtio-net-pci,netdev=net0,romfile=",
            ]
        );
        assert_eq!(got[at + 8], "-kernel");
        assert_eq!(got.len(), argv(&config()).len() + 8);
    }

    /// A tap made by hvbench, with and without vhost-net.
    #[test]
    fn argv_with_a_tap_snapshot() {
        for (vhost, want) in [
            (
                true,
                "tap,id=net0,ifname=hvtap0,script=no,downscript=no,vhost=on",
            ),
            (
                false,
                "tap,id=net0,ifname=hvtap0,script=no,downscript=no,vhost=off",
            ),
        ] {
            let mut c = config();
            c.net = Some(NetConfig::Tap {
                ifname: "hvtap0".into(),
                vhost,
            });
            let got: Vec<String> = argv(&c)
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect();
            let i = got.iter().position(|s| s == "-netdev").unwrap();
            assert_eq!(
                got[i..i + 4],
                [
                    "-netdev",
                    want,
                    "-device",
                    "virtio-net-pci,netdev=net0,romfile="
                ]
            );
        }
    }

    /// The tools disk: read-only, after the scratch disk, before the NIC; without it (no
    /// general benchmark) the command line is the one of `argv_with_devices_snapshot`.
    #[test]
    fn argv_with_the_tools_disk_snapshot() {
        let mut c = config();
        c.disk = Some(DiskConfig {
            path: "/var/tmp/hvbench-qemu-x/disk-1.raw".into(),
            cache: DiskCache::Writeback,
        });
        c.tools = Some("/cache/tools/k,1/tools.ext4".into());
        let got: Vec<String> = argv(&c)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let at = got
            .iter()
            .position(|s| s == "virtio-blk-pci,drive=disk0")
            .unwrap()
            + 1;
        assert_eq!(
            got[at..at + 5],
            [
                "-drive",
                "file=/cache/tools/k,,1/tools.ext4,if=none,id=tools,format=raw,readonly=on",
                "-device",
                "virtio-blk-pci,drive=tools",
                "-kernel",
            ]
        );
        c.tools = None;
        assert_eq!(argv(&c).len(), got.len() - 4);
        assert!(!argv(&config())
            .iter()
            .any(|s| s.to_str().unwrap().contains("tools")));
    }

    #[test]
    fn commas_in_the_disk_path_are_escaped() {
        let mut c = config();
        c.disk = Some(DiskConfig {
            path: "/data/a,b/disk.raw".into(),
            cache: DiskCache::None,
        });
        let a = argv(&c);
        let i = a.iter().position(|s| s == "-drive").unwrap();
        assert!(a[i + 1]
            .to_str()
            .unwrap()
            .starts_with("file=/data/a,,b/disk.raw,if=none,"));
    }

    #[test]
    fn paths_with_spaces_stay_one_argument() {
        let mut c = config();
        c.kernel = "/my kernels/vmlinuz; rm -rf /".into();
        let a = argv(&c);
        let i = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[i + 1], "/my kernels/vmlinuz; rm -rf /");
    }
}
