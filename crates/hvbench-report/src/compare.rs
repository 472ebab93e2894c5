//! Two stored runs side by side (say, before and after a tuning change): per (scenario,
//! workload, metric, platform) the medians of both runs, the ratio B / A with its interval, a
//! Mann-Whitney test Holm-corrected over every row, and a verdict on B against A. Also what
//! changed in the platforms' facts between the runs, which is often the explanation.

use crate::document::{one_line, Align, Block, Table};
use crate::format;
use crate::summary::RunInfo;
use crate::ReportInput;
use hvbench_analysis::{
    compare_battery, summarize, BootstrapConfig, Comparison, Interval, PairInput, Ratio, Verdict,
    VerdictConfig,
};
use hvbench_proto::Better;
use hvbench_store::format_utc;
use serde::Serialize;
use std::collections::BTreeMap;

struct Row<'a> {
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    platform: &'a str,
    a: Vec<f64>,
    b: Vec<f64>,
    comparison: Option<Comparison>,
}

struct FactChange<'a> {
    platform: &'a str,
    key: &'a str,
    a: Option<&'a str>,
    b: Option<&'a str>,
}

struct Compared<'a> {
    a: &'a ReportInput<'a>,
    b: &'a ReportInput<'a>,
    rows: Vec<Row<'a>>,
    m: usize,
    facts: Vec<FactChange<'a>>,
    verdict_cfg: VerdictConfig,
}

fn build<'a>(
    a: &'a ReportInput<'a>,
    b: &'a ReportInput<'a>,
    cfg: &BootstrapConfig,
) -> Compared<'a> {
    let mut rows: Vec<Row<'a>> = Vec::new();
    for (side, input) in [(0, a), (1, b)] {
        for s in input.samples.iter().filter(|s| !s.warmup) {
            let i = match rows.iter().position(|r| {
                r.scenario == s.scenario
                    && r.workload == s.workload
                    && r.metric == s.metric
                    && r.platform == s.platform
            }) {
                Some(i) => i,
                None => {
                    rows.push(Row {
                        scenario: &s.scenario,
                        workload: &s.workload,
                        metric: &s.metric,
                        unit: &s.unit,
                        better: &s.better,
                        platform: &s.platform,
                        a: Vec::new(),
                        b: Vec::new(),
                        comparison: None,
                    });
                    rows.len() - 1
                }
            };
            if side == 0 {
                rows[i].a.push(s.value);
            } else {
                rows[i].b.push(s.value);
            }
        }
    }
    let verdict_cfg = VerdictConfig::default();
    let both: Vec<usize> = (0..rows.len())
        .filter(|&i| !rows[i].a.is_empty() && !rows[i].b.is_empty())
        .collect();
    let pairs: Vec<PairInput> = both
        .iter()
        .map(|&i| PairInput {
            baseline: &rows[i].a,
            other: &rows[i].b,
            direction: Better::parse(rows[i].better),
        })
        .collect();
    let comparisons = compare_battery(&pairs, &verdict_cfg, cfg);
    let m = comparisons
        .iter()
        .filter(|c| c.p_adjusted.is_some())
        .count();
    for (i, c) in both.into_iter().zip(comparisons) {
        rows[i].comparison = Some(c);
    }
    Compared {
        a,
        b,
        rows,
        m,
        facts: fact_changes(a, b),
        verdict_cfg,
    }
}

fn fact_changes<'a>(a: &'a ReportInput<'a>, b: &'a ReportInput<'a>) -> Vec<FactChange<'a>> {
    let mut out = Vec::new();
    for pa in a.platforms {
        let Some(pb) = b.platforms.iter().find(|p| p.name == pa.name) else {
            continue;
        };
        let keys: std::collections::BTreeSet<&String> =
            pa.facts.keys().chain(pb.facts.keys()).collect();
        for key in keys {
            let (va, vb) = (pa.facts.get(key), pb.facts.get(key));
            if va != vb {
                out.push(FactChange {
                    platform: &pa.name,
                    key,
                    a: va.map(String::as_str),
                    b: vb.map(String::as_str),
                });
            }
        }
    }
    out
}

