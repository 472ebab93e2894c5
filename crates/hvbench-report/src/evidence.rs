//! The report's Evidence section (docs/architecture.md, "Evidence"): what was counted beside
//! the counted windows, per operation. Per battery workload and metric, each platform's
//! hypervisor entries per operation with the most frequent reasons (and in HTML a chart of
//! them); the guests' steal time, in the battery and for each isolation victim alone and beside
//! each aggressor; and what counting itself cost.

use crate::charts;
use crate::compose::Target;
use crate::document::{one_line, Align, Block, Row, Table};
use crate::format;
use crate::model::{Group, Model};
use hvbench_analysis::{BootstrapConfig, CellName, ExitProfile, IsolationMatrix, PerOp};

/// What the section says when the run has no counters.
pub(crate) const NO_EVIDENCE: &str =
    "No evidence was collected (evidence = false, or a run from before hvbench collected it).";

/// Reasons shown beside each platform's entries.
const TOP_REASONS: usize = 3;

/// A cell with nothing to show.
const NOTHING: &str = "—";

pub(crate) fn section(model: &Model, cfg: &BootstrapConfig, target: Target) -> Vec<Block> {
    let mut blocks = vec![Block::Section("Evidence".into())];
    let ev = &model.evidence;
    if ev.profiles.is_empty() && ev.costs.is_empty() {
        blocks.push(Block::Paragraph(if model.input.counters.is_empty() {
            NO_EVIDENCE.to_string()
        } else {
            "Counters were stored, but none belongs to a counted window (only warm-ups, or windows whose \
             sample is missing)."
                .to_string()
        }));
        return blocks;
    }
    blocks.push(Block::Paragraph(explanation(cfg)));
    blocks.extend(entries(model, cfg));
    if target == Target::Html {
        blocks.extend(charts::exits::chart(model).map(Block::Figure));
    }
    blocks.extend(steal(model));
    blocks.extend(counting_cost(model));
    blocks
}

fn explanation(cfg: &BootstrapConfig) -> String {
    format!(
        "Counters collected beside each counted window (one per workload and agent run, after the measured ones), turned into figures per operation: a counter's rate over \
         the span its source counted, times the window's time per operation (value / span × elapsed / iterations), \
         so that a collector starting a little late or ending a little early does not change it. Each figure is the \
         median over the windows with its {conf} (percentile bootstrap; none with a single window). Hypervisor \
         entries are the sum of the reasons a source told apart: VM exits by reason (kvm.exits, from the \
         kvm_exit tracepoint; xen.trace for HVM and PVH guests), hypercalls and PV events (xen.trace for PV \
         guests); without them, KVM's own exit count (kvm.stats). Every other counter, per operation, is in \
         summary.json under \"evidence\".",
        conf = format::ci_label(cfg.confidence),
    )
}

/// A figure per operation: 3 significant digits, `<0.001` below a thousandth.
pub(crate) fn per_op(x: f64) -> String {
    if x.is_finite() && x != 0.0 && x.abs() < 0.001 {
        "<0.001".to_string()
    } else {
        format::sig(x, 3)
    }
}

fn per_op_with_ci(p: &PerOp) -> String {
    match p.ci {
        Some(ci) => format!(
            "{} [{}, {}]",
            per_op(p.median),
            per_op(ci.lo),
            per_op(ci.hi)
        ),
        None => per_op(p.median),
    }
}

/// `exit.cpuid` -> `cpuid`; hypercalls and PV events keep their prefix.
pub(crate) fn reason_label(key: &str) -> &str {
    key.strip_prefix("exit.").unwrap_or(key)
}

/// The reasons behind a profile's entries (those of the entries' source), most frequent first.
pub(crate) fn entry_reasons(p: &ExitProfile) -> Vec<&PerOp> {
    let source = p.entries.as_ref().map(|e| e.source.as_str());
    let of_source: Vec<&PerOp> = p
        .reasons
        .iter()
        .filter(|r| Some(r.source.as_str()) == source)
        .collect();
    if of_source.is_empty() {
        p.reasons.iter().collect()
    } else {
        of_source
    }
}

/// A platform's profile of one battery group (any guest: a battery trial runs one).
pub(crate) fn battery_profile<'m>(
    model: &'m Model,
    platform: &str,
    g: &Group,
) -> Option<&'m ExitProfile> {
    model.evidence.profiles.iter().find(|p| {
        p.platform == platform
            && p.scenario == g.scenario
            && p.workload == g.workload
            && p.metric == g.metric
    })
}

/// The battery groups with counters on some platform.
pub(crate) fn counted_groups<'m>(model: &'m Model) -> Vec<&'m Group> {
    model
        .groups
        .iter()
        .filter(|g| {
            model
                .platforms
                .iter()
                .any(|p| battery_profile(model, p.name, g).is_some())
        })
        .collect()
}

