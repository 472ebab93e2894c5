//! Dual-boot hosts: a `[[host]]`'s boot entries (`[[host.boot]]`) and each platform's `boot`,
//! given or inferred from its driver (docs/architecture.md, "Dual-boot hosts").

use super::host::HostSeen;
use super::platform::{platform_name_char, PlatformSeen};
use super::rules::BOOT_TIMEOUT_S;
use super::{did_you_mean, got, sanitize, Validator};
use crate::diag::Span;
use crate::tree::{Entry, Kind, Table};
use crate::{BootEntry, Driver, Hypervisor, DEFAULT_REBOOT};
use std::collections::HashMap;

const BOOT_KEYS: &[&str] = &["name", "select", "reboot", "hypervisor", "timeout_s"];

/// The hypervisor a platform of this driver needs its host booted into: Xen's dom0 for `xen` and libvirt's Xen,
/// plain Linux with KVM for `qemu` and libvirt's KVM, and for the bare-metal baseline (`host`).
fn wanted(driver: &Driver) -> Hypervisor {
    match driver {
        Driver::Xen(_) => Hypervisor::Xen,
        Driver::Libvirt(l) => match l.hypervisor {
            crate::LibvirtHypervisor::Xen => Hypervisor::Xen,
            crate::LibvirtHypervisor::Kvm => Hypervisor::Kvm,
        },
        Driver::Qemu(_) | Driver::Host => Hypervisor::Kvm,
    }
}

/// A shell command of a boot entry: the character that makes it unfit, described, or `None`.
fn command_problem(cmd: &str) -> Option<String> {
    if cmd.trim().is_empty() {
        return Some("nothing but whitespace".to_string());
    }
    cmd.chars()
        .find(|c| c.is_control())
        .map(|c| format!("the control character {c:?}"))
}

