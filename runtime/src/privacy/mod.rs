//! Differential privacy accounting: the (ε, δ) that rounds of the subsampled
//! Gaussian mechanism spend, as DP-FedAvg needs it after each round.
//!
//! In DP-FedAvg (McMahan, Ramage, Talwar and Zhang 2018, "Learning Differentially
//! Private Recurrent Language Models", arXiv:1710.06963), each round samples clients,
//! clips each client's update to norm `S`, and adds Gaussian noise of standard
//! deviation `z S` to their sum; `z` is the *noise multiplier*. Every round is then
//! one application of the subsampled Gaussian mechanism to the population of clients
//! (user-level privacy), and an [`RdpAccountant`] adds up its Rényi differential
//! privacy (Mironov 2017, "Rényi Differential Privacy", arXiv:1702.07476) round after
//! round and converts the total to (ε, δ) whenever asked.
//!
//! The accountant takes the noise multiplier *of the mechanism*: the noise's standard
//! deviation over the L2 sensitivity of what it is added to. DP-FedAvg's `z` is over
//! the clipping norm `S`, and the sensitivity of the sum of clipped updates depends on
//! the neighbouring relation: `S` when one client is added or removed (Poisson
//! sampling), `2S` when one client is replaced by another (fixed-size sampling). So a
//! DP-FedAvg round is the mechanism with noise multiplier `z` under Poisson sampling
//! and `z / 2` under fixed-size sampling
//! ([`Sampling::mechanism_noise_multiplier`]), which is what
//! [`Simulation`](crate::federated::Simulation) composes.
//!
//! The figures are those of Google's `dp-accounting` package (version 0.6.0,
//! `dp_accounting/rdp/rdp_privacy_accountant.py`), computed the same way:
//!
//! - [`Sampling::Poisson`]: each client takes part with probability `q`, for
//!   add-or-remove-one neighbours (Mironov, Talwar and Zhang 2019, "Rényi Differential
//!   Privacy of the Sampled Gaussian Mechanism", arXiv:1908.10530), integer and
//!   fractional orders;
//! - [`Sampling::FixedSize`]: `m` of `n` clients without replacement, as
//!   [`sample_clients`](crate::federated::sample_clients) draws them, for replace-one
//!   neighbours (Wang, Balle and Kasiviswanathan 2019, "Subsampled Rényi Differential
//!   Privacy and Analytical Moments Accountant", arXiv:1808.00087, Theorem 27);
//! - the conversion to (ε, δ) of `compute_epsilon` (Canonne, Kamath and Steinke 2020,
//!   "The Discrete Gaussian for Differential Privacy", arXiv:2004.00010, Proposition 12),
//!   minimised over dp-accounting's default orders ([`default_orders`]).
//!
//! `benches/peers/dp_accounting/grid.py` prints dp-accounting's ε over a grid of
//! settings; `runtime/tests/privacy.rs` checks that feddx agrees within 1% (it agrees
//! to about `1e-13`).
//!
//! ```
//! use feddx_runtime::privacy::{RdpAccountant, Sampling};
//!
//! // 100 of 1000 clients per round, noise multiplier 1.0.
//! let sampling = Sampling::FixedSize { sampled: 100, population: 1000 };
//! let mut accountant = RdpAccountant::new();
//! let mut spent = Vec::new();
//! for _round in 0..10 {
//!     accountant.compose(sampling, 1.0, 1)?;
//!     spent.push(accountant.epsilon(1e-5)?.epsilon);
//! }
//! assert!(spent.windows(2).all(|w| w[0] < w[1]));
//! println!("after 10 rounds: {}", accountant.epsilon(1e-5)?);
//! # Ok::<(), feddx_runtime::privacy::PrivacyError>(())
//! ```

use std::fmt;

mod accountant;
mod conversion;
mod error;
mod log_space;
mod rdp;

pub use accountant::{default_orders, Epsilon, RdpAccountant};
pub use error::PrivacyError;

/// Which pairs of data sets count as neighbours: the ones whose outputs differential
/// privacy keeps close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Neighbours {
    /// One data set is the other with one record (one client) added or removed; the
    /// relation of Poisson sampling.
    AddOrRemoveOne,
    /// One data set is the other with one record (one client) replaced; the relation
    /// of fixed-size sampling, whose population size is public.
    ReplaceOne,
}

impl Neighbours {
    /// The L2 sensitivity of DP-FedAvg's sum of client updates, each clipped to norm
    /// `C`, in units of `C`: how far one neighbour can move the sum.
    ///
    /// - [`AddOrRemoveOne`](Self::AddOrRemoveOne): one client's update joins or leaves
    ///   the sum, which moves by at most `C`: 1.
    /// - [`ReplaceOne`](Self::ReplaceOne): one client's update is swapped for another
    ///   client's, which moves the sum by up to `2C` (`u` out, `-u` in): 2.
    ///
    /// The Gaussian mechanism with noise of standard deviation `z C` on the sum is then
    /// the mechanism with noise multiplier `z / sensitivity`, the figure that
    /// dp-accounting's `GaussianDpEvent` and [`RdpAccountant::compose`] take (see
    /// [`Sampling::mechanism_noise_multiplier`]).
    pub fn sum_sensitivity(self) -> f64 {
        match self {
            Neighbours::AddOrRemoveOne => 1.0,
            Neighbours::ReplaceOne => 2.0,
        }
    }
}

impl fmt::Display for Neighbours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Neighbours::AddOrRemoveOne => "add-or-remove-one",
            Neighbours::ReplaceOne => "replace-one",
        })
    }
}

