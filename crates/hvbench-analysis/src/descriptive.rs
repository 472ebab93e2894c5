//! Order statistics and moments of one sample.

/// The finite values of `values`, in order: NaN and ±infinity are not measurements, and every
/// function of this crate ignores them.
pub(crate) fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// The median of the finite values of `values`; `None` when there are none. For an even count
/// it is the average of the two middle values.
pub fn median(values: &[f64]) -> Option<f64> {
    median_in_place(&mut finite(values))
}

/// The median of `v`, all finite, reordering `v` (linear time: a selection, not a sort).
pub(crate) fn median_in_place(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (below, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    // Everything left of the selected element is <= it; the largest of them is the lower middle.
    let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(midpoint(lower, upper))
}

/// The median of sorted, non-empty `v`.
pub(crate) fn median_of_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// `(a + b) / 2` without overflowing for large finite values of equal sign, and never outside
/// `[a, b]` (halving subnormals rounds).
pub(crate) fn midpoint(a: f64, b: f64) -> f64 {
    if a == b {
        return a;
    }
    (a / 2.0 + b / 2.0).clamp(a.min(b), a.max(b))
}

/// Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value) of `v`,
/// all finite and not empty.
pub(crate) fn mean_and_stddev(v: &[f64]) -> (f64, f64) {
    let (mean, sd) = two_pass(v, 1.0);
    if mean.is_finite() && sd.is_finite() {
        return (mean, sd);
    }
    // Sums of values near f64::MAX overflow; scaling by the largest magnitude keeps every
    // intermediate within [-1, 1] (the result may still be infinite if the true one is).
    let scale = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let (mean, sd) = two_pass(v, scale);
    (mean * scale, sd * scale)
}

fn two_pass(v: &[f64], scale: f64) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|x| x / scale).sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = v.iter().map(|x| (x / scale - mean).powi(2)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_by_hand() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[-1.0, -1.0, 7.0, 7.0]), Some(3.0));
    }

    #[test]
    fn median_ignores_non_finite_values() {
        assert_eq!(
            median(&[f64::NAN, 1.0, f64::INFINITY, 3.0, f64::NEG_INFINITY]),
            Some(2.0)
        );
        assert_eq!(median(&[f64::NAN, f64::INFINITY]), None);
    }

    #[test]
    fn median_of_huge_values_does_not_overflow() {
        assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX));
    }

    #[test]
    fn moments_match_numpy() {
        // numpy 2.4: a = [2, 4, 4, 4, 5, 5, 7, 9]; a.mean() = 5.0, a.std(ddof=1) = 2.138089935299395
        let (mean, sd) = mean_and_stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(mean, 5.0);
        assert!((sd - 2.138_089_935_299_395).abs() < 1e-12, "{sd}");
        assert_eq!(mean_and_stddev(&[42.0]), (42.0, 0.0));
    }

    #[test]
    fn moments_of_huge_values_stay_finite() {
        let (mean, sd) = mean_and_stddev(&[f64::MAX, f64::MAX, f64::MAX]);
        assert_eq!(mean, f64::MAX);
        assert_eq!(sd, 0.0);
    }
}
