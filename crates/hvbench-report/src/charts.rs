//! Charts for the HTML report, as self-contained SVG (no script, no external resource): overhead
//! against the baseline with interval whiskers, memory latency against working-set size, the
//! isolation matrix, and every sample as a strip plot.
//!
//! Every data mark carries `class="mark ..."` and `data-*` attributes, so that a test (or a
//! reader's tool) can find what was drawn.

use crate::document::Figure;
use crate::format;
use crate::model::{Group, Model};
use hvbench_analysis::anomaly::working_set_bytes;
use hvbench_analysis::{
    median, summarize, BootstrapConfig, CellOutcome, IsolationCell, IsolationMatrix, IsolationRow,
};
use std::fmt::Write;

/// Platform colours, by platform index (the baseline is always grey).
const PALETTE: [&str; 8] = [
    "#2f6db5", "#d9822b", "#2e9e6b", "#b8446e", "#7a5cc2", "#8c6d3f", "#3a9fb0", "#c23b22",
];
const BASELINE_COLOUR: &str = "#555555";
const WIDTH: f64 = 960.0;

pub(crate) fn figures(model: &Model) -> Vec<crate::document::Block> {
    let mut out = Vec::new();
    out.extend(overhead(model));
    out.extend(memory_latency(model));
    out.extend(strips(model));
    out.into_iter()
        .map(crate::document::Block::Figure)
        .collect()
}

fn colour(model: &Model, platform: usize) -> &'static str {
    if model.baseline.as_ref().is_some_and(|b| b.index == platform) {
        BASELINE_COLOUR
    } else {
        PALETTE[platform % PALETTE.len()]
    }
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an SVG attribute.
fn n(x: f64) -> String {
    format!("{:.1}", if x.is_finite() { x } else { 0.0 })
}

fn svg_open(out: &mut String, height: f64, label: &str) {
    svg_open_sized(out, WIDTH, height, label);
}

fn svg_open_sized(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{l}"><title>{l}</title>"#,
        w = n(width),
        h = n(height),
        l = escape(label)
    );
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        n(x),
        n(y),
        escape(s)
    );
}

fn line(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="{class}"/>"#,
        n(x1),
        n(y1),
        n(x2),
        n(y2)
    );
}

/// A logarithmic axis from `lo` to `hi` (both > 0) onto `[x0, x1]`.
#[derive(Clone, Copy)]
struct LogScale {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogScale {
    fn new(lo: f64, hi: f64, x0: f64, x1: f64) -> LogScale {
        let (lo, hi) = if hi / lo < 1.5 {
            (lo / 1.25, hi * 1.25)
        } else {
            (lo, hi)
        };
        LogScale { lo, hi, x0, x1 }
    }

    fn at(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        self.x0 + (v / self.lo).ln() / (self.hi / self.lo).ln() * (self.x1 - self.x0)
    }

    /// 1-2-5 ticks within the range.
    fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(self.lo.log10().floor());
        while decade <= self.hi {
            for m in [1.0, 2.0, 5.0] {
                let t = decade * m;
                if t >= self.lo && t <= self.hi {
                    out.push(t);
                }
            }
            decade *= 10.0;
        }
        out
    }
}

/// A linear axis with "nice" ticks.
#[derive(Clone, Copy)]
struct LinScale {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LinScale {
    fn new(lo: f64, hi: f64, x0: f64, x1: f64) -> LinScale {
        let (lo, hi) = if hi > lo {
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        } else {
            let pad = lo.abs().max(1.0) * 0.05;
            (lo - pad, hi + pad)
        };
        LinScale { lo, hi, x0, x1 }
    }

    fn at(&self, v: f64) -> f64 {
        self.x0 + (v - self.lo) / (self.hi - self.lo) * (self.x1 - self.x0)
    }

    /// Steps of 1, 2 or 5 times a power of ten, at most 8 per range.
    fn ticks(&self) -> Vec<f64> {
        let span = self.hi - self.lo;
        let mag = 10f64.powf((span / 5.0).log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 8.0)
            .unwrap_or(mag * 10.0);
        let mut t = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        while t <= self.hi && out.len() < 12 {
            out.push(t);
            t += step;
        }
        out
    }
}

fn factor_label(t: f64) -> String {
    if t >= 1.0 {
        format!("{}x", format::sig(t, 2))
    } else {
        format!("1/{}", format::sig(1.0 / t, 2))
    }
}

/// Each platform's times-worse against the baseline per metric, with interval whiskers.
fn overhead(model: &Model) -> Option<Figure> {
    let base = model.baseline_platform()?;
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
        &format!("Overhead against {} per metric", base.name),
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
        &format!("← better than {}", base.name),
    );
    text(
        &mut s,
        one + 6.0,
        top - 10.0,
        "start",
        "hint",
        &format!("worse than {} →", base.name),
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
            base.name
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
        title: format!("Overhead against {}", base.name),
        caption: format!(
            "Each dot is a platform's median over {}'s on one metric, turned so that right is worse whatever the \
             metric's direction; whiskers are the ratio's bootstrap confidence interval.",
            base.name
        ),
        svg: s,
    })
}

fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => format!("{b}"),
    }
}

/// mem-latency's `latency@SIZE` metrics: one curve per platform.
fn memory_latency(model: &Model) -> Option<Figure> {
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

/// One isolation scenario as a heat map: a row per (platform, victim metric), a column per
/// (stressor, placement), each cell coloured by the victim's degradation. A cell whose victim
/// did not report is hatched grey and says "DNR"; a cell that did not run is left blank.
pub(crate) fn isolation_heat_map(m: &IsolationMatrix) -> Option<Figure> {
    if m.rows.is_empty() || m.stressors.is_empty() || m.placements.is_empty() {
        return None;
    }
    let columns: Vec<(&str, &str)> = m
        .stressors
        .iter()
        .flat_map(|s| m.placements.iter().map(move |p| (s.as_str(), p.as_str())))
        .collect();
    let (left, top, cell_w, cell_h) = (300.0, 64.0, 84.0, 40.0);
    let width = (left + columns.len() as f64 * cell_w + 20.0).max(WIDTH);
    let height = top + m.rows.len() as f64 * cell_h + 50.0;
    let hatch = format!("dnr-hatch-{}", slug(&m.scenario));
    let mut s = String::new();
    svg_open_sized(
        &mut s,
        width,
        height,
        &format!("Isolation matrix: {}", m.scenario),
    );
    let _ = write!(
        s,
        r##"<defs><pattern id="{hatch}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#d4d4d4"/><line x1="0" y1="0" x2="0" y2="8" stroke="#8a8a8a" stroke-width="3"/></pattern></defs>"##
    );
    let group_w = cell_w * m.placements.len() as f64;
    for (j, st) in m.stressors.iter().enumerate() {
        let x = left + j as f64 * group_w;
        text(&mut s, x + group_w / 2.0, top - 30.0, "middle", "label", st);
        for (k, pl) in m.placements.iter().enumerate() {
            let cx = x + (k as f64 + 0.5) * cell_w;
            text(&mut s, cx, top - 10.0, "middle", "tick", pl);
        }
        if j > 0 {
            line(
                &mut s,
                (x, top - 40.0),
                (x, top + m.rows.len() as f64 * cell_h),
                "grid",
            );
        }
    }
    for (k, r) in m.rows.iter().enumerate() {
        let y = top + k as f64 * cell_h;
        let label = if r.workload.is_empty() {
            r.platform.clone()
        } else {
            format!("{}: {} / {}", r.platform, r.workload, r.metric)
        };
        text(
            &mut s,
            left - 10.0,
            y + cell_h / 2.0 + 4.0,
            "end",
            "platform",
            &label,
        );
        for (j, (st, pl)) in columns.iter().enumerate() {
            let x = left + j as f64 * cell_w;
            let cell = m.cell(r, st, pl);
            let heat_cell = HeatCell::of(cell, &hatch);
            let tip = format!(
                "{}, {} under {st}, {pl}: {}",
                r.platform,
                label_victim(r),
                heat_cell.tip
            );
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="{}" data-degradation="{}" data-platform="{}" data-workload="{}" data-metric="{}" data-stressor="{}" data-placement="{}"><title>{}</title></rect>"#,
                n(x + 1.0),
                n(y + 1.0),
                n(cell_w - 2.0),
                n(cell_h - 2.0),
                heat_cell.fill,
                heat_cell.class,
                escape(&heat_cell.data),
                escape(&r.platform),
                escape(&r.workload),
                escape(&r.metric),
                escape(st),
                escape(pl),
                escape(&tip)
            );
            let label_y = if heat_cell.note.is_empty() {
                y + cell_h / 2.0 + 4.0
            } else {
                y + cell_h / 2.0
            };
            text(
                &mut s,
                x + cell_w / 2.0,
                label_y,
                "middle",
                "cell-label",
                &heat_cell.label,
            );
            if !heat_cell.note.is_empty() {
                text(
                    &mut s,
                    x + cell_w / 2.0,
                    y + cell_h - 6.0,
                    "middle",
                    "tick",
                    &heat_cell.note,
                );
            }
        }
    }
    let bottom = top + m.rows.len() as f64 * cell_h;
    text(
        &mut s,
        8.0,
        bottom + 20.0,
        "start",
        "axis",
        "victim degradation against the victim alone: 0% white, 100% and more deep red, improvements green;",
    );
    text(
        &mut s,
        8.0,
        bottom + 38.0,
        "start",
        "axis",
        "faded: not significant; hatched DNR: the victim did not report; blank: not run",
    );
    s.push_str("</svg>");
    Some(Figure {
        title: format!("Isolation matrix: {}", m.scenario),
        caption: "How much worse the victim does while each stressor runs on co-located aggressors, per platform, \
                  victim metric and placement of the aggressors' vCPUs."
            .into(),
        svg: s,
    })
}

