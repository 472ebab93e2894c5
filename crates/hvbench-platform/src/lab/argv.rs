//! The emulated host's QEMU command line ([`host_argv`]): Xen booted by multiboot with Debian's
//! kernel and the lab rootfs as its modules, or that kernel alone as a KVM host; and the plan
//! variants a guest image is built for.

use super::{LabHost, LabImages};
use hvbench_proto::AgentPlan;
use std::ffi::OsString;
use std::path::Path;

/// Memory of the emulated host and of Xen's dom0 within it.
const LAB_MEMORY_MIB: u64 = 4096;
const DOM0_MEMORY_MIB: u64 = 3000;
/// Escape a path for QEMU's `-initrd` list (or an option value such as `-drive file=`), where a
/// comma separates items and a doubled comma stands for a comma.
fn qemu_list_item(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// The command line of the emulated host (program excluded); a pure function.
///
/// Xen: `-cpu qemu64,+svm,+npt` — `max` crashes dom0 in Xen's bounce-frame code, and Debian's
/// Xen is built without shadow paging, so PVH and HVM guests need HAP, which Xen offers only when
/// the emulated CPU has NPT. KVM: `-cpu max` exposes SVM under TCG for kvm-amd.
pub fn host_argv(
    platform: &str,
    host: LabHost,
    images: &LabImages,
    initrd: &Path,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("hvbench-lab-{platform}"));
    push("-machine");
    push("q35,accel=tcg");
    push("-cpu");
    push(match host {
        LabHost::Xen => "qemu64,+svm,+npt",
        LabHost::Kvm => "max",
    });
    push("-smp");
    push("2");
    push("-m");
    push(&format!("{LAB_MEMORY_MIB}M"));
    for s in [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ] {
        push(s);
    }
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    match host {
        LabHost::Xen => {
            a.push("-kernel".into());
            a.push(images.xen.clone().into());
            a.push("-append".into());
            a.push(
                format!("console=com1 dom0_mem={DOM0_MEMORY_MIB}M,max:{DOM0_MEMORY_MIB}M").into(),
            );
            a.push("-initrd".into());
            a.push(
                format!(
                    "{} console=hvc0 panic=-1 quiet hvbench.lab=xen,{}",
                    qemu_list_item(&images.kernel),
                    qemu_list_item(initrd)
                )
                .into(),
            );
        }
        LabHost::Kvm => {
            a.push("-kernel".into());
            a.push(images.kernel.clone().into());
            a.push("-append".into());
            a.push("console=ttyS0 panic=-1 quiet hvbench.lab=kvm".into());
            a.push("-initrd".into());
            a.push(initrd.as_os_str().to_owned());
        }
    }
    a
}

/// The dual lab machine keeps each boot's emulated CPU as the single-hypervisor lab hosts have
/// it ([`host_argv`]): `qemu64,+svm,+npt` for Xen, `max` for KVM. A real machine has one CPU,
/// but with `qemu64,+svm,+npt` the KVM boot's CPU 0 was seen stuck (a soft lockup of its idle
/// task, the lab host's sshd then gone) while nested guests ran, once in two runs; `max` is what
/// the KVM lab host has run reliably. The report's lab warning covers the difference.
/// The serial of the dual lab machine's boot selector disk, as the lab host sees it in
/// `/sys/block/vd*/serial`.
pub const SELECT_SERIAL: &str = "hvbench-select";

/// The command line of one boot of the dual lab machine (program excluded): the Xen or KVM
/// host's ([`host_argv`], named `hvbench-lab-serve-dual-<boot>`), with the boot
/// selector `select` attached as a virtio disk of serial [`SELECT_SERIAL`]; a pure function.
pub fn dual_argv(boot: LabHost, images: &LabImages, initrd: &Path, select: &Path) -> Vec<OsString> {
    let mut a = host_argv(
        &format!("serve-dual-{}", boot.as_str()),
        boot,
        images,
        initrd,
    );
    a.push("-drive".into());
    a.push(
        format!(
            "file={},format=raw,if=none,id=select",
            qemu_list_item(select)
        )
        .into(),
    );
    a.push("-device".into());
    a.push(format!("virtio-blk-pci,drive=select,serial={SELECT_SERIAL}").into());
    a
}