/// Per battery group, each platform's hypervisor entries per operation and their reasons.
fn entries(model: &Model, cfg: &BootstrapConfig) -> Vec<Block> {
    let ci = format::ci_label(cfg.confidence);
    let header = format!("hypervisor entries per op [{ci}]");
    let mut blocks = Vec::new();
    for g in counted_groups(model) {
        blocks.push(Block::Subsection(format!(
            "Entries per operation: {} / {}",
            one_line(&g.workload),
            one_line(&g.metric)
        )));
        let mut table = Table::new(&[
            ("platform", Align::Left),
            ("windows", Align::Right),
            (header.as_str(), Align::Left),
            ("top reasons per op", Align::Left),
            ("source(s)", Align::Left),
        ]);
        let mut notes = Vec::new();
        for p in &model.platforms {
            let profile = battery_profile(model, p.name, g);
            let windows = profile.map_or_else(|| NOTHING.to_string(), |f| f.windows.to_string());
            let sources = profile
                .map(|f| f.sources.join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| NOTHING.to_string());
            match profile.and_then(|f| f.entries.as_ref().map(|e| (f, e))) {
                Some((f, e)) => {
                    let reasons: Vec<String> = entry_reasons(f)
                        .into_iter()
                        .take(TOP_REASONS)
                        .map(|r| format!("{} {}", one_line(reason_label(&r.key)), per_op(r.median)))
                        .collect();
                    let reasons = if reasons.is_empty() {
                        "(not told apart)".to_string()
                    } else {
                        reasons.join(", ")
                    };
                    table.push(vec![
                        one_line(p.name),
                        windows,
                        per_op_with_ci(e),
                        reasons,
                        sources,
                    ]);
                }
                None => {
                    table.push(vec![
                        one_line(p.name),
                        windows,
                        NOTHING.into(),
                        NOTHING.into(),
                        sources,
                    ]);
                    notes.push(if p.driver == hvbench_spec::Driver::Host.as_str() {
                        format!(
                            "{}: the bare host has no hypervisor, so there is nothing to enter.",
                            one_line(p.name)
                        )
                    } else if profile.is_some() {
                        format!(
                            "{}: no source counted its hypervisor entries.",
                            one_line(p.name)
                        )
                    } else {
                        format!("{}: no counters for this metric.", one_line(p.name))
                    });
                }
            }
        }
        blocks.push(Block::Table(table));
        if !notes.is_empty() {
            blocks.push(Block::Paragraph(format!("{NOTHING} {}", notes.join(" "))));
        }
    }
    blocks
}

/// A steal fraction as a percentage of the windows: `1.25%`, `<0.001%`.
fn steal_pct(p: &PerOp) -> String {
    format!("{}%", per_op(p.median * 100.0))
}

/// The guests' steal time: the battery's (when any guest had some) and each isolation victim's.
fn steal(model: &Model) -> Vec<Block> {
    let groups = counted_groups(model);
    let battery: Vec<(&Group, Vec<Option<&PerOp>>)> = groups
        .iter()
        .map(|g| {
            let row = model
                .platforms
                .iter()
                .map(|p| battery_profile(model, p.name, g).and_then(|f| f.steal_fraction.as_ref()))
                .collect();
            (*g, row)
        })
        .filter(|(_, row): &(&Group, Vec<Option<&PerOp>>)| row.iter().any(Option::is_some))
        .collect();
    let victims: Vec<(&IsolationMatrix, Table)> = model
        .isolation
        .matrices
        .iter()
        .filter_map(|m| victim_steal(model, m).map(|t| (m, t)))
        .collect();
    if battery.is_empty() && victims.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![Block::Subsection("Steal time".into())];
    let any_steal = battery
        .iter()
        .flat_map(|(_, row)| row.iter().flatten())
        .any(|s| s.median > 0.0);
    if any_steal {
        blocks.push(Block::Paragraph(
            "The share of each counted window during which the guest was runnable but not running (its own \
             /proc/stat steal time): the median over the windows, per platform."
                .into(),
        ));
        let mut columns = vec![("workload / metric", Align::Left)];
        let shown: Vec<usize> = (0..model.platforms.len())
            .filter(|&i| battery.iter().any(|(_, row)| row[i].is_some()))
            .collect();
        columns.extend(
            shown
                .iter()
                .map(|&i| (model.platforms[i].name, Align::Right)),
        );
        let mut table = Table::new(&columns);
        for (g, row) in &battery {
            let mut cells = vec![format!(
                "{} / {}",
                one_line(&g.workload),
                one_line(&g.metric)
            )];
            cells.extend(
                shown
                    .iter()
                    .map(|&i| row[i].map_or_else(|| "-".to_string(), steal_pct)),
            );
            table.push(cells);
        }
        blocks.push(Block::Table(table));
    } else if !battery.is_empty() {
        blocks.push(Block::Paragraph(
            "No platform reported steal time in its battery windows (0% everywhere).".into(),
        ));
    }
    for (m, table) in victims {
        blocks.push(Block::Paragraph(format!(
            "Scenario {}: the victim's steal time alone ({}) and beside each aggressor, as the median share of its \
             counted windows. Steal that grows beside an aggressor is the hypervisor giving the victim's CPU \
             time to someone else.",
            one_line(&m.scenario),
            CellName::alone(&m.scenario),
        )));
        blocks.push(Block::Table(table));
    }
    blocks
}

