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

/// The features of QEMU's `EPYC-Rome` model that QEMU 7.2's TCG cannot emulate (it warns "TCG
/// doesn't support requested feature" and drops each), and two that it emulates in a way Xen
/// cannot run on: turned off by name, so that forcing the features that are left
/// ([`server_cpu`]) forces only what TCG really provides, plus `invtsc`.
const ROME_WITHOUT_TCG: &[&str] = &[
    "rdseed",
    "sha-ni",
    "rdpid",
    "fxsr-opt",
    "misalignsse",
    "3dnowprefetch",
    "osvw",
    "topoext",
    "perfctr-core",
    "clzero",
    "xsaveerptr",
    "wbnoinvd",
    "ibpb",
    "amd-stibp",
    // kvm-amd and Xen would trust the VMCB's next RIP, which TCG's SVM does not fill in.
    "nrip-save",
    "xsavec",
    "xsaves",
    // Under TCG, Xen's own use of SMAP crashed dom0 in its bounce-frame code (a #PF on a present
    // page of the PV kernel's stack, `create_bounce_frame`), as with `-cpu max`.
    "smap",
    // Xen's idle loop's MWAIT raised #GP under TCG (a panic at boot); KVM hides MONITOR from its
    // guests too.
    "monitor",
];

/// An AMD EPYC (Rome) server as QEMU models it, with SVM, nested paging (NPT: Debian's Xen has
/// no shadow paging, so PVH and HVM guests need HAP) and an invariant TSC (`invtsc`, CPUID
/// 0x80000007 EDX bit 8), less the features TCG lacks ([`ROME_WITHOUT_TCG`]). Xen boots on it
/// and marks the TSC reliable, but under the load of an isolation cell its dom0's programs
/// crashed (segmentation faults, ld.so's "Inconsistency detected") where they never did on
/// `qemu64`: so far it is only an experiment (`HVBENCH_LAB_CPU_XEN` / `HVBENCH_LAB_CPU_KVM`),
/// not the default ([`cpu_model`]).
pub fn server_cpu() -> String {
    let mut s = String::from("EPYC-Rome");
    for f in ROME_WITHOUT_TCG {
        s.push_str(",-");
        s.push_str(f);
    }
    s.push_str(",+svm,+npt,+invtsc,x-force-features=on");
    s
}

/// The Xen lab host's CPU: `qemu64` with SVM and NPT (Debian's Xen has no shadow paging, so PVH
/// and HVM guests need HAP) and an invariant TSC. Why `invtsc` (docs/architecture.md, "The
/// lab"): without it Xen does not trust the TSC (`host_tsc_is_safe()` is false on more than one
/// CPU) and, in its default `tsc_mode`, emulates every guest `rdtsc` — which the Debian 6.1 guest
/// kernel runs on every return to user space — so a lab Xen PVH system call cost about 80 times
/// KVM's, an artifact no current server shows (every server CPU of the last decade has an
/// invariant TSC). TCG never advertises it (its `TCG_APM_FEATURES` is empty), although the TSC it
/// emulates derives from the host's monotonic clock, constant-rate and never stopping:
/// `x-force-features=on` keeps the bit (`qemu64` asks for nothing else TCG lacks). `-cpu max`
/// crashed dom0 in Xen's bounce-frame code. `vme`, which every x86 CPU since the Pentium has
/// and QEMU's `qemu64` leaves out: without it libvirtd's libxl driver cannot name a CPU model for
/// Xen's `hw_caps` ("Cannot find suitable CPU model for given data") and does not start, so no
/// `libvirt` platform could run on the Xen lab host. TCG does not implement VME (QEMU warns, and
/// `x-force-features=on` keeps the bit); only virtual-8086 mode uses it, which 64-bit Xen, its
/// dom0 and the 64-bit guests never enter.
pub const XEN_HOST_CPU: &str = "qemu64,+svm,+npt,+invtsc,+vme,x-force-features=on";
/// The KVM lab host's CPU: `max` exposes SVM under TCG for kvm-amd; with `qemu64,+svm,+npt` the
/// KVM host's CPU 0 was seen stuck (a soft lockup of its idle task) while nested guests ran.
pub const KVM_HOST_CPU: &str = "max";

/// The emulated CPU of lab host `host`: [`XEN_HOST_CPU`] or [`KVM_HOST_CPU`], unless `HVBENCH_LAB_CPU_XEN` or
/// `HVBENCH_LAB_CPU_KVM` names another QEMU `-cpu` value to try (it is recorded as the fact
/// `lab.cpu` like the default).
pub fn cpu_model(host: LabHost) -> String {
    let var = match host {
        LabHost::Xen => "HVBENCH_LAB_CPU_XEN",
        LabHost::Kvm => "HVBENCH_LAB_CPU_KVM",
    };
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            match host {
                LabHost::Xen => XEN_HOST_CPU,
                LabHost::Kvm => KVM_HOST_CPU,
            }
            .to_string()
        })
}

/// The KVM lab host's transparent huge pages: `never` (docs/known-limits.md: with `always`,
/// its khugepaged collapsing the memory of the nested guests' QEMUs went with nested guests
/// hung in a loop of nested page faults in their page walks, and with the host's soft lockups
/// and RCU stalls; with `never` neither was seen), unless `HVBENCH_LAB_THP` names another mode
/// to try. The mode is the fact `lab.thp`.
pub fn kvm_host_thp() -> String {
    std::env::var("HVBENCH_LAB_THP")
        .ok()
        .filter(|v| ["always", "madvise", "never"].contains(&v.as_str()))
        .unwrap_or_else(|| "never".to_string())
}

