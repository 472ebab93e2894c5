//! The isolation section of the report: per scenario the victim alone, the degradation matrix
//! (stressors by placement), the details of every cell (test, DNR, the aggressors' throughput,
//! the overlap evidence), the placement facts the platforms recorded, and in HTML a heat map.
//! Also the summary's sentences on isolation: the worst result per platform and which
//! placement protected the victim.

use crate::charts;
use crate::compose::Target;
use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::model::Model;
use hvbench_analysis::{
    BootstrapConfig, CellOutcome, Degradation, IsolationCell, IsolationMatrix, IsolationRow,
    IsolationVerdict, TrialTally, NO_STRESS,
};
use hvbench_proto::names::Placement;
use hvbench_spec::Plan;

/// Marks a degradation that is not significant (or not conclusive).
mod findings;
#[cfg(test)]
use findings::stressor_words;
pub(crate) use findings::summary_lines;

const NOT_SIGNIFICANT_MARK: &str = "*";

/// The placement the others are measured against when asking whether placement protects.
const SHARED: &str = Placement::Shared.as_str();

/// The facts of isolation cells: `isolation.<scenario>.<guest>.<knob>`.
const FACT_PREFIX: &str = "isolation.";

pub(crate) fn section(model: &Model, cfg: &BootstrapConfig, target: Target) -> Vec<Block> {
    let iso = &model.isolation;
    if iso.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![
        Block::Section("Isolation".into()),
        Block::Paragraph(explanation(model, cfg)),
    ];
    let plan = plan_scenarios(model.plan.as_ref());
    for m in &iso.matrices {
        blocks.push(Block::Subsection(format!(
            "Scenario {}",
            one_line(&m.scenario)
        )));
        if let Some(about) = plan
            .iter()
            .find(|p| p.name == m.scenario)
            .and_then(PlanScenario::describe)
        {
            blocks.push(Block::Paragraph(about));
        }
        blocks.push(Block::Table(matrix_table(m)));
        blocks.extend(baseline_notes(m));
        if target == Target::Html {
            blocks.extend(charts::isolation_heat_map(m).map(Block::Figure));
        }
        let details = details_table(m);
        if !details.rows.is_empty() {
            blocks.push(Block::Table(details));
        }
        blocks.extend(facts(model, &m.scenario));
    }
    blocks
}

fn explanation(model: &Model, cfg: &BootstrapConfig) -> String {
    let v = &model.verdict_cfg;
    format!(
        "Each scenario measures a victim alone (<scenario>/{NO_STRESS}) and beside aggressors that run one stressor \
         at a time, their vCPUs shared with the victim's or pinned apart. A cell is the degradation: how much worse \
         the victim's median is than its median alone on the same platform (positive: slowed down; for a \
         higher-is-better metric, the share of throughput lost), with the {conf} of the ratio of medians from a \
         percentile bootstrap. A degradation marked {mark} is not significant: Mann-Whitney U, Holm-adjusted over the \
         {m} comparisons of the isolation matrix at alpha {alpha}; \"dramatic\" is half speed or worse \
         ({dramatic}% or more for a time, {loss}% or more of a throughput). \"DNR f/t\": \
         the victim did not report in f of its t trials (its guest died, hung or timed out), an outcome of its own; \
         \"aggressor DNR\": an aggressor died before the victim was done, so that cell measured less interference. \
         Aggressor throughput is the median of the aggressors' windows that overlap the victim's measured windows; \
         \"windows overlapped c/t\": c of the victim's t measured windows lie entirely within the span during which \
         every aggressor was reporting.",
        conf = format::ci_label(cfg.confidence),
        mark = NOT_SIGNIFICANT_MARK,
        m = model.isolation.tests,
        alpha = v.alpha,
        dramatic = hvbench_analysis::DRAMATIC_DEGRADATION_PCT,
        loss = hvbench_analysis::DRAMATIC_THROUGHPUT_LOSS_PCT,
    )
}

/// `+38.2%`.
pub(crate) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.1}%")
    } else {
        format::sig(x, 3)
    }
}

/// `+38%`, for sentences.
pub(crate) fn pct_short(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.0}%")
    } else {
        format::sig(x, 3)
    }
}

fn bound(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        format::sig(x, 3)
    }
}

/// `+38.2% [30.1, 47.5]`.
pub(crate) fn pct_with_ci(d: &Degradation) -> Option<String> {
    let p = d.pct?;
    Some(match d.ci_pct {
        Some(ci) => format!("{} [{}, {}]", pct(p), bound(ci.lo), bound(ci.hi)),
        None => pct(p),
    })
}

pub(crate) fn fraction(failed: usize, total: usize) -> String {
    format!("{failed}/{total}")
}

fn is_conclusive(v: IsolationVerdict) -> bool {
    v.is_difference() || v == IsolationVerdict::Negligible
}

