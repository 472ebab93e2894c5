//! Reading platform facts for the rules: look-ups that remember which fact supported a cause.

use super::{Cause, FactRef, PlatformFacts};
use hvbench_proto::facts as key;

/// The value of `key` on `p`, trimmed; None when absent or empty.
pub(crate) fn get<'a>(p: &'a PlatformFacts<'a>, key: &str) -> Option<&'a str> {
    p.facts.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `key=value` on `p`, for a cause.
pub(crate) fn fact(p: &PlatformFacts, key: &str) -> Option<FactRef> {
    get(p, key).map(|v| FactRef {
        platform: p.name.to_string(),
        key: key.to_string(),
        value: one_line(v, 80),
    })
}

/// A cause supported by the facts `keys` of `p` (those present).
pub(crate) fn cause(text: impl Into<String>, p: &PlatformFacts, keys: &[&str]) -> Cause {
    Cause {
        text: text.into(),
        facts: keys.iter().filter_map(|k| fact(p, k)).collect(),
        counters: Vec::new(),
    }
}

/// The selected choice of a sysfs multiple-choice file: `always [madvise] never` -> `madvise`;
/// a plain value is itself.
pub(crate) fn selected(value: &str) -> &str {
    match (value.find('['), value.find(']')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.trim(),
    }
}

/// "no", "0", "false", "off", "none", "n", "disabled", "unpinned".
pub(crate) fn is_off(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "0" | "no" | "n" | "false" | "off" | "none" | "disabled" | "unpinned"
    )
}

/// "yes", "1", "true", "on", "y", "enabled".
pub(crate) fn is_on(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "y" | "true" | "on" | "enabled"
    )
}

/// Whether the space-separated flag list has `flag`.
pub(crate) fn has_flag(flags: &str, flag: &str) -> bool {
    flags.split_whitespace().any(|f| f == flag)
}

/// A leading number of a fact: "12.5", "12.5%", "3 (of 4)".
pub(crate) fn number(value: &str) -> Option<f64> {
    let v = value.trim();
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(v.len());
    v[..end].parse().ok()
}

/// The platform ran under software emulation: QEMU's TCG directly, or inside hvbench's lab
/// host (`lab`, `lab.emulation`), or on a host that is itself emulated (`host.emulated`).
pub(crate) fn is_emulated(p: &PlatformFacts) -> bool {
    key::is_tcg(p.facts)
        || get(p, key::LAB).is_some()
        || get(p, key::LAB_EMULATION).is_some()
        || get(p, key::HOST_EMULATED).is_some_and(is_on)
}

/// The fact keys that say "emulated" ([`is_emulated`]): two platforms that are both emulated
/// share them, whatever their values.
pub(crate) const EMULATION_KEYS: &[&str] =
    &[key::ACCEL, key::LAB, key::LAB_EMULATION, key::HOST_EMULATED];

/// The platform ran in hvbench's lab (a `lab` fact that is not "false", or any `lab.*` fact):
/// on a lab host, not on the machine of a baseline outside the lab.
pub(crate) fn is_lab(p: &PlatformFacts) -> bool {
    get(p, key::LAB).is_some_and(|l| !is_off(l))
        || p.facts
            .iter()
            .any(|(k, v)| k.starts_with(key::LAB_PREFIX) && !v.trim().is_empty())
}

/// The platform runs on hardware virtualization (KVM, or a Xen HVM/PVH guest): where EPT/NPT
/// matter.
pub(crate) fn is_hardware_virtualized(p: &PlatformFacts) -> bool {
    get(p, key::ACCEL).is_some_and(|a| a.eq_ignore_ascii_case("kvm"))
        || get(p, key::XEN_GUEST_TYPE)
            .is_some_and(|t| t.eq_ignore_ascii_case("hvm") || t.eq_ignore_ascii_case("pvh"))
}

fn one_line(s: &str, max_chars: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max_chars {
        s
    } else {
        let cut: String = s.chars().take(max_chars).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(selected("always [madvise] never"), "madvise");
        assert_eq!(selected("never"), "never");
        assert!(is_off("No") && is_off("0") && !is_off("writeback"));
        assert!(is_on("TRUE") && !is_on("maybe"));
        assert!(has_flag("fpu vme ept vpid", "ept") && !has_flag("fpu eptx", "ept"));
        assert_eq!(number("12.5%"), Some(12.5));
        assert_eq!(number("3 (of 4)"), Some(3.0));
        assert_eq!(number("n/a"), None);
    }
}
