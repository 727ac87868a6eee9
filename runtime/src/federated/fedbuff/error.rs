//! What can go wrong setting up or resuming a FedBuff run.

use thiserror::Error;

/// A FedBuff setting out of range, a setting of the [`FedConfig`](crate::federated::FedConfig)
/// beside it that FedBuff does not honour, or a saved state that does not fit.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FedBuffError {
    /// `concurrency` is 0.
    #[error("FedBuff's `concurrency` (clients training at once) must be at least 1, got 0")]
    ZeroConcurrency,
    /// `buffer` is 0.
    #[error("FedBuff's `buffer` (replies per server step) must be at least 1, got 0")]
    ZeroBuffer,
    /// The server learning rate is not a finite positive number.
    #[error("FedBuff's `server_learning_rate` must be finite and positive, got {value}")]
    ServerLearningRate {
        /// The rate given.
        value: f32,
    },
    /// The polynomial staleness exponent is negative or not finite.
    #[error("the staleness exponent must be finite and non-negative, got {exponent}")]
    StalenessExponent {
        /// The exponent given.
        exponent: f64,
    },
    /// More clients in flight than the population holds: a cohort of `concurrency`
    /// distinct clients cannot be drawn.
    #[error("FedBuff's `concurrency` is {concurrency} but the population holds only {population} clients")]
    ConcurrencyAbovePopulation {
        /// Clients in flight asked for.
        concurrency: usize,
        /// Clients in the population.
        population: usize,
    },
    /// A setting of the `FedConfig` that FedBuff does not honour was changed from
    /// its default.
    #[error("FedBuff does not support `{setting}` in the FedConfig: {reason}")]
    Unsupported {
        /// The setting.
        setting: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// No client of the population holds an example: no reply could ever count.
    #[error("none of the {clients} clients holds an example: FedBuff's buffer would never fill")]
    NoExamples {
        /// Clients in the population.
        clients: usize,
    },
    /// A saved FedBuff state does not fit the run restoring it.
    #[error("the saved FedBuff state does not fit this run: {reason}")]
    StateMismatch {
        /// What does not fit.
        reason: String,
    },
}
