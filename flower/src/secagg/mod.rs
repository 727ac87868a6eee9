//! The client side of Flower's SecAgg+ (`secaggplus_mod` of flwr 1.42.0).
//!
//! Placeholder from the masking branch: the stage machine, the crypto and Shamir's
//! shares live in another branch, whose `mod.rs` (with the full [`SecAggError`])
//! replaces this one at the merge.
//!
//! - [`numpy_random`]: numpy's legacy `RandomState`, which makes every mask;
//! - [`quantize`]: Flower's quantisation with stochastic rounding, and its arithmetic;
//! - [`masking`]: the masked, quantised vector a node uploads.

pub mod masking;
pub mod numpy_random;
pub mod quantize;

/// What can go wrong in SecAgg+ on the client side.
#[derive(Debug, thiserror::Error)]
pub enum SecAggError {
    /// The masked vector cannot be computed from these settings, seeds or weights.
    #[error("{0}")]
    Mask(String),
}
