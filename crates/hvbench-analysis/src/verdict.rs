//! One verdict per (metric, platform pair): what a reader may conclude from the comparison.
//!
//! For each pair of a battery (a baseline sample and another platform's sample of the same
//! metric) [`compare_battery`] computes the ratio of medians with its bootstrap interval, a
//! two-sided Mann-Whitney U test, Holm-adjusts the p-values over the whole battery, and decides,
//! in this order:
//!
//! 1. **invalid data** — the metric's direction is unknown, a side has no finite value, or the
//!    medians cannot form a ratio (baseline median <= 0, other median < 0);
//! 2. if the Holm-adjusted p-value is above `alpha` (not significant):
//!    - **too few samples** — even two samples that do not overlap at all could not have passed
//!      Holm's first step (`alpha / m`, m tests in the battery) at these sample sizes;
//!    - **high variance** — either side is noisy (coefficient of variation above the threshold,
//!      or bimodal: see [`crate::variability`]);
//!    - **no significant difference** — otherwise;
//! 3. if significant, by the effect: `times worse` = how many times worse the other platform's
//!    median is than the baseline's, in the metric's own direction (ratio for lower-is-better,
//!    1 / ratio for higher-is-better), compared on a symmetric log scale:
//!    - **high variance** — a side is noisy and the ratio's interval reaches into the
//!      negligible band (so even the direction of the effect is in doubt);
//!    - **negligible** — within `1 ± negligible` (5 % by default) either way;
//!    - **worse** / **better** — beyond that;
//!    - **dramatically worse** / **dramatically better** — beyond `1 + dramatic` (10 %) times.

use crate::bootstrap::{ratio_of_medians, BootstrapConfig, Interval, Ratio};
use crate::descriptive::{finite, median};
use crate::significance::{holm_adjust, mann_whitney_min_p, mann_whitney_u, MannWhitney};
use crate::variability::{variability, Variability, VariabilityConfig};
use hvbench_proto::Better;
use serde::Serialize;

/// The interval of [`Better::times_worse`] for a ratio interval.
pub fn times_worse_interval(direction: Better, ci: &Interval) -> Interval {
    let (a, b) = (direction.times_worse(ci.lo), direction.times_worse(ci.hi));
    Interval {
        lo: a.min(b),
        hi: a.max(b),
    }
}

/// Thresholds of the verdicts. Every field has a documented default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VerdictConfig {
    /// Family-wise error rate of the battery (Holm): 0.05.
    pub alpha: f64,
    /// A difference below this fraction either way is negligible: 0.05 (5 %).
    pub negligible: f64,
    /// A difference beyond this fraction is dramatic: 0.10 (10 %).
    pub dramatic: f64,
    pub variability: VariabilityConfig,
}

impl Default for VerdictConfig {
    fn default() -> Self {
        VerdictConfig {
            alpha: 0.05,
            negligible: 0.05,
            dramatic: 0.10,
            variability: VariabilityConfig::default(),
        }
    }
}

/// What a reader may conclude about one platform against its baseline on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    InvalidData,
    TooFewSamples,
    HighVariance,
    NoSignificantDifference,
    Negligible,
    Better,
    Worse,
    DramaticallyBetter,
    DramaticallyWorse,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::InvalidData,
        Verdict::TooFewSamples,
        Verdict::HighVariance,
        Verdict::NoSignificantDifference,
        Verdict::Negligible,
        Verdict::Better,
        Verdict::Worse,
        Verdict::DramaticallyBetter,
        Verdict::DramaticallyWorse,
    ];

    /// As the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::InvalidData => "invalid data",
            Verdict::TooFewSamples => "too few samples",
            Verdict::HighVariance => "high variance",
            Verdict::NoSignificantDifference => "no significant difference",
            Verdict::Negligible => "negligible",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::DramaticallyBetter => "dramatically better",
            Verdict::DramaticallyWorse => "dramatically worse",
        }
    }

    /// A significant difference beyond the negligible band.
    pub fn is_difference(self) -> bool {
        matches!(
            self,
            Verdict::Better
                | Verdict::Worse
                | Verdict::DramaticallyBetter
                | Verdict::DramaticallyWorse
        )
    }

    /// The data say nothing either way (invalid, too few, too noisy).
    pub fn is_inconclusive(self) -> bool {
        matches!(
            self,
            Verdict::InvalidData | Verdict::TooFewSamples | Verdict::HighVariance
        )
    }
}

