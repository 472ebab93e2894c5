//! Properties that must hold for any input: nothing panics, and every interval holds its point.

use hvbench_analysis::{
    compare_battery, holm_adjust, mad_outliers, mann_whitney_u, median, ratio_of_medians,
    summarize, variability, BootstrapConfig, PairInput, VariabilityConfig, VerdictConfig,
};
use hvbench_proto::Better;
use proptest::prelude::*;

/// Few resamples keep the cases fast; the properties must hold for any count.
fn cfg(seed: u64, resamples: usize) -> BootstrapConfig {
    BootstrapConfig {
        confidence: 0.95,
        resamples,
        seed,
    }
}

/// Any f64 at all, NaN and infinities included, and extremes.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6_f64,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(0.0),
        1 => Just(f64::MAX),
    ]
}

proptest! {
    #[test]
    fn nothing_panics_on_any_input(
        a in prop::collection::vec(any_value(), 0..40),
        b in prop::collection::vec(any_value(), 0..40),
        seed in any::<u64>(),
        resamples in 0usize..60,
        confidence in any::<f64>(),
        threshold in any::<f64>(),
    ) {
        let c = BootstrapConfig { confidence, resamples, seed };
        let _ = median(&a);
        if let Some(s) = summarize(&a, &c) {
            prop_assert!(s.ci.lo <= s.median && s.median <= s.ci.hi, "{s:?}");
            prop_assert!(s.min <= s.median && s.median <= s.max);
        }
        if let Some(r) = ratio_of_medians(&a, &b, &c) {
            prop_assert!(r.ci.lo <= r.point && r.point <= r.ci.hi, "{r:?}");
        }
        let out = mad_outliers(&a, threshold);
        prop_assert!(out.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(out.iter().all(|&i| i < a.len() && a[i].is_finite()));
    }

    #[test]
    fn the_interval_holds_the_median(
        v in prop::collection::vec(-1e9..1e9_f64, 1..60),
        seed in any::<u64>(),
        resamples in 1usize..200,
    ) {
        let s = summarize(&v, &cfg(seed, resamples)).unwrap();
        prop_assert_eq!(Some(s.median), median(&v));
        prop_assert!(s.ci.lo <= s.median && s.median <= s.ci.hi, "{:?}", s);
        prop_assert!(s.min <= s.ci.lo && s.ci.hi <= s.max, "{:?}", s);
    }

    #[test]
    fn the_ratio_interval_holds_the_ratio(
        base in prop::collection::vec(1.0..1e6_f64, 1..40),
        other in prop::collection::vec(1.0..1e6_f64, 1..40),
        seed in any::<u64>(),
    ) {
        let r = ratio_of_medians(&base, &other, &cfg(seed, 100)).unwrap();
        prop_assert!(r.ci.lo <= r.point && r.point <= r.ci.hi, "{:?}", r);
        prop_assert!(r.ci.lo > 0.0 && r.ci.hi.is_finite());
    }
}

proptest! {
    #[test]
    fn tests_and_verdicts_never_panic_and_stay_in_range(
        a in prop::collection::vec(any_value(), 0..30),
        b in prop::collection::vec(any_value(), 0..30),
        higher in any::<bool>(),
    ) {
        if let Some(t) = mann_whitney_u(&a, &b) {
            prop_assert!(t.p_value > 0.0 && t.p_value <= 1.0, "{t:?}");
            prop_assert!(t.u >= 0.0 && t.u <= (t.n_x * t.n_y) as f64);
        }
        let direction = Some(if higher { Better::Higher } else { Better::Lower });
        let pairs = [
            PairInput { baseline: &a, other: &b, direction },
            PairInput { baseline: &b, other: &a, direction: None },
        ];
        let cs = compare_battery(&pairs, &VerdictConfig::default(), &cfg(1, 30));
        prop_assert_eq!(cs.len(), 2);
        for c in &cs {
            if let Some(p) = c.p_adjusted {
                prop_assert!(p > 0.0 && p <= 1.0);
            }
        }
        let _ = variability(&a, &VariabilityConfig::default());
    }

    #[test]
    fn holm_never_lowers_a_p_value_and_keeps_the_order(
        p in prop::collection::vec(0.0..1.0_f64, 0..20),
    ) {
        let adj = holm_adjust(&p);
        for (raw, a) in p.iter().zip(&adj) {
            prop_assert!(a >= raw && *a <= 1.0);
        }
        for i in 0..p.len() {
            for j in 0..p.len() {
                if p[i] < p[j] {
                    prop_assert!(adj[i] <= adj[j]);
                }
            }
        }
    }
}
