//! The wording and layout of the human-readable report (terminal and Markdown alike).

use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::model::{BaselineKind, Group, Machine, Missing, Model, Outcome};
use crate::{boots, charts, cross_check, evidence, findings, isolation, machines, manifest, twins};
use hvbench_analysis::{BootstrapConfig, Verdict, DEFAULT_MAD_THRESHOLD};
use hvbench_proto::{facts, Better};
use hvbench_store::{format_utc, RunStatus};

/// Platform facts shown in the platforms table, with their column headers, in order.
const KEY_FACTS: &[(&str, &str)] = &[
    (facts::ACCEL, "accel"),
    ("qemu.version", "QEMU"),
    ("qemu.machine", "machine"),
    ("qemu.cpu", "vCPU model"),
    ("kernel.release", "guest kernel"),
    ("clocksource", "clocksource"),
    ("cpuid.hypervisor", "hypervisor (cpuid)"),
    ("cpu.model", "CPU model"),
];

/// Marks an overhead whose ratio interval includes 1.
const NOT_SIGNIFICANT_MARK: &str = "*";

/// What the report is for: text renderers (terminal, Markdown) or HTML, which adds charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Text,
    Html,
}

pub(crate) fn compose(model: &Model, cfg: &BootstrapConfig, target: Target) -> Vec<Block> {
    let mut blocks = header(model);
    blocks.extend(tcg_warning(model));
    blocks.extend(lab_warning(model));
    blocks.extend(lab_and_real_warning(model));
    blocks.extend(slirp_warning(model));
    blocks.extend(boots::warning(model));
    blocks.extend(findings::summary(model));
    if target == Target::Html {
        blocks.extend(charts::figures(model));
    }
    blocks.extend(platforms(model));
    blocks.extend(boots::section(model));
    if !model.is_isolation_only() {
        blocks.extend(results(model, cfg));
        blocks.extend(cross_check::section(model, cfg));
        blocks.extend(twins::section(model, cfg));
    }
    blocks.extend(evidence::section(model, cfg, target));
    blocks.extend(isolation::section(model, cfg, target));
    blocks.extend(failures(model));
    blocks.extend(manifest::manifest(model));
    blocks
}

fn header(model: &Model) -> Vec<Block> {
    let run = model.input.run;
    let status = match run.status {
        RunStatus::Complete => "complete",
        RunStatus::Running | RunStatus::Interrupted => "incomplete: interrupted or still running",
        RunStatus::Failed => "failed",
    };
    vec![
        Block::Title(format!(
            "hvbench report: run {} ({})",
            run.id,
            one_line(&run.name)
        )),
        Block::Fields(vec![
            (
                "Run".into(),
                format!("{} ({})", run.id, one_line(&run.name)),
            ),
            ("Status".into(), status.into()),
            ("Started".into(), format_utc(run.started_ms)),
            (
                "Finished".into(),
                run.finished_ms.map_or_else(|| "-".to_string(), format_utc),
            ),
            (
                "Version".into(),
                format!("hvbench {}", one_line(&run.hvbench_version)),
            ),
        ]),
    ]
}

/// A warning naming `names` ("Platform a" or "Platforms a, b"), none when there are none;
/// `text(who, whose)` words it, `whose` being "its" or "their".
fn platforms_warning(names: Vec<&str>, text: impl FnOnce(String, &str) -> String) -> Option<Block> {
    let (who, whose) = match names.len() {
        0 => return None,
        1 => ("Platform", "its"),
        _ => ("Platforms", "their"),
    };
    Some(Block::Warning(text(
        format!("{who} {}", names.join(", ")),
        whose,
    )))
}

fn lab_warning(model: &Model) -> Option<Block> {
    platforms_warning(model.lab_platforms(), |who, whose| {
        format!(
            "{who} ran inside hvbench's emulated lab host (a real Xen or KVM host nested under QEMU's TCG): \
             {whose} timings are emulated; they show that the pipeline works against the real toolstack, not how \
             the hypervisor performs on hardware."
        )
    })
}