/// One comparison of a battery: the baseline's values, the other platform's, the direction.
#[derive(Debug, Clone, Copy)]
pub struct PairInput<'a> {
    pub baseline: &'a [f64],
    pub other: &'a [f64],
    /// `None` when the metric's direction is unknown.
    pub direction: Option<Better>,
}

/// Everything decided about one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub verdict: Verdict,
    /// Why, in words, for the verdicts that need one (invalid data, too few samples, high
    /// variance).
    pub reason: Option<String>,
    pub n_baseline: usize,
    pub n_other: usize,
    /// median(other) / median(baseline) with its bootstrap interval.
    pub ratio: Option<Ratio>,
    /// How many times worse the other platform is, in the metric's direction (> 1 worse).
    pub times_worse: Option<f64>,
    pub times_worse_ci: Option<Interval>,
    /// Mann-Whitney U of the other platform's values against the baseline's.
    pub test: Option<MannWhitney>,
    /// Holm-adjusted over the battery.
    pub p_adjusted: Option<f64>,
    pub baseline_spread: Variability,
    pub other_spread: Variability,
}

/// Compare every pair of a battery, correcting the p-values for the number of tests (Holm).
/// The output is in input order.
pub fn compare_battery(
    pairs: &[PairInput],
    cfg: &VerdictConfig,
    boot: &BootstrapConfig,
) -> Vec<Comparison> {
    let tests: Vec<Option<MannWhitney>> = pairs
        .iter()
        .map(|p| match p.direction {
            Some(_) => mann_whitney_u(p.other, p.baseline),
            None => None,
        })
        .collect();
    let raw: Vec<f64> = tests
        .iter()
        .map(|t| t.map_or(f64::NAN, |t| t.p_value))
        .collect();
    let adjusted = holm_adjust(&raw);
    let m = raw.iter().filter(|p| !p.is_nan()).count().max(1);
    pairs
        .iter()
        .zip(tests)
        .zip(adjusted)
        .map(|((pair, test), p_adj)| decide(pair, test, p_adj, m, cfg, boot))
        .collect()
}

fn decide(
    pair: &PairInput,
    test: Option<MannWhitney>,
    p_adjusted: f64,
    m: usize,
    cfg: &VerdictConfig,
    boot: &BootstrapConfig,
) -> Comparison {
    let (base, other) = (finite(pair.baseline), finite(pair.other));
    let mut c = Comparison {
        verdict: Verdict::InvalidData,
        reason: None,
        n_baseline: base.len(),
        n_other: other.len(),
        ratio: None,
        times_worse: None,
        times_worse_ci: None,
        test,
        p_adjusted: (!p_adjusted.is_nan()).then_some(p_adjusted),
        baseline_spread: variability(&base, &cfg.variability),
        other_spread: variability(&other, &cfg.variability),
    };
    let invalid = |mut c: Comparison, why: &str| {
        c.verdict = Verdict::InvalidData;
        c.reason = Some(why.to_string());
        c
    };
    let Some(direction) = pair.direction else {
        return invalid(
            c,
            "the metric's direction (higher or lower is better) is unknown",
        );
    };
    if base.is_empty() || other.is_empty() {
        let side = if base.is_empty() {
            "baseline"
        } else {
            "platform"
        };
        return invalid(c, &format!("no finite value on the {side} side"));
    }
    let (mb, mo) = (median(&base).unwrap_or(0.0), median(&other).unwrap_or(0.0));
    if mb <= 0.0 || mo < 0.0 {
        return invalid(
            c,
            "ratios need a positive baseline median and a non-negative one",
        );
    }
    c.ratio = ratio_of_medians(&base, &other, boot);
    let Some(ratio) = c.ratio else {
        return invalid(c, "the ratio of medians is not a finite number");
    };
    let worse = direction.times_worse(ratio.point);
    let worse_ci = times_worse_interval(direction, &ratio.ci);
    c.times_worse = worse.is_finite().then_some(worse);
    c.times_worse_ci = Some(worse_ci);
    let noisy = c.baseline_spread.is_noisy() || c.other_spread.is_noisy();
    let significant = c.p_adjusted.is_some_and(|p| p <= cfg.alpha);

    if !significant {
        let min_p = mann_whitney_min_p(c.n_baseline, c.n_other);
        let first_step = cfg.alpha / m as f64;
        (c.verdict, c.reason) = if min_p > first_step {
            (
                Verdict::TooFewSamples,
                Some(format!(
                    "{} against {} values: even samples that do not overlap give p >= {}, above the {} that the \
                     first of {m} tests needs (Holm at alpha {})",
                    c.n_other,
                    c.n_baseline,
                    short(min_p),
                    short(first_step),
                    cfg.alpha
                )),
            )
        } else if noisy {
            (Verdict::HighVariance, Some(spread_reason(&c, cfg)))
        } else {
            (Verdict::NoSignificantDifference, None)
        };
        return c;
    }

    let band_hi = 1.0 + cfg.negligible;
    let band_lo = 1.0 / band_hi;
    let ci_reaches_band = worse_ci.lo < band_hi && worse_ci.hi > band_lo;
    c.verdict = if noisy && ci_reaches_band {
        c.reason = Some(spread_reason(&c, cfg));
        Verdict::HighVariance
    } else if worse >= 1.0 + cfg.dramatic {
        Verdict::DramaticallyWorse
    } else if worse <= 1.0 / (1.0 + cfg.dramatic) {
        Verdict::DramaticallyBetter
    } else if worse >= band_hi {
        Verdict::Worse
    } else if worse <= band_lo {
        Verdict::Better
    } else {
        Verdict::Negligible
    };
    c
}