/// The victim's steal time per cell of one isolation scenario, laid out as its matrix: a row
/// per (platform, victim metric, stressor), a column per placement; platforms whose victim
/// counted nothing are left out. None without steal data.
fn victim_steal(model: &Model, m: &IsolationMatrix) -> Option<Table> {
    let find = |platform: &str, workload: &str, metric: &str, cell: CellName| {
        let scenario = cell.to_string();
        model
            .evidence
            .profiles
            .iter()
            .find(|p| {
                p.platform == platform
                    && p.scenario == scenario
                    && p.guest == hvbench_analysis::VICTIM_GUEST
                    && p.workload == workload
                    && p.metric == metric
            })
            .and_then(|p| p.steal_fraction.as_ref())
    };
    let text = |s: Option<&PerOp>| s.map_or_else(String::new, steal_pct);
    let mut columns = vec![
        ("platform", Align::Left),
        ("victim", Align::Left),
        ("alone", Align::Right),
        ("stressor", Align::Left),
    ];
    columns.extend(m.placements.iter().map(|p| (p.as_str(), Align::Right)));
    let mut table = Table::new(&columns);
    for r in m.rows.iter().filter(|r| !r.workload.is_empty()) {
        let steal = |cell: CellName| find(&r.platform, &r.workload, &r.metric, cell);
        let alone = steal(CellName::alone(&m.scenario));
        let counted = alone.is_some()
            || m.stressors.iter().any(|s| {
                m.placements
                    .iter()
                    .any(|p| steal(CellName::stressed(&m.scenario, s, p)).is_some())
            });
        if !counted {
            continue;
        }
        for (k, stressor) in m.stressors.iter().enumerate() {
            let mut cells = if k == 0 {
                vec![
                    one_line(&r.platform),
                    format!("{} / {}", one_line(&r.workload), one_line(&r.metric)),
                    text(alone),
                ]
            } else {
                vec![String::new(); 3]
            };
            cells.push(one_line(stressor));
            for placement in &m.placements {
                cells.push(text(steal(CellName::stressed(
                    &m.scenario,
                    stressor,
                    placement,
                ))));
            }
            table.push(cells);
        }
    }
    if table.rows.is_empty() {
        return None;
    }
    // Where a platform's victim counted nothing: "-"; a column never counted goes.
    table.drop_empty_columns(4);
    for row in &mut table.rows {
        if let Row::Cells(cells) = row {
            let first = !cells[0].is_empty();
            for (i, c) in cells.iter_mut().enumerate() {
                if c.is_empty() && (i >= 3 || (i == 2 && first)) {
                    *c = "-".into();
                }
            }
        }
    }
    Some(table)
}

/// The counted windows against the measured (uncounted) ones, per platform and metric.
fn counting_cost(model: &Model) -> Vec<Block> {
    let costs = &model.evidence.costs;
    if costs.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![
        Block::Subsection("Counting cost".into()),
        Block::Paragraph(
            "Nothing counts beside a measured window, so counting cannot distort the results: the \
             hypervisor counters above come from one extra counted window after the measured ones in each \
             agent run. The counting cost compares the median of those counted windows with the median of \
             the measured (uncounted) windows of the same runs, in the metric's direction: above 1x, the \
             counted windows were slower by that factor. Isolation cells with aggressors are left out."
                .into(),
        ),
    ];
    let mut table = Table::new(&[
        ("platform", Align::Left),
        ("workload / metric", Align::Left),
        ("counted median", Align::Right),
        ("uncounted median", Align::Right),
        ("counting cost", Align::Right),
        ("counted windows", Align::Right),
    ]);
    for c in costs {
        let unit = model
            .groups
            .iter()
            .find(|g| g.workload == c.workload && g.metric == c.metric)
            .map(|g| format!(" {}", one_line(&g.unit)))
            .unwrap_or_default();
        table.push(vec![
            one_line(&c.platform),
            format!("{} / {}", one_line(&c.workload), one_line(&c.metric)),
            format!("{}{unit}", format::value(c.counted_median)),
            format!("{}{unit}", format::value(c.uncounted_median)),
            format!("{}x", format::ratio(c.times_worse)),
            c.counted_windows.to_string(),
        ]);
    }
    blocks.push(Block::Table(table));
    blocks
}
