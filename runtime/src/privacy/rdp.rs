//! Rényi differential privacy of one round of the subsampled Gaussian mechanism,
//! order by order, computed as Google's `dp-accounting` computes it
//! (`dp_accounting/rdp/rdp_privacy_accountant.py`, version 0.6.0).
//!
//! The inputs are checked by the caller ([`Sampling::rdp`](super::Sampling::rdp) and
//! [`RdpAccountant::compose`](super::RdpAccountant::compose)): `q` in `[0, 1]`, `sigma`
//! finite and non-negative, orders finite and above 1.

use super::log_space::{log_add, log_comb, log_erfc, log_sub_sign};

/// Whether the noise is 0, or so small that `2σ²` underflows to 0 (where
/// dp-accounting divides by zero): the mechanism then gives no privacy at all.
fn no_noise(sigma: f64) -> bool {
    2.0 * sigma.powi(2) == 0.0
}

/// RDP at order `alpha` of the Gaussian mechanism with noise multiplier `sigma` on a
/// Poisson sample (each record in with probability `q`), for add-or-remove-one
/// neighbours: `ln(A_α) / (α - 1)` of Mironov, Talwar and Zhang (2019), Sections 3.2
/// (integer orders) and 3.3 (fractional orders)
/// (dp-accounting's `_compute_rdp_poisson_subsampled_gaussian`).
pub(crate) fn poisson_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if alpha.is_infinite() || no_noise(sigma) {
        return f64::INFINITY;
    }
    if q == 1.0 {
        // The plain Gaussian mechanism (Mironov 2017, Proposition 7).
        return alpha / (2.0 * sigma.powi(2));
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// `ln(A_α)` for an integer `α`, `0 < q < 1`: the binomial expansion
/// `A_α = Σ_{i=0}^{α} C(α, i) (1-q)^{α-i} q^i exp((i² - i) / (2σ²))`
/// (Mironov, Talwar and Zhang 2019, Section 3.2; dp-accounting's `_compute_log_a_int`).
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    let log_q = q.ln();
    let log_1mq = (-q).ln_1p();
    let two_var = 2.0 * sigma.powi(2);
    let a = alpha as f64;
    for i in 0..=alpha {
        let i = i as f64;
        let log_coef = log_comb(a, i) + i * log_q + (a - i) * log_1mq;
        log_a = log_add(log_a, log_coef + (i * i - i) / two_var);
    }
    log_a
}

/// Terms of the fractional-order series before dp-accounting gives up on it
/// (`_MAX_STEPS_LOG_A_FRAC`).
const MAX_STEPS_LOG_A_FRAC: usize = 1000;

