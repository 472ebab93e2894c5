//! The summary's sentences on isolation: per platform the worst cell, and what pinning apart
//! did about each stressor, in words (`stressor_words`).

use super::*;

/// A stressor in words: `cpu` -> `the CPU hog`, `disk[size_mib=64]` -> `the disk hog
/// [size_mib=64]`.
pub(super) fn stressor_words(label: &str) -> String {
    let (kind, params) = match label.find('[') {
        Some(i) => (&label[..i], &label[i..]),
        None => (label, ""),
    };
    let noun = match kind {
        "cpu" => "CPU hog".to_string(),
        "mem-bandwidth" => "memory-bandwidth hog".to_string(),
        "cache" => "cache thrasher".to_string(),
        "memory-bomb" => "memory bomb".to_string(),
        "fork-bomb" => "fork bomb".to_string(),
        "disk" => "disk hog".to_string(),
        "net" => "network hog".to_string(),
        other => format!("{} stressor", one_line(other)),
    };
    if params.is_empty() {
        format!("the {noun}")
    } else {
        format!("the {noun} {}", one_line(params))
    }
}

/// A cell found while looking for the summary's sentences.
pub(super) struct Found<'m> {
    matrix: &'m IsolationMatrix,
    row: &'m IsolationRow,
    cell: &'m IsolationCell,
}

impl Found<'_> {
    /// `syscall / latency under the CPU hog, shared` (and the scenario when there are several).
    fn what(&self, several: bool) -> String {
        let scenario = if several {
            format!(" in scenario {}", one_line(&self.matrix.scenario))
        } else {
            String::new()
        };
        format!(
            "{} under {}, {}{scenario}",
            victim_label(self.row),
            stressor_words(&self.cell.stressor),
            one_line(&self.cell.placement)
        )
    }
}

/// How bad a cell is for the victim, for ranking: first the share of its trials that did not
/// report (a victim that stops is worse than any slowdown), then its significant degradation.
/// `None` when the victim always reported and was not significantly degraded.
pub(super) fn severity(c: &IsolationCell) -> Option<(f64, f64)> {
    let t = &c.victim_trials;
    let dnr = if t.total > 0 {
        t.failed as f64 / t.total as f64
    } else {
        0.0
    };
    let degraded = c
        .degradation()
        .filter(|d| d.verdict.is_degraded())
        .and_then(|d| d.pct);
    if dnr == 0.0 && degraded.is_none() {
        return None;
    }
    Some((dnr, degraded.unwrap_or(0.0)))
}

