//! The overhead chart: each platform's times-worse against the baseline per metric, on a log
//! scale, with the ratio's confidence interval as whiskers.

use super::colour;
use super::svg::{escape, factor_label, line, n, svg_open, text, LogScale, WIDTH};
use crate::document::Figure;
use crate::format;
use crate::model::{Group, Model};
use std::fmt::Write;

/// Each platform's times-worse against the baseline per metric, with interval whiskers.
pub(super) fn overhead(model: &Model) -> Option<Figure> {
    let base = model.baseline_label()?;
    struct Row<'a> {
        label: String,
        platform: usize,
        g: &'a Group,
        t: f64,
        lo: f64,
        hi: f64,
    }
    let mut rows: Vec<Row> = Vec::new();
    for g in &model.groups {
        let mut first = true;
        for (i, c) in g.comparisons.iter().enumerate() {
            let Some(c) = c else { continue };
            let (Some(t), Some(ci)) = (c.times_worse, c.times_worse_ci) else {
                continue;
            };
            rows.push(Row {
                label: if first {
                    format!("{} / {}", g.workload, g.metric)
                } else {
                    String::new()
                },
                platform: i,
                g,
                t,
                lo: ci.lo,
                hi: ci.hi,
            });
            first = false;
        }
    }
    if rows.is_empty() {
        return None;
    }
    let finite = |v: f64| v.is_finite() && v > 0.0;
    let lo = rows
        .iter()
        .flat_map(|r| [r.t, r.lo])
        .filter(|v| finite(*v))
        .fold(1.0_f64, f64::min);
    let hi = rows
        .iter()
        .flat_map(|r| [r.t, r.hi])
        .filter(|v| finite(*v))
        .fold(1.0_f64, f64::max);
    let (top, row_h, left, right) = (46.0, 24.0, 330.0, WIDTH - 70.0);
    let scale = LogScale::new(lo / 1.15, hi * 1.15, left, right);
    let height = top + rows.len() as f64 * row_h + 40.0;
    let mut s = String::new();
    svg_open(
        &mut s,
        height,
        &format!("Overhead against {} per metric", base),
    );
    let bottom = top + rows.len() as f64 * row_h;
    let one = scale.at(1.0);
    let _ = write!(
        s,
        r#"<rect x="{}" y="{}" width="{}" height="{}" class="better-zone"/><rect x="{}" y="{}" width="{}" height="{}" class="worse-zone"/>"#,
        n(left),
        n(top),
        n(one - left),
        n(bottom - top),
        n(one),
        n(top),
        n(right - one),
        n(bottom - top)
    );
    text(
        &mut s,
        one - 6.0,
        top - 10.0,
        "end",
        "hint",
        &format!("← better than {}", base),
    );
    text(
        &mut s,
        one + 6.0,
        top - 10.0,
        "start",
        "hint",
        &format!("worse than {} →", base),
    );
    for t in scale.ticks() {
        let x = scale.at(t);
        line(&mut s, (x, top), (x, bottom), "grid");
        text(&mut s, x, bottom + 16.0, "middle", "tick", &factor_label(t));
    }
    line(&mut s, (one, top - 4.0), (one, bottom), "ref");
    text(
        &mut s,
        (left + right) / 2.0,
        bottom + 34.0,
        "middle",
        "axis",
        &format!(
            "times worse than {} (log scale), with the ratio's confidence interval",
            base
        ),
    );
    for (k, r) in rows.iter().enumerate() {
        let y = top + (k as f64 + 0.5) * row_h;
        if !r.label.is_empty() {
            text(&mut s, 8.0, y + 4.0, "start", "label", &r.label);
        }
        let name = model.platforms[r.platform].name;
        text(&mut s, left - 10.0, y + 4.0, "end", "platform", name);
        let c = colour(model, r.platform);
        let (x_lo, x_hi) = (scale.at(r.lo), scale.at(r.hi));
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{c}" class="mark whisker"/><line x1="{lo}" y1="{a}" x2="{lo}" y2="{b}" stroke="{c}" class="cap"/><line x1="{hi}" y1="{a}" x2="{hi}" y2="{b}" stroke="{c}" class="cap"/>"#,
            n(x_lo),
            n(x_hi),
            y = n(y),
            lo = n(x_lo),
            hi = n(x_hi),
            a = n(y - 5.0),
            b = n(y + 5.0),
        );
        let _ = write!(
            s,
            r#"<circle cx="{}" cy="{}" r="5" fill="{c}" class="mark point" data-platform="{}" data-workload="{}" data-metric="{}" data-value="{}"><title>{}</title></circle>"#,
            n(scale.at(r.t)),
            n(y),
            escape(name),
            escape(&r.g.workload),
            escape(&r.g.metric),
            r.t,
            escape(&format!(
                "{name}, {} / {}: {} ({} to {})",
                r.g.workload,
                r.g.metric,
                format::times_worse(r.t),
                factor_label(r.lo),
                factor_label(r.hi)
            ))
        );
        text(
            &mut s,
            right + 4.0,
            y + 4.0,
            "start",
            "value",
            &format!("{}x", format::sig(r.t, 3)),
        );
    }
    s.push_str("</svg>");
    Some(Figure {
        title: format!("Overhead against {}", base),
        caption: format!(
            "Each dot is a platform's median over {}'s on one metric, turned so that right is worse whatever the \
             metric's direction; whiskers are the ratio's bootstrap confidence interval.",
            base
        ),
        svg: s,
    })
}