/// Guests in the lab beside guests on real hardware in one run: lab timings are emulated, so
/// the two kinds of platform are not comparable with each other.
fn lab_and_real_warning(model: &Model) -> Option<Block> {
    let (concerned, lab) = model.lab_and_real_guests();
    let real: Vec<&str> = concerned
        .iter()
        .copied()
        .filter(|p| !lab.contains(p))
        .collect();
    platforms_warning(concerned, |who, whose| {
        format!(
            "{who} mix guests in hvbench's emulated lab ({}) with guests on real hardware ({}) in one comparison: \
             {whose} timings are not comparable across the two kinds, as lab timings are emulated. Compare lab \
             platforms only with each other and real ones only with each other, or measure them in separate runs.",
            lab.join(", "),
            real.join(", ")
        )
    })
}

/// Network figures through QEMU's user network measure slirp, a user-space TCP/IP stack no
/// cloud runs, rather than the hypervisor's network path.
fn slirp_warning(model: &Model) -> Option<Block> {
    platforms_warning(model.slirp_platforms(), |who, whose| {
        format!(
            "{who} had the guest's NIC on QEMU's user network (slirp, fact net.backend): {whose} network \
             figures measure QEMU's slirp, a TCP/IP stack in user space, not the hypervisor's network path \
             (net = \"tap\" puts it on a tap, with vhost-net under KVM)."
        )
    })
}

fn tcg_warning(model: &Model) -> Option<Block> {
    platforms_warning(model.tcg_platforms(), |who, whose| {
        format!(
            "{who} ran the guest under QEMU's software emulation (TCG, accel=tcg): {whose} overhead figures \
             measure emulation, not hardware virtualization."
        )
    })
}

fn platforms(model: &Model) -> Vec<Block> {
    let mut blocks = vec![Block::Section("Platforms".into())];
    if model.platforms.is_empty() {
        blocks.push(Block::Paragraph(
            "No platform was recorded for this run.".into(),
        ));
        return blocks;
    }
    let only_here = model.machines.len() == 1 && model.machines[0].is_local();
    if only_here {
        let all: Vec<usize> = (0..model.platforms.len()).collect();
        blocks.push(Block::Table(platform_table(model, &all)));
        blocks.extend(machines::overhead_sentence(model).map(Block::Paragraph));
        if model.is_isolation_only() {
            return blocks;
        }
        blocks.extend(run_baseline(model));
        return blocks;
    }
    // Grouped by machine (docs/architecture.md, "Machines over SSH").
    for m in &model.machines {
        blocks.push(Block::Subsection(if m.is_local() {
            "This machine (the controller)".to_string()
        } else {
            format!("Machine {}", one_line(m.name))
        }));
        blocks.push(Block::Table(platform_table(model, &m.platforms)));
        if !model.is_isolation_only() {
            blocks.extend(machine_baseline(model, m));
        }
    }
    if !model.is_isolation_only() {
        if !model.several_machines() {
            blocks.extend(run_baseline(model));
        } else if model.several_baselines() {
            blocks.push(Block::Paragraph(
                "Platforms on different machines are compared through their baselines: each ratio is a platform's \
                 median over the median of its own machine's baseline, so ratios compare across machines where raw \
                 medians do not."
                    .into(),
            ));
        }
    }
    blocks.extend(machines::overhead_sentence(model).map(Block::Paragraph));
    blocks.extend(machines::side_by_side(model));
    blocks
}

/// The platforms table of some platforms (indices, in platform order).
fn platform_table(model: &Model, platforms: &[usize]) -> Table {
    let against = model.several_machines() && !model.is_isolation_only();
    let mut columns = vec![("platform", Align::Left), ("driver", Align::Left)];
    if against {
        columns.push(("compared with", Align::Left));
    }
    columns.extend(KEY_FACTS.iter().map(|&(_, header)| (header, Align::Left)));
    let mut table = Table::new(&columns);
    for &i in platforms {
        let p = &model.platforms[i];
        let mut cells = vec![one_line(p.name), one_line(p.driver)];
        if against {
            cells.push(compared_with_cell(model, i));
        }
        cells.extend(
            KEY_FACTS
                .iter()
                .map(|&(key, _)| p.fact(key).map(one_line).unwrap_or_default()),
        );
        table.push(cells);
    }
    table.drop_empty_columns(if against { 3 } else { 2 });
    for row in &mut table.rows {
        if let crate::document::Row::Cells(cells) = row {
            cells
                .iter_mut()
                .filter(|c| c.is_empty())
                .for_each(|c| *c = "-".into());
        }
    }
    table
}

