//! The memory-latency chart: mem-latency's `latency@SIZE` medians against working-set size,
//! one curve per platform, both axes logarithmic.

use super::colour;
use super::svg::{escape, line, n, size_label, svg_open, text, LogScale, WIDTH};
use crate::document::Figure;
use crate::format;
use crate::model::{Group, Model};
use hvbench_analysis::anomaly::working_set_bytes;
use hvbench_analysis::median;
use std::fmt::Write;

/// mem-latency's `latency@SIZE` metrics: one curve per platform.
pub(super) fn memory_latency(model: &Model) -> Option<Figure> {
    let points: Vec<(u64, &Group)> = model
        .groups
        .iter()
        .filter(|g| g.workload == "mem-latency")
        .filter_map(|g| Some((working_set_bytes(&g.metric)?, g)))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let unit = points[0].1.unit.clone();
    let mut curves: Vec<(usize, Vec<(u64, f64)>)> = Vec::new();
    for (i, _) in model.platforms.iter().enumerate() {
        let mut c: Vec<(u64, f64)> = points
            .iter()
            .filter_map(|(b, g)| Some((*b, median(&g.values[i])?)))
            .filter(|(_, m)| *m > 0.0)
            .collect();
        c.sort_by_key(|(b, _)| *b);
        if !c.is_empty() {
            curves.push((i, c));
        }
    }
    if curves.is_empty() {
        return None;
    }
    let sizes: Vec<u64> = {
        let mut v: Vec<u64> = points.iter().map(|(b, _)| *b).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let all = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1));
    let (ylo, yhi) = all.fold((f64::INFINITY, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
    let (left, right, top, bottom) = (80.0, WIDTH - 180.0, 20.0, 360.0);
    let x = LogScale::new(
        *sizes.first()? as f64 / 1.3,
        *sizes.last()? as f64 * 1.3,
        left,
        right,
    );
    let y = LogScale::new(ylo / 1.3, yhi * 1.3, bottom, top);
    let mut s = String::new();
    svg_open(&mut s, bottom + 50.0, "Memory latency by working-set size");
    for t in y.ticks() {
        let yy = y.at(t);
        line(&mut s, (left, yy), (right, yy), "grid");
        text(
            &mut s,
            left - 6.0,
            yy + 4.0,
            "end",
            "tick",
            &format::sig(t, 2),
        );
    }
    for b in &sizes {
        let xx = x.at(*b as f64);
        line(&mut s, (xx, top), (xx, bottom), "grid");
        text(&mut s, xx, bottom + 16.0, "middle", "tick", &size_label(*b));
    }
    text(
        &mut s,
        (left + right) / 2.0,
        bottom + 36.0,
        "middle",
        "axis",
        "working set (bytes, log scale)",
    );
    text(
        &mut s,
        14.0,
        top + 4.0,
        "start",
        "axis",
        &format!("{unit} (log)"),
    );
    for (k, (i, c)) in curves.iter().enumerate() {
        let col = colour(model, *i);
        let name = model.platforms[*i].name;
        let pts: Vec<String> = c
            .iter()
            .map(|(b, m)| format!("{},{}", n(x.at(*b as f64)), n(y.at(*m))))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{col}" class="mark curve" data-platform="{}"/>"#,
            pts.join(" "),
            escape(name)
        );
        for (b, m) in c {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="4" fill="{col}" class="mark point" data-platform="{}" data-bytes="{b}" data-value="{m}"><title>{}</title></circle>"#,
                n(x.at(*b as f64)),
                n(y.at(*m)),
                escape(name),
                escape(&format!(
                    "{name} at {}: {} {unit}",
                    size_label(*b),
                    format::value(*m)
                ))
            );
        }
        let ly = top + 10.0 + k as f64 * 20.0;
        line(
            &mut s,
            (right + 20.0, ly),
            (right + 44.0, ly),
            "legend-line",
        );
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="24" height="4" fill="{col}"/>"#,
            n(right + 20.0),
            n(ly - 2.0)
        );
        text(&mut s, right + 50.0, ly + 4.0, "start", "platform", name);
    }
    s.push_str("</svg>");
    Some(Figure {
        title: "Memory latency by working-set size".into(),
        caption: "Median pointer-chase latency per platform. Curves that part beyond the caches and the TLB's reach \
                  point at page-walk costs (nested paging, missing huge pages)."
            .into(),
        svg: s,
    })
}
