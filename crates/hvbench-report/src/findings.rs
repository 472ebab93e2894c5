//! The summary at the top of a report: per workload class who wins and by how much, the worst
//! isolation result per platform and what placement did about it, the anomalies with their
//! likely causes, and a plain recommendation.

use crate::document::{one_line, Block};
use crate::format;
use crate::isolation;
use crate::model::Model;
use hvbench_analysis::{
    classify, mann_whitney_min_p, ClassStanding, IsolationVerdict, PlatformStanding, Standing,
    Verdict, WorkloadClass,
};

pub(crate) fn summary(model: &Model) -> Vec<Block> {
    let mut blocks = vec![Block::Section("Summary".into())];
    if model.is_isolation_only() {
        blocks.push(Block::Paragraph(
            "This is an isolation run: no battery compared the platforms with each other. On each platform a victim \
             ran alone and beside aggressors, one stressor at a time; below, per platform, the worst result and what \
             the aggressors' placement changed (every cell is in the Isolation section)."
                .into(),
        ));
        blocks.push(Block::List(isolation::summary_lines(model)));
        let advice = isolation_advice(model);
        let mut recommendations = platform_warnings(model);
        recommendations.extend(advice);
        if !recommendations.is_empty() {
            blocks.push(Block::Subsection("Recommendation".into()));
            blocks.push(Block::List(recommendations));
        }
        return blocks;
    }
    let Some(base) = model.baseline_label().map(|b| one_line(&b)) else {
        blocks.push(Block::Paragraph(
            "No platform was recorded for this run.".into(),
        ));
        return blocks;
    };
    let several = model.several_baselines();
    if model.standings.is_empty() {
        blocks.push(Block::Paragraph(if several {
            "Nothing to compare: no platform has data on a metric its baseline measured.".to_string()
        } else {
            format!("Nothing to compare: no platform besides {base} has data on a metric {base} measured.")
        }));
    } else {
        blocks.push(Block::Paragraph(if several {
            "Each platform against its own machine's baseline (see Platforms), by workload class: the geometric \
             mean of its ratios to that baseline (as times slower or faster), and what the significance tests allow \
             concluding."
                .to_string()
        } else {
            format!(
                "Each platform against {base}, by workload class: the geometric mean of its ratios to {base} (as \
                 times slower or faster), and what the significance tests allow concluding."
            )
        }));
        blocks.push(Block::List(
            model
                .standings
                .iter()
                .map(|cs| class_line(model, cs, &base))
                .collect(),
        ));
    }
    if !model.isolation.is_empty() {
        blocks.push(Block::Subsection("Isolation".into()));
        blocks.push(Block::List(isolation::summary_lines(model)));
    }
    blocks.push(Block::Subsection("Anomalies".into()));
    if model.anomalies.is_empty() {
        blocks.push(Block::Paragraph(
            "None of the anomaly rules fired on this run's workloads and facts.".into(),
        ));
    } else {
        blocks.push(Block::List(
            model
                .anomalies
                .iter()
                .map(|a| {
                    format!(
                        "{} ({}): {}. {}.",
                        capitalized(a.title),
                        one_line(&a.platform),
                        one_line(&a.seen),
                        capitalized(&a.explanation())
                    )
                })
                .collect(),
        ));
    }
    blocks.push(Block::Subsection("Recommendation".into()));
    blocks.push(Block::List(recommendations(model, &base)));
    blocks
}

/// How the verdicts are decided, for the results section.
pub(crate) fn verdict_rules(model: &Model) -> String {
    let v = &model.verdict_cfg;
    format!(
        "Verdicts compare each platform with the baseline: a two-sided Mann-Whitney U test (exact for samples \
         without ties up to {exact} values in all, else the normal approximation with tie correction), p-values \
         Holm-adjusted over the {m} comparisons of this report at alpha {alpha}. A significant difference within \
         {neg}% either way is negligible, beyond {dra}% dramatic. \"too few samples\": not even two samples that do \
         not overlap could be significant at these sizes. \"high variance\": a coefficient of variation above \
         {cv}%, or the sorted samples split into two groups by a gap wider than either group. Every measured \
         window counts as one value; windows of one round share a boot, so more rounds make a sounder test \
         than more windows per round.",
        exact = hvbench_analysis::EXACT_MAX_TOTAL,
        m = model.battery_size,
        alpha = v.alpha,
        neg = v.negligible * 100.0,
        dra = v.dramatic * 100.0,
        cv = v.variability.max_cv * 100.0,
    )
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The workloads of a class, in report order.
fn workloads_of(model: &Model, class: WorkloadClass) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in &model.groups {
        if classify(&g.workload) == class && !out.contains(&g.workload) {
            out.push(g.workload.clone());
        }
    }
    out
}

fn class_line(model: &Model, cs: &ClassStanding, base: &str) -> String {
    let workloads = workloads_of(model, cs.class);
    let details: Vec<String> = cs.platforms.iter().map(standing_text).collect();
    format!(
        "{} ({}): {}. {}.",
        capitalized(cs.class.label()),
        workloads.join(", "),
        headline(cs, base, model.several_baselines()),
        details.join("; ")
    )
}