fn run_label(r: &ReportInput) -> String {
    format!(
        "run {} ({}), started {}, hvbench {}",
        r.run.id,
        one_line(&r.run.name),
        format_utc(r.run.started_ms),
        one_line(&r.run.hvbench_version)
    )
}

fn blocks(c: &Compared, cfg: &BootstrapConfig) -> Vec<Block> {
    let (a, b) = (c.a.run, c.b.run);
    let mut blocks = vec![
        Block::Title(format!(
            "hvbench compare: run {} ({}) -> run {} ({})",
            a.id,
            one_line(&a.name),
            b.id,
            one_line(&b.name)
        )),
        Block::Fields(vec![
            ("A (before)".into(), run_label(c.a)),
            ("B (after)".into(), run_label(c.b)),
        ]),
        Block::Paragraph(format!(
            "Each row compares one platform's metric between the runs: ratio = median in B / median in A with a \
             bootstrap {ci} ({resamples} resamples, seed {seed}); the change and the verdict say whether B is better or \
             worse than A in the metric's own direction. Two-sided Mann-Whitney U tests, Holm-adjusted over the {m} \
             comparisons at alpha {alpha}; a significant change within {neg}% is negligible, beyond {dra}% dramatic.",
            ci = format::ci_label(cfg.confidence),
            resamples = cfg.resamples,
            seed = cfg.seed,
            m = c.m,
            alpha = c.verdict_cfg.alpha,
            neg = c.verdict_cfg.negligible * 100.0,
            dra = c.verdict_cfg.dramatic * 100.0,
        )),
        Block::Section("Summary".into()),
    ];
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &c.rows {
        if let Some(cmp) = &r.comparison {
            *tally.entry(cmp.verdict.label()).or_default() += 1;
        }
    }
    let mut items = Vec::new();
    if tally.is_empty() {
        items.push("No metric was measured on the same platform in both runs.".to_string());
    } else {
        let parts: Vec<String> = Verdict::ALL
            .iter()
            .filter_map(|v| Some(format!("{} {}", tally.get(v.label())?, v.label())))
            .collect();
        items.push(format!("Verdicts of B against A: {}.", parts.join(", ")));
    }
    let mut platforms: Vec<&str> = Vec::new();
    for r in &c.rows {
        if !platforms.contains(&r.platform) {
            platforms.push(r.platform);
        }
    }
    for p in platforms {
        let logs: Vec<f64> = c
            .rows
            .iter()
            .filter(|r| r.platform == p)
            .filter_map(|r| r.comparison.as_ref()?.times_worse)
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(f64::ln)
            .collect();
        if !logs.is_empty() {
            let g = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
            items.push(format!(
                "{}: B is {} (geometric mean over {} metric{}).",
                one_line(p),
                format::times_worse_than(g, "A"),
                logs.len(),
                if logs.len() == 1 { "" } else { "s" }
            ));
        }
    }
    blocks.push(Block::List(items));

    blocks.push(Block::Section("Changed facts".into()));
    if c.facts.is_empty() {
        blocks.push(Block::Paragraph(
            "No recorded fact differs between the runs on the platforms they share.".into(),
        ));
    } else {
        let mut t = Table::new(&[
            ("platform", Align::Left),
            ("fact", Align::Left),
            ("A", Align::Left),
            ("B", Align::Left),
        ]);
        for f in &c.facts {
            let v = |x: Option<&str>| x.map_or_else(|| "(absent)".to_string(), |s| clip(s, 60));
            t.push(vec![one_line(f.platform), one_line(f.key), v(f.a), v(f.b)]);
        }
        blocks.push(Block::Table(t));
    }

    blocks.push(Block::Section("Results".into()));
    let mut t = Table::new(&[
        ("workload / metric", Align::Left),
        ("platform", Align::Left),
        ("n A", Align::Right),
        ("median A", Align::Right),
        ("n B", Align::Right),
        ("median B", Align::Right),
        ("B / A", Align::Left),
        ("change", Align::Left),
        ("p (Holm)", Align::Right),
        ("verdict", Align::Left),
    ]);
    let several_scenarios = c.rows.iter().any(|r| r.scenario != c.rows[0].scenario);
    for r in &c.rows {
        let label = if several_scenarios {
            format!(
                "{} / {} [{}] ({})",
                r.workload, r.metric, r.scenario, r.unit
            )
        } else {
            format!("{} / {} ({})", r.workload, r.metric, r.unit)
        };
        let label = one_line(&label);
        match &r.comparison {
            Some(cmp) => {
                let med = |v: &[f64]| hvbench_analysis::median(v).map_or("-".into(), format::value);
                t.push(vec![
                    label,
                    one_line(r.platform),
                    cmp.n_baseline.to_string(),
                    med(&r.a),
                    cmp.n_other.to_string(),
                    med(&r.b),
                    cmp.ratio
                        .map_or("-".into(), |q| format::ratio_with_ci(q.point, &q.ci)),
                    cmp.times_worse.map_or("-".into(), format::times_worse),
                    cmp.p_adjusted.map_or("-".into(), format::p_value),
                    cmp.verdict.label().to_string(),
                ]);
            }
            None => t.push_message(
                format!("{label}  {}", one_line(r.platform)),
                if r.a.is_empty() {
                    "only in run B".into()
                } else {
                    "only in run A".into()
                },
            ),
        }
    }
    blocks.push(Block::Table(t));
    blocks
}

