//! From Rényi differential privacy at several orders to (ε, δ)-differential privacy,
//! as dp-accounting's `compute_epsilon` converts it (version 0.6.0).

/// The smallest ε, and the order that gives it, such that RDP `rdp[k]` at order
/// `orders[k]` implies (ε, δ)-DP, minimised over the orders.
///
/// Each order gives, in this order of preference:
/// - ε = 0 when `δ² > 1 - exp(-r)`: the RDP bounds the KL divergence (order 1), and
///   the Bretagnolle–Huber inequality bounds the total variation, `δ ≤ sqrt(1 - exp(-KL))`;
/// - otherwise, for orders above 1.01, the improved conversion
///   `ε = r + ln(1 - 1/α) - ln(δ α) / (α - 1)` of Canonne, Kamath and Steinke (2020),
///   "The Discrete Gaussian for Differential Privacy", Proposition 12 (also Asoodeh et
///   al. 2020, equation 20), which is never worse than Mironov's (2017)
///   `ε = r - ln(δ) / (α - 1)`;
/// - otherwise ε = ∞ (the bound is not stable that close to 1).
///
/// Ties go to the first order, negative ε is raised to 0, as in dp-accounting.
/// `orders` and `rdp` have the same non-zero length, orders are above 1, and `delta`
/// is in `(0, 1)`: the caller checks.
pub(crate) fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, orders[0]);
    for (k, (&alpha, &r)) in orders.iter().zip(rdp).enumerate() {
        let epsilon = if r < 0.0 {
            // Numerical noise of extreme settings; dp-accounting returns 0 too.
            0.0
        } else if delta * delta + (-r).exp_m1() > 0.0 {
            0.0
        } else if alpha > 1.01 {
            r + (-1.0 / alpha).ln_1p() - (delta * alpha).ln() / (alpha - 1.0)
        } else {
            f64::INFINITY
        };
        if k == 0 || epsilon < best.0 {
            best = (epsilon, alpha);
        }
    }
    (best.0.max(0.0), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rdp_is_no_epsilon() {
        assert_eq!(epsilon_from_rdp(&[2.0, 3.0], &[0.0, 0.0], 1e-5), (0.0, 2.0));
    }

    #[test]
    fn infinite_rdp_is_infinite_epsilon() {
        let inf = f64::INFINITY;
        assert_eq!(epsilon_from_rdp(&[2.0, 3.0], &[inf, inf], 1e-5), (inf, 2.0));
    }

    #[test]
    fn the_best_order_wins_and_beats_the_basic_bound() {
        let orders = [2.0, 8.0, 32.0];
        let rdp = [0.5, 2.0, 8.0];
        let delta = 1e-5_f64;
        let (epsilon, order) = epsilon_from_rdp(&orders, &rdp, delta);
        let improved = |a: f64, r: f64| r + (1.0 - 1.0 / a).ln() - (delta * a).ln() / (a - 1.0);
        let expected = improved(8.0, 2.0);
        assert_eq!(order, 8.0);
        assert!((epsilon - expected).abs() < 1e-12);
        // Mironov's basic conversion at the same order is weaker.
        assert!(epsilon < 2.0 - delta.ln() / 7.0);
    }

    #[test]
    fn orders_too_close_to_one_are_skipped() {
        let (epsilon, order) = epsilon_from_rdp(&[1.005, 2.0], &[0.01, 0.5], 1e-5);
        assert_eq!(order, 2.0);
        assert!(epsilon.is_finite());
    }
}
