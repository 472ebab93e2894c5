//! Percentile-bootstrap confidence intervals for a median and for a ratio of two medians.
//!
//! The percentile bootstrap (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993,
//! ch. 13): resample the data with replacement, recompute the statistic each time, and take
//! the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of those statistics. It
//! assumes nothing about the distribution, which suits benchmark timings (skewed, often
//! multimodal).

use crate::descriptive::{finite, mean_and_stddev, median_of_sorted, midpoint};
use crate::rng::SplitMix64;
use serde::Serialize;

/// How bootstrap intervals are computed. The seed makes every interval reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapConfig {
    /// Coverage of the interval, in (0, 1); 0.95 by default. Values outside [0, 1] are
    /// clamped to it, and NaN means the default.
    pub confidence: f64,
    /// Number of bootstrap resamples; 10 000 by default. 0 gives the degenerate interval
    /// `[point, point]`.
    pub resamples: usize,
    pub seed: u64,
}

impl BootstrapConfig {
    pub const DEFAULT_CONFIDENCE: f64 = 0.95;
    pub const DEFAULT_RESAMPLES: usize = 10_000;
    /// Small enough (< 2^53) to survive a round trip through any JSON reader.
    pub const DEFAULT_SEED: u64 = 0x5EED;

    fn tail_probability(&self) -> f64 {
        let c = if self.confidence.is_nan() {
            Self::DEFAULT_CONFIDENCE
        } else {
            self.confidence
        };
        (1.0 - c.clamp(0.0, 1.0)) / 2.0
    }
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            confidence: Self::DEFAULT_CONFIDENCE,
            resamples: Self::DEFAULT_RESAMPLES,
            seed: Self::DEFAULT_SEED,
        }
    }
}

/// A closed interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    fn point(x: f64) -> Interval {
        Interval { lo: x, hi: x }
    }

    /// The smallest interval holding both `self` and `x`.
    fn including(self, x: f64) -> Interval {
        Interval {
            lo: self.lo.min(x),
            hi: self.hi.max(x),
        }
    }
}

/// Descriptive statistics of one sample, with a bootstrap interval for its median.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of finite values summarized (NaN and infinities are ignored).
    pub n: usize,
    pub median: f64,
    /// Percentile-bootstrap interval of the median, widened if needed to hold `median` (with few
    /// resamples the percentile method does not guarantee it). `[v, v]` when n = 1.
    pub ci: Interval,
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 when n = 1.
    pub stddev: f64,
    /// Coefficient of variation `stddev / |mean|` as a fraction (0.05 is 5 %); NaN when the mean
    /// is 0 (it serializes as JSON null).
    pub cv: f64,
    pub min: f64,
    pub max: f64,
}

/// `median(other) / median(baseline)` with a bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub point: f64,
    /// Percentile-bootstrap interval, both groups resampled independently; widened if needed to
    /// hold `point`. It may reach ±infinity when resampled baseline medians can be 0.
    pub ci: Interval,
}

/// Summarize the finite values of `values`; `None` when there are none.
pub fn summarize(values: &[f64], cfg: &BootstrapConfig) -> Option<Summary> {
    let sorted = sorted_finite(values);
    let n = sorted.len();
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    let (mean, stddev) = mean_and_stddev(&sorted);
    let median = median_of_sorted(&sorted);
    let cv = if mean == 0.0 {
        f64::NAN
    } else {
        stddev / mean.abs()
    };

    let ci = if n == 1 {
        Interval::point(median)
    } else {
        let mut rng = SplitMix64::new(cfg.seed);
        let mut resampler = Resampler::new(&sorted);
        let medians = (0..cfg.resamples)
            .map(|_| resampler.median(&mut rng))
            .collect();
        percentile_interval(medians, cfg)
            .unwrap_or(Interval::point(median))
            .including(median)
    };
    Some(Summary {
        n,
        median,
        ci,
        mean,
        stddev,
        cv,
        min,
        max,
    })
}

