//! Can a design conclude at all? Before anything runs, from the sample sizes and the number of
//! comparisons alone: the smallest p-value the Mann-Whitney test can give ([`crate::significance`]),
//! and the smallest that Holm's correction over the battery can leave of it.
//!
//! With m tests, Holm's first step compares the smallest p with `alpha / m`, so the smallest
//! adjusted p is `min(1, m · p_min)`: reached when two samples do not overlap at all. If that is
//! above `alpha`, no difference, however large, is ever called significant: every verdict is
//! "too few samples" ([`crate::Verdict::TooFewSamples`], decided by the same rule). `hvbench
//! plan` says so (docs/architecture.md, "Analysis and report").

use crate::significance::{mann_whitney_min_p_method, TestMethod};
use serde::Serialize;

/// The best a design can do: its smallest raw and Holm-adjusted p-values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Attainable {
    /// Values per side of one comparison (rounds x measured windows; warm-up windows do not
    /// count).
    pub n_baseline: usize,
    pub n_other: usize,
    /// Tests Holm corrects over together (at least 1).
    pub comparisons: usize,
    pub alpha: f64,
    /// The smallest p the test gives at these sizes, values without ties.
    pub min_p: f64,
    /// How the test computes p at these sizes without ties.
    pub method: TestMethod,
    /// The smallest Holm-adjusted p: `min(1, comparisons · min_p)`.
    pub min_adjusted_p: f64,
}

impl Attainable {
    /// Whether a large enough difference can be called significant at all.
    pub fn can_conclude(&self) -> bool {
        self.min_adjusted_p <= self.alpha
    }
}

/// The smallest Holm-adjusted p of `comparisons` tests whose smallest raw p is `min_p`.
pub fn holm_min_adjusted_p(min_p: f64, comparisons: usize) -> f64 {
    (comparisons.max(1) as f64 * min_p).min(1.0)
}

/// What a design with these sample sizes and this many comparisons can conclude at `alpha`.
pub fn attainable(n_baseline: usize, n_other: usize, comparisons: usize, alpha: f64) -> Attainable {
    let (min_p, method) = mann_whitney_min_p_method(n_baseline, n_other);
    Attainable {
        n_baseline,
        n_other,
        comparisons: comparisons.max(1),
        alpha,
        min_p,
        method,
        min_adjusted_p: holm_min_adjusted_p(min_p, comparisons),
    }
}

/// The smallest multiplier k (1 ..= `max_k`) such that `k · step` values on each side can
/// conclude over `comparisons` tests at `alpha`: with `step` = rounds, the `samples` to ask
/// for; with `step` = samples, the rounds. `None` when none up to `max_k` can.
pub fn smallest_to_conclude(
    step: usize,
    comparisons: usize,
    alpha: f64,
    max_k: usize,
) -> Option<usize> {
    let step = step.max(1);
    (1..=max_k).find(|k| {
        let n = k.saturating_mul(step);
        attainable(n, n, comparisons, alpha).can_conclude()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn the_default_comparison_at_six_values_can_never_conclude() {
        // examples/xen-vs-kvm.toml as it was: 3 rounds x 2 samples = 6 values per side;
        // 3 guest platforms x 9 workloads = 27 comparisons.
        let a = attainable(6, 6, 27, 0.05);
        assert_eq!(a.method, TestMethod::Exact);
        assert!(close(a.min_p, 2.0 / 924.0, 1e-12), "{a:?}");
        // 27 x 0.002164 = 0.0584 > 0.05.
        assert!(close(a.min_adjusted_p, 27.0 * 2.0 / 924.0, 1e-12), "{a:?}");
        assert!(!a.can_conclude());
    }

    #[test]
    fn five_samples_a_round_conclude_with_room() {
        // 3 rounds x 5 samples = 15 values per side: 2 / C(30, 15) ~ 1.3e-8; x 27 ~ 3.5e-7.
        let a = attainable(15, 15, 27, 0.05);
        assert!(close(a.min_p, 2.0 / 155_117_520.0, 1e-12), "{a:?}");
        assert!(a.min_adjusted_p < 1e-6 && a.can_conclude(), "{a:?}");
        // The smallest that can: 3 samples a round (9 values: 27 x 2 / C(18, 9) ~ 0.0011).
        assert_eq!(smallest_to_conclude(3, 27, 0.05, 100), Some(3));
        assert!(attainable(9, 9, 27, 0.05).can_conclude());
        assert!(!attainable(6, 6, 27, 0.05).can_conclude());
        // Or, at 2 samples a round, 4 rounds (8 values: 27 x 2 / C(16, 8) ~ 0.0042).
        assert_eq!(smallest_to_conclude(2, 27, 0.05, 100), Some(4));
    }

    #[test]
    fn holm_multiplies_by_the_number_of_tests() {
        assert_eq!(holm_min_adjusted_p(0.01, 3), 0.03);
        assert_eq!(holm_min_adjusted_p(0.1, 30), 1.0);
        // No test counts as one.
        assert_eq!(holm_min_adjusted_p(0.01, 0), 0.01);
        let one = attainable(3, 3, 1, 0.05);
        assert!(close(one.min_adjusted_p, 0.1, 1e-12) && !one.can_conclude());
        // At alpha 0.05 and one test, 4 against 4 is the least (2 / 70 ~ 0.029).
        assert!(attainable(4, 4, 1, 0.05).can_conclude());
        assert_eq!(smallest_to_conclude(1, 1, 0.05, 10), Some(4));
        // Beyond the exact range, the normal approximation's smallest p.
        let big = attainable(40, 40, 1000, 0.05);
        assert_eq!(big.method, TestMethod::Normal);
        assert!(big.can_conclude());
        // Nothing up to the bound: None.
        assert_eq!(smallest_to_conclude(1, 1_000_000, 0.05, 3), None);
        assert_eq!(attainable(0, 5, 1, 0.05).min_p, 1.0);
    }

    #[test]
    fn the_verdicts_use_the_same_rule() {
        // `too few samples` is given exactly when the design cannot conclude.
        use crate::{compare_battery, BootstrapConfig, PairInput, Verdict};
        use hvbench_proto::Better;
        // 27 comparisons of `n` values a side, the other `factor` times the baseline.
        let verdicts = |n: usize, factor: f64| {
            let base: Vec<f64> = (0..n).map(|i| 100.0 + i as f64 * 0.1).collect();
            let far: Vec<f64> = base.iter().map(|v| v * factor).collect();
            let boot = BootstrapConfig {
                resamples: 500,
                ..BootstrapConfig::default()
            };
            let pairs: Vec<PairInput> = (0..27)
                .map(|_| PairInput {
                    baseline: &base,
                    other: &far,
                    direction: Some(Better::Lower),
                })
                .collect();
            compare_battery(&pairs, &Default::default(), &boot)
                .into_iter()
                .map(|c| c.verdict)
                .collect::<Vec<_>>()
        };
        assert!(verdicts(6, 600.0)
            .iter()
            .all(|v| *v == Verdict::TooFewSamples));
        // 15 a side concludes: 651x worse is dramatically worse.
        assert!(verdicts(15, 651.0)
            .iter()
            .all(|v| *v == Verdict::DramaticallyWorse));
    }
}
