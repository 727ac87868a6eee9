//! What a client does in a round: local SGD from the global weights, returning its delta.

use dfdx::optim::{Optimizer, Sgd, SgdConfig};
use dfdx::prelude::{AsArray, Backward, Cpu, Trace, ZeroGrads};

use super::config::{positive, BatchSize, ConfigError};
use super::seeds::epoch_seed;
use crate::data::{batches, ClientData, ClientExamples};
use crate::metrics::MetricsState;
use crate::{FeddxError, FederatedModel, ModuleFor, Result};

/// The client data of model `M`.
pub type ClientDataOf<M> =
    ClientData<<M as FederatedModel>::Features, <M as FederatedModel>::Labels>;

/// The client side of a federated algorithm.
///
/// Every variant starts from the global weights `w_g` and trains with plain SGD at
/// the client learning rate `η`; the client returns `w_local - w_g`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// Federated Averaging (McMahan et al., "Communication-Efficient Learning of Deep
    /// Networks from Decentralized Data", AISTATS 2017): `E` epochs of minibatch SGD
    /// with batch size `B`, `w ← w - η ∇ℓ(w; b)` for each batch `b`.
    FedAvg,
    /// Federated SGD (McMahan et al. 2017): one full-batch gradient step,
    /// `w_local = w_g - η ∇ℓ(w_g; all examples)`, so `E = 1` and `B = ∞` whatever the
    /// config says. With server SGD at learning rate 1 the round is
    /// `w_g ← w_g - η Σ_k n_k/n ∇ℓ_k(w_g)`.
    FedSgd,
    /// FedProx (Li et al., "Federated Optimization in Heterogeneous Networks",
    /// MLSys 2020): FedAvg on the objective `ℓ(w) + μ/2 ‖w - w_g‖²`, which keeps
    /// clients near the global model. Each SGD step is
    /// `w ← w - η ∇ℓ(w; b) - η μ (w - w_g)`; `μ = 0` is FedAvg.
    FedProx {
        /// Weight `μ ≥ 0` of the proximal term.
        mu: f32,
    },
}

impl Algorithm {
    /// Checks `μ` of FedProx.
    ///
    /// # Errors
    /// [`ConfigError::InvalidMu`] for a negative or non-finite `μ`.
    pub fn validate(self) -> Result<(), ConfigError> {
        match self {
            Algorithm::FedProx { mu } if !(mu.is_finite() && mu >= 0.0) => {
                Err(ConfigError::InvalidMu { mu })
            }
            _ => Ok(()),
        }
    }
}

/// The settings of a client's local training, from [`FedConfig::local_training`](super::FedConfig::local_training).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalTraining {
    /// FedAvg, FedSGD or FedProx.
    pub algorithm: Algorithm,
    /// Local epochs `E` (FedSGD: 1).
    pub local_epochs: usize,
    /// Batch size `B` (FedSGD: all examples).
    pub batch_size: BatchSize,
    /// SGD learning rate `η`.
    pub learning_rate: f32,
}

impl LocalTraining {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`ConfigError::ZeroLocalEpochs`], [`ConfigError::ZeroBatchSize`],
    /// [`ConfigError::ClientLearningRate`] or [`ConfigError::InvalidMu`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_epochs == 0 {
            return Err(ConfigError::ZeroLocalEpochs);
        }
        if self.batch_size == BatchSize::Examples(0) {
            return Err(ConfigError::ZeroBatchSize);
        }
        if !positive(self.learning_rate) {
            return Err(ConfigError::ClientLearningRate {
                value: self.learning_rate,
            });
        }
        self.algorithm.validate()
    }

    /// Local steps (batches) a client with `num_examples` examples makes when it does
    /// all its work: `E · ceil(n / B)` (FedSGD: 1), and 0 without examples.
    pub fn steps(&self, num_examples: usize) -> usize {
        if num_examples == 0 {
            return 0;
        }
        let (epochs, batch_size) = self.schedule();
        epochs.saturating_mul(num_examples.div_ceil(batch_size.for_len(num_examples)))
    }

    /// Epochs and batch size actually used: FedSGD's one full batch, or the settings.
    fn schedule(&self) -> (usize, BatchSize) {
        match self.algorithm {
            Algorithm::FedSgd => (1, BatchSize::Full),
            _ => (self.local_epochs, self.batch_size),
        }
    }
}

