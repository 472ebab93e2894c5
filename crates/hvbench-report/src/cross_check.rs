//! The report's Cross-check section: where the plan ran one of hvbench's own workloads beside a
//! tool that measures the same quantity ([`hvbench_analysis::CROSS_CHECKS`]), per platform the
//! two medians and the ratio hvbench / tool, the tool's figure converted into hvbench's unit
//! first, with a sentence that reads it. Left out when the plan holds no pair.

use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::model::Model;
use hvbench_analysis::{BootstrapConfig, CrossCheck, CrossPlatform};

pub(crate) fn section(model: &Model, cfg: &BootstrapConfig) -> Vec<Block> {
    if model.cross_checks.is_empty() {
        return Vec::new();
    }
    let conf = format::ci_label(cfg.confidence);
    let mut blocks = vec![
        Block::Section("Cross-check".into()),
        Block::Paragraph(format!(
            "Where the plan ran one of hvbench's own workloads beside one of the field's tools that measures the \
             same quantity, each platform that measured both gets the two medians and their ratio, hvbench / tool, \
             the tool's figure first converted into hvbench's unit, with a {conf} (percentile bootstrap, both sides \
             resampled). A ratio that holds from platform to platform says the two figures rank the platforms alike; \
             one that moves on a platform says that platform treats the two differently, and which figure to \
             question there."
        )),
    ];
    for check in &model.cross_checks {
        blocks.extend(pair(model, check, &conf));
    }
    blocks
}

fn pair(model: &Model, check: &CrossCheck, conf: &str) -> Vec<Block> {
    let p = check.pair;
    let (ours, tool) = (one_line(&check.workload), one_line(&check.tool_workload));
    let mut blocks = vec![
        Block::Subsection(format!(
            "{ours} / {} against {tool} / {}",
            p.ours.metric, p.tool.metric
        )),
        Block::Paragraph(format!(
            "Both measure {}. Paired when {}. Unit conversion: {}.",
            p.quantity,
            conditions(check),
            p.conversion
        )),
    ];
    if let Some(problem) = &check.problem {
        blocks.push(Block::Paragraph(format!(
            "Not compared: {}.",
            one_line(problem)
        )));
        return blocks;
    }
    if check.platforms.is_empty() {
        blocks.push(Block::Paragraph(
            "No platform measured both (see the results and failures).".into(),
        ));
    } else {
        blocks.push(Block::Table(table(check, conf)));
        blocks.push(Block::List(
            check
                .platforms
                .iter()
                .map(|cp| reading(model, check, cp, conf))
                .collect(),
        ));
    }
    if !check.one_sided.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Measured one side only: {}.",
            check
                .one_sided
                .iter()
                .map(|s| one_line(s))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(note) = p.note {
        blocks.push(Block::Paragraph(note.to_string()));
    }
    blocks
}

/// The conditions of both sides in words.
fn conditions(check: &CrossCheck) -> String {
    let p = check.pair;
    let side = |label: &str, text: String| {
        if text.is_empty() {
            format!("{} runs with any parameters", one_line(label))
        } else {
            format!("{} runs with {text}", one_line(label))
        }
    };
    format!(
        "{} and {}",
        side(&check.workload, p.ours.describe_conditions()),
        side(&check.tool_workload, p.tool.describe_conditions())
    )
}

fn table(check: &CrossCheck, conf: &str) -> Table {
    let p = check.pair;
    let (ours, tool) = (one_line(&check.workload), one_line(&check.tool_workload));
    let converted = p.tool_factor != 1.0;
    let our_median = format!("{ours} median ({})", p.ours.unit);
    let tool_median = format!("{tool} median ({})", p.tool.unit);
    let tool_in = format!("{tool} in {}", p.ours.unit);
    let ratio = format!("ratio {ours} / {tool} [{conf}]");
    let mut columns = vec![
        ("platform", Align::Left),
        ("n", Align::Right),
        (our_median.as_str(), Align::Right),
        (conf, Align::Left),
        ("n", Align::Right),
        (tool_median.as_str(), Align::Right),
        (conf, Align::Left),
    ];
    if converted {
        columns.push((tool_in.as_str(), Align::Right));
    }
    columns.push((ratio.as_str(), Align::Left));
    let mut table = Table::new(&columns);
    for cp in &check.platforms {
        let mut cells = vec![
            one_line(&cp.platform),
            cp.ours.n.to_string(),
            format::value(cp.ours.median),
            format::interval(&cp.ours.ci),
            cp.tool.n.to_string(),
            format::value(cp.tool.median),
            format::interval(&cp.tool.ci),
        ];
        if converted {
            cells.push(format::value(cp.tool_median_converted));
        }
        cells.push(cp.ratio.map_or_else(
            || "-".to_string(),
            |r| format::ratio_with_ci(r.point, &r.ci),
        ));
        table.push(cells);
    }
    table
}

/// One sentence per platform: "Inside xen-pv, disk-rand-read gives 0.620x fio's IOPS (95% CI
/// [0.610, 0.631]), against 0.800x on host."
fn reading(model: &Model, check: &CrossCheck, cp: &CrossPlatform, conf: &str) -> String {
    let p = check.pair;
    let index = model.platforms.iter().position(|m| m.name == cp.platform);
    let is_guest = index.is_some_and(|i| model.platforms[i].is_guest());
    let place = format!(
        "{} {}",
        if is_guest { "Inside" } else { "On" },
        one_line(&cp.platform)
    );
    let (ours, tool) = (one_line(&check.workload), one_line(&check.tool_workload));
    let Some(r) = cp.ratio else {
        return format!("{place}, {tool}'s median is 0: there is no ratio.");
    };
    let mut s = format!(
        "{place}, {ours} gives {}x {tool}'s {} ({conf} [{}, {}])",
        format::ratio(r.point),
        p.measure,
        format::ratio(r.ci.lo),
        format::ratio(r.ci.hi)
    );
    // Against the ratio on the platform this one is compared with (the host, as a rule).
    let base = index
        .and_then(|i| model.baseline_of(i))
        .and_then(|b| check.platforms.iter().find(|o| o.platform == b.name))
        .and_then(|b| b.ratio.map(|br| (b.platform.as_str(), br)));
    if let Some((name, br)) = base {
        s.push_str(&format!(
            ", against {}x on {}",
            format::ratio(br.point),
            one_line(name)
        ));
    }
    if r.ci.contains(1.0) {
        s.push_str("; the interval holds 1: the two do not differ clearly here");
    }
    s.push('.');
    s
}
