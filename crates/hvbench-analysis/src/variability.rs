//! Is a sample too spread out, or split in two, to trust its median?
//!
//! Two rules, both documented in the report:
//!
//! - **High variance**: the coefficient of variation (sample standard deviation over the mean)
//!   is above [`VariabilityConfig::max_cv`] (10 % by default).
//! - **Bimodal**: a gap in the sorted samples. The sorted values split into a lower and an upper
//!   group, each holding at least [`VariabilityConfig::min_mode_fraction`] of the values (and at
//!   least two), separated by an empty stretch that is wider than either group's own range
//!   times [`VariabilityConfig::gap_to_range`] and at least
//!   [`VariabilityConfig::min_relative_gap`] of the median. Needs
//!   [`VariabilityConfig::bimodal_min_n`] values. This is a deliberately simple, explainable
//!   rule rather than Hartigan's dip test: with the handfuls of samples a benchmark has, the dip
//!   test has little power, while "two tight clusters far apart" is exactly what a reader sees
//!   when a frequency change, a co-runner or a migration hits part of the rounds.

use crate::descriptive::{finite, mean_and_stddev, median_of_sorted};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VariabilityConfig {
    /// Coefficient of variation above which a sample is "high variance" (a fraction).
    pub max_cv: f64,
    /// Fewest values for the bimodality rule.
    pub bimodal_min_n: usize,
    /// Smallest share of the values in each of the two groups.
    pub min_mode_fraction: f64,
    /// The gap must exceed this many times the larger group's range.
    pub gap_to_range: f64,
    /// The gap must be at least this fraction of |median|, so that a discrete-valued measurement
    /// (two adjacent integers) is not called bimodal.
    pub min_relative_gap: f64,
}

impl Default for VariabilityConfig {
    fn default() -> Self {
        VariabilityConfig {
            max_cv: 0.10,
            bimodal_min_n: 6,
            min_mode_fraction: 0.2,
            gap_to_range: 1.0,
            min_relative_gap: 0.05,
        }
    }
}

/// Two groups of values with an empty stretch between them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bimodality {
    pub lower_n: usize,
    pub upper_n: usize,
    pub lower_median: f64,
    pub upper_median: f64,
    /// Largest value of the lower group, smallest of the upper.
    pub gap: (f64, f64),
}

/// What [`variability`] found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Variability {
    pub n: usize,
    /// NaN when undefined (no value, or mean 0).
    pub cv: f64,
    pub high_cv: bool,
    pub bimodal: Option<Bimodality>,
}

impl Variability {
    /// High variance or bimodal: the median alone misdescribes this sample.
    pub fn is_noisy(&self) -> bool {
        self.high_cv || self.bimodal.is_some()
    }
}

/// The spread of the finite values of `values` by the rules of this module.
pub fn variability(values: &[f64], cfg: &VariabilityConfig) -> Variability {
    let mut v = finite(values);
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let cv = if n == 0 {
        f64::NAN
    } else {
        let (mean, sd) = mean_and_stddev(&v);
        if mean == 0.0 {
            f64::NAN
        } else {
            sd / mean.abs()
        }
    };
    Variability {
        n,
        cv,
        high_cv: cv.is_finite() && cv > cfg.max_cv,
        bimodal: bimodal_gap(&v, cfg),
    }
}

/// The widest qualifying gap of sorted, finite `v`, if any.
fn bimodal_gap(v: &[f64], cfg: &VariabilityConfig) -> Option<Bimodality> {
    let n = v.len();
    if n < cfg.bimodal_min_n.max(4) {
        return None;
    }
    let min_group = ((cfg.min_mode_fraction * n as f64).ceil() as usize).max(2);
    if 2 * min_group > n {
        return None;
    }
    let median = median_of_sorted(v);
    let (k, gap) = (min_group..=n - min_group)
        .map(|k| (k, v[k] - v[k - 1]))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (lower, upper) = v.split_at(k);
    let widest_group = (lower[k - 1] - lower[0]).max(upper[upper.len() - 1] - upper[0]);
    let wide_enough = gap > cfg.gap_to_range * widest_group;
    let relevant = gap >= cfg.min_relative_gap * median.abs() && gap > 0.0;
    (wide_enough && relevant).then(|| Bimodality {
        lower_n: lower.len(),
        upper_n: upper.len(),
        lower_median: median_of_sorted(lower),
        upper_median: median_of_sorted(upper),
        gap: (lower[k - 1], upper[0]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VariabilityConfig {
        VariabilityConfig::default()
    }

    #[test]
    fn two_tight_clusters_far_apart_are_bimodal() {
        // Five rounds near 100 ns, four near 180 ns (say, two CPU frequencies).
        let v = [100.0, 101.0, 180.0, 99.5, 181.0, 100.5, 179.0, 100.2, 182.0];
        let b = variability(&v, &cfg()).bimodal.unwrap();
        assert_eq!((b.lower_n, b.upper_n), (5, 4));
        assert_eq!((b.lower_median, b.upper_median), (100.2, 180.5));
        assert_eq!(b.gap, (101.0, 179.0));
    }

    #[test]
    fn unimodal_spread_is_not_bimodal() {
        // Evenly spread, and a normal-looking sample (scipy 1.17: 100 + 5 norm.ppf(i / 20),
        // i = 1..19, rounded to 0.01): neither has a gap wider than its groups.
        let even: Vec<f64> = (0..20).map(f64::from).collect();
        assert!(variability(&even, &cfg()).bimodal.is_none());
        let normal = [
            91.78, 93.59, 94.82, 95.79, 96.63, 97.38, 98.07, 98.73, 99.37, 100.0, 100.63, 101.27,
            101.93, 102.62, 103.37, 104.21, 105.18, 106.41, 108.22,
        ];
        assert!(variability(&normal, &cfg()).bimodal.is_none());
    }

    #[test]
    fn a_lone_outlier_or_adjacent_integers_are_not_two_modes() {
        // One stray value is an outlier (MAD), not a second mode: a group needs 20 % and 2 values.
        let v = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 10.0, 30.0];
        assert!(variability(&v, &cfg()).bimodal.is_none());
        // 100 and 101 ns: a 1 % gap is below the 5 % floor.
        let v = [100.0, 100.0, 100.0, 101.0, 101.0, 101.0];
        assert!(variability(&v, &cfg()).bimodal.is_none());
        // Too few values to tell.
        assert!(variability(&[1.0, 1.0, 9.0, 9.0], &cfg()).bimodal.is_none());
    }

    #[test]
    fn coefficient_of_variation_threshold() {
        // numpy: std([90, 100, 110], ddof=1) / 100 = 0.1 exactly -> not above 10 %.
        let v = variability(&[90.0, 100.0, 110.0], &cfg());
        assert!((v.cv - 0.1).abs() < 1e-12 && !v.high_cv && !v.is_noisy());
        // std([80, 100, 120], ddof=1) / 100 = 0.2 -> high.
        let v = variability(&[80.0, 100.0, 120.0], &cfg());
        assert!(v.high_cv && v.is_noisy());
        assert!(variability(&[], &cfg()).cv.is_nan());
        assert!(
            !variability(&[-1.0, 1.0], &cfg()).high_cv,
            "undefined CV is not high"
        );
    }
}