fn label_victim(r: &IsolationRow) -> String {
    if r.workload.is_empty() {
        "the victim".into()
    } else {
        format!("{} / {}", r.workload, r.metric)
    }
}

/// How one cell of the heat map is drawn.
struct HeatCell {
    fill: String,
    label: String,
    /// A second, smaller line: the victim's DNR count when some trials did not report.
    note: String,
    tip: String,
    class: &'static str,
    /// `data-degradation`: the % for a measured cell, else what happened.
    data: String,
}

impl HeatCell {
    fn of(cell: Option<&IsolationCell>, hatch: &str) -> HeatCell {
        let blank = |label: &str, tip: &str, data: &str| HeatCell {
            fill: "#ffffff".into(),
            label: label.into(),
            note: String::new(),
            tip: tip.into(),
            class: "cell blank",
            data: data.into(),
        };
        let Some(c) = cell else {
            return blank("", "not run", "not-run");
        };
        let dnr = &c.victim_trials;
        match &c.outcome {
            CellOutcome::Measured(d) => match d.pct {
                Some(pct) => {
                    let significant = d.verdict.is_difference()
                        || d.verdict == hvbench_analysis::IsolationVerdict::Negligible;
                    let ci = d.ci_pct.map_or(String::new(), |ci| {
                        format!(" (CI {:+.1}% to {:+.1}%)", ci.lo, ci.hi)
                    });
                    let dnr_note = if dnr.failed > 0 {
                        format!("; DNR {}/{}", dnr.failed, dnr.total)
                    } else {
                        String::new()
                    };
                    HeatCell {
                        fill: heat(pct),
                        label: format!("{pct:+.0}%"),
                        note: if dnr.failed > 0 {
                            format!("DNR {}/{}", dnr.failed, dnr.total)
                        } else {
                            String::new()
                        },
                        tip: format!("{pct:+.1}%{ci}, {}{dnr_note}", d.verdict.label()),
                        class: if significant {
                            "mark cell"
                        } else {
                            "mark cell ns"
                        },
                        data: format!("{pct}"),
                    }
                }
                None => HeatCell {
                    fill: "#eeeeee".into(),
                    label: "?".into(),
                    note: String::new(),
                    tip: d.verdict.label().into(),
                    class: "cell",
                    data: "invalid".into(),
                },
            },
            CellOutcome::DidNotReport => HeatCell {
                fill: format!("url(#{hatch})"),
                label: format!("DNR {}/{}", dnr.failed, dnr.total),
                note: String::new(),
                tip: format!("did not report in {} of {} trials", dnr.failed, dnr.total),
                class: "mark cell dnr",
                data: "DNR".into(),
            },
            CellOutcome::NoBaseline => HeatCell {
                fill: "#eeeeee".into(),
                label: "no base".into(),
                note: String::new(),
                tip: "the victim did not report alone: nothing to compare with".into(),
                class: "cell",
                data: "no-baseline".into(),
            },
            CellOutcome::NoData => HeatCell {
                fill: "#eeeeee".into(),
                label: "–".into(),
                note: String::new(),
                tip: "no data".into(),
                class: "cell",
                data: "no-data".into(),
            },
            CellOutcome::NotRun => blank("", "not run", "not-run"),
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// White at 0 %, deep red at 100 % and beyond, green for improvements.
fn heat(degradation_pct: f64) -> String {
    let mix = |a: (u8, u8, u8), t: f64| {
        let t = t.clamp(0.0, 1.0);
        let c = |x: u8| (255.0 + (f64::from(x) - 255.0) * t).round() as u8;
        format!("#{:02x}{:02x}{:02x}", c(a.0), c(a.1), c(a.2))
    };
    if degradation_pct >= 0.0 {
        mix((200, 40, 40), degradation_pct / 100.0)
    } else {
        mix((60, 160, 90), -degradation_pct / 50.0)
    }
}

/// Every measured sample, one panel per metric, one row per platform.
fn strips(model: &Model) -> Option<Figure> {
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
                g.better.describe()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_ticks() {
        let s = LogScale::new(0.5, 20.0, 0.0, 100.0);
        assert_eq!(s.ticks(), [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert!((s.at(0.5) - 0.0).abs() < 1e-9 && (s.at(20.0) - 100.0).abs() < 1e-9);
        let l = LinScale::new(0.0, 100.0, 0.0, 110.0);
        assert_eq!(l.ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(heat(0.0), "#ffffff");
        assert_eq!(heat(100.0), "#c82828");
        assert_eq!(heat(250.0), "#c82828");
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(factor_label(0.5), "1/2.0");
        assert_eq!(factor_label(2.0), "2.0x");
    }
}