/// Whom platform `i` is compared with, for the platforms table of a run on several machines.
fn compared_with_cell(model: &Model, i: usize) -> String {
    match model.baseline_of(i) {
        None if model.is_baseline(i) => "(baseline)".to_string(),
        None => "-".to_string(),
        Some(b)
            if model.machine_of(i).host.is_none() && b.machine != model.platforms[i].machine =>
        {
            format!("{} (fallback: another machine's)", one_line(b.name))
        }
        Some(b) if model.machine_of(i).host.is_none() => format!("{} (fallback)", one_line(b.name)),
        Some(b) => one_line(b.name),
    }
}

/// The run's one baseline, as a run on one machine has it.
fn run_baseline(model: &Model) -> Option<Block> {
    let (b, p) = (model.baseline.as_ref()?, model.baseline_platform()?);
    Some(Block::Paragraph(match b.kind {
        BaselineKind::Host => format!(
            "Baseline: {} (driver host); ratios are platform median / baseline median.",
            p.name
        ),
        BaselineKind::First => format!(
            "Baseline: {}. No platform has driver \"host\", so the first platform is the baseline; \
             ratios are platform median / baseline median.",
            p.name
        ),
    }))
}

/// A machine's baseline, in a run on several machines: its own host platform, or the run's
/// baseline it falls back to.
fn machine_baseline(model: &Model, m: &Machine) -> Option<Block> {
    if !model.several_machines() {
        return None;
    }
    let run_base = model.baseline_platform()?;
    let compared: Vec<String> = m
        .platforms
        .iter()
        .filter(|&&i| model.compared_with[i].is_some())
        .map(|&i| one_line(model.platforms[i].name))
        .collect();
    if let Some(h) = m.host {
        let h = one_line(model.platforms[h].name);
        return Some(Block::Paragraph(if compared.is_empty() {
            format!(
                "Baseline of {}: {h} (driver host); no other platform ran there.",
                m.described()
            )
        } else {
            format!(
                "Baseline of {}: {h} (driver host); the {} of {} {} median / {h}'s median.",
                m.described(),
                if compared.len() == 1 {
                    "ratio"
                } else {
                    "ratios"
                },
                compared.join(", "),
                if compared.len() == 1 {
                    "is its"
                } else {
                    "are their"
                },
            )
        }));
    }
    let base_machine = &model.machines[run_base.machine];
    let no_host = if model
        .baseline
        .as_ref()
        .is_some_and(|b| b.kind == BaselineKind::First)
    {
        "no platform of the run has driver \"host\", so the first platform is the baseline"
            .to_string()
    } else {
        format!("{} has no platform with driver \"host\"", m.described())
    };
    if compared.is_empty() {
        return Some(Block::Paragraph(format!(
            "Baseline: {} on {}: {no_host}.",
            one_line(run_base.name),
            base_machine.described()
        )));
    }
    let (who, falls, whose) = if compared.len() == 1 {
        ("platform", "falls", "its ratios")
    } else {
        ("platforms", "fall", "their ratios")
    };
    let across = if std::ptr::eq(base_machine, m) {
        String::new()
    } else {
        format!(
            ", so {whose} include the difference between {} and {}",
            m.described(),
            base_machine.described()
        )
    };
    Some(Block::Paragraph(format!(
        "On {}, {who} {} {falls} back to the run's baseline {} on {}: {no_host}{across}.",
        m.described(),
        compared.join(", "),
        one_line(run_base.name),
        base_machine.described(),
    )))
}