fn amount(s: &PlatformStanding) -> String {
    s.times_worse
        .map_or_else(|| "no ratio".to_string(), format::times_worse)
}

/// `several`: each platform is against its own machine's baseline, `base` is "its baseline".
fn headline(cs: &ClassStanding, base: &str, several: bool) -> String {
    let ps = &cs.platforms;
    let best_ahead = ps.iter().find(|s| s.standing == Standing::Ahead);
    let conclusive: Vec<&PlatformStanding> = ps
        .iter()
        .filter(|s| s.standing != Standing::Inconclusive)
        .collect();
    if let Some(w) = best_ahead {
        return format!("{} wins", one_line(&w.platform));
    }
    if conclusive.is_empty() {
        return "inconclusive".to_string();
    }
    if conclusive.iter().all(|s| s.standing == Standing::Behind) {
        let wins = if several {
            "the baselines win".to_string()
        } else {
            format!("{base} wins")
        };
        return if conclusive.len() == ps.len() {
            wins
        } else {
            format!("{wins} where the data are conclusive")
        };
    }
    if let Some(l) = ps.iter().find(|s| s.standing == Standing::Level) {
        return format!("{} is level with {base}", one_line(&l.platform));
    }
    "no clear winner: better on some metrics, worse on others".to_string()
}

