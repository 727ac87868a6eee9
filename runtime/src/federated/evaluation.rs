//! Evaluation: a model's metrics on held-out data or over a set of clients.
//!
//! Federated evaluation merges the clients' *unfinalised* metric sums and finalises
//! once, as TensorFlow Federated does: the accuracy over clients holding 3 and 3000
//! examples is the accuracy over the 3003 examples, never the mean of two accuracies.

use dfdx::prelude::Cpu;
use rayon::prelude::*;

use super::client::ClientDataOf;
use super::config::BatchSize;
use crate::metrics::{MetricValues, MetricsState};
use crate::{FeddxError, FederatedModel, Result};

/// The unfinalised metrics of `model` on `data`, in batches of `batch_size`, in
/// stored order. Empty data gives an empty state (which merges as nothing; only
/// [`evaluate`] and [`evaluate_federated`], which finalise, need an example).
///
/// # Errors
/// The model's errors on a batch (labels out of range, for instance).
pub fn metrics_state<M: FederatedModel>(
    model: &M,
    data: &ClientDataOf<M>,
    batch_size: BatchSize,
) -> Result<MetricsState> {
    let mut state = model.metrics_state();
    let device = Cpu::default();
    for (x, y) in data.batches(batch_size.for_len(data.len()), None, &device) {
        model.evaluate_into(&mut state, x, &y)?;
    }
    Ok(state)
}

/// The metrics of `model` on one held-out data set (centralised evaluation).
///
/// # Errors
/// [`FeddxError::EmptyBatch`] if `data` is empty (its metrics would be NaN), and
/// the errors of [`metrics_state`].
pub fn evaluate<M: FederatedModel>(
    model: &M,
    data: &ClientDataOf<M>,
    batch_size: BatchSize,
) -> Result<MetricValues> {
    if data.is_empty() {
        return Err(FeddxError::EmptyBatch);
    }
    Ok(model.finalize_metrics(&metrics_state(model, data, batch_size)?))
}

/// The merged unfinalised metrics of `model` over `clients`, each evaluated in
/// batches of `batch_size`, in parallel with rayon if `parallel`.
///
/// States are merged in client order, so the result does not depend on `parallel`.
/// Empty clients add nothing; with no example at all the state is empty.
///
/// # Errors
/// The first client's error in client order, as [`metrics_state`].
pub fn federated_metrics_state<M: FederatedModel>(
    model: &M,
    clients: &[ClientDataOf<M>],
    batch_size: BatchSize,
    parallel: bool,
) -> Result<MetricsState> {
    let one = |c: &ClientDataOf<M>| metrics_state(model, c, batch_size);
    let states: Vec<Result<MetricsState>> = if parallel {
        clients.par_iter().map(one).collect()
    } else {
        clients.iter().map(one).collect()
    };
    let mut merged = model.metrics_state();
    for state in states {
        merged.merge(&state?)?;
    }
    Ok(merged)
}

/// The metrics of `model` over `clients`: their merged sums, finalised once.
/// Empty clients are skipped: they add no example.
///
/// # Errors
/// [`FeddxError::EmptyBatch`] if no client holds an example (or there are no
/// clients), and the errors of [`federated_metrics_state`].
pub fn evaluate_federated<M: FederatedModel>(
    model: &M,
    clients: &[ClientDataOf<M>],
    batch_size: BatchSize,
    parallel: bool,
) -> Result<MetricValues> {
    if clients.iter().all(|c| c.is_empty()) {
        return Err(FeddxError::EmptyBatch);
    }
    let state = federated_metrics_state(model, clients, batch_size, parallel)?;
    Ok(model.finalize_metrics(&state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::test_model::{blobs, TinyModel};

    #[test]
    fn merged_client_metrics_equal_metrics_over_the_union() {
        let model = TinyModel::with_seed(4);
        let clients: Vec<ClientDataOf<TinyModel>> = [3, 1, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| blobs(n, i as u64))
            .collect();
        let union: ClientDataOf<TinyModel> = clients
            .iter()
            .flat_map(|c| c.examples().iter().cloned())
            .collect();
        let batch = BatchSize::Examples(1);
        let merged = evaluate_federated(&model, &clients, batch, true).unwrap();
        let whole = evaluate(&model, &union, batch).unwrap();
        assert_eq!(
            merged.names().collect::<Vec<_>>(),
            whole.names().collect::<Vec<_>>()
        );
        for ((name, a), (_, b)) in merged.iter().zip(whole.iter()) {
            assert!((a - b).abs() < 1e-9, "{name}: {a} vs {b}");
        }
        assert_eq!(merged.get("num_examples"), Some(9.0));
        let state = federated_metrics_state(&model, &clients, batch, false).unwrap();
        assert_eq!(
            state,
            federated_metrics_state(&model, &clients, batch, true).unwrap()
        );
    }

    #[test]
    fn empty_data_is_an_empty_batch_and_empty_clients_are_skipped() {
        let model = TinyModel::with_seed(4);
        let empty = ClientDataOf::<TinyModel>::default();
        let batch = BatchSize::Examples(2);
        assert_eq!(
            evaluate(&model, &empty, batch).unwrap_err(),
            FeddxError::EmptyBatch
        );
        for parallel in [false, true] {
            let none: [ClientDataOf<TinyModel>; 0] = [];
            assert_eq!(
                evaluate_federated(&model, &none, batch, parallel).unwrap_err(),
                FeddxError::EmptyBatch
            );
            let all_empty = vec![empty.clone(); 3];
            assert_eq!(
                evaluate_federated(&model, &all_empty, batch, parallel).unwrap_err(),
                FeddxError::EmptyBatch
            );
            let some_empty = vec![empty.clone(), blobs(5, 1), empty.clone(), blobs(2, 2)];
            let merged = evaluate_federated(&model, &some_empty, batch, parallel).unwrap();
            let without =
                evaluate_federated(&model, &[blobs(5, 1), blobs(2, 2)], batch, parallel).unwrap();
            assert_eq!(merged, without);
            assert_eq!(merged.get("num_examples"), Some(7.0));
            assert!(merged.iter().all(|(_, v)| v.is_finite()), "{merged}");
        }
        // The state alone stays empty rather than an error: it merges as nothing.
        let state = metrics_state(&model, &empty, batch).unwrap();
        assert_eq!(state, model.metrics_state());
    }
}