/// The command line of the emulated host (program excluded); pure but for the CPU model's
/// override ([`cpu_model`]).
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
    push(&cpu_model(host));
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
            let append = format!(
                "console=ttyS0 panic=-1 quiet hvbench.lab=kvm transparent_hugepage={}",
                kvm_host_thp()
            );
            a.push(append.into());
            a.push("-initrd".into());
            a.push(initrd.as_os_str().to_owned());
        }
    }
    a
}

/// The dual lab machine's boots have the single-hypervisor lab hosts' CPUs ([`host_argv`],
/// [`cpu_model`]): `qemu64` with SVM, NPT and an invariant TSC for Xen, `max` for KVM. A real
/// machine has one CPU; the report's lab warning covers the difference.
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
/// the peer address a guest with a network uses; a plan with general benchmarks always with
/// the guest's tools root (the qemu and xen drivers set it whenever they attach the tools
/// disk), so that the images shipped to a machine are the ones its guests boot.
pub(crate) fn guest_plan_variants(plan: &AgentPlan) -> Vec<AgentPlan> {
    let mut base = plan.clone();
    if plan.needs(hvbench_proto::Device::Tools) {
        base.tools_root = Some(hvbench_proto::GUEST_TOOLS_ROOT.to_string());
    }
    let mut out = vec![base.clone()];
    if plan.needs(hvbench_proto::Device::Network) {
        let mut p = base;
        p.peer = Some(crate::drivers::qemu::GUEST_PEER.to_string());
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
    fn guest_plan_variants_carry_the_tools_root_and_the_peer() {
        let plan = |names: &[&str]| AgentPlan {
            version: hvbench_proto::PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: names
                .iter()
                .map(|n| hvbench_proto::WorkloadRequest {
                    name: n.to_string(),
                    id: String::new(),
                    params: Default::default(),
                })
                .collect(),
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        };
        // Without general benchmarks: the plan as given, as before.
        let p = plan(&["syscall"]);
        assert_eq!(guest_plan_variants(&p), vec![p.clone()]);
        let v = guest_plan_variants(&plan(&["sysbench-cpu", "net-rr"]));
        assert_eq!(v.len(), 2);
        assert!(v
            .iter()
            .all(|p| p.tools_root.as_deref() == Some(hvbench_proto::GUEST_TOOLS_ROOT)));
        assert_eq!(v[0].peer, None);
        assert_eq!(v[1].peer.as_deref(), Some(crate::drivers::qemu::GUEST_PEER));
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
            "-name hvbench-lab-xen-pv -machine q35,accel=tcg -cpu {} -smp 2 -m 4096M -nodefaults \
             -no-user-config -display none -no-reboot -chardev stdio,id=console,signal=off -serial chardev:console \
             -kernel /cache/lab/k/xen.elf -append console=com1 dom0_mem=3000M,max:3000M \
             -initrd /cache/lab/k/vmlinuz console=hvc0 panic=-1 quiet hvbench.lab=xen,/run/lab-x.cpio.gz"
                .replace("{}", &cpu_model(LabHost::Xen))
        );
    }

    #[test]
    fn the_server_cpu_asks_only_for_what_tcg_emulates_and_an_invariant_tsc() {
        let cpu = server_cpu();
        assert!(cpu.starts_with("EPYC-Rome,"));
        for f in [
            "+svm",
            "+npt",
            "+invtsc",
            "-nrip-save",
            "x-force-features=on",
        ] {
            assert!(cpu.split(',').any(|x| x == f), "{f} in {cpu}");
        }
    }

    /// QEMU itself agrees: the only features of the lab's CPUs that TCG does not support are the
    /// invariant TSC and VME, forced on purpose (a QEMU whose TCG emulates more warns of less).
    #[test]
    fn qemu_warns_of_nothing_but_invtsc_for_the_lab_cpus() {
        for cpu in [server_cpu(), XEN_HOST_CPU.to_string()] {
            qemu_warns_only_of_invtsc(&cpu);
        }
    }

    fn qemu_warns_only_of_invtsc(cpu: &str) {
        let qemu = crate::drivers::qemu::qemu_binary();
        let mut child = std::process::Command::new(&qemu)
            .args([
                "-accel",
                "tcg",
                "-machine",
                "q35",
                "-nodefaults",
                "-display",
                "none",
            ])
            .args(["-cpu", cpu, "-S", "-monitor", "none", "-serial", "none"])
            .arg("-no-user-config")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} cannot start ({e}); scripts/setup.sh installs QEMU",
                    qemu.display()
                )
            });
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = child.kill();
        let out = child.wait_with_output().expect("qemu's output");
        let err = String::from_utf8_lossy(&out.stderr);
        for line in err
            .lines()
            .filter(|l| l.contains("doesn't support requested feature"))
        {
            // invtsc (see XEN_HOST_CPU) and vme, which only virtual-8086 mode uses: 64-bit Xen,
            // its dom0 and the 64-bit guests never enter it.
            assert!(
                line.contains("invtsc") || line.contains("EDX.vme"),
                "{line}\n{err}"
            );
        }
        assert!(!err.contains("can't apply"), "{err}");
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
        assert_eq!(a[i + 1], cpu_model(LabHost::Kvm));
        let k = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[k + 1], "/cache/lab/k/vmlinuz");
        assert!(a.contains(
            &"console=ttyS0 panic=-1 quiet hvbench.lab=kvm transparent_hugepage=never".to_string()
        ));
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