/// The ratio of the median of `other` to the median of `baseline` (finite values only), with a
/// bootstrap interval. `None` when either has no finite value, when the baseline median is 0,
/// or when the ratio itself is not finite.
pub fn ratio_of_medians(baseline: &[f64], other: &[f64], cfg: &BootstrapConfig) -> Option<Ratio> {
    let (base, oth) = (sorted_finite(baseline), sorted_finite(other));
    if base.is_empty() || oth.is_empty() {
        return None;
    }
    let base_median = median_of_sorted(&base);
    if base_median == 0.0 {
        return None;
    }
    let point = median_of_sorted(&oth) / base_median;
    if !point.is_finite() {
        return None;
    }

    let mut rng = SplitMix64::new(cfg.seed);
    let (mut rb, mut ro) = (Resampler::new(&base), Resampler::new(&oth));
    let ratios = (0..cfg.resamples)
        .map(|_| {
            let b = rb.median(&mut rng);
            ro.median(&mut rng) / b
        })
        .filter(|r| !r.is_nan()) // 0/0: a resample with no information about the ratio
        .collect();
    let ci = percentile_interval(ratios, cfg)
        .unwrap_or(Interval::point(point))
        .including(point);
    Some(Ratio { point, ci })
}

fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut v = finite(values);
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Draws resamples (with replacement) of a sorted, non-empty sample and returns their medians.
///
/// The median of a resample is an order statistic of the *indices* drawn, so counting how often
/// each index is drawn and scanning the counts finds it in linear time with no comparisons of
/// values (about three times faster than selecting from a copied resample).
struct Resampler<'a> {
    sorted: &'a [f64],
    counts: Vec<u32>,
}

impl<'a> Resampler<'a> {
    fn new(sorted: &'a [f64]) -> Self {
        debug_assert!(!sorted.is_empty());
        Resampler {
            sorted,
            counts: vec![0; sorted.len()],
        }
    }

    fn median(&mut self, rng: &mut SplitMix64) -> f64 {
        let n = self.sorted.len();
        self.counts.fill(0);
        for _ in 0..n {
            self.counts[rng.below(n)] += 1;
        }
        // 0-based ranks of the two middle values (the same one when n is odd).
        let (lower_rank, upper_rank) = ((n - 1) / 2, n / 2);
        let mut seen = 0;
        let mut lower = None;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as usize;
            if lower.is_none() && seen > lower_rank {
                lower = Some(self.sorted[i]);
            }
            if seen > upper_rank {
                return match lower {
                    Some(lo) if n.is_multiple_of(2) => midpoint(lo, self.sorted[i]),
                    _ => self.sorted[i],
                };
            }
        }
        unreachable!("the counts add up to n, beyond every rank below n")
    }
}

/// The central `confidence` interval of the bootstrap distribution `stats` (no NaN); `None` if
/// empty.
fn percentile_interval(mut stats: Vec<f64>, cfg: &BootstrapConfig) -> Option<Interval> {
    if stats.is_empty() {
        return None;
    }
    let tail = cfg.tail_probability();
    Some(Interval {
        lo: quantile(&mut stats, tail),
        hi: quantile(&mut stats, 1.0 - tail),
    })
}