fn standing_text(s: &PlatformStanding) -> String {
    let mut tally = Vec::new();
    for (n, word) in [
        (s.worse, "worse"),
        (s.better, "better"),
        (s.level, "level"),
        (s.inconclusive, "inconclusive"),
    ] {
        if n > 0 {
            tally.push(format!("{word} on {n}"));
        }
    }
    format!(
        "{} {} ({} of {})",
        one_line(&s.platform),
        amount(s),
        tally.join(", "),
        plural(s.metrics, "metric")
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The recommendations that warn about how the platforms ran (emulation, the lab).
fn platform_warnings(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    let tcg = model.tcg_platforms();
    if !tcg.is_empty() {
        out.push(format!(
            "{} ran under QEMU's software emulation (TCG): {} ratios measure the emulator, not a hypervisor. Do not \
             choose a platform from them; run where KVM is usable (`hvbench doctor` says why it is not here).",
            tcg.join(", "),
            if tcg.len() == 1 { "its" } else { "their" }
        ));
    }
    let lab = model.lab_platforms();
    if !lab.is_empty() {
        out.push(format!(
            "{} ran in the emulated lab (Xen or KVM nested under TCG): {} ratios show the pipeline working, not \
             hypervisor performance. Run the same experiment file on real Xen and KVM hosts (without `lab = true`) \
             to choose a platform.",
            lab.join(", "),
            if lab.len() == 1 { "its" } else { "their" }
        ));
    }
    let (mixed, in_lab) = model.lab_and_real_guests();
    if !mixed.is_empty() {
        let real: Vec<&str> = mixed
            .iter()
            .copied()
            .filter(|p| !in_lab.contains(p))
            .collect();
        out.push(format!(
            "Do not rank {} (real hardware) against {} (emulated lab) by these figures: lab and real timings are \
             not comparable. Give each kind its own run.",
            real.join(", "),
            in_lab.join(", ")
        ));
    }
    out
}

/// What to do about a machine without a host platform of its own, in a run on several machines:
/// its platforms are compared with another machine's baseline.
fn fallback_advice(model: &Model) -> Vec<String> {
    let Some(run_base) = model.baseline_platform() else {
        return Vec::new();
    };
    if !model.several_machines() {
        return Vec::new();
    }
    model
        .machines
        .iter()
        .filter(|m| m.host.is_none() && !std::ptr::eq(*m, &model.machines[run_base.machine]))
        .filter_map(|m| {
            let compared: Vec<String> = m
                .platforms
                .iter()
                .filter(|&&i| model.compared_with[i].is_some())
                .map(|&i| one_line(model.platforms[i].name))
                .collect();
            if compared.is_empty() {
                return None;
            }
            let add = if m.is_local() {
                "a `driver = \"host\"` platform without `host`".to_string()
            } else {
                format!("a `driver = \"host\"` platform with `host = \"{}\"`", one_line(m.name))
            };
            Some(format!(
                "{} ran on {}, which has no host platform: {} compared with {} on {}, so {} ratios mix the \
                 hypervisor's cost with the difference between the machines. Add {add} to the experiment file.",
                compared.join(", "),
                m.described(),
                if compared.len() == 1 { "it is" } else { "they are" },
                one_line(run_base.name),
                model.machines[run_base.machine].described(),
                if compared.len() == 1 { "its" } else { "their" },
            ))
        })
        .collect()
}

/// What to do about isolation comparisons that could not conclude.
fn isolation_advice(model: &Model) -> Vec<String> {
    let verdicts: Vec<IsolationVerdict> = model
        .isolation
        .matrices
        .iter()
        .flat_map(|m| &m.rows)
        .flat_map(|r| &r.cells)
        .filter_map(|c| c.degradation().map(|d| d.verdict))
        .collect();
    let count = |v: IsolationVerdict| verdicts.iter().filter(|x| **x == v).count();
    let mut out = Vec::new();
    let too_few = count(IsolationVerdict::TooFewSamples);
    if too_few > 0 {
        out.push(format!(
            "{too_few} of {} isolation comparisons have too few samples to be significant (Holm over {} tests): raise \
             `repetitions` (rounds) or `samples` (windows per round) in the experiment file.",
            verdicts.len(),
            model.isolation.tests
        ));
    }
    let noisy = count(IsolationVerdict::HighVariance);
    if noisy > 0 {
        out.push(format!(
            "{noisy} of {} isolation comparisons are too noisy to call: a victim's windows vary widely beside the \
             aggressors; more rounds help, and so does a quieter host (`hvbench doctor`).",
            verdicts.len()
        ));
    }
    out
}

fn recommendations(model: &Model, base: &str) -> Vec<String> {
    let mut out = platform_warnings(model);
    let comparisons: Vec<_> = model
        .groups
        .iter()
        .flat_map(|g| g.comparisons.iter().flatten())
        .collect();
    let count = |v: Verdict| comparisons.iter().filter(|c| c.verdict == v).count();
    let too_few = count(Verdict::TooFewSamples);
    if too_few > 0 {
        let m = model.battery_size.max(1);
        let needed = (2..=1000)
            .find(|&n| mann_whitney_min_p(n, n) <= model.verdict_cfg.alpha / m as f64)
            .unwrap_or(1000);
        out.push(format!(
            "{too_few} of {} comparisons have too few samples to be significant: with {m} tests, Holm's correction at \
             alpha {} needs at least {needed} measured values per platform and metric. Raise `repetitions` (rounds) \
             or `samples` (windows per round) in the experiment file.",
            comparisons.len(),
            model.verdict_cfg.alpha
        ));
    }
    let noisy = count(Verdict::HighVariance);
    if noisy > 0 {
        out.push(format!(
            "{noisy} of {} comparisons are too noisy to call (CV above {}% or two groups of samples): quiet the \
             machine (`hvbench doctor`: CPU governor, turbo, other load) and see the anomalies above.",
            comparisons.len(),
            model.verdict_cfg.variability.max_cv * 100.0
        ));
    }
    let invalid = count(Verdict::InvalidData);
    if invalid > 0 {
        out.push(format!(
            "{invalid} comparisons rest on invalid data (see the notes under their tables)."
        ));
    }
    out.extend(fallback_advice(model));
    out.extend(isolation_advice(model));
    out.extend(choice(model, base));
    if out.is_empty() {
        out.push("Nothing to recommend: the run compared no platform with the baseline.".into());
    }
    out
}

/// The plain choice: which platform is closest to the baseline overall and per class.
fn choice(model: &Model, base: &str) -> Vec<String> {
    if model.baseline.is_none() {
        return Vec::new();
    }
    // Overall geometric mean of times-worse per platform over every main comparison.
    let mut overall: Vec<(String, f64, usize)> = Vec::new();
    for (i, p) in model.platforms.iter().enumerate() {
        if model.is_baseline(i) {
            continue;
        }
        let logs: Vec<f64> = model
            .groups
            .iter()
            .filter_map(|g| g.comparisons[i].as_ref()?.times_worse)
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(f64::ln)
            .collect();
        if !logs.is_empty() {
            let g = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
            overall.push((one_line(p.name), g, logs.len()));
        }
    }
    overall.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = Vec::new();
    let Some((best, g, n)) = overall.first() else {
        return out;
    };
    let conclusive = |s: &PlatformStanding| s.standing != Standing::Inconclusive;
    if overall.len() == 1 {
        let worst = model
            .standings
            .iter()
            .filter_map(|cs| {
                let s = cs.platforms.iter().find(|s| &s.platform == best)?;
                Some((cs.class, s.times_worse?))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let mut text = format!(
            "Overall {best} is {} (geometric mean over {})",
            format::times_worse_than(*g, base),
            plural(*n, "metric")
        );
        if let Some((class, t)) = worst.filter(|(_, t)| *t > 1.0) {
            text.push_str(&format!(
                "; its largest cost is in {} work ({})",
                class.label(),
                format::times_worse(t)
            ));
        }
        text.push('.');
        out.push(text);
    } else {
        out.push(format!(
            "Closest to {base} overall: {best} ({} by the geometric mean over {}).",
            format::times_worse(*g),
            plural(*n, "metric")
        ));
        for cs in model.standings.iter().filter(|cs| cs.platforms.len() > 1) {
            if let Some(s) = cs.platforms.iter().find(|s| conclusive(s)) {
                out.push(format!(
                    "For {} work choose {} ({}, {}).",
                    cs.class.label(),
                    one_line(&s.platform),
                    amount(s),
                    match s.standing {
                        Standing::Ahead => "ahead of the baseline",
                        Standing::Level => "level with the baseline",
                        Standing::Behind => "the smallest cost among the platforms",
                        Standing::Mixed | Standing::Inconclusive => "mixed results",
                    }
                ));
            }
        }
    }
    out
}
