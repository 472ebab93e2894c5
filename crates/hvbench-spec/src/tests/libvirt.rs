//! `driver = "libvirt"` platforms: the hypervisor behind libvirt, its URI, and the keys that
//! belong to one hypervisor only.

use super::*;
use crate::{LibvirtHypervisor, LibvirtSpec};

#[test]
fn libvirt_platforms_for_kvm_and_xen() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "lv-kvm"
driver = "libvirt"
hypervisor = "kvm"
accel = "tcg"
cpu = "host-model"
cpus = "1"
uri = "qemu:///system?socket=/tmp/s/libvirt-sock"

[[platform]]
name = "lv-xen"
driver = "libvirt"
hypervisor = "xen"
type = "pvh"
lab = true

[[platform]]
name = "lv-plain"
driver = "libvirt"
hypervisor = "kvm"

[[workload]]
name = "syscall"
"#;
    let plan = parse("x.toml", text).unwrap();
    assert_eq!(
        plan.platforms[0].driver,
        Driver::Libvirt(LibvirtSpec {
            hypervisor: LibvirtHypervisor::Kvm,
            accel: crate::Accel::Tcg,
            xen_type: None,
            uri: Some("qemu:///system?socket=/tmp/s/libvirt-sock".into()),
            cpu: Some("host-model".into()),
            cpus: Some("1".into()),
        })
    );
    let Driver::Libvirt(xen) = &plan.platforms[1].driver else {
        panic!("{:?}", plan.platforms[1]);
    };
    assert_eq!(xen.uri(), "xen:///system");
    assert_eq!(xen.xen_type(), XenGuestType::Pvh);
    assert!(plan.platforms[1].lab);
    let Driver::Libvirt(plain) = &plan.platforms[2].driver else {
        panic!("{:?}", plan.platforms[2]);
    };
    assert_eq!(plain.uri(), "qemu:///system");
    assert_eq!(plain.accel, crate::Accel::Auto);
    // Stored plans read back as written.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    let shown = plan.render();
    assert!(
        shown.contains("libvirt (xen:///system), xen, type pvh"),
        "{shown}"
    );
    assert!(
        shown.contains("libvirt (qemu:///system), kvm, accel auto, cpu libvirt's default"),
        "{shown}"
    );
}

#[test]
fn libvirt_key_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "a"
driver = "libvirt"

[[platform]]
name = "b"
driver = "libvirt"
hypervisor = "vmware"

[[platform]]
name = "c"
driver = "libvirt"
hypervisor = "xen"
accel = "kvm"
uri = "qemu:///system"

[[platform]]
name = "d"
driver = "libvirt"
hypervisor = "kvm"
type = "pv"
disk_cache = "none"
cpu = "bad cpu"
uri = "system"

[[workload]]
name = "syscall"
"#;
    expect_errors(
        text,
        &[
            (
                4,
                1,
                "[[platform]]",
                "this libvirt platform has no `hypervisor`",
            ),
            (11, 14, "\"vmware\"", "`hypervisor` must be one of"),
            (
                17,
                1,
                "accel",
                "`accel` applies only to hypervisor = \"kvm\", not \"xen\"",
            ),
            (
                18,
                7,
                "\"qemu:///system\"",
                "`uri` names libvirt's `qemu` driver, not the xen one",
            ),
            (
                24,
                1,
                "type",
                "`type` applies only to hypervisor = \"xen\", not \"kvm\"",
            ),
            (
                25,
                1,
                "disk_cache",
                "unknown key `disk_cache` in a libvirt platform",
            ),
            (26, 7, "\"bad cpu\"", "`cpu` must be host-passthrough"),
            (
                27,
                7,
                "\"system\"",
                "`uri` must be a URI such as driver:///system",
            ),
        ],
    );
}