fn clip(s: &str, max: usize) -> String {
    let s = one_line(s);
    if s.chars().count() <= max {
        s
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

pub(crate) fn terminal(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    crate::terminal::render(&blocks(&build(a, b, cfg), cfg))
}

pub(crate) fn markdown(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    crate::markdown::render(&blocks(&build(a, b, cfg), cfg))
}

#[derive(Serialize)]
struct Side {
    n: usize,
    median: Option<f64>,
    ci: Option<Interval>,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    platform: &'a str,
    a: Side,
    b: Side,
    /// median(B) / median(A).
    ratio: Option<Ratio>,
    /// How many times worse B is than A in the metric's direction (> 1 worse).
    times_worse: Option<f64>,
    p_value: Option<f64>,
    p_holm: Option<f64>,
    /// Null when the row is in one run only.
    verdict: Option<Verdict>,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonFact<'a> {
    platform: &'a str,
    key: &'a str,
    a: Option<&'a str>,
    b: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    a: RunInfo<'a>,
    b: RunInfo<'a>,
    confidence: f64,
    resamples: usize,
    seed: u64,
    verdicts: VerdictConfig,
    comparisons: usize,
    rows: Vec<JsonRow<'a>>,
    changed_facts: Vec<JsonFact<'a>>,
}

pub(crate) fn json(a: &ReportInput, b: &ReportInput, cfg: &BootstrapConfig) -> String {
    let c = build(a, b, cfg);
    let side = |v: &[f64]| {
        let s = summarize(v, cfg);
        Side {
            n: s.map_or(0, |s| s.n),
            median: s.map(|s| s.median),
            ci: s.map(|s| s.ci),
        }
    };
    let rows = c
        .rows
        .iter()
        .map(|r| JsonRow {
            scenario: r.scenario,
            workload: r.workload,
            metric: r.metric,
            unit: r.unit,
            better: r.better,
            platform: r.platform,
            a: side(&r.a),
            b: side(&r.b),
            ratio: r.comparison.as_ref().and_then(|c| c.ratio),
            times_worse: r.comparison.as_ref().and_then(|c| c.times_worse),
            p_value: r
                .comparison
                .as_ref()
                .and_then(|c| c.test.map(|t| t.p_value)),
            p_holm: r.comparison.as_ref().and_then(|c| c.p_adjusted),
            verdict: r.comparison.as_ref().map(|c| c.verdict),
            reason: r.comparison.as_ref().and_then(|c| c.reason.as_deref()),
        })
        .collect();
    let doc = JsonDoc {
        a: RunInfo::of(a.run),
        b: RunInfo::of(b.run),
        confidence: cfg.confidence,
        resamples: cfg.resamples,
        seed: cfg.seed,
        verdicts: c.verdict_cfg,
        comparisons: c.m,
        rows,
        changed_facts: c
            .facts
            .iter()
            .map(|f| JsonFact {
                platform: f.platform,
                key: f.key,
                a: f.a,
                b: f.b,
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("the comparison serializes");
    s.push('\n');
    s
}