/// What the matrix shows for a cell.
pub(crate) fn cell_text(c: &IsolationCell) -> String {
    let dnr = &c.victim_trials;
    match &c.outcome {
        CellOutcome::Measured(d) => {
            let mut s = match pct_with_ci(d) {
                Some(s) => s,
                None => d.verdict.label().to_string(),
            };
            if d.pct.is_some() && !is_conclusive(d.verdict) {
                s.push(' ');
                s.push_str(NOT_SIGNIFICANT_MARK);
            }
            if dnr.failed > 0 {
                s.push_str(&format!(", DNR {}", fraction(dnr.failed, dnr.total)));
            }
            // A victim measured beside an aggressor that had died measured no interference.
            let aggressors = &c.aggressor_trials;
            if aggressors.failed > 0 {
                s.push_str(&format!(
                    ", aggressor DNR {}",
                    fraction(aggressors.failed, aggressors.total)
                ));
            }
            s
        }
        CellOutcome::DidNotReport => format!("DNR {}", fraction(dnr.failed, dnr.total)),
        CellOutcome::NoBaseline => "no baseline".into(),
        CellOutcome::NoData if dnr.unfinished > 0 => "no data yet".into(),
        CellOutcome::NoData => "no data".into(),
        CellOutcome::NotRun => "not run".into(),
    }
}

/// The row's victim: `syscall / latency`.
pub(crate) fn victim_label(r: &IsolationRow) -> String {
    if r.workload.is_empty() {
        "(no victim sample)".into()
    } else {
        format!("{} / {}", one_line(&r.workload), one_line(&r.metric))
    }
}

fn alone_text(r: &IsolationRow) -> String {
    let t = &r.baseline.trials;
    match r.baseline.median {
        Some(m) => {
            let mut s = format!("{} {}", format::value(m), one_line(&r.unit));
            if t.failed > 0 {
                s.push_str(&format!(", DNR {}", fraction(t.failed, t.total)));
            }
            s
        }
        None if t.failed > 0 => format!("DNR {}", fraction(t.failed, t.total)),
        None if t.total == 0 => "not run".into(),
        None if t.unfinished > 0 => "no data yet".into(),
        None => "no data".into(),
    }
}

/// One row per (platform, victim metric, stressor); a column per placement. The platform,
/// victim and its median alone show on the first row of their group.
fn matrix_table(m: &IsolationMatrix) -> Table {
    let mut columns = vec![
        ("platform", Align::Left),
        ("victim", Align::Left),
        ("alone", Align::Left),
        ("stressor", Align::Left),
    ];
    columns.extend(m.placements.iter().map(|p| (p.as_str(), Align::Left)));
    let mut table = Table::new(&columns);
    for r in &m.rows {
        for (k, stressor) in m.stressors.iter().enumerate() {
            let mut cells = if k == 0 {
                vec![one_line(&r.platform), victim_label(r), alone_text(r)]
            } else {
                vec![String::new(); 3]
            };
            cells.push(one_line(stressor));
            for placement in &m.placements {
                cells.push(
                    m.cell(r, stressor, placement)
                        .map_or_else(|| "not run".into(), cell_text),
                );
            }
            table.push(cells);
        }
    }
    table
}

