//! What can be wrong with the inputs of the privacy accountant.

use thiserror::Error;

use super::Neighbours;

/// An input of the privacy accountant that is out of range.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// A Poisson sampling probability is outside `[0, 1]` (or NaN).
    #[error("the sampling probability must be in [0, 1], got {probability}")]
    SamplingProbability {
        /// The probability given.
        probability: f64,
    },
    /// A fixed-size sample is larger than the population it is drawn from.
    #[error("cannot sample {sampled} of {population} without replacement: the sample is larger than the population")]
    SampleLargerThanPopulation {
        /// Records (clients) sampled per round.
        sampled: usize,
        /// Records (clients) in the population.
        population: usize,
    },
    /// A fixed-size sample is drawn from an empty population.
    #[error("cannot sample from an empty population: `population` must be at least 1, got 0")]
    EmptyPopulation,
    /// The noise multiplier is negative or not finite.
    #[error("the noise multiplier must be finite and non-negative, got {noise_multiplier}")]
    NoiseMultiplier {
        /// The noise multiplier given.
        noise_multiplier: f64,
    },
    /// δ is outside `(0, 1)` (or NaN).
    #[error("delta must be in (0, 1), got {delta}")]
    Delta {
        /// The δ given.
        delta: f64,
    },
    /// An accountant was given no RDP orders.
    #[error("an accountant needs at least one RDP order, got none")]
    NoOrders,
    /// An RDP order is not a finite number above 1.
    #[error("RDP orders must be finite and above 1, got {order}")]
    Order {
        /// The order given.
        order: f64,
    },
    /// Rounds of another neighbouring relation than the ones already composed: their
    /// RDP bounds are not about the same pairs of data sets and do not add up.
    #[error("cannot compose rounds with {requested} neighbours: the accountant holds rounds with {composed} neighbours")]
    MixedNeighbours {
        /// The relation of the rounds already composed.
        composed: Neighbours,
        /// The relation of the rounds to compose.
        requested: Neighbours,
    },
}