pub(super) fn rank(a: (f64, f64), b: (f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// A cell in a few words: `+40%`, `DNR 5/5`, `+50%, DNR 2/5`.
pub(super) fn cell_short(c: &IsolationCell) -> String {
    let t = &c.victim_trials;
    let dnr = format!("DNR {}", fraction(t.failed, t.total));
    match c.degradation().and_then(|d| d.pct) {
        Some(p) if t.failed > 0 => format!("{}, {dnr}", pct_short(p)),
        Some(p) => pct_short(p),
        None => dnr,
    }
}

pub(super) fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The summary's sentences on isolation: one item per platform with its worst result and what
/// the aggressors' placement did about it.
pub(crate) fn summary_lines(model: &Model) -> Vec<String> {
    let iso = &model.isolation;
    let several = iso.matrices.len() > 1;
    let mut platforms: Vec<&str> = Vec::new();
    for r in iso.matrices.iter().flat_map(|m| &m.rows) {
        if !platforms.contains(&r.platform.as_str()) {
            platforms.push(&r.platform);
        }
    }
    platforms
        .into_iter()
        .map(|platform| {
            let cells: Vec<Found> = iso
                .matrices
                .iter()
                .flat_map(|m| {
                    m.rows
                        .iter()
                        .filter(move |r| r.platform == platform)
                        .flat_map(move |r| {
                            r.cells.iter().map(move |c| Found {
                                matrix: m,
                                row: r,
                                cell: c,
                            })
                        })
                })
                .collect();
            let mut sentences = vec![worst_sentence(platform, &cells, several)];
            sentences.extend(placement_sentences(platform, &cells));
            sentences.join(" ")
        })
        .collect()
}

pub(super) fn worst_sentence(platform: &str, cells: &[Found], several: bool) -> String {
    let p = one_line(platform);
    let worst = cells
        .iter()
        .filter_map(|f| Some((f, severity(f.cell)?)))
        .max_by(|a, b| rank(a.1, b.1));
    if let Some((f, _)) = worst {
        let t = &f.cell.victim_trials;
        let result = match f.cell.degradation() {
            Some(d) if t.failed > 0 => format!(
                "the victim did not report in {} of {} trials, and the others show {} ({})",
                t.failed,
                t.total,
                pct_with_ci(d).unwrap_or_default(),
                d.verdict.label()
            ),
            Some(d) => format!(
                "{} ({})",
                pct_with_ci(d).unwrap_or_default(),
                d.verdict.label()
            ),
            None => format!(
                "the victim did not report (DNR {})",
                fraction(t.failed, t.total)
            ),
        };
        return format!(
            "{p}: the worst isolation result is {}: {result}.",
            f.what(several)
        );
    }
    let largest = cells
        .iter()
        .filter_map(|f| Some((f, f.cell.degradation()?)))
        .filter_map(|(f, d)| Some((f, d, d.pct?)))
        .max_by(|a, b| a.2.total_cmp(&b.2));
    match largest {
        Some((f, d, pct)) => format!(
            "{p}: no stressor degraded the victim significantly (largest: {} for {}, {}).",
            pct_short(pct),
            f.what(several),
            d.verdict.label()
        ),
        None => format!("{p}: no isolation cell could be compared with the victim alone."),
    }
}

/// Per (row, stressor) where sharing CPUs hurt the victim, the shared cell against each other
/// placement's. A placement protected the victim when it reported in a larger share of trials,
/// or as often and without a significant degradation or with less than half the shared cost.
/// The two largest protections and the costliest case where placement did not help.
pub(super) fn placement_sentences(platform: &str, cells: &[Found]) -> Vec<String> {
    let p = one_line(platform);
    let mut protected: Vec<((f64, f64), String)> = Vec::new();
    let mut unhelped: Option<((f64, f64), String)> = None;
    for shared in cells.iter().filter(|f| f.cell.placement == SHARED) {
        let Some(cost) = severity(shared.cell) else {
            continue;
        };
        for other in cells.iter().filter(|o| {
            std::ptr::eq(o.row, shared.row)
                && o.cell.stressor == shared.cell.stressor
                && o.cell.placement != SHARED
                && matches!(
                    o.cell.outcome,
                    CellOutcome::Measured(_) | CellOutcome::DidNotReport
                )
        }) {
            let other_cost = severity(other.cell).unwrap_or((0.0, 0.0));
            let other_pct = other.cell.degradation().and_then(|d| d.pct);
            let stressor = stressor_words(&shared.cell.stressor);
            let victim = victim_label(shared.row);
            let placement = one_line(&other.cell.placement);
            let (shared_text, other_text) = (cell_short(shared.cell), cell_short(other.cell));
            let helped = other_cost.0 < cost.0
                || (other_cost.0 == cost.0 && (other_cost.1 == 0.0 || other_cost.1 < cost.1 / 2.0));
            if !helped {
                let text = format!(
                    "{} did not protect the victim from {stressor} on {p} (shared {shared_text}, {placement} \
                     {other_text}; {victim}).",
                    capitalized(&placement)
                );
                if unhelped
                    .as_ref()
                    .is_none_or(|(k, _)| rank(cost, *k).is_gt())
                {
                    unhelped = Some((cost, text));
                }
                continue;
            }
            let text = match other_pct {
                Some(o) if cost.0 == 0.0 => format!(
                    "{} cut {stressor}'s cost on {p} from {} to {} ({victim}).",
                    capitalized(&placement),
                    pct_short(cost.1),
                    pct_short(o)
                ),
                _ => format!(
                    "{} kept the victim reporting under {stressor} on {p} (shared {shared_text}, {placement} \
                     {other_text}; {victim}).",
                    capitalized(&placement)
                ),
            };
            protected.push(((cost.0 - other_cost.0, cost.1 - other_cost.1), text));
        }
    }
    protected.sort_by(|a, b| rank(b.0, a.0));
    let mut out: Vec<String> = protected.into_iter().take(2).map(|(_, t)| t).collect();
    out.extend(unhelped.map(|(_, t)| t));
    out
}
