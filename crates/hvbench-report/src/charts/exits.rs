//! The hypervisor-entries chart of the Evidence section: per battery workload and metric, one
//! horizontal bar per platform, stacked by reason (entries per operation, each reason's median),
//! scaled to that workload's largest bar; a legend names the reasons' colours.

use super::svg::{escape, n, svg_open, text, WIDTH};
use super::PALETTE;
use crate::document::Figure;
use crate::evidence::{battery_profile, counted_groups, entry_reasons, per_op, reason_label};
use crate::model::Model;
use std::collections::HashMap;
use std::fmt::Write;

/// The colour of the reasons beyond the palette, lumped together.
const OTHER_COLOUR: &str = "#9aa3b2";
const OTHER_LABEL: &str = "other reasons";

/// One platform's bar: its reasons (label, per operation) and its total entries.
struct Bar<'a> {
    platform: &'a str,
    segments: Vec<(&'a str, f64)>,
    total: Option<f64>,
    /// What to write instead of a bar.
    note: Option<&'static str>,
}

/// Entries per operation by reason, one stacked bar per platform for each workload.
pub(crate) fn chart(model: &Model) -> Option<Figure> {
    let mut panels = Vec::new();
    for g in counted_groups(model) {
        let bars: Vec<Bar> = model
            .platforms
            .iter()
            .map(|p| {
                let profile = battery_profile(model, p.name, g);
                let segments: Vec<(&str, f64)> = profile
                    .map(|f| {
                        entry_reasons(f)
                            .into_iter()
                            .filter(|r| r.median.is_finite() && r.median > 0.0)
                            .map(|r| (reason_label(&r.key), r.median))
                            .collect()
                    })
                    .unwrap_or_default();
                let total = profile.and_then(|f| f.entries.as_ref()).map(|e| e.median);
                let note = match (segments.is_empty(), total) {
                    (false, _) => None,
                    (true, Some(_)) => Some("not told apart by reason"),
                    (true, None) if p.driver == hvbench_spec::Driver::Host.as_str() => {
                        Some("bare host: no hypervisor")
                    }
                    (true, None) => Some("not counted"),
                };
                Bar {
                    platform: p.name,
                    segments,
                    total,
                    note,
                }
            })
            .collect();
        if bars.iter().any(|b| !b.segments.is_empty()) {
            panels.push((g, bars));
        }
    }
    if panels.is_empty() {
        return None;
    }

    // The legend: reasons by their largest share of a bar, the palette's worth of them.
    let mut share: HashMap<&str, f64> = HashMap::new();
    for (_, bars) in &panels {
        for b in bars {
            let sum: f64 = b.segments.iter().map(|s| s.1).sum();
            for &(label, v) in &b.segments {
                let e = share.entry(label).or_insert(0.0);
                *e = e.max(v / sum);
            }
        }
    }
    let mut reasons: Vec<(&str, f64)> = share.into_iter().collect();
    reasons.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let lumped = reasons.len() > PALETTE.len();
    let named: Vec<&str> = reasons
        .iter()
        .take(if lumped {
            PALETTE.len() - 1
        } else {
            PALETTE.len()
        })
        .map(|r| r.0)
        .collect();
    let colour = |label: &str| {
        named
            .iter()
            .position(|&r| r == label)
            .map_or(OTHER_COLOUR, |i| PALETTE[i])
    };

    let (left, right, row_h, head, gap) = (190.0, WIDTH - 120.0, 22.0, 26.0, 12.0);
    let mut legend: Vec<(&str, &str)> = named.iter().map(|&r| (r, colour(r))).collect();
    if lumped {
        legend.push((OTHER_LABEL, OTHER_COLOUR));
    }
    let per_line = 6;
    let legend_h = legend.len().div_ceil(per_line) as f64 * 20.0 + 12.0;
    let height = legend_h
        + panels
            .iter()
            .map(|(_, bars)| head + bars.len() as f64 * row_h + gap)
            .sum::<f64>()
        + 24.0;
    let mut s = String::new();
    svg_open(&mut s, height, "Hypervisor entries per operation by reason");
    let cell_w = (WIDTH - 16.0) / per_line as f64;
    for (k, (label, c)) in legend.iter().enumerate() {
        let x = 8.0 + (k % per_line) as f64 * cell_w;
        let y = 8.0 + (k / per_line) as f64 * 20.0;
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{c}" class="legend" data-reason="{}"/>"#,
            n(x),
            n(y),
            escape(label)
        );
        text(&mut s, x + 17.0, y + 10.5, "start", "tick", label);
    }

    let mut y0 = legend_h;
    for (g, bars) in &panels {
        text(
            &mut s,
            8.0,
            y0 + 18.0,
            "start",
            "label",
            &format!("{} / {}", g.workload, g.metric),
        );
        let max = bars
            .iter()
            .map(|b| b.segments.iter().map(|s| s.1).sum::<f64>())
            .fold(0.0_f64, f64::max);
        for (k, b) in bars.iter().enumerate() {
            let y = y0 + head + k as f64 * row_h;
            text(&mut s, left - 10.0, y + 14.0, "end", "platform", b.platform);
            if let Some(note) = b.note {
                text(&mut s, left, y + 14.0, "start", "hint", note);
                continue;
            }
            let mut x = left;
            for &(label, v) in &b.segments {
                let w = v / max * (right - left);
                let _ = write!(
                    s,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="mark exit" data-platform="{}" data-workload="{}" data-metric="{}" data-reason="{}" data-value="{v}"><title>{}</title></rect>"#,
                    n(x),
                    n(y + 3.0),
                    n(w),
                    n(row_h - 6.0),
                    colour(label),
                    escape(b.platform),
                    escape(&g.workload),
                    escape(&g.metric),
                    escape(label),
                    escape(&format!(
                        "{}, {} / {}: {label} {} per operation",
                        b.platform,
                        g.workload,
                        g.metric,
                        per_op(v)
                    )),
                );
                x += w;
            }
            if let Some(t) = b.total {
                text(
                    &mut s,
                    x + 6.0,
                    y + 14.0,
                    "start",
                    "value",
                    &format!("{} per op", per_op(t)),
                );
            }
        }
        y0 += head + bars.len() as f64 * row_h + gap;
    }
    text(
        &mut s,
        (left + right) / 2.0,
        height - 8.0,
        "middle",
        "axis",
        "hypervisor entries per operation (each workload scaled to its largest bar)",
    );
    s.push_str("</svg>");
    Some(Figure {
        title: "Hypervisor entries per operation".into(),
        caption: "Each bar is a platform's entries into the hypervisor per operation of the workload, split by \
                  reason (each reason's median over the windows); the number is the median of the windows' totals. \
                  Bars are scaled per workload, so compare platforms within a workload, not across workloads."
            .into(),
        svg: s,
    })
}