impl Validator<'_> {
    /// The `[[host.boot]]` tables of a host, in order. `Some(empty)` when there are none, `None`
    /// after reporting a problem with any of them.
    pub(super) fn boot_entries(&mut self, t: &Table, host: Option<&str>) -> Option<Vec<BootEntry>> {
        let Some(e) = t.get("boot") else {
            return Some(Vec::new());
        };
        let Kind::Array(items) = &e.value.kind else {
            self.sink.error(
                &e.value.span,
                format!(
                    "`boot` must be an array of tables, got {}",
                    got(&e.value.kind)
                ),
                "write each boot entry as a [[host.boot]] table (double brackets) after its \
                 [[host]], with name, select and hypervisor",
            );
            return None;
        };
        if items.is_empty() {
            self.sink.error(
                &e.value.span,
                "`boot` is empty",
                "add [[host.boot]] tables (name, select, hypervisor) for a dual-boot machine, or \
                 remove `boot` to use the machine as it is booted",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        let mut first: HashMap<String, Span> = HashMap::new();
        for item in items {
            let Kind::Table(b) = &item.kind else {
                self.sink.error(
                    &item.span,
                    format!(
                        "each entry of `boot` must be a table, got {}",
                        got(&item.kind)
                    ),
                    "write each boot entry as a [[host.boot]] table",
                );
                ok = false;
                continue;
            };
            match self.boot_entry(b, &item.span, host) {
                Some((entry, span)) => {
                    if let Some(before) = first.get(&entry.name) {
                        let line = self.sink.line_of(before);
                        self.sink.error(
                            &span,
                            format!("duplicate boot entry name `{}`", entry.name),
                            format!(
                                "`{}` is already the name of the boot entry at line {line}; give \
                                 each boot entry of a host a unique name",
                                entry.name
                            ),
                        );
                        ok = false;
                    } else {
                        first.insert(entry.name.clone(), span);
                        out.push(entry);
                    }
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One `[[host.boot]]`, with the span of its name; `None` after reporting.
    fn boot_entry(
        &mut self,
        b: &Table,
        span: &Span,
        host: Option<&str>,
    ) -> Option<(BootEntry, Span)> {
        self.unknown_keys(b, BOOT_KEYS, "[[host.boot]]");
        let before = self.sink_len();
        let of_host = host.map_or(String::new(), |h| format!(" of host `{h}`"));
        let name = match b.get("name") {
            None => {
                self.sink.error(
                    span,
                    format!("this boot entry{of_host} has no `name`"),
                    "add a name unique within the host, e.g. name = \"xen\" (lowercase letters, \
                     digits and `-`); platforms name it in boot = \"xen\"",
                );
                None
            }
            Some(e) => self.string(e, "xen").and_then(|(s, vspan)| {
                if !s.is_empty() && s.chars().count() <= 64 && s.chars().all(platform_name_char) {
                    Some((s.to_string(), vspan.clone()))
                } else {
                    self.sink.error(
                        vspan,
                        format!(
                            "a boot entry `name` must be 1 to 64 lowercase letters, digits or \
                             `-`, got {s:?}"
                        ),
                        format!(
                            "try name = \"{}\"",
                            sanitize(s, platform_name_char, true, 64)
                        ),
                    );
                    None
                }
            }),
        };
        let select = match b.get("select") {
            None => {
                self.sink.error(
                    span,
                    match &name {
                        Some((n, _)) => format!("boot entry `{n}`{of_host} has no `select`"),
                        None => format!("this boot entry{of_host} has no `select`"),
                    },
                    "add the shell command, run on the host, that makes the next boot this \
                     entry, e.g. select = \"grub-reboot 'Debian GNU/Linux, with Xen \
                     hypervisor'\"",
                );
                None
            }
            Some(e) => self.command(e, "grub-reboot 'Debian GNU/Linux, with Xen hypervisor'"),
        };
        let reboot = match b.get("reboot") {
            None => Some(DEFAULT_REBOOT.to_string()),
            Some(e) => self.command(e, "systemctl reboot"),
        };
        let hypervisor = match b.get("hypervisor") {
            Some(e) => {
                let names = Hypervisor::ALL.map(Hypervisor::as_str);
                self.choice(e, &names, |_, dym| {
                    format!(
                        "{dym}what the entry boots: xen (the machine comes up as Xen's dom0) or \
                         kvm (plain Linux with KVM)"
                    )
                })
                .map(|i| Hypervisor::ALL[i])
            }
            None => match &name {
                Some((n, _)) => match Hypervisor::from_name(n) {
                    Some(h) => Some(h),
                    None => {
                        self.sink.error(
                            span,
                            format!("boot entry `{n}`{of_host} has no `hypervisor`"),
                            "add hypervisor = \"xen\" or hypervisor = \"kvm\": what the entry \
                             boots (only entries named `xen` or `kvm` may leave it out)",
                        );
                        None
                    }
                },
                // The name was reported.
                None => None,
            },
        };
        let timeout_s = self.checked_int(b, &BOOT_TIMEOUT_S);
        if self.sink_len() != before {
            return None;
        }
        let (name, name_span) = name?;
        Some((
            BootEntry {
                name,
                select: select?,
                reboot: reboot?,
                hypervisor: hypervisor?,
                timeout_s: u64::try_from(timeout_s?).ok()?,
            },
            name_span,
        ))
    }

    /// `select` or `reboot`: a non-empty shell command without control characters; `None`
    /// after reporting.
    fn command(&mut self, e: &Entry, example: &str) -> Option<String> {
        let (cmd, span) = self.string(e, example)?;
        match command_problem(cmd) {
            None => Some(cmd.to_string()),
            Some(why) => {
                let what = if e.key == "select" {
                    "the command that makes the next boot this entry"
                } else {
                    "the command that reboots the host (default \"reboot\")"
                };
                self.sink.error(
                    span,
                    format!("`{}` contains {why}", e.key),
                    format!(
                        "give {what} on one line, e.g. {} = \"{}\"",
                        e.key,
                        example.replace('"', "\\\"")
                    ),
                );
                None
            }
        }
    }

    /// Every platform's `boot`: refused without a host that has boot entries (or with
    /// lab = true), checked against the host's entries when given, inferred from the driver
    /// when not. Sets `boot` in the platforms' specs.
    pub(super) fn check_platform_boots(
        &mut self,
        platforms: &mut [PlatformSeen],
        hosts: &[HostSeen],
    ) {
        for p in platforms.iter_mut() {
            let which = match &p.name {
                Some((n, _)) => format!("platform `{n}`"),
                None => "this platform".to_string(),
            };
            // The host as written, and its boot entries; `None` when it could not be read or is
            // not declared (reported already).
            let host = p.host.as_ref().map(|(h, span)| {
                let boots = hosts
                    .iter()
                    .find(|x| x.raw_name() == Some(h.as_str()))
                    .and_then(|x| x.boots.as_deref());
                (h.as_str(), span, boots)
            });
            if let Some((boot, bspan, key_span)) = &p.boot {
                if p.lab {
                    self.sink.error(
                        key_span,
                        "`boot` cannot go with lab = true",
                        "a platform with lab = true runs in the lab on this machine, which is not \
                         rebooted: remove `boot`, or declare a [[host]] with lab = true (the \
                         emulated dual-boot lab machine) and set host = \"NAME\" instead",
                    );
                    continue;
                }
                match host {
                    None => self.sink.error(
                        key_span,
                        format!("{which} has `boot` but no `host`"),
                        "boot entries belong to a [[host]]: set host = \"NAME\" to a host with \
                         [[host.boot]] tables, or remove `boot` (this machine is not rebooted)",
                    ),
                    Some((_, _, None)) => {}
                    Some((h, _, Some([]))) => self.sink.error(
                        key_span,
                        format!("{which} has `boot`, but host `{h}` has no boot entries"),
                        format!(
                            "add [[host.boot]] tables (name, select, hypervisor) to host `{h}` \
                             to reboot it between Xen and KVM, or remove `boot`"
                        ),
                    ),
                    Some((h, _, Some(boots))) => {
                        if boots.iter().any(|b| b.name == *boot) {
                            if let Some(spec) = &mut p.spec {
                                spec.boot = Some(boot.clone());
                            }
                        } else {
                            let names: Vec<&str> = boots.iter().map(|b| b.name.as_str()).collect();
                            self.sink.error(
                                bspan,
                                format!("unknown boot entry `{boot}` of host `{h}`"),
                                format!(
                                    "{}the boot entries of `{h}` are: {}",
                                    did_you_mean(boot, &names),
                                    names.join(", ")
                                ),
                            );
                        }
                    }
                }
                continue;
            }
            let (Some((h, hspan, Some(boots))), Some(spec)) = (host, &mut p.spec) else {
                continue;
            };
            if boots.is_empty() {
                continue;
            }
            let want = wanted(&spec.driver);
            let candidates: Vec<&BootEntry> =
                boots.iter().filter(|b| b.hypervisor == want).collect();
            match candidates.as_slice() {
                [one] => spec.boot = Some(one.name.clone()),
                [] => {
                    let names: Vec<String> = boots
                        .iter()
                        .map(|b| format!("{} ({})", b.name, b.hypervisor))
                        .collect();
                    self.sink.error(
                        hspan,
                        format!(
                            "{which} (driver {}) needs host `{h}` booted into {}, but no boot \
                             entry of `{h}` has hypervisor = \"{want}\"",
                            spec.driver,
                            describe(want)
                        ),
                        format!(
                            "add a [[host.boot]] with hypervisor = \"{want}\" to `{h}`, or name \
                             the entry to use with boot = \"...\"; its entries are: {}",
                            names.join(", ")
                        ),
                    );
                }
                several => {
                    let names: Vec<&str> = several.iter().map(|b| b.name.as_str()).collect();
                    self.sink.error(
                        hspan,
                        format!(
                            "{which} (driver {}) could run under {} boot entries of host `{h}` \
                             with hypervisor = \"{want}\": {}",
                            spec.driver,
                            several.len(),
                            names.join(", ")
                        ),
                        format!(
                            "say which with boot = \"{}\" (or another of {})",
                            names[0],
                            names.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// What a hypervisor's boot is, in words.
fn describe(h: Hypervisor) -> &'static str {
    match h {
        Hypervisor::Xen => "Xen (as dom0)",
        Hypervisor::Kvm => "plain Linux with KVM",
    }
}