fn results(model: &Model, cfg: &BootstrapConfig) -> Vec<Block> {
    let mut blocks = vec![Block::Section("Results".into())];
    if model.groups.is_empty() {
        blocks.push(Block::Paragraph("No measured sample was recorded.".into()));
    } else {
        blocks.push(Block::Paragraph(format!(
            "n counts measured samples (warm-ups excluded). Medians carry a {conf} from a percentile bootstrap \
             ({resamples} resamples, seed {seed}); ratios carry a bootstrap {conf} too. An overhead marked {mark} has \
             a ratio interval that includes 1: no clear difference from the baseline. Outliers (modified z-score above \
             {threshold}, from the median absolute deviation) are counted, never dropped.",
            conf = format::ci_label(cfg.confidence),
            resamples = cfg.resamples,
            seed = cfg.seed,
            mark = NOT_SIGNIFICANT_MARK,
            threshold = DEFAULT_MAD_THRESHOLD,
        )));
        blocks.push(Block::Paragraph(findings::verdict_rules(model)));
    }
    for g in &model.groups {
        blocks.push(Block::Subsection(group_title(model, g)));
        blocks.push(Block::Table(group_table(model, g, cfg)));
        let reasons: Vec<String> = model
            .platforms
            .iter()
            .zip(&g.comparisons)
            .filter_map(|(p, c)| {
                let c = c.as_ref()?;
                let why = c.reason.as_deref()?;
                matches!(c.verdict, Verdict::InvalidData | Verdict::HighVariance).then(|| {
                    format!(
                        "{}: {} ({})",
                        one_line(p.name),
                        c.verdict.label(),
                        one_line(why)
                    )
                })
            })
            .collect();
        if !reasons.is_empty() {
            blocks.push(Block::Paragraph(reasons.join(". ") + "."));
        }
        if model.several_baselines() {
            blocks.extend(baselines_without_data(model, g));
        } else {
            let baseline_has_data = model
                .baseline
                .as_ref()
                .is_some_and(|b| matches!(g.outcomes[b.index], Outcome::Measured { .. }));
            if !baseline_has_data && model.platforms.len() > 1 {
                blocks.push(Block::Paragraph(
                    "The baseline has no data for this metric, so there are no ratios.".into(),
                ));
            }
        }
    }
    for w in &model.unmeasured_workloads {
        blocks.push(Block::Subsection(one_line(w)));
        blocks.push(Block::Paragraph(
            "No data on any platform (see failures).".into(),
        ));
    }
    blocks
}

/// With a baseline per machine: the baselines that have no data for a group, and whose ratios
/// that leaves out.
fn baselines_without_data(model: &Model, g: &Group) -> Option<Block> {
    let notes: Vec<String> = model
        .baselines()
        .into_iter()
        .filter(|&b| !matches!(g.outcomes[b], Outcome::Measured { .. }))
        .filter_map(|b| {
            let left_out: Vec<String> = (0..model.platforms.len())
                .filter(|&i| model.compared_with[i] == Some(b))
                .map(|i| one_line(model.platforms[i].name))
                .collect();
            (!left_out.is_empty()).then(|| {
                format!(
                    "{} (the baseline of {}) has no data for this metric, so {} {} no ratio",
                    one_line(model.platforms[b].name),
                    left_out.join(", "),
                    left_out.join(", "),
                    if left_out.len() == 1 { "has" } else { "have" }
                )
            })
        })
        .collect();
    (!notes.is_empty()).then(|| Block::Paragraph(notes.join(". ") + "."))
}

fn group_title(model: &Model, g: &Group) -> String {
    let scenario = if model.several_scenarios {
        format!(" [scenario {}]", one_line(&g.scenario))
    } else {
        String::new()
    };
    format!(
        "{} / {}{scenario} ({}, {})",
        one_line(&g.workload),
        one_line(&g.metric),
        one_line(&g.unit),
        format::describe_better(&g.better)
    )
}

fn group_table(model: &Model, g: &Group, cfg: &BootstrapConfig) -> Table {
    let ci = format::ci_label(cfg.confidence);
    let median = format!("median ({})", one_line(&g.unit));
    let several = model.several_baselines();
    let ratio = match model.baseline_platform() {
        Some(_) if several => format!("ratio to its baseline [{ci}]"),
        Some(b) => format!("ratio to {} [{ci}]", one_line(b.name)),
        None => format!("ratio [{ci}]"),
    };
    let mut columns = vec![("platform", Align::Left)];
    if several {
        columns.push(("baseline", Align::Left));
    }
    columns.extend([
        ("n", Align::Right),
        (median.as_str(), Align::Right),
        (ci.as_str(), Align::Left),
        ("CV", Align::Right),
        (ratio.as_str(), Align::Left),
        ("overhead", Align::Left),
        ("p (Holm)", Align::Right),
        ("verdict", Align::Left),
        ("outliers", Align::Right),
    ]);
    let mut table = Table::new(&columns);
    for (i, (p, outcome)) in model.platforms.iter().zip(&g.outcomes).enumerate() {
        let is_baseline = model.is_baseline(i);
        let mut first = vec![one_line(p.name)];
        if several {
            first.push(
                model
                    .baseline_of(i)
                    .map_or_else(|| "-".to_string(), |b| one_line(b.name)),
            );
        }
        match outcome {
            Outcome::Measured {
                summary: s,
                ratio,
                outliers,
            } => {
                let (ratio_text, overhead_text) = match ratio {
                    _ if is_baseline => ("baseline".to_string(), "-".to_string()),
                    Some(r) => (
                        format::ratio_with_ci(r.point, &r.ci),
                        overhead_cell(r.point, r.ci.contains(1.0), g.direction()),
                    ),
                    None => ("-".to_string(), "-".to_string()),
                };
                let (p_text, verdict_text) = match &g.comparisons[i] {
                    Some(c) => (
                        c.p_adjusted
                            .map_or_else(|| "-".to_string(), format::p_value),
                        c.verdict.label().to_string(),
                    ),
                    None => (String::new(), String::new()),
                };
                let mut cells = first;
                cells.extend([
                    s.n.to_string(),
                    format::value(s.median),
                    format::interval(&s.ci),
                    format::percent(s.cv),
                    ratio_text,
                    overhead_text,
                    p_text,
                    verdict_text,
                    if *outliers > 0 {
                        outliers.to_string()
                    } else {
                        String::new()
                    },
                ]);
                table.push(cells);
            }
            Outcome::NoData(missing) => table.push_message(
                one_line(p.name),
                match missing {
                    Missing::SeeFailures => "no data (see failures)",
                    Missing::NotYet => "no data yet (run incomplete)",
                }
                .to_string(),
            ),
        }
    }
    table.drop_empty_columns(if several { 8 } else { 7 });
    table
}