/// How a round picks the records (in DP-FedAvg, the clients) it uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Each record takes part independently with this probability, in `[0, 1]`
    /// (McMahan et al. 2018's user selection); [`Neighbours::AddOrRemoveOne`].
    ///
    /// RDP after Mironov, Talwar and Zhang (2019), `ln(A_α) / (α - 1)`, Sections 3.2
    /// and 3.3.
    Poisson {
        /// The probability `q` that a record is in a round's sample.
        probability: f64,
    },
    /// `sampled` of `population` records, drawn uniformly without replacement, as
    /// [`ClientsPerRound::Count`](crate::federated::ClientsPerRound::Count) samples
    /// clients; [`Neighbours::ReplaceOne`].
    ///
    /// RDP after Wang, Balle and Kasiviswanathan (2019), Theorem 27 for integer orders
    /// and Corollary 10 (interpolation) between them, at `q = sampled / population`.
    FixedSize {
        /// Records in each round's sample, at most `population`.
        sampled: usize,
        /// Records to sample from, at least 1.
        population: usize,
    },
}

impl Sampling {
    /// The probability that a given record is in a round's sample: `q`, or
    /// `sampled / population`.
    ///
    /// # Errors
    /// [`PrivacyError::SamplingProbability`], [`PrivacyError::EmptyPopulation`] or
    /// [`PrivacyError::SampleLargerThanPopulation`] when the sampling is out of range.
    pub fn probability(self) -> Result<f64, PrivacyError> {
        match self {
            Sampling::Poisson { probability } => {
                if (0.0..=1.0).contains(&probability) {
                    Ok(probability)
                } else {
                    Err(PrivacyError::SamplingProbability { probability })
                }
            }
            Sampling::FixedSize {
                population: 0,
                sampled: _,
            } => Err(PrivacyError::EmptyPopulation),
            Sampling::FixedSize {
                sampled,
                population,
            } if sampled > population => Err(PrivacyError::SampleLargerThanPopulation {
                sampled,
                population,
            }),
            Sampling::FixedSize {
                sampled,
                population,
            } => Ok(sampled as f64 / population as f64),
        }
    }

    /// The neighbouring relation the sampling's RDP bound is about.
    pub fn neighbours(self) -> Neighbours {
        match self {
            Sampling::Poisson { .. } => Neighbours::AddOrRemoveOne,
            Sampling::FixedSize { .. } => Neighbours::ReplaceOne,
        }
    }

    /// The noise multiplier of the Gaussian mechanism, as the accountant takes it, when
    /// DP-FedAvg adds noise of standard deviation `z C` to the sum of updates clipped
    /// to `C`: `z` over the sum's [sensitivity](Neighbours::sum_sensitivity) under this
    /// sampling's relation. That is `z` for [`Poisson`](Self::Poisson) and `z / 2` for
    /// [`FixedSize`](Self::FixedSize).
    ///
    /// ```
    /// use feddx_runtime::privacy::Sampling;
    ///
    /// let fixed = Sampling::FixedSize { sampled: 100, population: 300 };
    /// assert_eq!(fixed.mechanism_noise_multiplier(1.0), 0.5);
    /// let poisson = Sampling::Poisson { probability: 1.0 / 3.0 };
    /// assert_eq!(poisson.mechanism_noise_multiplier(1.0), 1.0);
    /// ```
    pub fn mechanism_noise_multiplier(self, noise_multiplier: f64) -> f64 {
        noise_multiplier / self.neighbours().sum_sensitivity()
    }

    /// The Rényi differential privacy of one round, the Gaussian mechanism with
    /// `noise_multiplier` (noise standard deviation over the L2 sensitivity) on this
    /// sampling, at each of `orders`.
    ///
    /// A noise multiplier of 0 gives infinite RDP (unless nothing is sampled), and a
    /// sampling probability of 1 the plain Gaussian mechanism's `α / (2σ²)` (Mironov
    /// 2017, Proposition 7). A fractional order whose series does not converge gets
    /// infinite RDP, so that the conversion to (ε, δ) leaves it out, as dp-accounting
    /// does. The cost grows with the orders: linearly, and quadratically up to 256 for
    /// [`FixedSize`](Self::FixedSize).
    ///
    /// # Errors
    /// The errors of [`probability`](Self::probability);
    /// [`PrivacyError::NoiseMultiplier`] when it is negative or not finite;
    /// [`PrivacyError::Order`] for an order that is not finite and above 1.
    pub fn rdp(self, noise_multiplier: f64, orders: &[f64]) -> Result<Vec<f64>, PrivacyError> {
        let q = self.probability()?;
        check_noise_multiplier(noise_multiplier)?;
        orders.iter().try_for_each(|&order| check_order(order))?;
        Ok(self.rdp_unchecked(q, noise_multiplier, orders))
    }

    /// [`rdp`](Self::rdp) with inputs already checked.
    fn rdp_unchecked(self, q: f64, noise_multiplier: f64, orders: &[f64]) -> Vec<f64> {
        let one = match self {
            Sampling::Poisson { .. } => rdp::poisson_gaussian,
            Sampling::FixedSize { .. } => rdp::without_replacement_gaussian,
        };
        orders
            .iter()
            .map(|&alpha| one(q, noise_multiplier, alpha))
            .collect()
    }
}

/// Checks that a noise multiplier is finite and non-negative.
fn check_noise_multiplier(noise_multiplier: f64) -> Result<(), PrivacyError> {
    if noise_multiplier.is_finite() && noise_multiplier >= 0.0 {
        Ok(())
    } else {
        Err(PrivacyError::NoiseMultiplier { noise_multiplier })
    }
}

/// Checks that an RDP order is finite and above 1.
fn check_order(order: f64) -> Result<(), PrivacyError> {
    if order.is_finite() && order > 1.0 {
        Ok(())
    } else {
        Err(PrivacyError::Order { order })
    }
}
