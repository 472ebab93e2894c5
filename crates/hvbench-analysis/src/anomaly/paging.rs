//! Whether the machine under a platform's hypervisor walks guest page tables in hardware (EPT,
//! NPT; Xen calls it HAP), read from the facts of that machine and no other.
//!
//! A platform runs on this machine, on a `[[host]]` over SSH (fact `machine`), in one boot of a
//! dual-boot machine (`boot.entry`), or in hvbench's lab (`lab`, `lab.*`): a Xen or KVM host
//! nested under TCG, whose CPU is not this machine's (docs/architecture.md, "The lab",
//! "Machines over SSH", "Dual-boot hosts"). The drivers record that machine's paging support
//! where they run: Xen's `xl info` as `xen.virt_caps`, the qemu driver's `/proc/cpuinfo` as
//! `host.cpu.virt_flags`. Only a platform that runs on the baseline's own machine (and boot)
//! may borrow the baseline's `cpu.flags`; otherwise, without a fact of its own, its paging
//! support is unknown and the rules say so rather than cite another machine.

use super::facts::{get, has_flag, is_lab};
use super::{Context, PlatformFacts};
use hvbench_proto::facts as key;

/// What the recorded facts say about two-dimensional paging on the machine that runs a
/// platform's hypervisor.
pub(crate) enum Paging<'a> {
    /// The machine has it.
    Hardware,
    /// The machine lacks it, as the fact `key` of `on` shows (the platform itself, or the
    /// baseline on the same machine): the hypervisor shadows guest page tables.
    Shadow {
        on: &'a PlatformFacts<'a>,
        key: &'static str,
    },
    /// No recorded fact describes that machine's paging; `why` the baseline's cannot stand in.
    Unknown { why: String },
}

impl Paging<'_> {
    /// The start of a cause for [`Paging::Shadow`]: which machine lacks what, per its fact.
    pub(crate) fn shadow_text(&self, platform: &str) -> Option<String> {
        let Paging::Shadow { key: k, .. } = self else {
            return None;
        };
        Some(match *k {
            key::XEN_VIRT_CAPS => format!(
                "the Xen that runs {platform} offers no hardware-assisted paging (no hap in xl info's \
                 virt_caps: neither EPT nor NPT in use)"
            ),
            key::HOST_CPU_VIRT_FLAGS => {
                format!("the CPU of the machine that runs {platform} offers neither EPT nor NPT")
            }
            _ => format!("the host CPU, which also runs {platform}, offers neither EPT nor NPT"),
        })
    }

    /// For [`Paging::Unknown`]: what to record next, and why nothing recorded answers it.
    pub(crate) fn next_step(&self, g: &PlatformFacts) -> Option<String> {
        let Paging::Unknown { why } = self else {
            return None;
        };
        let record = if get(g, key::XEN_GUEST_TYPE).is_some() {
            format!("{} from xl info on it", key::XEN_VIRT_CAPS)
        } else {
            format!(
                "{}, its CPU's flags as the qemu driver reads them there",
                key::HOST_CPU_VIRT_FLAGS
            )
        };
        Some(format!(
            "record whether the machine that runs {}'s hypervisor has EPT/NPT ({record}): nothing \
             recorded says so ({why}), so shadow paging is neither shown nor ruled out",
            g.name
        ))
    }
}

/// What `flags` (a CPU's flag list, fact `k` of `on`) say.
fn from_flags<'a>(on: &'a PlatformFacts<'a>, k: &'static str, flags: &str) -> Paging<'a> {
    if has_flag(flags, "ept") || has_flag(flags, "npt") {
        Paging::Hardware
    } else {
        Paging::Shadow { on, key: k }
    }
}

/// The paging support of the machine that runs `g`'s hypervisor, from `g`'s own facts, else
/// from the baseline's `cpu.flags` when `g` runs on the baseline's machine.
pub(crate) fn paging<'a>(ctx: &Context<'a>, g: &'a PlatformFacts<'a>) -> Paging<'a> {
    if let Some(caps) = get(g, key::XEN_VIRT_CAPS) {
        return if has_flag(caps, "hap") {
            Paging::Hardware
        } else {
            Paging::Shadow {
                on: g,
                key: key::XEN_VIRT_CAPS,
            }
        };
    }
    if let Some(flags) = get(g, key::HOST_CPU_VIRT_FLAGS) {
        return from_flags(g, key::HOST_CPU_VIRT_FLAGS, flags);
    }
    let Some(base) = ctx.baseline() else {
        return Paging::Unknown {
            why: "the run has no baseline".to_string(),
        };
    };
    if let Some(why) = elsewhere(g, base) {
        return Paging::Unknown { why };
    }
    match get(base, key::CPU_FLAGS) {
        Some(flags) => from_flags(base, key::CPU_FLAGS, flags),
        None => Paging::Unknown {
            why: format!("{} recorded no {}", base.name, key::CPU_FLAGS),
        },
    }
}

/// Why `base`'s `cpu.flags` do not describe the machine that runs `g`; None when they do (the
/// same machine, the same boot, the baseline a plain process on it).
pub(crate) fn elsewhere(g: &PlatformFacts, base: &PlatformFacts) -> Option<String> {
    let place = |p: &PlatformFacts| -> String {
        if is_lab(p) {
            match get(p, key::LAB) {
                Some(l) => format!("in hvbench's {l} lab host"),
                None => "in hvbench's lab".to_string(),
            }
        } else {
            match get(p, key::MACHINE) {
                Some(m) => format!("on machine {m}"),
                None => "on this machine".to_string(),
            }
        }
    };
    let same_place = if is_lab(g) || is_lab(base) {
        is_lab(g) && is_lab(base) && get(g, key::LAB) == get(base, key::LAB)
    } else {
        get(g, key::MACHINE) == get(base, key::MACHINE)
    };
    if !same_place {
        return Some(format!(
            "{} runs {}, {} ran {}",
            g.name,
            place(g),
            base.name,
            place(base)
        ));
    }
    let (gb, bb) = (get(g, key::BOOT_ENTRY), get(base, key::BOOT_ENTRY));
    if gb != bb {
        let boot = |b: Option<&str>| b.map_or("another boot".to_string(), |b| format!("boot {b}"));
        return Some(format!(
            "{} runs in {} of its machine, {} ran in {}",
            g.name,
            boot(gb),
            base.name,
            boot(bb)
        ));
    }
    if get(base, key::AGENT_MODE).is_some_and(|m| m.eq_ignore_ascii_case("guest")) {
        return Some(format!(
            "{} ran in a guest, so its {} are a guest CPU's",
            base.name,
            key::CPU_FLAGS
        ));
    }
    None
}
