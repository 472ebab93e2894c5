//! Does a platform differ from another, and which differences survive testing a whole battery?
//!
//! - [`mann_whitney_u`]: the Mann-Whitney U test (Wilcoxon rank-sum), two-sided. It assumes
//!   nothing about the shape of the distributions, which suits benchmark timings.
//! - [`holm_adjust`]: Holm-Bonferroni adjusted p-values, so that testing every (metric,
//!   platform) pair of a battery keeps the chance of any false "significant" at `alpha`.
//!
//! Which method, and why: the **exact** null distribution of U when neither sample has ties and
//! `n_x + n_y <= 60` (the arrangements are counted exactly, in integers, so small samples get
//! the true p-value: with 3 values against 3 no arrangement is rarer than 2 in 20, p = 0.1);
//! otherwise the **normal approximation** with the tie correction of the variance and a
//! continuity correction of 0.5. Both agree with SciPy's `mannwhitneyu(x, y, method="exact")`
//! and `method="asymptotic"` (`use_continuity=True`), checked in the tests below.

use crate::descriptive::finite;
use crate::normal::upper_tail;
use serde::Serialize;

/// Samples this small (in total) and free of ties get the exact p-value. C(60, 30) ≈ 1.2e17
/// arrangements: far within `i128`, and the distribution takes microseconds to count.
pub const EXACT_MAX_TOTAL: usize = 60;

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMethod {
    /// The exact permutation distribution of U (no ties, small samples).
    Exact,
    /// The normal approximation with tie and continuity corrections.
    Normal,
}

/// A two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    pub n_x: usize,
    pub n_y: usize,
    /// U of the first sample: the number of pairs (x_i, y_j) with x_i > y_j, ties counting 1/2.
    /// `u / (n_x n_y)` estimates P(X > Y) (+ half of P(X = Y)).
    pub u: f64,
    /// Two-sided p-value, in (0, 1].
    pub p_value: f64,
    pub method: TestMethod,
}

/// The two-sided Mann-Whitney U test on the finite values of `x` and `y`; `None` when either
/// has none. When every value is equal the p-value is 1.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (x, y) = (finite(x), finite(y));
    let (n_x, n_y) = (x.len(), y.len());
    if n_x == 0 || n_y == 0 {
        return None;
    }
    let ranked = midranks(&x, &y);
    let rank_sum_x: f64 = ranked.ranks_x.iter().sum();
    let u = rank_sum_x - (n_x * (n_x + 1)) as f64 / 2.0;
    let (p_value, method) = if ranked.tie_term == 0.0 && n_x + n_y <= EXACT_MAX_TOTAL {
        (exact_p(u.round() as usize, n_x, n_y), TestMethod::Exact)
    } else {
        (normal_p(u, n_x, n_y, ranked.tie_term), TestMethod::Normal)
    };
    Some(MannWhitney {
        n_x,
        n_y,
        u,
        p_value,
        method,
    })
}

/// The smallest p-value the test can give for samples of these sizes without ties (1 when
/// either is empty): that of two samples that do not overlap at all, U = 0. When it is above
/// the level a battery needs, no difference however large can be called significant: more
/// samples are needed. Exact up to [`EXACT_MAX_TOTAL`] values in all
/// ([`exact_min_p`]), else the normal approximation's, as [`mann_whitney_u`] computes them.
/// (Ties within each side can make the normal approximation's p somewhat smaller; measured
/// timings rarely tie.)
pub fn mann_whitney_min_p(n_x: usize, n_y: usize) -> f64 {
    mann_whitney_min_p_method(n_x, n_y).0
}

/// [`mann_whitney_min_p`] and the method [`mann_whitney_u`] uses at these sizes without ties.
pub fn mann_whitney_min_p_method(n_x: usize, n_y: usize) -> (f64, TestMethod) {
    if n_x + n_y <= EXACT_MAX_TOTAL {
        (exact_min_p(n_x, n_y), TestMethod::Exact)
    } else {
        (normal_p(0.0, n_x, n_y, 0.0), TestMethod::Normal)
    }
}

/// The exact two-sided p-value of samples that do not overlap (no ties): of the C(n_x + n_y,
/// n_x) equally likely arrangements, one puts every x below every y and one every x above, so
/// p = 2 / C(n_x + n_y, n_x), at most 1 (1 when either sample is empty).
pub fn exact_min_p(n_x: usize, n_y: usize) -> f64 {
    if n_x == 0 || n_y == 0 {
        return 1.0;
    }
    let k = n_x.min(n_y);
    let n = n_x + n_y;
    // C(n, k) = Π_{i=1..k} (n − k + i) / i, each partial product an integer; in floating point
    // for any size (it overflows to infinity only past about C(1030, 515), giving p = 0).
    let mut c = 1.0_f64;
    for i in 1..=k {
        c = c * (n - k + i) as f64 / i as f64;
    }
    (2.0 / c).min(1.0)
}