fn spread_reason(c: &Comparison, cfg: &VerdictConfig) -> String {
    let mut parts = Vec::new();
    for (side, v) in [
        ("baseline", &c.baseline_spread),
        ("platform", &c.other_spread),
    ] {
        if v.high_cv {
            parts.push(format!(
                "{side} CV {:.0}% > {:.0}%",
                v.cv * 100.0,
                cfg.variability.max_cv * 100.0
            ));
        }
        if let Some(b) = v.bimodal {
            parts.push(format!(
                "{side} bimodal ({} values near {}, {} near {})",
                b.lower_n,
                short(b.lower_median),
                b.upper_n,
                short(b.upper_median)
            ));
        }
    }
    parts.join("; ")
}

/// A number in 3 significant digits for a reason's text.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    if x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.digits$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> BootstrapConfig {
        BootstrapConfig {
            resamples: 2_000,
            ..BootstrapConfig::default()
        }
    }

    /// `n` values around `center`, spread ±1 % deterministically.
    fn around(center: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| center * (1.0 + ((i * 7) % 11) as f64 / 500.0 - 0.01))
            .collect()
    }

    fn one(base: &[f64], other: &[f64], d: Better) -> Comparison {
        compare_battery(
            &[PairInput {
                baseline: base,
                other,
                direction: Some(d),
            }],
            &VerdictConfig::default(),
            &boot(),
        )
        .remove(0)
    }

    #[test]
    fn effect_sizes_map_to_verdicts_in_the_metrics_direction() {
        let base = around(100.0, 10);
        let lower = Better::Lower;
        let higher = Better::Higher;
        for (factor, d, want) in [
            (2.0, lower, Verdict::DramaticallyWorse),
            (2.0, higher, Verdict::DramaticallyBetter),
            (1.07, lower, Verdict::Worse),
            (1.07, higher, Verdict::Better),
            (0.93, lower, Verdict::Better),
            (0.5, lower, Verdict::DramaticallyBetter),
            (0.5, higher, Verdict::DramaticallyWorse),
        ] {
            let other: Vec<f64> = base.iter().map(|v| v * factor).collect();
            let c = one(&base, &other, d);
            assert_eq!(c.verdict, want, "x{factor} {d:?}: {c:?}");
            assert!(c.p_adjusted.unwrap() < 0.001);
        }
        let c = one(
            &base,
            &base.iter().map(|v| v * 1.03).collect::<Vec<_>>(),
            lower,
        );
        assert_eq!(c.verdict, Verdict::Negligible, "{c:?}");
        assert!((c.times_worse.unwrap() - 1.03).abs() < 1e-9);
    }

    #[test]
    fn the_same_distribution_is_no_significant_difference() {
        let a = around(100.0, 10);
        let mut b = a.clone();
        b.reverse();
        let c = one(&a, &b, Better::Lower);
        assert_eq!(c.verdict, Verdict::NoSignificantDifference, "{c:?}");
        assert!(c.p_adjusted.unwrap() > 0.5);
    }

    #[test]
    fn three_rounds_are_too_few_whatever_the_effect() {
        // 3 against 3: p >= 0.1 (scipy: mannwhitneyu([1,2,3],[4,5,6], method="exact")).
        let c = one(
            &[100.0, 101.0, 102.0],
            &[1000.0, 1001.0, 1002.0],
            Better::Lower,
        );
        assert_eq!(c.verdict, Verdict::TooFewSamples);
        assert!(c.reason.as_deref().unwrap().contains("p >= 0.100"), "{c:?}");
        assert!((c.times_worse.unwrap() - 10.0).abs() < 0.1);
    }

    #[test]
    fn holm_counts_the_whole_battery() {
        // 5 against 5 alone: p = 2 / C(10, 5) = 0.0079 is significant. Among 10 tests Holm's
        // first step needs 0.005: no test can pass, so every one is "too few samples".
        let base = [100.0, 101.0, 102.0, 103.0, 104.0];
        let other = [200.0, 201.0, 202.0, 203.0, 204.0];
        let pair = PairInput {
            baseline: &base,
            other: &other,
            direction: Some(Better::Lower),
        };
        let cfg = VerdictConfig::default();
        let alone = compare_battery(&[pair], &cfg, &boot());
        assert_eq!(alone[0].verdict, Verdict::DramaticallyWorse);
        let many = compare_battery(&[pair; 10], &cfg, &boot());
        assert!(many.iter().all(|c| c.verdict == Verdict::TooFewSamples));
        assert!((many[0].p_adjusted.unwrap() - 10.0 * 2.0 / 252.0).abs() < 1e-12);
    }

    #[test]
    fn noise_hides_small_effects_but_not_dramatic_ones() {
        // Baseline CV about 20 %: a 4 % shift cannot be told from noise.
        let base: Vec<f64> = (0..12).map(|i| 70.0 + 5.0 * f64::from(i)).collect();
        let other: Vec<f64> = base.iter().map(|v| v * 1.04).collect();
        let c = one(&base, &other, Better::Lower);
        assert_eq!(c.verdict, Verdict::HighVariance, "{c:?}");
        assert!(c.reason.as_deref().unwrap().contains("baseline CV"));
        // Ten times worse is dramatic however noisy.
        let other: Vec<f64> = base.iter().map(|v| v * 10.0).collect();
        let c = one(&base, &other, Better::Lower);
        assert_eq!(c.verdict, Verdict::DramaticallyWorse, "{c:?}");
    }

    #[test]
    fn invalid_data_says_why() {
        let pair = |b: &'static [f64], o: &'static [f64], d| PairInput {
            baseline: b,
            other: o,
            direction: d,
        };
        let cs = compare_battery(
            &[
                pair(&[1.0, 2.0], &[1.0, 2.0], None),
                pair(&[], &[1.0], Some(Better::Lower)),
                pair(&[0.0, 0.0], &[1.0, 2.0], Some(Better::Lower)),
                pair(&[f64::NAN], &[1.0], Some(Better::Higher)),
            ],
            &VerdictConfig::default(),
            &boot(),
        );
        assert!(cs.iter().all(|c| c.verdict == Verdict::InvalidData));
        assert!(cs[0].reason.as_deref().unwrap().contains("direction"));
        assert!(cs[1].reason.as_deref().unwrap().contains("baseline"));
        assert!(cs[2].reason.as_deref().unwrap().contains("positive"));
        assert_eq!(cs[0].p_adjusted, None);
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::BTreeSet<&str> =
            Verdict::ALL.iter().map(|v| v.label()).collect();
        assert_eq!(labels.len(), Verdict::ALL.len());
        assert_eq!(
            serde_json::to_string(&Verdict::DramaticallyWorse).unwrap(),
            "\"dramatically-worse\""
        );
    }
}