fn overhead_cell(point: f64, includes_one: bool, better: Option<Better>) -> String {
    match format::overhead(point, better) {
        Some(text) if includes_one => format!("{text} {NOT_SIGNIFICANT_MARK}"),
        Some(text) => text,
        None => "-".to_string(),
    }
}

/// Trials per platform: the battery's, and the isolation cells' (victims and aggressors) when
/// the run has any.
fn trial_table(model: &Model) -> Table {
    let counted = |counts: &[crate::model::TrialCounts]| {
        counts.iter().any(|c| c.ok + c.failed + c.unfinished > 0)
    };
    let battery = !model.is_isolation_only();
    let isolation = counted(&model.isolation_trial_counts);
    let mut columns = vec![("platform", Align::Left)];
    if battery {
        columns.extend([
            ("trials ok", Align::Right),
            ("failed", Align::Right),
            ("unfinished", Align::Right),
        ]);
    }
    if isolation {
        columns.extend([
            ("isolation trials ok", Align::Right),
            ("isolation failed", Align::Right),
            ("isolation unfinished", Align::Right),
        ]);
    }
    let mut table = Table::new(&columns);
    let cells = |c: &crate::model::TrialCounts| {
        let unfinished = if c.unfinished > 0 {
            c.unfinished.to_string()
        } else {
            String::new()
        };
        [c.ok.to_string(), c.failed.to_string(), unfinished]
    };
    for (i, p) in model.platforms.iter().enumerate() {
        let mut row = vec![one_line(p.name)];
        if battery {
            row.extend(cells(&model.trial_counts[i]));
        }
        if isolation {
            row.extend(cells(&model.isolation_trial_counts[i]));
        }
        table.push(row);
    }
    table.drop_empty_columns(if battery { 3 } else { 1 });
    table
}

fn failures(model: &Model) -> Vec<Block> {
    let mut blocks = vec![Block::Section("Trials and failures".into())];
    if !model.platforms.is_empty() {
        blocks.push(Block::Table(trial_table(model)));
    }
    let failures = model.input.failures;
    if failures.is_empty() {
        blocks.push(Block::Paragraph("No failures.".into()));
        return blocks;
    }
    let lab_faults = failures
        .iter()
        .filter(|f| f.workload.is_none() && f.reason.starts_with(hvbench_store::LAB_FAULT))
        .count();
    if lab_faults > 0 {
        blocks.push(Block::Paragraph(format!(
            "The lab failed under {lab_faults} trial(s) (its emulated host wedged, or the emulator \
             lost the nested guest): each is listed below with what the lab said, and was run \
             again; its samples are left out of the results."
        )));
    }
    let mut table = Table::new(&[
        ("platform", Align::Left),
        ("round", Align::Right),
        ("workload", Align::Left),
        ("reason", Align::Left),
    ]);
    for f in failures {
        table.push(vec![
            one_line(&f.platform),
            f.round.to_string(),
            f.workload
                .as_deref()
                .map_or_else(|| "(whole trial)".to_string(), one_line),
            one_line(&f.reason),
        ]);
    }
    blocks.push(Block::Table(table));
    blocks
}