struct Ranked {
    ranks_x: Vec<f64>,
    /// Σ (t³ − t) over groups of t tied values (0 without ties).
    tie_term: f64,
}

/// Ranks (1-based) of `x`'s values within `x ∪ y`, tied values sharing their mean rank.
fn midranks(x: &[f64], y: &[f64]) -> Ranked {
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks_x = Vec::with_capacity(x.len());
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Positions i..j (0-based) hold one value: ranks i+1 ..= j, mean (i + 1 + j) / 2.
        let rank = (i + 1 + j) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        ranks_x.extend(all[i..j].iter().filter(|e| e.1).map(|_| rank));
        i = j;
    }
    Ranked { ranks_x, tie_term }
}

/// `2 min(P(U <= u), P(U >= u))` under the exact null distribution, at most 1.
fn exact_p(u: usize, n_x: usize, n_y: usize) -> f64 {
    let counts = u_distribution(n_x, n_y);
    let total: i128 = counts.iter().sum();
    let below: i128 = counts[..=u].iter().sum();
    let above: i128 = counts[u..].iter().sum();
    let tail = below.min(above) as f64 / total as f64;
    (2.0 * tail).min(1.0)
}

/// How many of the C(m + n, m) equally likely arrangements of two samples of sizes m and n
/// give each value of U, 0 ..= m n.
///
/// These counts are the coefficients of the Gaussian binomial coefficient
/// `[m + n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i)` (Mann & Whitney 1947; Andrews,
/// "The Theory of Partitions", 1976, Thm 3.1: U counts the partitions fitting in an m × n box).
/// Multiplying by `(1 − q^(n+i))` and dividing by `(1 − q^i)` in turn keeps every intermediate
/// a polynomial with integer coefficients (the division is a running sum with stride i).
fn u_distribution(n_x: usize, n_y: usize) -> Vec<i128> {
    let (m, n) = (n_x.min(n_y), n_x.max(n_y));
    let mut poly: Vec<i128> = vec![1];
    for i in 1..=m {
        // poly = [n + i - 1 choose i - 1]_q, of degree (i - 1) n.
        let shift = n + i;
        let mut next = vec![0i128; poly.len() + shift];
        for (k, &c) in poly.iter().enumerate() {
            next[k] += c;
            next[k + shift] -= c;
        }
        for k in i..next.len() {
            next[k] += next[k - i];
        }
        next.truncate(i * n + 1);
        poly = next;
    }
    poly
}

/// Normal approximation: mean n_x n_y / 2, variance
/// `n_x n_y / 12 · ((N + 1) − Σ(t³ − t) / (N (N − 1)))` (Lehmann, "Nonparametrics", 1975,
/// eq. 1.60), continuity correction 0.5.
fn normal_p(u: f64, n_x: usize, n_y: usize, tie_term: f64) -> f64 {
    let (nx, ny) = (n_x as f64, n_y as f64);
    let n = nx + ny;
    let mean = nx * ny / 2.0;
    let var = if n > 1.0 {
        nx * ny / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))
    } else {
        0.0
    };
    if var <= 0.0 {
        return 1.0; // every value tied: no evidence of any difference
    }
    let z = ((u - mean).abs() - 0.5) / var.sqrt();
    (2.0 * upper_tail(z)).min(1.0)
}