/// The plans a driver may turn `plan` into before building its guest image: as given, and with
/// the peer address a guest with a network uses.
pub(crate) fn guest_plan_variants(plan: &AgentPlan) -> Vec<AgentPlan> {
    let mut out = vec![plan.clone()];
    if plan.needs(hvbench_proto::Device::Network) {
        let mut p = plan.clone();
        p.peer = Some(crate::qemu::GUEST_PEER.to_string());
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> LabImages {
        LabImages::in_dir("/cache/lab/k".into(), "k".into())
    }

    #[test]
    fn xen_host_argv_snapshot() {
        let a: Vec<String> = host_argv(
            "xen-pv",
            LabHost::Xen,
            &images(),
            Path::new("/run/lab-x.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        assert_eq!(
            a.join(" "),
            "-name hvbench-lab-xen-pv -machine q35,accel=tcg -cpu qemu64,+svm,+npt -smp 2 -m 4096M -nodefaults \
             -no-user-config -display none -no-reboot -chardev stdio,id=console,signal=off -serial chardev:console \
             -kernel /cache/lab/k/xen.elf -append console=com1 dom0_mem=3000M,max:3000M \
             -initrd /cache/lab/k/vmlinuz console=hvc0 panic=-1 quiet hvbench.lab=xen,/run/lab-x.cpio.gz"
        );
    }

    #[test]
    fn kvm_host_argv_boots_linux_directly() {
        let a: Vec<String> = host_argv(
            "kvm",
            LabHost::Kvm,
            &images(),
            Path::new("/run/a,b.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let i = a.iter().position(|s| s == "-cpu").unwrap();
        assert_eq!(a[i + 1], "max");
        let k = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[k + 1], "/cache/lab/k/vmlinuz");
        assert!(a.contains(&"console=ttyS0 panic=-1 quiet hvbench.lab=kvm".to_string()));
        // A single -initrd file for Linux: no list, so no comma escaping.
        assert_eq!(a.last().unwrap(), "/run/a,b.cpio.gz");
    }

    #[test]
    fn dual_boots_are_the_lab_hosts_with_the_selector_disk() {
        for boot in [LabHost::Xen, LabHost::Kvm] {
            let a: Vec<String> = dual_argv(
                boot,
                &images(),
                Path::new("/run/dual-x.cpio.gz"),
                Path::new("/st,ate/dual-select.img"),
            )
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
            let host = host_argv(
                &format!("serve-dual-{}", boot.as_str()),
                boot,
                &images(),
                Path::new("/run/dual-x.cpio.gz"),
            )
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect::<Vec<_>>();
            // The lab host's argv (its CPU too), then the selector; nothing else differs.
            assert_eq!(a[..host.len()], host[..]);
            assert_eq!(
                a[host.len()..].join(" "),
                "-drive file=/st,,ate/dual-select.img,format=raw,if=none,id=select \
                 -device virtio-blk-pci,drive=select,serial=hvbench-select"
            );
            assert!(a.contains(&format!("hvbench-lab-serve-dual-{}", boot.as_str())));
        }
    }

    #[test]
    fn commas_in_multiboot_module_paths_are_doubled() {
        let mut i = images();
        i.kernel = "/odd,dir/vmlinuz".into();
        let a = host_argv("x", LabHost::Xen, &i, Path::new("/x.cpio.gz"));
        assert!(a
            .last()
            .unwrap()
            .to_string_lossy()
            .starts_with("/odd,,dir/vmlinuz console=hvc0"));
    }
}
