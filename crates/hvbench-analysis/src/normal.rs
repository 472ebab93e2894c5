//! The standard normal distribution's upper tail, for the normal approximation of rank tests.

/// `P(Z > z)` for a standard normal `Z`, with a relative error below about 1.2e-7 everywhere.
///
/// `P(Z > z) = erfc(z / sqrt 2) / 2`, and erfc is the Chebyshev-fitted formula of Press,
/// Teukolsky, Vetterling & Flannery, "Numerical Recipes", 2nd ed. (1992), §6.2 (`erfcc`):
/// `erfc(x) ≈ t exp(-x² + P(t))` with `t = 1 / (1 + x/2)` and the nine-term polynomial below,
/// fractional error < 1.2e-7 for every x ≥ 0; `erfc(-x) = 2 - erfc(x)`.
pub(crate) fn upper_tail(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    erfc(z / std::f64::consts::SQRT_2) / 2.0
}

fn erfc(x: f64) -> f64 {
    const P: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    // Horner's rule from the highest coefficient down.
    let poly = P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let tail = t * (-z * z + poly).exp();
    if x >= 0.0 {
        tail
    } else {
        2.0 - tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy() {
        // scipy 1.17: norm.sf([0, 0.5, 1, 1.96, 3, 5, 8]) =
        // [0.5, 3.08537539e-01, 1.58655254e-01, 2.49978951e-02, 1.34989803e-03, 2.86651572e-07,
        //  6.22096057e-16]
        for (z, want) in [
            (0.0, 0.5),
            (0.5, 3.085_375_39e-1),
            (1.0, 1.586_552_54e-1),
            (1.96, 2.499_789_51e-2),
            (3.0, 1.349_898_03e-3),
            (5.0, 2.866_515_72e-7),
            (8.0, 6.220_960_57e-16),
        ] {
            let got = upper_tail(z);
            assert!((got - want).abs() <= 2e-7 * want, "z={z}: {got} vs {want}");
            // Symmetry: P(Z > -z) = 1 - P(Z > z).
            assert!((upper_tail(-z) - (1.0 - want)).abs() < 1e-7);
        }
        assert_eq!(upper_tail(f64::INFINITY), 0.0);
        assert_eq!(upper_tail(f64::NEG_INFINITY), 1.0);
        assert!(upper_tail(f64::NAN).is_nan());
    }
}