/// What a client sends back after a round.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientUpdate {
    /// `w_local - w_global`, as a flat weight vector.
    pub delta: Vec<f32>,
    /// Examples the client holds (`n_k`; not multiplied by the epochs).
    pub num_examples: usize,
    /// Unfinalised training metrics over every batch the client trained on, from
    /// the forward pass before each step. FedProx's proximal term is not in the loss.
    pub metrics: MetricsState,
}

/// Trains `model` on one client's `data` (a [`ClientData`], a store's view, ...) from the `global` weights and returns the
/// client's delta, example count and training metrics.
///
/// `model` is a reusable instance: its trainable weights are overwritten with
/// `global` first, so whatever it held before does not matter. Each epoch's batches
/// are shuffled with [`epoch_seed`]`(seed, epoch)` (FedSGD does not shuffle its single
/// batch), the final partial batch is kept, and batches are made on a device seeded
/// with `seed`, so random layers such as dropout are reproducible too.
///
/// FedProx's proximal gradient `μ (w - w_g)` is applied on the flat weight vector
/// before dfdx's SGD step: with plain SGD, `w - ημ(w - w_g) - η∇ℓ(w)` is exactly a
/// step on `ℓ(w) + μ/2‖w - w_g‖²`, the gradient `∇ℓ(w)` having been computed before
/// either change.
///
/// A client without examples returns a zero delta, 0 examples and empty metrics.
///
/// # Errors
/// [`FeddxError::Config`] for invalid `training`, [`FeddxError::WeightLengthMismatch`]
/// if `global` does not fit the model, [`FeddxError::NonFiniteLoss`] when a batch's
/// loss is NaN or infinite, and the model's own errors (bad labels).
pub fn train_client<M, D>(
    model: &mut M,
    global: &[f32],
    data: &D,
    training: &LocalTraining,
    seed: u64,
) -> Result<ClientUpdate>
where
    M: FederatedModel,
    D: ClientExamples<M::Features, M::Labels> + ?Sized,
{
    train_client_steps(model, global, data, training, seed, usize::MAX)
}

/// [`train_client`] stopped after `max_steps` local steps (batches): FedProx's
/// partial work of a straggler (Li et al. 2020, "variable amounts of local work").
///
/// The steps are the first `max_steps` of the full schedule, in the same order with
/// the same shuffles, so a client allowed all its
/// [`steps`](LocalTraining::steps) (or more) returns exactly what [`train_client`]
/// returns; the metrics cover the steps made. `max_steps = 0` returns a zero delta.
///
/// # Errors
/// As [`train_client`].
pub fn train_client_steps<M, D>(
    model: &mut M,
    global: &[f32],
    data: &D,
    training: &LocalTraining,
    seed: u64,
    max_steps: usize,
) -> Result<ClientUpdate>
where
    M: FederatedModel,
    D: ClientExamples<M::Features, M::Labels> + ?Sized,
{
    training.validate()?;
    model.set_weights_vec(global)?;
    let mut metrics = model.metrics_state();
    if data.is_empty() {
        return Ok(ClientUpdate {
            delta: vec![0.0; global.len()],
            num_examples: 0,
            metrics,
        });
    }
    let (epochs, batch_size) = training.schedule();
    let batch_size = batch_size.for_len(data.len());
    let shuffle = training.algorithm != Algorithm::FedSgd;
    let lr = training.learning_rate;
    let device = Cpu::seed_from_u64(seed);
    let mut sgd = Sgd::new(
        model.module().net(),
        SgdConfig {
            lr: f64::from(lr),
            momentum: None,
            weight_decay: None,
        },
    );
    let mut grads = model.module().net().alloc_grads();
    let mut steps_left = max_steps;
    for epoch in 0..epochs {
        if steps_left == 0 {
            break;
        }
        let order = shuffle.then(|| epoch_seed(seed, epoch));
        for (x, y) in batches(data, batch_size, order, &device).take(steps_left) {
            steps_left -= 1;
            let out = model.forward_pass(x.traced(grads), &y)?;
            let loss = out.loss.array();
            if !loss.is_finite() {
                return Err(FeddxError::NonFiniteLoss { value: loss });
            }
            model.update_metrics(&mut metrics, &out.predictions, &y, loss, out.num_examples)?;
            grads = out.loss.backward();
            if let Algorithm::FedProx { mu } = training.algorithm {
                if mu > 0.0 {
                    let mut w = model.weights_vec();
                    prox_step(&mut w, global, lr, mu);
                    model.set_weights_vec(&w)?;
                }
            }
            sgd.update(model.module_mut().net_mut(), &grads)
                .map_err(|e| FeddxError::ClientOptimizer {
                    message: e.to_string(),
                })?;
            model.module().net().zero_grads(&mut grads);
        }
    }
    let mut delta = model.weights_vec();
    delta.iter_mut().zip(global).for_each(|(d, g)| *d -= g);
    Ok(ClientUpdate {
        delta,
        num_examples: data.len(),
        metrics,
    })
}

