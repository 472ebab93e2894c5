//! The strip plot: every measured sample, one panel per metric and one row per platform, with
//! the median and its bootstrap confidence interval behind the dots.

use super::colour;
use super::svg::{escape, line, n, svg_open, text, LinScale, WIDTH};
use crate::document::Figure;
use crate::format;
use crate::model::{Group, Model};
use hvbench_analysis::{summarize, BootstrapConfig};
use std::fmt::Write;

/// Every measured sample, one panel per metric, one row per platform.
pub(super) fn strips(model: &Model) -> Option<Figure> {
    let groups: Vec<&Group> = model
        .groups
        .iter()
        .filter(|g| g.values.iter().any(|v| !v.is_empty()))
        .collect();
    if groups.is_empty() {
        return None;
    }
    let (left, right, row_h, head, foot) = (160.0, WIDTH - 30.0, 22.0, 26.0, 30.0);
    let boot = BootstrapConfig {
        resamples: 2_000,
        ..BootstrapConfig::default()
    };
    let panel_h =
        |g: &Group| head + g.values.iter().filter(|v| !v.is_empty()).count() as f64 * row_h + foot;
    let height: f64 = groups.iter().map(|g| panel_h(g)).sum::<f64>() + 10.0;
    let mut s = String::new();
    svg_open(&mut s, height, "Every measured sample");
    let mut y0 = 0.0;
    for g in groups {
        let vals = g.values.iter().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let title = if model.several_scenarios {
            format!(
                "{} / {} [{}] ({})",
                g.workload, g.metric, g.scenario, g.unit
            )
        } else {
            format!(
                "{} / {} ({}, {})",
                g.workload,
                g.metric,
                g.unit,
                crate::format::describe_better(&g.better)
            )
        };
        text(&mut s, 8.0, y0 + 18.0, "start", "label", &title);
        if !lo.is_finite() {
            y0 += panel_h(g);
            continue;
        }
        let x = LinScale::new(lo, hi, left, right);
        let rows = g.values.iter().filter(|v| !v.is_empty()).count() as f64;
        let bottom = y0 + head + rows * row_h;
        for t in x.ticks() {
            let xx = x.at(t);
            line(&mut s, (xx, y0 + head), (xx, bottom), "grid");
            text(
                &mut s,
                xx,
                bottom + 14.0,
                "middle",
                "tick",
                &format::sig(t, 3),
            );
        }
        let mut k = 0.0;
        for (i, v) in g.values.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let name = model.platforms[i].name;
            let yc = y0 + head + (k + 0.5) * row_h;
            k += 1.0;
            text(&mut s, left - 10.0, yc + 4.0, "end", "platform", name);
            let col = colour(model, i);
            if let Some(sm) = summarize(v, &boot) {
                let _ = write!(
                    s,
                    r#"<rect x="{}" y="{}" width="{}" height="14" fill="{col}" class="ci-band"/>"#,
                    n(x.at(sm.ci.lo)),
                    n(yc - 7.0),
                    n((x.at(sm.ci.hi) - x.at(sm.ci.lo)).max(1.0)),
                );
                let _ = write!(
                    s,
                    r#"<line x1="{m}" y1="{a}" x2="{m}" y2="{b}" stroke="{col}" class="median"/>"#,
                    m = n(x.at(sm.median)),
                    a = n(yc - 9.0),
                    b = n(yc + 9.0)
                );
            }
            for (j, val) in v.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                // A fixed vertical jitter pattern keeps coincident samples apart, reproducibly.
                let jitter = [0.0, -4.0, 4.0, -2.0, 2.0, -6.0, 6.0][j % 7];
                let _ = write!(
                    s,
                    r#"<circle cx="{}" cy="{}" r="3" fill="{col}" class="mark sample" data-platform="{}" data-value="{val}"><title>{}</title></circle>"#,
                    n(x.at(*val)),
                    n(yc + jitter),
                    escape(name),
                    escape(&format!("{name}: {} {}", format::value(*val), g.unit))
                );
            }
        }
        y0 += panel_h(g);
    }
    s.push_str("</svg>");
    Some(Figure {
        title: "Every measured sample".into(),
        caption: "One dot per measured window (warm-ups excluded); the tick is the median and the band its bootstrap \
                  confidence interval."
            .into(),
        svg: s,
    })
}
