//! The report's "libvirt and its direct twin" section: each `libvirt` platform set beside the
//! platform that runs the same hypervisor directly (qemu for libvirt's KVM, xen of the same
//! guest type for libvirt's Xen) on the same machine and in the same place (lab or not): per
//! workload and metric the two medians and the ratio libvirt / direct with its interval, and
//! the facts where libvirt's defaults differ from the direct driver's command line. Left out
//! when no libvirt platform has a twin.

use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::model::Model;
use hvbench_analysis::{ratio_of_medians, summarize, BootstrapConfig};
use hvbench_spec::{Driver, LibvirtHypervisor, PlatformSpec};

/// The direct platform a libvirt platform is compared with.
pub(crate) fn twin_of(libvirt: &PlatformSpec, platforms: &[PlatformSpec]) -> Option<usize> {
    let Driver::Libvirt(l) = &libvirt.driver else {
        return None;
    };
    platforms.iter().position(|p| {
        p.lab == libvirt.lab
            && p.host == libvirt.host
            && p.boot == libvirt.boot
            && match (&p.driver, l.hypervisor) {
                (Driver::Qemu(_), LibvirtHypervisor::Kvm) => true,
                (Driver::Xen(x), LibvirtHypervisor::Xen) => x.kind == l.xen_type(),
                _ => false,
            }
    })
}

/// Fact pairs (libvirt's, the direct driver's) that say how the two guests differ.
const FACT_PAIRS: &[(&str, &str, &str)] = &[
    ("machine type", "libvirt.machine", "qemu.machine"),
    ("CPU model", "libvirt.cpu.live", "qemu.cpu"),
    (
        "scratch disk cache",
        "libvirt.disk_cache",
        "qemu.disk_cache",
    ),
    ("accelerator", "accel", "accel"),
];

pub(crate) fn section(model: &Model, cfg: &BootstrapConfig) -> Vec<Block> {
    let Some(plan) = &model.plan else {
        return Vec::new();
    };
    let index = |name: &str| model.platforms.iter().position(|p| p.name == name);
    let pairs: Vec<(usize, usize)> = plan
        .platforms
        .iter()
        .filter_map(|p| {
            let twin = &plan.platforms[twin_of(p, &plan.platforms)?];
            Some((index(&p.name)?, index(&twin.name)?))
        })
        .collect();
    if pairs.is_empty() {
        return Vec::new();
    }
    let conf = format::ci_label(cfg.confidence);
    let mut blocks = vec![
        Block::Section("libvirt and its direct twin".into()),
        Block::Paragraph(format!(
            "Each libvirt platform beside the platform that runs the same hypervisor without \
             libvirt, on the same machine: the same kernel, initramfs, vCPUs, memory and disks, \
             libvirt's defaults for the rest. The ratio is libvirt / direct with a {conf} \
             (percentile bootstrap, both sides resampled); an interval that holds 1 says the \
             management layer made no clear difference to that figure."
        )),
    ];
    for (lv, direct) in pairs {
        let (lname, dname) = (
            one_line(model.platforms[lv].name),
            one_line(model.platforms[direct].name),
        );
        blocks.push(Block::Subsection(format!("{lname} against {dname}")));
        let ratio_col = format!("{lname} / {dname} [{conf}]");
        let (dcol, lcol) = (format!("{dname} median"), format!("{lname} median"));
        let mut table = Table::new(&[
            ("workload", Align::Left),
            ("metric", Align::Left),
            ("unit", Align::Left),
            (dcol.as_str(), Align::Right),
            (lcol.as_str(), Align::Right),
            (ratio_col.as_str(), Align::Left),
        ]);
        for g in &model.groups {
            let (l, d) = (&g.values[lv], &g.values[direct]);
            let (Some(ls), Some(ds)) = (summarize(l, cfg), summarize(d, cfg)) else {
                continue;
            };
            table.push(vec![
                one_line(&g.workload),
                one_line(&g.metric),
                one_line(&g.unit),
                format::value(ds.median),
                format::value(ls.median),
                ratio_of_medians(d, l, cfg).map_or_else(
                    || "-".to_string(),
                    |r| format::ratio_with_ci(r.point, &r.ci),
                ),
            ]);
        }
        blocks.push(if table.rows.is_empty() {
            Block::Paragraph(format!(
                "No workload was measured on both {lname} and {dname} (see the failures)."
            ))
        } else {
            Block::Table(table)
        });
        let (lp, dp) = (&model.platforms[lv], &model.platforms[direct]);
        if dp.driver != "qemu" {
            // libvirt's libxl driver hands the domain to libxl, as xl does: its XML is the record.
            blocks.push(Block::Paragraph(
                "libvirt's libxl driver builds the domain through libxl, as xl does; the domain \
                 XML (fact libvirt.domain_xml) says what it was given."
                    .into(),
            ));
            continue;
        }
        let (mut differ, mut unknown) = (Vec::new(), Vec::new());
        for (what, lk, dk) in FACT_PAIRS {
            match (lp.fact(lk), dp.fact(dk)) {
                (Some(a), Some(b)) if a != b => differ.push(format!(
                    "{what}: {} through libvirt ({lk}), {} directly ({dk})",
                    one_line(a),
                    one_line(b)
                )),
                (Some(_), Some(_)) => {}
                _ => unknown.push(*what),
            }
        }
        let mut text = if differ.is_empty() {
            "The recorded settings do not differ.".to_string()
        } else {
            format!("Where libvirt's defaults differ: {}.", differ.join("; "))
        };
        if !unknown.is_empty() {
            text.push_str(&format!(" Not recorded on both: {}.", unknown.join(", ")));
        }
        blocks.push(Block::Paragraph(text));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_spec::{LibvirtSpec, QemuSpec, XenGuestType, XenSpec};

    fn p(name: &str, driver: Driver, lab: bool) -> PlatformSpec {
        PlatformSpec {
            name: name.into(),
            driver,
            lab,
            host: None,
            boot: None,
        }
    }

    #[test]
    fn twins_share_hypervisor_guest_type_and_place() {
        let mut xen = LibvirtSpec::new(LibvirtHypervisor::Xen);
        xen.xen_type = Some(XenGuestType::Pv);
        let platforms = vec![
            p("host", Driver::Host, false),
            p("kvm-here", Driver::Qemu(QemuSpec::default()), false),
            p("kvm", Driver::Qemu(QemuSpec::default()), true),
            p("xen-pvh", Driver::Xen(XenSpec::default()), true),
            p(
                "xen-pv",
                Driver::Xen(XenSpec {
                    kind: XenGuestType::Pv,
                    ..XenSpec::default()
                }),
                true,
            ),
            p(
                "lv-kvm",
                Driver::Libvirt(LibvirtSpec::new(LibvirtHypervisor::Kvm)),
                true,
            ),
            p("lv-xen", Driver::Libvirt(xen), true),
            p(
                "lv-alone",
                Driver::Libvirt(LibvirtSpec::new(LibvirtHypervisor::Xen)),
                false,
            ),
        ];
        assert_eq!(twin_of(&platforms[5], &platforms), Some(2));
        assert_eq!(twin_of(&platforms[6], &platforms), Some(4));
        assert_eq!(twin_of(&platforms[7], &platforms), None);
        assert_eq!(twin_of(&platforms[2], &platforms), None);
    }
}
