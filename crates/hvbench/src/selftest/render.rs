//! The fidelity table: both medians, their ratio and per-round spread, a verdict per row, then
//! the notes on what each reference figure is. Formatting only; nothing here runs anything.

use super::measure::{median, Outcome};
use super::rows::{Kinship, Row};

/// The table, then the notes on what each reference figure is.
pub(super) fn render(
    rows: &[Row],
    outcomes: &[Outcome],
    tolerance_pct: f64,
    rounds: u32,
    llc: u64,
) -> String {
    let mut table: Vec<[String; 8]> = vec![[
        "workload".into(),
        "reference (tool, command)".into(),
        "hvbench".into(),
        "reference".into(),
        "unit".into(),
        "ratio".into(),
        "per-round ratio".into(),
        "verdict".into(),
    ]];
    let (mut ok, mut comparable) = (0, 0);
    let mut notes = Vec::new();
    for (i, (row, o)) in rows.iter().zip(outcomes).enumerate() {
        let mark = format!("[{}]", i + 1);
        let fmt = |v: f64| format_value(v);
        let mut h = o.hvbench.clone();
        let mut r = o.reference.clone();
        let (hm, rm) = (median(&mut h), median(&mut r));
        let ratios: Vec<f64> = o
            .hvbench
            .iter()
            .zip(&o.reference)
            .map(|(a, b)| a / b)
            .collect();
        let spread = match (
            ratios.iter().copied().reduce(f64::min),
            ratios.iter().copied().reduce(f64::max),
        ) {
            (Some(lo), Some(hi)) => format!("{lo:.3}-{hi:.3}"),
            _ => "-".into(),
        };
        let (ratio, verdict) = match (&o.skipped, hm, rm, &row.kinship) {
            (Some(why), _, _, _) => ("-".to_string(), format!("skipped: {why}")),
            (None, Some(a), Some(b), Kinship::Same { .. }) => {
                comparable += 1;
                let q = a / b;
                let within = (q - 1.0).abs() * 100.0 <= tolerance_pct;
                ok += usize::from(within);
                (
                    format!("{q:.3}"),
                    if within {
                        format!("ok (within {tolerance_pct}%)")
                    } else {
                        format!("MISS (off by {:+.1}%)", (q - 1.0) * 100.0)
                    },
                )
            }
            (None, _, _, Kinship::Unlike { .. }) => {
                ("n/c".to_string(), "not the same quantity".to_string())
            }
            _ => ("-".to_string(), "no figures".to_string()),
        };
        let unit = if row.unit == row.reference_unit {
            row.unit.to_string()
        } else {
            format!("{} vs {}", row.unit, row.reference_unit)
        };
        table.push([
            format!("{} {mark}", row.name),
            row.reference_line(),
            hm.map_or("-".into(), fmt),
            rm.map_or("-".into(), fmt),
            unit,
            ratio,
            spread,
            verdict,
        ]);
        let note = match &row.kinship {
            Kinship::Same { conversion } => format!("{mark} {conversion}"),
            Kinship::Unlike { why } => format!("{mark} not comparable: {why}"),
        };
        notes.push(note);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "hvbench fidelity on this host: {rounds} round(s), hvbench and the reference back to \
         back in each, order alternating; last-level cache {} KiB\n\n",
        llc / 1024
    ));
    out.push_str(&markdown_table(&table));
    out.push('\n');
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{ok} of {comparable} comparable pairs within {tolerance_pct}%. Not compared, for want of a \
         tool measuring the same quantity: mem-latency, page-fault, mmap, clock-gettime, \
         fork-exec (stress-ng's exec stressor refuses root and execs a larger binary), futex-wake \
         (perf's futex benchmarks time the wake call, not the wake-up), cpu-float, cpuid, port-io.\n"
    ));
    out
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn markdown_table(rows: &[[String; 8]]) -> String {
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::rows::{rows, Effort};

    #[test]
    fn rows_say_what_they_compare() {
        let full = rows(Effort::Full, 32 << 20, 2);
        assert!(full.iter().any(|r| r.name.contains("STREAM mix, 128 MiB")));
        assert!(full
            .iter()
            .any(|r| r.reference_line().contains("--size 128MB")));
        let quick = rows(Effort::Quick, 32 << 20, 2);
        assert!(
            quick.len() < full.len(),
            "quick leaves the 5 s stress-ng row out"
        );
        let outcomes: Vec<Outcome> = quick
            .iter()
            .map(|_| Outcome {
                hvbench: vec![10.0, 11.0],
                reference: vec![10.0, 10.0],
                skipped: None,
            })
            .collect();
        let text = render(&quick, &outcomes, 5.0, 2, 32 << 20);
        assert!(text.contains("| syscall [1]"), "{text}");
        assert!(
            text.contains("MISS (off by +5.0%)") || text.contains("ok (within 5%)"),
            "{text}"
        );
        assert!(text.contains("n/c"), "{text}");
        assert!(text.contains("1.000-1.100"), "{text}");
    }
}
