//! The RDP accountant: Rényi differential privacy added up over rounds, order by
//! order, and converted to (ε, δ) on demand.

use std::fmt;

use super::conversion::epsilon_from_rdp;
use super::{check_noise_multiplier, check_order, Neighbours, PrivacyError, Sampling};

/// dp-accounting's default RDP orders (`DEFAULT_RDP_ORDERS`), chosen there to cover
/// the Gaussian mechanism in the privacy regimes of interest: 1.1 to 10.9 by 0.1,
/// the integers 11 to 63, and 128, 256, 512, 1024; 156 orders.
pub fn default_orders() -> Vec<f64> {
    // `1 + x / 10.0` as dp-accounting writes it, for the same bits.
    (1..100)
        .map(|x| 1.0 + f64::from(x) / 10.0)
        .chain((11..64).map(f64::from))
        .chain([128.0, 256.0, 512.0, 1024.0])
        .collect()
}

/// The privacy spent so far: the smallest ε for the δ asked for, over the accountant's
/// orders, and the order that gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epsilon {
    /// ε; infinite when no order gives a finite bound (a noise multiplier of 0).
    pub epsilon: f64,
    /// δ, as asked for.
    pub delta: f64,
    /// The RDP order at which ε is reached. An order at the end of the accountant's
    /// list suggests that a longer list would give a smaller ε.
    pub order: f64,
}

impl fmt::Display for Epsilon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(ε = {:.4}, δ = {:e}) at RDP order {}",
            self.epsilon, self.delta, self.order
        )
    }
}

/// Adds up the Rényi differential privacy of rounds of the subsampled Gaussian
/// mechanism and converts it to (ε, δ), as dp-accounting's `RdpAccountant` does.
///
/// RDP composes by addition at each order (Mironov 2017, Proposition 1): `k` rounds
/// at order `α` spend `k` times one round's RDP. The conversion to (ε, δ) takes the
/// best order (see [`epsilon`](Self::epsilon)).
///
/// An accountant holds rounds of one [`Neighbours`] relation: the first
/// [`compose`](Self::compose) fixes it, from its [`Sampling`].
///
/// ```
/// use feddx_runtime::privacy::{RdpAccountant, Sampling};
///
/// // DP-FedAvg with each client sampled with probability 0.01, noise multiplier 1.0.
/// let mut accountant = RdpAccountant::new();
/// accountant.compose(Sampling::Poisson { probability: 0.01 }, 1.0, 1000)?;
/// let spent = accountant.epsilon(1e-5)?;
/// // dp-accounting 0.6.0 gives 2.101366525420273, at order 7.8.
/// assert!((spent.epsilon - 2.101366525420273).abs() < 1e-9);
/// assert_eq!(spent.order, 7.8);
/// # Ok::<(), feddx_runtime::privacy::PrivacyError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    /// RDP spent so far at each order.
    rdp: Vec<f64>,
    /// The relation of the rounds composed so far; `None` before the first.
    neighbours: Option<Neighbours>,
}

impl Default for RdpAccountant {
    fn default() -> Self {
        RdpAccountant::new()
    }
}

impl RdpAccountant {
    /// An accountant over dp-accounting's [`default_orders`], with nothing spent.
    pub fn new() -> Self {
        let orders = default_orders();
        let rdp = vec![0.0; orders.len()];
        RdpAccountant {
            orders,
            rdp,
            neighbours: None,
        }
    }

    /// An accountant over these RDP orders, with nothing spent.
    ///
    /// # Errors
    /// [`PrivacyError::NoOrders`] for an empty list, [`PrivacyError::Order`] for an
    /// order that is not finite and above 1.
    pub fn with_orders(orders: Vec<f64>) -> Result<Self, PrivacyError> {
        if orders.is_empty() {
            return Err(PrivacyError::NoOrders);
        }
        orders.iter().try_for_each(|&order| check_order(order))?;
        let rdp = vec![0.0; orders.len()];
        Ok(RdpAccountant {
            orders,
            rdp,
            neighbours: None,
        })
    }

    /// Adds `rounds` rounds of the Gaussian mechanism with `noise_multiplier` (the
    /// noise's standard deviation over the clipping norm) on `sampling`: `rounds`
    /// times [`Sampling::rdp`] at every order.
    ///
    /// A noise multiplier of 0 spends an infinite budget (ε = ∞), unless nothing is
    /// sampled; 0 rounds spend nothing. On an error the accountant is unchanged.
    ///
    /// # Errors
    /// The errors of [`Sampling::probability`]; [`PrivacyError::NoiseMultiplier`] when
    /// it is negative or not finite; [`PrivacyError::MixedNeighbours`] when the
    /// sampling's [`Neighbours`] differ from those of the rounds already composed.
    pub fn compose(
        &mut self,
        sampling: Sampling,
        noise_multiplier: f64,
        rounds: usize,
    ) -> Result<(), PrivacyError> {
        let q = sampling.probability()?;
        check_noise_multiplier(noise_multiplier)?;
        let requested = sampling.neighbours();
        match self.neighbours {
            Some(composed) if composed != requested => {
                return Err(PrivacyError::MixedNeighbours {
                    composed,
                    requested,
                })
            }
            _ => {}
        }
        if rounds == 0 {
            return Ok(());
        }
        self.neighbours = Some(requested);
        let one_round = sampling.rdp_unchecked(q, noise_multiplier, &self.orders);
        let rounds = rounds as f64;
        for (total, one) in self.rdp.iter_mut().zip(one_round) {
            *total += rounds * one;
        }
        Ok(())
    }

    /// The privacy spent so far at `delta`: the smallest ε over the orders, by
    /// `ε = r + ln(1 - 1/α) - ln(δ α) / (α - 1)` for RDP `r` at order `α > 1.01`
    /// (Canonne, Kamath and Steinke 2020, Proposition 12), or 0 where
    /// `δ² > 1 - exp(-r)` (dp-accounting's `compute_epsilon`, as
    /// `get_epsilon_and_optimal_order` calls it).
    ///
    /// # Errors
    /// [`PrivacyError::Delta`] when `delta` is not in `(0, 1)`.
    pub fn epsilon(&self, delta: f64) -> Result<Epsilon, PrivacyError> {
        if !(delta > 0.0 && delta < 1.0) {
            return Err(PrivacyError::Delta { delta });
        }
        let (epsilon, order) = epsilon_from_rdp(&self.orders, &self.rdp, delta);
        Ok(Epsilon {
            epsilon,
            delta,
            order,
        })
    }

    /// The RDP orders.
    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// The RDP spent so far at each of the [`orders`](Self::orders).
    pub fn rdp(&self) -> &[f64] {
        &self.rdp
    }

    /// The neighbouring relation of the rounds composed so far; `None` before the first.
    pub fn neighbours(&self) -> Option<Neighbours> {
        self.neighbours
    }
}