/// Holm-Bonferroni adjusted p-values (Holm, "A simple sequentially rejective multiple test
/// procedure", Scand. J. Statist. 6, 1979): with the m p-values in ascending order,
/// `adj(i) = max_{j <= i} min(1, (m − j + 1) p(j))`. Rejecting every hypothesis with adjusted
/// p <= alpha keeps the family-wise error rate at alpha, whatever the dependence between tests.
///
/// NaN entries are not tests: they stay NaN and do not count in m. The output is in input order.
pub fn holm_adjust(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len();
    let mut out = vec![f64::NAN; p_values.len()];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let adjusted = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(adjusted);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn exact_test_matches_scipy_documentation() {
        // SciPy's mannwhitneyu documentation (ages of male and female employees):
        // mannwhitneyu(males, females, method="exact") -> statistic 17.0, pvalue 0.1111111111111111.
        let males = [19.0, 22.0, 16.0, 29.0, 24.0];
        let females = [20.0, 11.0, 17.0, 12.0];
        let t = mann_whitney_u(&males, &females).unwrap();
        assert_eq!((t.u, t.method), (17.0, TestMethod::Exact));
        assert!(close(t.p_value, 0.111_111_111_111_111_1, 1e-12), "{t:?}");
        // Reversing the samples gives U2 = n_x n_y - U1 and the same two-sided p.
        let r = mann_whitney_u(&females, &males).unwrap();
        assert_eq!(r.u, 3.0);
        assert!(close(r.p_value, t.p_value, 1e-12));
    }

    #[test]
    fn exact_test_matches_scipy_on_larger_samples() {
        // scipy 1.17 on numpy default_rng(1) normals rounded to 3 decimals:
        // mannwhitneyu(x, y, method="exact") -> 53.0, 0.07458953304962189
        let x = [
            10.346, 10.822, 10.33, 8.697, 10.905, 10.446, 9.463, 10.581, 10.365, 10.294, 10.028,
            10.547,
        ];
        let y = [
            10.264, 10.837, 10.518, 11.599, 11.04, 10.708, 10.218, 10.743, 11.008, 10.724, 12.294,
            12.007, 8.289, 9.111, 10.825,
        ];
        let t = mann_whitney_u(&x, &y).unwrap();
        assert_eq!((t.u, t.method), (53.0, TestMethod::Exact));
        assert!(close(t.p_value, 0.074_589_533_049_621_89, 1e-12), "{t:?}");
        // scipy: 30 even numbers 0..58 against the same + 9: U = 325, p = 0.0653991147132789.
        let a: Vec<f64> = (0..30).map(|i| f64::from(2 * i)).collect();
        let b: Vec<f64> = a.iter().map(|v| v + 9.0).collect();
        let t = mann_whitney_u(&a, &b).unwrap();
        assert_eq!((t.u, t.method), (325.0, TestMethod::Exact));
        assert!(close(t.p_value, 0.065_399_114_713_278_9, 1e-12), "{t:?}");
    }

    #[test]
    fn normal_approximation_matches_scipy() {
        // scipy 1.17: mannwhitneyu(males, females, method="asymptotic") -> 0.11134688653314041
        // (same numbers as above, to separate the two methods).
        assert!(close(
            normal_p(17.0, 5, 4, 0.0),
            0.111_346_886_533_140_41,
            1e-6
        ));
        // With ties: a = [1, 2, 2, 3, 4, 4, 4, 5], b = [3, 4, 5, 5, 6, 6, 7]:
        // mannwhitneyu(a, b) (asymptotic: there are ties) -> 8.0, 0.021920655864769517.
        let a = [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0];
        let b = [3.0, 4.0, 5.0, 5.0, 6.0, 6.0, 7.0];
        let t = mann_whitney_u(&a, &b).unwrap();
        assert_eq!((t.u, t.method), (8.0, TestMethod::Normal));
        assert!(close(t.p_value, 0.021_920_655_864_769_517, 1e-6), "{t:?}");
    }

    #[test]
    fn the_smallest_attainable_p_grows_with_few_samples() {
        // scipy: mannwhitneyu([1,2,3], [4,5,6], method="exact").pvalue = 0.1 (2 / C(6, 3)),
        // and [1..4] vs [5..8] gives 0.02857142857142857 (2 / C(8, 4)).
        assert!(close(mann_whitney_min_p(3, 3), 0.1, 1e-12));
        assert!(close(
            mann_whitney_min_p(4, 4),
            0.028_571_428_571_428_57,
            1e-12
        ));
        assert_eq!(mann_whitney_min_p(1, 1), 1.0);
        assert!(mann_whitney_min_p(40, 40) < 1e-10);
    }

    #[test]
    fn the_smallest_p_is_two_over_the_arrangements() {
        // 6 against 6 (3 rounds x 2 samples): 2 / C(12, 6) = 2 / 924.
        assert!(close(exact_min_p(6, 6), 2.0 / 924.0, 1e-12));
        // 15 against 15: 2 / C(30, 15) = 2 / 155117520.
        assert!(close(exact_min_p(15, 15), 2.0 / 155_117_520.0, 1e-12));
        assert!(close(exact_min_p(2, 5), 2.0 / 21.0, 1e-12));
        assert_eq!(exact_min_p(5, 2), exact_min_p(2, 5));
        assert_eq!((exact_min_p(1, 1), exact_min_p(0, 4)), (1.0, 1.0));
        assert_eq!(exact_min_p(2000, 2000), 0.0);
        // The closed form is what the test itself gives on samples that do not overlap, exact
        // or (past EXACT_MAX_TOTAL values) normal, in either order.
        for (n_x, n_y) in [
            (1, 1),
            (1, 5),
            (3, 3),
            (6, 6),
            (4, 9),
            (15, 15),
            (30, 30),
            (31, 30),
            (40, 40),
        ] {
            let x: Vec<f64> = (0..n_x).map(|i| i as f64).collect();
            let y: Vec<f64> = (n_x..n_x + n_y).map(|i| i as f64).collect();
            let (min_p, method) = mann_whitney_min_p_method(n_x, n_y);
            for t in [
                mann_whitney_u(&x, &y).unwrap(),
                mann_whitney_u(&y, &x).unwrap(),
            ] {
                assert_eq!(t.method, method, "({n_x}, {n_y})");
                assert!(
                    close(t.p_value, min_p, 1e-9),
                    "({n_x}, {n_y}): {t:?} vs {min_p}"
                );
            }
            // No arrangement gives less.
            let other: Vec<f64> = y.iter().map(|v| v - 1.5).collect();
            let t = mann_whitney_u(&x, &other).unwrap();
            assert!(t.p_value >= min_p * (1.0 - 1e-12), "({n_x}, {n_y})");
        }
    }

    #[test]
    fn ties_take_the_normal_approximation_with_its_tie_correction() {
        // [1, 1, 2, 3] against [3, 4, 4, 5, 6]: small samples, but a tie across them, so no
        // exact p. U = 0.5, Σ(t³ − t) = 18, var = 20/12 (10 − 18/72) = 16.25,
        // z = (10 − 0.5 − 0.5) / √16.25, p = erfc(z / √2) = 0.025573669368214647 (by hand,
        // with Python's math.erfc).
        let t = mann_whitney_u(&[1.0, 1.0, 2.0, 3.0], &[3.0, 4.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!((t.u, t.method), (0.5, TestMethod::Normal));
        assert!(close(t.p_value, 0.025_573_669_368_214_647, 1e-6), "{t:?}");
        // Ties within one side only are ties too (the variance shrinks): [1,1,1] vs [2,3,4].
        let t = mann_whitney_u(&[1.0, 1.0, 1.0], &[2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.method, TestMethod::Normal);
        // Σ(t³ − t) = 24, var = 9/12 (7 − 24/30) = 4.65, z = (4.5 − 0.5) / √4.65.
        let want = 2.0 * upper_tail(4.0 / 4.65_f64.sqrt());
        assert!(close(t.p_value, want, 1e-12), "{t:?} vs {want}");
    }

    #[test]
    fn the_counts_are_binomial_coefficients() {
        for (m, n) in [(1, 1), (3, 3), (4, 7), (10, 12), (30, 30)] {
            let counts = u_distribution(m, n);
            assert_eq!(counts.len(), m * n + 1);
            assert!(counts.iter().all(|&c| c > 0));
            // Σ counts = C(m + n, m), and the distribution is symmetric.
            let total: i128 = counts.iter().sum();
            let binom = (1..=m as i128).fold(1i128, |acc, i| acc * (n as i128 + i) / i);
            assert_eq!(total, binom, "({m}, {n})");
            assert!(counts.iter().eq(counts.iter().rev()));
        }
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(mann_whitney_u(&[], &[1.0]), None);
        assert_eq!(mann_whitney_u(&[f64::NAN], &[1.0]), None);
        let same = mann_whitney_u(&[2.0; 5], &[2.0; 7]).unwrap();
        assert_eq!((same.u, same.p_value), (17.5, 1.0));
        let one = mann_whitney_u(&[1.0], &[2.0]).unwrap();
        assert_eq!(one.p_value, 1.0);
    }

    #[test]
    fn holm_matches_statsmodels() {
        // statsmodels 0.14: multipletests([0.01, 0.04, 0.03, 0.005, 0.20], method="holm")[1] =
        // [0.04, 0.09, 0.09, 0.025, 0.2]
        let got = holm_adjust(&[0.01, 0.04, 0.03, 0.005, 0.20]);
        for (g, w) in got.iter().zip([0.04, 0.09, 0.09, 0.025, 0.2]) {
            assert!(close(*g, w, 1e-12), "{got:?}");
        }
        // multipletests([0.001, 0.0125, 0.02, 0.5], method="holm")[1] = [0.004, 0.0375, 0.04, 0.5]
        let got = holm_adjust(&[0.001, 0.0125, 0.02, 0.5]);
        for (g, w) in got.iter().zip([0.004, 0.0375, 0.04, 0.5]) {
            assert!(close(*g, w, 1e-12), "{got:?}");
        }
        // NaN is no test: m = 2 here.
        let got = holm_adjust(&[0.02, f64::NAN, 0.04]);
        assert!(close(got[0], 0.04, 1e-12) && got[1].is_nan() && close(got[2], 0.04, 1e-12));
        assert!(holm_adjust(&[]).is_empty());
    }
}
