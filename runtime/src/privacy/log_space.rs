//! Arithmetic on logarithms, as dp-accounting's `rdp_privacy_accountant.py` does it:
//! sums and differences of numbers too large or too small for an `f64`, kept as
//! their natural logarithms.

/// `ln(exp(log_x) + exp(log_y))` without overflow (dp-accounting's `_log_add`; an
/// infinite input gives an infinite sum, not NaN).
pub(crate) fn log_add(log_x: f64, log_y: f64) -> f64 {
    let (a, b) = if log_y < log_x {
        (log_y, log_x)
    } else {
        (log_x, log_y)
    };
    // Adding 0, or adding to infinity (where dp-accounting's `inf - inf` gives NaN).
    if a == f64::NEG_INFINITY || b == f64::INFINITY {
        return b;
    }
    // exp(a) + exp(b) = (exp(a - b) + 1) * exp(b)
    (a - b).exp().ln_1p() + b
}

/// `ln|exp(log_x) - exp(log_y)|` and whether the difference is non-negative
/// (dp-accounting's `_log_sub_sign`); equal inputs give `(true, -inf)`.
pub(crate) fn log_sub_sign(log_x: f64, log_y: f64) -> (bool, f64) {
    if log_x > log_y {
        (true, log_x + (-(log_y - log_x).exp()).ln_1p())
    } else if log_x < log_y {
        (false, log_y + (-(log_x - log_y).exp()).ln_1p())
    } else {
        (true, f64::NEG_INFINITY)
    }
}

/// `ln|C(n, k)|` through the log-gamma function, for real `n` and `k`
/// (dp-accounting's `_log_comb`, with `scipy.special.gammaln`).
pub(crate) fn log_comb(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// Above this `x`, `ln(erfc(x))` comes from its asymptotic series: `erfc(20)` is
/// about `5e-176`, still a normal `f64`, and the series' first left-out term is
/// below `1e-11` there.
const ERFC_SERIES_FROM: f64 = 20.0;

/// `ln(erfc(x))`, accurate for large `x` where `erfc(x)` underflows
/// (dp-accounting's `_log_erfc`).
///
/// Below [`ERFC_SERIES_FROM`], the logarithm of musl's `erfc` (the `libm` crate);
/// above it, the Laurent series at infinity that dp-accounting falls back on:
/// `ln erfc(x) = -x² - ln x - ln(π)/2 - 1/(2x²) + 5/(8x⁴) - 37/(24x⁶) + 353/(64x⁸) + O(x⁻¹⁰)`
/// (Abramowitz and Stegun 7.1.23, taken to the logarithm).
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x <= ERFC_SERIES_FROM {
        libm::erfc(x).ln()
    } else {
        log_erfc_series(x)
    }
}

/// The asymptotic series of [`log_erfc`], for large `x`.
fn log_erfc_series(x: f64) -> f64 {
    let x2 = x * x;
    let inv2 = 1.0 / x2;
    -std::f64::consts::PI.ln() / 2.0 - x.ln() - x2 - 0.5 * inv2 + 0.625 * inv2.powi(2)
        - 37.0 / 24.0 * inv2.powi(3)
        + 353.0 / 64.0 * inv2.powi(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn log_add_and_sub_invert_each_other() {
        let (a, b) = (3.0_f64.ln(), 5.0_f64.ln());
        assert!(close(log_add(a, b), 8.0_f64.ln(), 1e-15));
        assert_eq!(log_add(f64::NEG_INFINITY, b), b);
        assert_eq!(log_add(a, f64::NEG_INFINITY), a);
        assert_eq!(log_add(f64::INFINITY, f64::INFINITY), f64::INFINITY);
        assert_eq!(log_add(a, f64::INFINITY), f64::INFINITY);
        let (sign, mag) = log_sub_sign(b, a);
        assert!(sign && close(mag, 2.0_f64.ln(), 1e-15));
        let (sign, mag) = log_sub_sign(a, b);
        assert!(!sign && close(mag, 2.0_f64.ln(), 1e-15));
        assert_eq!(log_sub_sign(a, a), (true, f64::NEG_INFINITY));
        // Far beyond f64: exp(1000) + exp(1000) = 2 exp(1000).
        assert!(close(log_add(1000.0, 1000.0), 1000.0 + 2.0_f64.ln(), 1e-15));
    }

    #[test]
    fn log_comb_matches_binomials() {
        assert!(close(log_comb(10.0, 3.0), 120.0_f64.ln(), 1e-13));
        assert!(close(log_comb(52.0, 5.0), 2_598_960.0_f64.ln(), 1e-13));
        // C(2.5, 1) = 2.5
        assert!(close(log_comb(2.5, 1.0), 2.5_f64.ln(), 1e-13));
    }

    #[test]
    fn log_erfc_is_continuous_where_the_series_takes_over() {
        let x = ERFC_SERIES_FROM;
        let (direct, series) = (libm::erfc(x).ln(), log_erfc_series(x));
        assert!(close(direct, series, 1e-14), "{direct} vs {series}");
        // The series is already good well below where it takes over.
        let x = 10.0;
        let (direct, series) = (libm::erfc(x).ln(), log_erfc_series(x));
        assert!(close(direct, series, 1e-10), "{direct} vs {series}");
        // erfc(0) = 1, erfc(-inf) = 2.
        assert_eq!(log_erfc(0.0), 0.0);
        assert!(close(log_erfc(-30.0), 2.0_f64.ln(), 1e-15));
        // Far in the tail erfc underflows, its logarithm does not: ln(erfc(x)) by mpmath
        // (40 digits, rounded to f64).
        for (x, exact) in [
            (10.0, -102.87988902484489),
            (20.0, -403.56934333410425),
            (25.0, -628.7920391740716),
            (100.0, -10005.177585122665),
            (1000.0, -1000007.4801207219),
        ] {
            assert!(
                close(log_erfc(x), exact, 1e-15),
                "{x}: {} vs {exact}",
                log_erfc(x)
            );
        }
    }
}