/// Platforms whose victim never reported alone: nothing to compare their cells with.
fn baseline_notes(m: &IsolationMatrix) -> Option<Block> {
    let mut notes: Vec<String> = Vec::new();
    for r in &m.rows {
        let t = &r.baseline.trials;
        if r.baseline.n == 0 && t.failed > 0 {
            let note = format!(
                "On {} the victim did not report alone (DNR {} in {}/{NO_STRESS}), so its cells have no baseline.",
                one_line(&r.platform),
                fraction(t.failed, t.total),
                one_line(&m.scenario)
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
    (!notes.is_empty()).then(|| Block::Paragraph(notes.join(" ")))
}

fn verdict_text(c: &IsolationCell) -> String {
    match &c.outcome {
        CellOutcome::Measured(d) => d.verdict.label().into(),
        CellOutcome::DidNotReport => "did not report".into(),
        CellOutcome::NoBaseline => "no baseline".into(),
        CellOutcome::NoData => "no data".into(),
        CellOutcome::NotRun => "not run".into(),
    }
}

fn tally_text(t: &TrialTally) -> String {
    if t.total == 0 {
        "-".into()
    } else {
        fraction(t.failed, t.total)
    }
}

/// One row per cell that ran: the test, the DNR counts, the aggressors, the overlap.
fn details_table(m: &IsolationMatrix) -> Table {
    let mut table = Table::new(&[
        ("platform", Align::Left),
        ("victim", Align::Left),
        ("stressor", Align::Left),
        ("placement", Align::Left),
        ("n alone/stressed", Align::Right),
        ("p (Holm)", Align::Right),
        ("verdict", Align::Left),
        ("victim DNR", Align::Right),
        ("aggressor throughput", Align::Right),
        ("aggressor DNR", Align::Right),
        ("windows overlapped", Align::Right),
    ]);
    for r in &m.rows {
        for c in r.cells.iter().filter(|c| c.outcome != CellOutcome::NotRun) {
            let d = c.degradation();
            table.push(vec![
                one_line(&r.platform),
                victim_label(r),
                one_line(&c.stressor),
                one_line(&c.placement),
                format!("{}/{}", r.baseline.n, d.map_or(0, |d| d.n_stressed)),
                d.and_then(|d| d.p_holm)
                    .map_or_else(|| "-".into(), format::p_value),
                verdict_text(c),
                tally_text(&c.victim_trials),
                c.aggressor_throughput.as_ref().map_or_else(
                    || "-".into(),
                    |t| format!("{} {}", format::value(t.median), one_line(&t.unit)),
                ),
                tally_text(&c.aggressor_trials),
                if c.overlap.total == 0 {
                    "-".into()
                } else {
                    fraction(c.overlap.covered, c.overlap.total)
                },
            ]);
        }
    }
    table
}

/// The placement facts the platforms recorded for this scenario's cells.
fn facts(model: &Model, scenario: &str) -> Vec<Block> {
    let mut table = Table::new(&[
        ("platform", Align::Left),
        ("cell", Align::Left),
        ("setting", Align::Left),
        ("value", Align::Left),
    ]);
    for p in &model.platforms {
        for (key, value) in p.facts.into_iter().flatten() {
            let Some((cell, setting)) = fact_of(key, scenario) else {
                continue;
            };
            table.push(vec![
                one_line(p.name),
                one_line(cell),
                one_line(setting),
                one_line(value),
            ]);
        }
    }
    if table.rows.is_empty() {
        return vec![Block::Paragraph(
            "No placement fact (CPUs, cgroup, weight, cap) was recorded for this scenario.".into(),
        )];
    }
    vec![
        Block::Paragraph("Placements applied, as the platforms recorded them:".into()),
        Block::Table(table),
    ]
}

/// `isolation.<scenario>/<cell>.<setting>` -> (`<cell>`, `<setting>`); a fact of the whole
/// scenario (`isolation.<scenario>.<setting>`) has cell `(all cells)`.
fn fact_of<'k>(key: &'k str, scenario: &str) -> Option<(&'k str, &'k str)> {
    let rest = key.strip_prefix(FACT_PREFIX)?.strip_prefix(scenario)?;
    if let Some(setting) = rest.strip_prefix('.') {
        return Some(("(all cells)", setting));
    }
    rest.strip_prefix('/')?.split_once('.')
}

/// What the plan says about a scenario beyond its cells.
struct PlanScenario {
    name: String,
    victim: Vec<String>,
    aggressors: Option<u64>,
    weight: Option<u64>,
    cap_pct: Option<u64>,
    settle_ms: Option<u64>,
}

impl PlanScenario {
    fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.victim.is_empty() {
            parts.push(format!("Victim: {}.", self.victim.join(", ")));
        }
        if let Some(n) = self.aggressors {
            parts.push(format!(
                "{n} aggressor{} per stress cell.",
                if n == 1 { "" } else { "s" }
            ));
        }
        let mut knobs = Vec::new();
        if let Some(w) = self.weight {
            knobs.push(format!("aggressor weight {w}"));
        }
        if let Some(c) = self.cap_pct {
            knobs.push(format!("aggressor cap {c}% of a CPU"));
        }
        if let Some(s) = self.settle_ms {
            knobs.push(format!(
                "the victim starts {s} ms after every aggressor reported"
            ));
        }
        if !knobs.is_empty() {
            parts.push(format!("Settings: {}.", knobs.join("; ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

fn plan_scenarios(plan: Option<&Plan>) -> Vec<PlanScenario> {
    plan.map_or(&[][..], |p| &p.isolation[..])
        .iter()
        .map(|s| PlanScenario {
            name: s.name.clone(),
            victim: s.victim.iter().map(|w| one_line(&w.id)).collect(),
            aggressors: Some(u64::from(s.aggressors)),
            weight: s.aggressor_weight.map(u64::from),
            cap_pct: s.aggressor_cap_pct.map(u64::from),
            settle_ms: Some(s.settle_ms),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_facts() {
        assert_eq!(stressor_words("cpu"), "the CPU hog");
        assert_eq!(
            stressor_words("disk[size_mib=64]"),
            "the disk hog [size_mib=64]"
        );
        assert_eq!(
            fact_of("isolation.noisy/cpu/shared.victim.cpus", "noisy"),
            Some(("cpu/shared", "victim.cpus"))
        );
        assert_eq!(
            fact_of("isolation.noisy.aggressor1.weight", "noisy"),
            Some(("(all cells)", "aggressor1.weight"))
        );
        assert_eq!(fact_of("isolation.noisy2/none.victim.cpus", "noisy"), None);
        assert_eq!(fact_of("cpu.model", "noisy"), None);
        assert_eq!(pct(38.24), "+38.2%");
        assert_eq!(pct(-2.0), "-2.0%");
        assert_eq!(pct_short(95.4), "+95%");
    }
}
