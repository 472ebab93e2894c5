//! Outliers by the modified z-score: Iglewicz & Hoaglin, "How to Detect and Handle Outliers",
//! ASQC Quality Press, 1993. Outliers are *reported*; callers must not drop them silently.

use crate::descriptive::{finite, median_in_place};

/// The threshold Iglewicz & Hoaglin recommend: |modified z| above 3.5 marks an outlier.
pub const DEFAULT_MAD_THRESHOLD: f64 = 3.5;

/// 0.6745 is the 0.75 quantile of the standard normal distribution: for normal data
/// MAD ≈ 0.6745 σ, so `0.6745 (x - median) / MAD` estimates `(x - median) / σ`.
const MAD_TO_Z: f64 = 0.6745;

/// sqrt(π / 2) ≈ 1.253314: for normal data the mean absolute deviation is σ sqrt(2 / π), so
/// `(x - median) / (1.253314 · MeanAD)` estimates `(x - median) / σ` like the MAD form does.
const MEAN_AD_TO_SIGMA: f64 = 1.253_314;

/// Indices (ascending, into `values`) of the values whose modified z-score exceeds `threshold`
/// in absolute value (3.5 is [`DEFAULT_MAD_THRESHOLD`]).
///
/// Non-finite values are ignored: they take no part in the median or the MAD and are never
/// reported. When the MAD is 0 (more than half the values equal the median) the score falls back
/// to the mean absolute deviation from the median, scaled to the same σ units, so that one stray
/// value among many identical ones is flagged while a few neighbours of a discrete-valued
/// measurement are not. When that is 0 too, all values are equal and none is an outlier.
pub fn mad_outliers(values: &[f64], threshold: f64) -> Vec<usize> {
    let mut v = finite(values);
    let Some(median) = median_in_place(&mut v) else {
        return Vec::new();
    };
    let mut deviations: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    let mean_ad = deviations
        .iter()
        .map(|d| d / deviations.len() as f64)
        .sum::<f64>();
    let mad = median_in_place(&mut deviations).unwrap_or(0.0);

    let sigma = if mad > 0.0 {
        mad / MAD_TO_Z
    } else if mean_ad > 0.0 {
        mean_ad * MEAN_AD_TO_SIGMA
    } else {
        return Vec::new();
    };
    values
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite() && ((*x - median) / sigma).abs() > threshold)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy() {
        // scipy 1.17: a = [12.1, 11.8, 12.5, 30.0, 12.0, 11.9, 12.3];
        // median_abs_deviation(a, scale=1.0) = 0.2, 0.6745 * (a - 12.1) / 0.2 =
        // [0, -1.01, 1.35, 60.37, -0.34, -0.67, 0.67]: only index 3 is beyond 3.5.
        let a = [12.1, 11.8, 12.5, 30.0, 12.0, 11.9, 12.3];
        assert_eq!(mad_outliers(&a, DEFAULT_MAD_THRESHOLD), vec![3]);
        // Its score of 60.37 is below a threshold of 61 and above 60.
        assert_eq!(mad_outliers(&a, 61.0), Vec::<usize>::new());
        assert_eq!(mad_outliers(&a, 60.0), vec![3]);
    }

    #[test]
    fn both_tails_are_reported() {
        let a = [10.0, 10.1, 9.9, 10.05, 9.95, 1.0, 50.0];
        assert_eq!(mad_outliers(&a, DEFAULT_MAD_THRESHOLD), vec![5, 6]);
    }

    #[test]
    fn zero_mad_falls_back_to_the_mean_absolute_deviation() {
        // By hand: [5, 5, 5, 5, 100]: median 5, MAD 0, MeanAD 95/5 = 19,
        // score of 100 = 95 / (1.253314 * 19) = 3.99 > 3.5.
        assert_eq!(mad_outliers(&[5.0, 5.0, 5.0, 5.0, 100.0], 3.5), vec![4]);
        // [5, 5, 5, 6]: MeanAD 0.25, score of 6 = 1 / (1.253314 * 0.25) = 3.19 < 3.5.
        assert!(mad_outliers(&[5.0, 5.0, 5.0, 6.0], 3.5).is_empty());
        // All equal: nothing stands out.
        assert!(mad_outliers(&[7.0; 9], 3.5).is_empty());
    }

    #[test]
    fn non_finite_values_are_ignored_and_indices_refer_to_the_input() {
        let a = [f64::NAN, 10.0, 10.1, f64::INFINITY, 9.9, 10.0, 99.0];
        assert_eq!(mad_outliers(&a, 3.5), vec![6]);
        assert!(mad_outliers(&[], 3.5).is_empty());
        assert!(mad_outliers(&[f64::NAN], 3.5).is_empty());
    }
}