/// The `p` quantile of non-empty, NaN-free `v` by linear interpolation between order statistics
/// (Hyndman & Fan 1996 definition 7, numpy's default). Reorders `v`: two selections instead of
/// a sort.
pub(crate) fn quantile(v: &mut [f64], p: f64) -> f64 {
    let h = (v.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let i = h.floor() as usize;
    let frac = h - i as f64;
    let (_, &mut a, above) = v.select_nth_unstable_by(i, f64::total_cmp);
    if frac == 0.0 || above.is_empty() {
        return a;
    }
    let b = above.iter().copied().fold(f64::INFINITY, f64::min);
    if a == b {
        return a;
    }
    let x = a * (1.0 - frac) + b * frac;
    if x.is_nan() {
        // -inf and +inf around the quantile: take the nearer one.
        return if frac < 0.5 { a } else { b };
    }
    x.clamp(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(seed: u64) -> BootstrapConfig {
        BootstrapConfig {
            seed,
            ..BootstrapConfig::default()
        }
    }

    /// Deterministic, spread-out test data: `n` values in [100, 110).
    fn spread(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 100.0 + ((i * 7919) % 101) as f64 / 10.1)
            .collect()
    }

    #[test]
    fn counting_resampler_agrees_with_resampling_directly() {
        for n in [1, 2, 3, 4, 7, 10] {
            let sorted: Vec<f64> = (0..n).map(|i| (i * i) as f64).collect();
            let mut resampler = Resampler::new(&sorted);
            let mut rng = SplitMix64::new(n as u64);
            for _ in 0..200 {
                let mut twin = rng.clone();
                let mut resample: Vec<f64> = (0..n).map(|_| sorted[twin.below(n)]).collect();
                let want = crate::descriptive::median_in_place(&mut resample).unwrap();
                assert_eq!(resampler.median(&mut rng), want, "n = {n}");
            }
        }
    }

    #[test]
    fn quantiles_match_numpy() {
        // numpy 2.4: np.percentile([1, 2, 4, 8, 16], [2.5, 97.5, 50, 10]) = [1.1, 15.2, 4.0, 1.4]
        for (p, want) in [
            (0.025, 1.1),
            (0.975, 15.2),
            (0.5, 4.0),
            (0.1, 1.4),
            (0.0, 1.0),
            (1.0, 16.0),
        ] {
            let got = quantile(&mut [8.0, 1.0, 16.0, 4.0, 2.0], p);
            assert!((got - want).abs() < 1e-12, "p={p}: {got} != {want}");
        }
        assert_eq!(
            quantile(&mut [f64::NEG_INFINITY, 1.0, f64::INFINITY], 0.75),
            f64::INFINITY
        );
        assert_eq!(quantile(&mut [3.0], 0.3), 3.0);
    }

    #[test]
    fn summary_matches_numpy() {
        // numpy 2.4 on a = [12.1, 11.8, 12.5, 30.0, 12.0, 11.9, 12.3]: median 12.1,
        // mean 14.657142857142858, std(ddof=1) 6.769750646037401, cv 0.461873825753039.
        let v = [12.1, 11.8, 12.5, 30.0, 12.0, 11.9, 12.3];
        let s = summarize(&v, &BootstrapConfig::default()).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (7, 12.1, 11.8, 30.0));
        assert!((s.mean - 14.657_142_857_142_858).abs() < 1e-12);
        assert!((s.stddev - 6.769_750_646_037_401).abs() < 1e-12);
        assert!((s.cv - 0.461_873_825_753_039).abs() < 1e-12);
        assert!(s.ci.contains(s.median));
    }

    #[test]
    fn bootstrap_interval_of_the_median_matches_its_exact_distribution() {
        // For the sample 1..=21 the bootstrap median is <= k exactly when at least 11 of the 21
        // draws are <= k, so P(median* <= k) = P(Binom(21, k/21) >= 11) (scipy.stats.binom.sf):
        // k=6: 0.0183, k=7: 0.0557, k=14: 0.9443, k=15: 0.9817. The 2.5 % and 97.5 % quantiles
        // are therefore 7 and 15, each about 5 Monte Carlo standard errors from the next value.
        let v: Vec<f64> = (1..=21).map(f64::from).collect();
        for seed in [1, 2, 3] {
            let s = summarize(&v, &cfg(seed)).unwrap();
            assert_eq!(s.median, 11.0);
            assert_eq!((s.ci.lo, s.ci.hi), (7.0, 15.0), "seed {seed}");
        }
    }

    #[test]
    fn three_values_by_hand() {
        // [1, 2, 3]: the bootstrap median is 1 when at least two of three draws are 1:
        // P = 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27 = 0.26 > 0.025, and likewise for 3, so the 95 %
        // interval is the whole range.
        let s = summarize(&[1.0, 2.0, 3.0], &cfg(9)).unwrap();
        assert_eq!((s.ci.lo, s.ci.hi), (1.0, 3.0));
    }

    #[test]
    fn same_seed_same_interval_other_seed_other_draws() {
        let v = spread(40);
        let a = summarize(&v, &cfg(42)).unwrap();
        let b = summarize(&v, &cfg(42)).unwrap();
        assert_eq!(a, b);
        let r1 = ratio_of_medians(&v, &spread(30), &cfg(42)).unwrap();
        let r2 = ratio_of_medians(&v, &spread(30), &cfg(42)).unwrap();
        assert_eq!(r1, r2);
        // The seed does drive the draws: with few resamples (10 000 land on the same order
        // statistics whatever the seed) different seeds give different intervals.
        let few = |seed| BootstrapConfig {
            resamples: 20,
            seed,
            ..BootstrapConfig::default()
        };
        let first = summarize(&v, &few(0)).unwrap().ci;
        assert!((1..5).any(|s| summarize(&v, &few(s)).unwrap().ci != first));
    }

    #[test]
    fn interval_narrows_as_n_grows() {
        let c = BootstrapConfig::default();
        let small = summarize(&spread(15), &c).unwrap().ci;
        let large = summarize(&spread(1500), &c).unwrap().ci;
        assert!(
            large.width() < small.width() / 3.0,
            "{small:?} vs {large:?}"
        );
    }

    #[test]
    fn degenerate_samples() {
        let c = BootstrapConfig::default();
        assert_eq!(summarize(&[], &c), None);
        assert_eq!(summarize(&[f64::NAN, f64::INFINITY], &c), None);
        let one = summarize(&[3.5, f64::NAN], &c).unwrap();
        assert_eq!(
            (one.n, one.median, one.ci, one.stddev),
            (1, 3.5, Interval::point(3.5), 0.0)
        );
        let same = summarize(&[2.0; 10], &c).unwrap();
        assert_eq!(
            (same.ci, same.stddev, same.cv),
            (Interval::point(2.0), 0.0, 0.0)
        );
        assert!(summarize(&[-1.0, 1.0], &c).unwrap().cv.is_nan());
        let none = BootstrapConfig { resamples: 0, ..c };
        assert_eq!(
            summarize(&[1.0, 2.0, 3.0], &none).unwrap().ci,
            Interval::point(2.0)
        );
    }

    #[test]
    fn ratio_of_identical_samples_is_one() {
        let v = spread(50);
        let r = ratio_of_medians(&v, &v, &BootstrapConfig::default()).unwrap();
        assert_eq!(r.point, 1.0);
        assert!(r.ci.contains(1.0));
        assert!(r.ci.lo > 0.97 && r.ci.hi < 1.03, "{:?}", r.ci);
    }

    #[test]
    fn ratio_of_doubled_samples_is_two() {
        let base = spread(50);
        let doubled: Vec<f64> = base.iter().map(|x| 2.0 * x).collect();
        let r = ratio_of_medians(&base, &doubled, &BootstrapConfig::default()).unwrap();
        assert_eq!(r.point, 2.0);
        assert!(
            r.ci.lo > 1.9 && r.ci.hi < 2.1 && r.ci.contains(2.0),
            "{:?}",
            r.ci
        );
    }

    #[test]
    fn ratio_refuses_what_it_cannot_compute() {
        let c = BootstrapConfig::default();
        assert_eq!(ratio_of_medians(&[], &[1.0], &c), None);
        assert_eq!(ratio_of_medians(&[1.0], &[f64::NAN], &c), None);
        assert_eq!(ratio_of_medians(&[0.0, 0.0, 1.0], &[1.0], &c), None);
        assert_eq!(
            ratio_of_medians(&[f64::MIN_POSITIVE], &[f64::MAX], &c),
            None
        );
    }

    #[test]
    fn ratio_interval_may_be_unbounded_but_holds_the_point() {
        // Baseline median 1, but about a third of its resamples (P(Binom(5, 0.4) >= 3) = 0.317)
        // have median 0, so the upper end of the interval is infinite.
        let r = ratio_of_medians(
            &[0.0, 0.0, 1.0, 1.0, 1.0],
            &[2.0],
            &BootstrapConfig::default(),
        )
        .unwrap();
        assert_eq!(r.point, 2.0);
        assert!(r.ci.contains(2.0));
        assert_eq!(r.ci.hi, f64::INFINITY);
    }

    #[test]
    fn odd_confidence_values_are_tamed() {
        let v = spread(30);
        let nan = BootstrapConfig {
            confidence: f64::NAN,
            ..BootstrapConfig::default()
        };
        assert_eq!(
            summarize(&v, &nan),
            summarize(&v, &BootstrapConfig::default())
        );
        let wide = BootstrapConfig {
            confidence: 7.0,
            ..BootstrapConfig::default()
        };
        let s = summarize(&v, &wide).unwrap();
        assert!(s.ci.lo >= s.min && s.ci.hi <= s.max);
    }
}
