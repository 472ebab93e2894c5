//! The isolation heat map: one isolation scenario's matrix as a grid of cells coloured by the
//! victim's degradation, with hatched DNR cells and blank cells for what did not run. Drawn
//! from an `IsolationMatrix` rather than the report model, so it stands apart from the others.

use super::svg::{escape, line, n, svg_open_sized, text, WIDTH};
use crate::document::Figure;
use hvbench_analysis::{CellOutcome, IsolationCell, IsolationMatrix, IsolationRow};
use std::fmt::Write;

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
pub(super) fn heat(degradation_pct: f64) -> String {
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