/// `ln(A_α)` for a fractional `α`, `0 < q < 1`: the two series of integrals over
/// `(-∞, z₀]` and `[z₀, ∞)`, `z₀ = σ² ln(1/q - 1) + 1/2`, summed until both terms
/// decrease and are `e⁻³⁰` below the total (Mironov, Talwar and Zhang 2019,
/// Section 3.3; dp-accounting's `_compute_log_a_frac`).
///
/// When the series has not converged after [`MAX_STEPS_LOG_A_FRAC`] terms the order is
/// given infinite RDP, so the conversion to (ε, δ) leaves it out, as dp-accounting does.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma.powi(2) * (1.0 / q - 1.0).ln() + 0.5;
    let log_q = q.ln();
    let log_1mq = (-q).ln_1p();
    let two_var = 2.0 * sigma.powi(2);
    let sqrt2_sigma = std::f64::consts::SQRT_2 * sigma;
    let log_half = 0.5_f64.ln();
    let (mut last_s0, mut last_s1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for i in 0..MAX_STEPS_LOG_A_FRAC {
        let i = i as f64;
        let log_coef = log_comb(alpha, i);
        let j = alpha - i;

        let log_t0 = log_coef + i * log_q + j * log_1mq;
        let log_t1 = log_coef + j * log_q + i * log_1mq;

        let log_e0 = log_half + log_erfc((i - z0) / sqrt2_sigma);
        let log_e1 = log_half + log_erfc((z0 - j) / sqrt2_sigma);

        let log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;

        log_a0 = log_add(log_a0, log_s0);
        log_a1 = log_add(log_a1, log_s1);
        let total = log_add(log_a0, log_a1);

        if log_s0 < last_s0 && log_s1 < last_s1 && log_s0.max(log_s1) < total - 30.0 {
            return total;
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    f64::INFINITY
}

/// RDP at order `alpha` of the Gaussian mechanism with noise multiplier `sigma` on a
/// sample of fixed size `m = q n` drawn without replacement, for replace-one
/// neighbours: the bound of Wang, Balle and Kasiviswanathan (2019), Theorem 27, and
/// for a fractional order the interpolation of their Corollary 10 between the
/// integers around it (dp-accounting's `_compute_rdp_sample_wor_gaussian_scalar`).
pub(crate) fn without_replacement_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    // dp-accounting divides by zero here; no noise is no privacy.
    if no_noise(sigma) || alpha.is_infinite() {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return alpha / (2.0 * sigma.powi(2));
    }
    if alpha.fract() == 0.0 {
        without_replacement_int(q, sigma, alpha as u64) / (alpha - 1.0)
    } else {
        let (floor, ceil) = (alpha.floor(), alpha.ceil());
        let x = without_replacement_int(q, sigma, floor as u64);
        let y = without_replacement_int(q, sigma, ceil as u64);
        let t = alpha - floor;
        ((1.0 - t) * x + t * y) / (alpha - 1.0)
    }
}

/// Up to this order, Theorem 27's bound is computed in full, with forward differences
/// (`O(α²)`); above it, with the cheaper bound `2 exp(cgf(i - 1))` for every term
/// (dp-accounting's `max_alpha`).
const WOR_EXACT_UP_TO: u64 = 256;

/// `(α - 1)` times the RDP at integer order `alpha` of
/// [`without_replacement_gaussian`]: `ln` of Theorem 27's sum
/// (dp-accounting's `_compute_rdp_sample_wor_gaussian_int`).
fn without_replacement_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    if alpha == 1 {
        return 0.0;
    }
    let var2 = 2.0 * sigma.powi(2);
    // cgf(x) = x · ε(x + 1), with ε(α) = α / (2σ²) the Gaussian mechanism's RDP.
    let cgf = |x: f64| x * (x + 1.0) / var2;
    let eps = |x: f64| x / var2;
    let (ln2, ln4) = (2.0_f64.ln(), 4.0_f64.ln());
    let a = alpha as f64;
    let log_q = q.ln();
    let log_f2m1 = eps(2.0) + (-(-eps(2.0)).exp()).ln_1p();
    let second = 2.0 * log_q + log_comb(a, 2.0) + (ln4 + log_f2m1).min(eps(2.0) + ln2);
    // Starts at ln(1) = 0.
    let mut log_a = log_add(0.0, second);
    if alpha <= WOR_EXACT_UP_TO {
        let deltas = forward_differences(cgf, alpha as usize);
        for i in 3..=alpha as usize {
            let lo = deltas[2 * (i / 2) - 1];
            let hi = deltas[2 * i.div_ceil(2) - 1];
            let i = i as f64;
            let s = (ln4 + 0.5 * (lo + hi)).min(ln2 + cgf(i - 1.0));
            // `s += i ln q + ln C(α, i)`, in dp-accounting's order of operations.
            log_a = log_add(log_a, s + (i * log_q + log_comb(a, i)));
        }
    } else {
        for i in 3..=alpha {
            let i = i as f64;
            log_a = log_add(log_a, ln2 + cgf(i - 1.0) + i * log_q + log_comb(a, i));
        }
    }
    log_a
}

