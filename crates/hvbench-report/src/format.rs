//! How numbers and comparisons read in a report.

use hvbench_analysis::Interval;
use hvbench_proto::Better;

/// A stored `better` field in words: `higher is better`, `lower is better`, or the direction
/// unknown with what the sample said.
pub(crate) fn describe_better(better: &str) -> String {
    match Better::parse(better) {
        Some(b) => b.describe().to_string(),
        None => format!("direction unknown (`{better}`)"),
    }
}

/// `x` to `digits` significant digits: plain notation from 0.001 up to a million (integer
/// digits are never rounded away below that), scientific beyond. "-" for NaN.
pub(crate) fn sig(x: f64, digits: usize) -> String {
    if x.is_nan() {
        return "-".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let digits = digits.max(1);
    let magnitude = x.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        return format!("{:.*e}", digits - 1, x);
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    // Rounding may carry into a new digit (9.9996 -> "10.000"): drop the extra decimal.
    let carried = s
        .parse::<f64>()
        .is_ok_and(|r| r.abs() >= 10f64.powi(magnitude + 1));
    if carried && decimals > 0 {
        format!("{x:.*}", decimals - 1)
    } else {
        s
    }
}

/// A measured value: 4 significant digits.
pub(crate) fn value(x: f64) -> String {
    sig(x, 4)
}

/// `[lo, hi]` of measured values.
pub(crate) fn interval(ci: &Interval) -> String {
    format!("[{}, {}]", value(ci.lo), value(ci.hi))
}

/// A ratio: 3 significant digits.
pub(crate) fn ratio(x: f64) -> String {
    sig(x, 3)
}

/// A ratio with its interval: `2.00 [1.95, 2.06]`.
pub(crate) fn ratio_with_ci(point: f64, ci: &Interval) -> String {
    format!("{} [{}, {}]", ratio(point), ratio(ci.lo), ratio(ci.hi))
}

/// A coefficient of variation (a fraction) as a percentage.
pub(crate) fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1}%", fraction * 100.0)
    } else {
        "-".to_string()
    }
}

/// A p-value: three decimals, or `<0.001`.
pub(crate) fn p_value(p: f64) -> String {
    if p.is_nan() {
        "-".to_string()
    } else if p < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

/// A times-worse factor in words: `2.31x slower`, `1.05x faster`, `same`.
pub(crate) fn times_worse(t: f64) -> String {
    overhead(t, Some(Better::Lower)).unwrap_or_else(|| "-".to_string())
}

/// A times-worse factor against someone: `2.31x slower than host`, `the same as host`.
pub(crate) fn times_worse_than(t: f64, who: &str) -> String {
    match overhead(t, Some(Better::Lower)) {
        Some(s) if s == "same" => format!("the same as {who}"),
        Some(s) => format!("{s} than {who}"),
        None => format!("not comparable with {who}"),
    }
}

/// `0.95` -> `95% CI`.
pub(crate) fn ci_label(confidence: f64) -> String {
    let pct = (confidence.clamp(0.0, 1.0) * 1000.0).round() / 10.0;
    let pct = if confidence.is_nan() { 95.0 } else { pct };
    format!("{pct}% CI")
}

/// What a ratio `platform / baseline` means for the user: `2.31x slower`, `1.05x faster` or
/// `same`, according to the metric's direction. `None` when the direction is unknown or the
/// ratio is not a positive number.
pub(crate) fn overhead(ratio_point: f64, better: Option<Better>) -> Option<String> {
    if !(ratio_point.is_finite() && ratio_point > 0.0) {
        return None;
    }
    // How many times worse than the baseline: > 1 is slower, < 1 faster.
    let worse_by = better?.times_worse(ratio_point);
    Some(if worse_by > 1.0 {
        format!("{}x slower", ratio(worse_by))
    } else if worse_by < 1.0 {
        format!("{}x faster", ratio(1.0 / worse_by))
    } else {
        "same".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(1234.6, 4), "1235");
        assert_eq!(sig(123.45, 4), "123.5"); // 123.45 is 123.4500000000000028 in binary
        assert_eq!(sig(1.2345, 4), "1.234"); // 1.2345 is 1.23449999999999993 in binary
        assert_eq!(sig(0.012346, 4), "0.01235");
        assert_eq!(sig(0.099996, 4), "0.1000");
        assert_eq!(sig(123_456.0, 4), "123456");
        assert_eq!(sig(12_345_678.0, 4), "1.235e7");
        assert_eq!(sig(0.000_123_4, 4), "1.234e-4");
        assert_eq!(sig(-2.5, 3), "-2.50");
        assert_eq!(sig(9.9996, 4), "10.00");
        assert_eq!(sig(-9.9996, 4), "-10.00");
        assert_eq!(sig(2.0, 3), "2.00");
        assert_eq!(sig(0.0, 3), "0");
        assert_eq!(sig(f64::NAN, 3), "-");
        assert_eq!(sig(f64::INFINITY, 3), "inf");
    }

    #[test]
    fn overhead_respects_direction() {
        assert_eq!(overhead(2.0, Some(Better::Lower)).unwrap(), "2.00x slower");
        assert_eq!(overhead(0.5, Some(Better::Lower)).unwrap(), "2.00x faster");
        assert_eq!(overhead(0.5, Some(Better::Higher)).unwrap(), "2.00x slower");
        assert_eq!(
            overhead(1.05, Some(Better::Higher)).unwrap(),
            "1.05x faster"
        );
        assert_eq!(overhead(1.0, Some(Better::Higher)).unwrap(), "same");
        assert_eq!(overhead(2.0, Better::parse("up")), None);
        assert_eq!(overhead(-1.0, Some(Better::Lower)), None);
    }

    #[test]
    fn labels() {
        assert_eq!(ci_label(0.95), "95% CI");
        assert_eq!(ci_label(0.975), "97.5% CI");
        assert_eq!(percent(0.0123), "1.2%");
        assert_eq!(percent(f64::NAN), "-");
    }
}
