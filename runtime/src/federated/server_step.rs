//! The server's half of a round: the clients' contributions aggregated, the server
//! optimiser applied, the new global weights committed to the model; or, on any
//! error, nothing changed at all.
//!
//! The synchronous [`Simulation`](super::Simulation) calls [`server_step`] once a
//! round with the round's updates; an asynchronous engine (FedBuff) calls it every
//! time its buffer is full, with the buffered, staleness-weighted updates.

use super::aggregators::{Aggregator, Contribution, RoundContext, Tally};
use super::server_optimizer::{ServerOptimizer, ServerOptimizerState};
use crate::{FederatedModel, Result};

/// The server's state a step changes, borrowed from its engine.
#[derive(Debug)]
pub struct ServerParts<'a, M> {
    /// The global model, which receives the new weights.
    pub model: &'a mut M,
    /// The global model's trainable weights, flat (the model's length).
    pub weights: &'a mut [f32],
    /// The server optimiser's moments and step count.
    pub optimizer_state: &'a mut ServerOptimizerState,
    /// The aggregation chain, with its state (adaptive clipping's norm).
    pub aggregator: &'a mut dyn Aggregator,
}

/// One server step: aggregates `contributions` (in the order given, which the
/// result depends on) with the aggregation chain into one delta, applies it to the
/// weights with `optimizer` and sets the model's weights to them, returning what
/// the chain did to the updates.
///
/// # Errors
/// The aggregation's errors ([`FeddxError::TooFewUpdates`](crate::FeddxError::TooFewUpdates)
/// when fewer than `context.min_updates` are left,
/// [`ConfigError::TooManyByzantine`](super::ConfigError::TooManyByzantine), ...),
/// and the optimiser's or model's errors for a state or weights that do not fit.
/// On any error the weights, the optimiser's state, the aggregator's state and the
/// model are all as they were.
pub fn server_step<M: FederatedModel>(
    parts: ServerParts<'_, M>,
    optimizer: &ServerOptimizer,
    context: &RoundContext,
    contributions: Vec<Contribution>,
) -> Result<Tally> {
    let ServerParts {
        model,
        weights,
        optimizer_state,
        aggregator,
    } = parts;
    // The model is checked before anything changes, so that committing the new
    // weights to it cannot fail halfway.
    let model_len = model.num_trainable_params();
    if model_len != weights.len() {
        return Err(crate::FeddxError::WeightLengthMismatch {
            expected: model_len,
            actual: weights.len(),
        });
    }
    let mut tally = Tally::default();
    let mut aggregate = vec![0.0; weights.len()];
    // Every part leaves its state alone when it fails.
    aggregator.aggregate(context, contributions, &mut aggregate, &mut tally)?;
    // `apply` checks every length before it changes anything.
    optimizer_state.apply(optimizer, weights, &aggregate)?;
    model.set_weights_vec(weights)?;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::aggregators::Aggregation;
    use crate::federated::test_model::TinyModel;
    use crate::federated::NoiseKey;
    use crate::FeddxError;

    fn context(min_updates: usize) -> RoundContext {
        RoundContext {
            round: 1,
            sampled: 2,
            expected_clients: 2.0,
            min_updates,
            failed: 0,
            noise_key: NoiseKey::from_seed(0),
        }
    }

    fn contribution(client: usize, value: f32, weight: f64) -> Contribution {
        Contribution {
            client,
            delta: vec![value; 9],
            weight,
        }
    }

    #[test]
    fn a_step_applies_the_weighted_mean_and_commits_it_to_the_model() {
        let mut model = TinyModel::with_seed(0);
        let mut weights = model.weights_vec();
        let before = weights.clone();
        let optimizer = ServerOptimizer::adam(0.1);
        let mut state = ServerOptimizerState::new(&optimizer, weights.len());
        let mut aggregator = Aggregation::default().build();
        let parts = ServerParts {
            model: &mut model,
            weights: &mut weights,
            optimizer_state: &mut state,
            aggregator: aggregator.as_mut(),
        };
        let contributions = vec![contribution(0, 1.0, 1.0), contribution(1, 4.0, 2.0)];
        server_step(parts, &optimizer, &context(1), contributions).unwrap();
        // The weighted mean, 3, applied by Adam moves every weight up.
        assert!(weights.iter().zip(&before).all(|(w, b)| w > b));
        assert_eq!(state.step, 1);
        assert_eq!(model.weights_vec(), weights);
    }

    #[test]
    fn a_failed_step_changes_nothing() {
        let mut model = TinyModel::with_seed(0);
        let mut weights = model.weights_vec();
        let before = weights.clone();
        let optimizer = ServerOptimizer::adam(0.1);
        let mut state = ServerOptimizerState::new(&optimizer, weights.len());
        let fresh = state.clone();
        let mut aggregator = Aggregation::default().build();
        let nan = vec![contribution(0, f32::NAN, 1.0)];
        let parts = ServerParts {
            model: &mut model,
            weights: &mut weights,
            optimizer_state: &mut state,
            aggregator: aggregator.as_mut(),
        };
        let err = server_step(parts, &optimizer, &context(1), nan).unwrap_err();
        assert!(matches!(err, FeddxError::TooFewUpdates { .. }), "{err}");
        assert_eq!(weights, before);
        assert_eq!(state, fresh);
        assert_eq!(model.weights_vec(), before);
        // Weights that do not fit the model: refused before anything changes.
        let mut short = before[..8].to_vec();
        let parts = ServerParts {
            model: &mut model,
            weights: &mut short,
            optimizer_state: &mut state,
            aggregator: aggregator.as_mut(),
        };
        let ok = vec![contribution(0, 1.0, 1.0)];
        assert!(matches!(
            server_step(parts, &optimizer, &context(1), ok).unwrap_err(),
            FeddxError::WeightLengthMismatch { .. }
        ));
        assert_eq!(state, fresh);
    }
}