/// `ln|Δⁱ f(0)|` for `i` in `0..n + 2`, the forward differences of
/// `(1, exp(f(0)), exp(f(1)), ...)` taken in log space with their signs
/// (Wang, Balle and Kasiviswanathan 2019, Theorem 27; dp-accounting's
/// `_get_forward_diffs` and `_stable_inplace_diff_in_log`).
fn forward_differences(f: impl Fn(f64) -> f64, n: usize) -> Vec<f64> {
    let mut values = vec![0.0; n + 3];
    let mut signs = vec![true; n + 3];
    for (i, value) in values.iter_mut().enumerate().skip(1) {
        *value = f((i - 1) as f64);
    }
    let mut deltas = vec![0.0; n + 2];
    for (i, delta) in deltas.iter_mut().enumerate() {
        diff_in_place(&mut values, &mut signs, n + 2 - i);
        *delta = values[0];
    }
    deltas
}

/// Replaces the first `n` entries of `(signs, values)`, numbers as signs and
/// logarithms of magnitudes, by the differences of neighbours, `x[j + 1] - x[j]`
/// (dp-accounting's `_stable_inplace_diff_in_log`).
fn diff_in_place(values: &mut [f64], signs: &mut [bool], n: usize) {
    for j in 0..n {
        if signs[j] == signs[j + 1] {
            let (sign, magnitude) = log_sub_sign(values[j + 1], values[j]);
            values[j] = magnitude;
            signs[j] = if signs[j + 1] { sign } else { !sign };
        } else {
            values[j] = log_add(values[j], values[j + 1]);
            signs[j] = signs[j + 1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sampling_is_the_plain_gaussian() {
        for sigma in [0.3, 1.0, 2.5] {
            for alpha in [1.5, 2.0, 32.0, 1024.0] {
                let plain = alpha / (2.0 * sigma * sigma);
                assert_eq!(poisson_gaussian(1.0, sigma, alpha), plain);
                assert_eq!(without_replacement_gaussian(1.0, sigma, alpha), plain);
            }
        }
    }

    #[test]
    fn no_sampling_is_free_and_no_noise_is_infinite() {
        assert_eq!(poisson_gaussian(0.0, 0.0, 2.0), 0.0);
        assert_eq!(without_replacement_gaussian(0.0, 0.0, 2.0), 0.0);
        assert_eq!(poisson_gaussian(0.1, 0.0, 2.0), f64::INFINITY);
        assert_eq!(without_replacement_gaussian(0.1, 0.0, 2.5), f64::INFINITY);
    }

    #[test]
    fn integer_order_two_has_a_closed_form() {
        // A_2 = (1-q)² + 2q(1-q) + q² e^{1/σ²} = 1 + q² (e^{1/σ²} - 1).
        let (q, sigma) = (0.1_f64, 1.5_f64);
        let expected = (q * q * (1.0 / (sigma * sigma)).exp_m1()).ln_1p();
        let rdp = poisson_gaussian(q, sigma, 2.0);
        assert!((rdp - expected).abs() < 1e-15, "{rdp} vs {expected}");
    }

    #[test]
    fn fractional_orders_lie_between_their_integer_neighbours() {
        // RDP is non-decreasing in the order (Mironov 2017, Proposition 9).
        let (q, sigma) = (0.05, 1.0);
        let (two, three) = (
            poisson_gaussian(q, sigma, 2.0),
            poisson_gaussian(q, sigma, 3.0),
        );
        let between = poisson_gaussian(q, sigma, 2.5);
        assert!(
            two <= between && between <= three,
            "{two} {between} {three}"
        );
    }

    #[test]
    fn forward_differences_of_a_line() {
        // f = 0 everywhere: the sequence is (1, 1, 1, ...), all differences zero.
        let deltas = forward_differences(|_| 0.0, 4);
        assert!(deltas.iter().all(|d| *d == f64::NEG_INFINITY), "{deltas:?}");
        // (1, e^0, e^{ln 2}, e^{ln 3}) = (1, 1, 2, 3): first difference at 1 is 1.
        let deltas = forward_differences(|x| if x == 0.0 { 0.0 } else { (x + 1.0).ln() }, 2);
        assert!(deltas[1].abs() < 1e-15, "{deltas:?}");
    }
}
