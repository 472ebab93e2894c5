//! The boots of dual-boot hosts (docs/architecture.md, "Dual-boot hosts"): per host, how often
//! it was rebooted between its boot entries and how long that took, and every boot in a table;
//! a warning when a boot came up wrong and was refused.
//!
//! A boot counts as a reboot when hvbench rebooted the host for it ([`BootRow::reboot`]); the
//! boot found when the campaign started is listed but not counted, and its `seconds` (0) are
//! not part of the time spent rebooting.

use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::model::Model;
use hvbench_store::BootRow;

/// How many characters of a boot id the table shows: enough to tell boots apart.
const BOOT_ID_CHARS: usize = 8;

/// The "Boots" section; nothing when the run recorded no boot.
pub(crate) fn section(model: &Model) -> Vec<Block> {
    let boots = model.input.boots;
    if boots.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![Block::Section("Boots".into())];
    let hosts = hosts(boots);
    let sentences: Vec<String> = hosts
        .iter()
        .map(|h| host_sentence(model, h, boots))
        .collect();
    blocks.push(Block::Paragraph(sentences.join(" ")));
    blocks.push(Block::Paragraph(
        "A boot is counted as a reboot when hvbench rebooted the host into the entry; the boot \
         found when the run started is listed but not counted. Seconds run from issuing the \
         reboot until SSH answered and the boot was verified (boot id, kernel, hypervisor)."
            .into(),
    ));
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("host", Align::Left),
        ("entry", Align::Left),
        ("boot id", Align::Left),
        ("hypervisor seen", Align::Left),
        ("kernel", Align::Left),
        ("seconds", Align::Right),
        ("outcome", Align::Left),
    ]);
    for (i, b) in boots.iter().enumerate() {
        table.push(vec![
            (i + 1).to_string(),
            one_line(&b.host),
            one_line(&b.entry),
            one_line(&b.boot_id).chars().take(BOOT_ID_CHARS).collect(),
            dash(&b.hypervisor),
            dash(&b.kernel),
            if b.reboot {
                format::sig(b.seconds, 3)
            } else {
                "-".to_string()
            },
            outcome(b),
        ]);
    }
    blocks.push(Block::Table(table));
    blocks
}

/// A warning listing the refused boots, for the top of the report; none when every boot was
/// the one wanted.
pub(crate) fn warning(model: &Model) -> Option<Block> {
    let refused: Vec<String> = model
        .input
        .boots
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.ok)
        .map(|(i, b)| {
            let why = one_line(&b.detail);
            format!(
                "#{} on {} (entry {}){}",
                i + 1,
                one_line(&b.host),
                one_line(&b.entry),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                }
            )
        })
        .collect();
    let (n, was) = match refused.len() {
        0 => return None,
        1 => ("1 boot of a dual-boot host".to_string(), "was"),
        n => (format!("{n} boots of dual-boot hosts"), "were"),
    };
    Some(Block::Warning(format!(
        "{n} came up other than the entry wanted and {was} refused: {} (see Boots).",
        refused.join("; ")
    )))
}

/// The hosts of the boots, in the order of their first boot.
fn hosts(boots: &[BootRow]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for b in boots {
        if !out.contains(&b.host.as_str()) {
            out.push(&b.host);
        }
    }
    out
}

/// "Host dual was rebooted 2 times between its boot entries (xen, kvm), 136 s in all (mean
/// 68.0 s per reboot); 1 boot came up wrong and was refused."
fn host_sentence(model: &Model, host: &str, boots: &[BootRow]) -> String {
    let mine: Vec<&BootRow> = boots.iter().filter(|b| b.host == host).collect();
    let reboots: Vec<&BootRow> = mine.iter().copied().filter(|b| b.reboot).collect();
    // The entries as the plan declared them; the ones seen in the boots otherwise.
    let declared: Option<Vec<String>> = model
        .plan
        .as_ref()
        .and_then(|p| p.host(host))
        .filter(|h| !h.boots.is_empty())
        .map(|h| h.boots.iter().map(|b| b.name.clone()).collect());
    let entries = declared.unwrap_or_else(|| {
        let mut seen: Vec<String> = Vec::new();
        for b in &mine {
            if !seen.contains(&b.entry) {
                seen.push(b.entry.clone());
            }
        }
        seen
    });
    let entries: Vec<String> = entries.iter().map(|e| one_line(e)).collect();
    let mut s = format!("Host {} ", one_line(host));
    if reboots.is_empty() {
        s.push_str(&format!(
            "was not rebooted between its boot entries ({})",
            entries.join(", ")
        ));
    } else {
        let total: f64 = reboots.iter().map(|b| b.seconds).sum();
        s.push_str(&format!(
            "was rebooted {} between its boot entries ({}), {} s in all (mean {} s per reboot)",
            times(reboots.len()),
            entries.join(", "),
            format::sig(total, 3),
            format::sig(total / reboots.len() as f64, 3),
        ));
    }
    let refused = mine.iter().filter(|b| !b.ok).count();
    match refused {
        0 => s.push('.'),
        1 => s.push_str("; 1 boot came up wrong and was refused."),
        n => s.push_str(&format!("; {n} boots came up wrong and were refused.")),
    }
    s
}

fn times(n: usize) -> String {
    match n {
        1 => "once".to_string(),
        n => format!("{n} times"),
    }
}

fn dash(s: &str) -> String {
    let s = one_line(s);
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// "ok", "ok: found at the start", "refused: came up as xen dom0".
fn outcome(b: &BootRow) -> String {
    let detail = one_line(&b.detail);
    let word = if b.ok { "ok" } else { "refused" };
    if detail.is_empty() {
        word.to_string()
    } else {
        format!("{word}: {detail}")
    }
}