/// FedProx's proximal step: `w ← w - η μ (w - w_g)`, the gradient of `μ/2‖w - w_g‖²`.
///
/// Extra elements of the longer slice are left alone.
pub fn prox_step(weights: &mut [f32], global: &[f32], learning_rate: f32, mu: f32) {
    let k = learning_rate * mu;
    weights
        .iter_mut()
        .zip(global)
        .for_each(|(w, g)| *w -= k * (*w - g));
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;
    use crate::federated::test_model::{blobs, TinyModel};

    fn fedavg(batch_size: BatchSize, local_epochs: usize) -> LocalTraining {
        LocalTraining {
            algorithm: Algorithm::FedAvg,
            local_epochs,
            batch_size,
            learning_rate: 0.1,
        }
    }

    #[test]
    fn prox_step_pulls_towards_the_global_weights() {
        let mut w = [1.0, -2.0, 0.5];
        prox_step(&mut w, &[0.0, 0.0, 0.5], 0.5, 0.2);
        // w - 0.1 (w - w_g)
        assert_eq!(w, [0.9, -1.8, 0.5]);
    }

    #[test]
    fn one_full_batch_step_is_one_dfdx_sgd_step() {
        let data = blobs(5, 1);
        let mut model = TinyModel::with_seed(3);
        let global = model.weights_vec();
        let update =
            train_client(&mut model, &global, &data, &fedavg(BatchSize::Full, 1), 9).unwrap();
        assert_eq!(update.num_examples, 5);
        assert_eq!(update.metrics.num_batches, 1);

        // The same step by hand with dfdx: softmax cross-entropy on one-hot labels.
        let dev = Cpu::seed_from_u64(3);
        let mut net = dev.build_module::<Linear<2, 3>, f32>();
        assert_eq!(crate::weights::flat_weights(&net), global);
        let (x, y) = data.full_batch(&dev);
        let mut onehot = vec![0.0; 15];
        y.iter()
            .enumerate()
            .for_each(|(i, &c)| onehot[i * 3 + c] = 1.0);
        let targets = dev.tensor_from_vec(onehot, (5, Const::<3>));
        let grads = net.alloc_grads();
        let logits = net.forward(x.traced(grads));
        let loss = cross_entropy_with_logits_loss(logits, targets);
        let expected_loss = loss.array();
        let grads = loss.backward();
        let mut sgd = Sgd::new(
            &net,
            SgdConfig {
                lr: 0.1,
                momentum: None,
                weight_decay: None,
            },
        );
        sgd.update(&mut net, &grads).unwrap();
        let expected = crate::weights::flat_weights(&net);

        let local: Vec<f32> = global
            .iter()
            .zip(&update.delta)
            .map(|(g, d)| g + d)
            .collect();
        for (a, b) in local.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!((update.metrics.mean_loss() - f64::from(expected_loss)).abs() < 1e-6);
    }

    #[test]
    fn epochs_and_batches_are_counted_and_seeded() {
        let data = blobs(7, 2);
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let training = fedavg(BatchSize::Examples(3), 2);
        let a = train_client(&mut model, &global, &data, &training, 5).unwrap();
        // 7 examples in batches of 3: 3 batches per epoch, the last one partial.
        assert_eq!(a.metrics.num_batches, 6);
        assert_eq!(a.metrics.num_examples, 14);
        let b = train_client(&mut model, &global, &data, &training, 5).unwrap();
        assert_eq!(a, b);
        let c = train_client(&mut model, &global, &data, &training, 6).unwrap();
        assert_ne!(a.delta, c.delta);
    }

    #[test]
    fn fedsgd_is_one_full_batch_step_whatever_the_settings() {
        let data = blobs(6, 3);
        let mut model = TinyModel::with_seed(1);
        let global = model.weights_vec();
        let fedsgd = LocalTraining {
            algorithm: Algorithm::FedSgd,
            ..fedavg(BatchSize::Examples(2), 5)
        };
        let a = train_client(&mut model, &global, &data, &fedsgd, 1).unwrap();
        assert_eq!(a.metrics.num_batches, 1);
        let b = train_client(&mut model, &global, &data, &fedsgd, 2).unwrap();
        assert_eq!(a.delta, b.delta, "FedSGD does not depend on the seed");
    }

    #[test]
    fn fedprox_adds_the_proximal_step_to_sgd() {
        let data = blobs(4, 4);
        let mut model = TinyModel::with_seed(2);
        let global = model.weights_vec();
        let plain =
            train_client(&mut model, &global, &data, &fedavg(BatchSize::Full, 1), 0).unwrap();
        let prox = LocalTraining {
            algorithm: Algorithm::FedProx { mu: 0.5 },
            ..fedavg(BatchSize::Full, 1)
        };
        // First step: w = w_g, so the proximal term vanishes.
        let one = train_client(&mut model, &global, &data, &prox, 0).unwrap();
        assert_eq!(one.delta, plain.delta);
        // Second step from w1: SGD's step, plus the pull η μ (w1 - w_g).
        let two = LocalTraining {
            local_epochs: 2,
            ..prox
        };
        let two = train_client(&mut model, &global, &data, &two, 0).unwrap();
        let w1: Vec<f32> = global
            .iter()
            .zip(&plain.delta)
            .map(|(g, d)| g + d)
            .collect();
        let sgd_from_w1 =
            train_client(&mut model, &w1, &data, &fedavg(BatchSize::Full, 1), 0).unwrap();
        let mut expected: Vec<f32> = w1
            .iter()
            .zip(&sgd_from_w1.delta)
            .map(|(w, d)| w + d)
            .collect();
        let pull: Vec<f32> = w1
            .iter()
            .zip(&global)
            .map(|(w, g)| 0.1 * 0.5 * (w - g))
            .collect();
        expected.iter_mut().zip(&pull).for_each(|(e, p)| *e -= p);
        let got: Vec<f32> = global.iter().zip(&two.delta).map(|(g, d)| g + d).collect();
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!(pull.iter().any(|p| p.abs() > 1e-4), "the pull is visible");
    }

    #[test]
    fn non_finite_loss_is_an_error() {
        let mut data = blobs(3, 0).examples().to_vec();
        data[1].0 = [f32::NAN, 0.0];
        let data = ClientDataOf::<TinyModel>::new(data);
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let err =
            train_client(&mut model, &global, &data, &fedavg(BatchSize::Full, 1), 0).unwrap_err();
        assert!(matches!(err, FeddxError::NonFiniteLoss { value } if value.is_nan()));
    }

    #[test]
    fn an_empty_client_sends_a_zero_delta() {
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let update = train_client(
            &mut model,
            &global,
            &ClientDataOf::<TinyModel>::default(),
            &fedavg(BatchSize::Full, 1),
            0,
        )
        .unwrap();
        assert_eq!(update.num_examples, 0);
        assert!(update.delta.iter().all(|&d| d == 0.0));
    }
}
