//! A hand-written [`FederatedModel`] for the tests of the federated algorithms:
//! one `Linear<2, 3>` classifying points of three blobs.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::client::ClientDataOf;
use crate::losses::{Loss, SparseCategoricalCrossentropy};
use crate::metrics::{Metric, MetricKind, MetricValues, MetricsState, SparseCategoricalAccuracy};
use crate::spec::{ClassLabels, Features};
use crate::tensor::{Batch, Built, Traced};
use crate::{FeatureBatch, FeddxError, FederatedModel, ForwardOutput, Result};

/// Logits over 3 classes from 2 features.
/// A feature value on which training panics, to test how a run takes a panicking client.
pub(crate) const PANIC_FEATURE: f32 = 1234.5;

thread_local! {
    /// Real time each training batch of this thread sleeps: a test sets it to show
    /// that nothing a run decides depends on how long training takes on the machine.
    pub(crate) static TRAINING_SLEEP: std::cell::Cell<std::time::Duration> =
        const { std::cell::Cell::new(std::time::Duration::ZERO) };
}

#[derive(Debug)]
pub(crate) struct TinyModel {
    net: Built<Linear<2, 3>>,
}

impl crate::OneOutput for TinyModel {}

impl FederatedModel for TinyModel {
    type Module = Built<Linear<2, 3>>;
    type Features = Features<2>;
    type Labels = ClassLabels;
    type Predictions = Batch<3>;

    const OUTPUTS: &'static [&'static str] = &["class"];
    const LOSS_WEIGHTS: &'static [f32] = &[1.0];

    fn build(device: &Cpu) -> Self {
        TinyModel {
            net: device.build_module::<Linear<2, 3>, f32>(),
        }
    }

    fn module(&self) -> &Self::Module {
        &self.net
    }

    fn module_mut(&mut self) -> &mut Self::Module {
        &mut self.net
    }

    fn forward_pass(
        &self,
        x: FeatureBatch<Features<2>, Traced>,
        y: &Vec<usize>,
    ) -> Result<ForwardOutput<Batch<3>, Traced>> {
        let rows = check_batch(x.shape().0, y)?;
        if x.as_vec().contains(&PANIC_FEATURE) {
            panic!("a feature of {PANIC_FEATURE} makes the test model panic");
        }
        let sleep = TRAINING_SLEEP.with(std::cell::Cell::get);
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
        let logits = self.net.forward(x);
        let predictions = logits.retaped();
        let loss = Loss::<3, Traced, ClassLabels>::loss(&SparseCategoricalCrossentropy, logits, y)?;
        Ok(ForwardOutput {
            predictions,
            loss,
            num_examples: rows,
        })
    }

    fn evaluate_batch(
        &self,
        x: FeatureBatch<Features<2>>,
        y: &Vec<usize>,
    ) -> Result<ForwardOutput<Batch<3>>> {
        let rows = check_batch(x.shape().0, y)?;
        let predictions = self.net.forward(x);
        let loss = Loss::<3, NoneTape, ClassLabels>::loss(
            &SparseCategoricalCrossentropy,
            predictions.clone(),
            y,
        )?;
        Ok(ForwardOutput {
            predictions,
            loss,
            num_examples: rows,
        })
    }

    fn predict_on_batch(&self, x: FeatureBatch<Features<2>>) -> Batch<3> {
        self.net.forward(x)
    }

    fn metrics_state(&self) -> MetricsState {
        MetricsState::new(SparseCategoricalAccuracy.num_sums())
    }

    fn update_metrics(
        &self,
        state: &mut MetricsState,
        predictions: &Batch<3>,
        y: &Vec<usize>,
        loss: f32,
        num_examples: usize,
    ) -> Result<()> {
        Metric::<3, ClassLabels>::accumulate(
            &SparseCategoricalAccuracy,
            predictions,
            y,
            &mut state.sums,
        )?;
        state.record_batch(loss, num_examples);
        Ok(())
    }

    fn finalize_metrics(&self, state: &MetricsState) -> MetricValues {
        let mut values = MetricValues::default();
        values.push("loss", state.mean_loss());
        values.push("num_examples", state.num_examples as f64);
        values.push("num_batches", state.num_batches as f64);
        values.push(
            SparseCategoricalAccuracy.name(),
            SparseCategoricalAccuracy.finalize(&state.sums),
        );
        values
    }
}

/// Checks that `labels` has one label per feature row, and at least one row.
fn check_batch(features: usize, labels: &[usize]) -> Result<usize> {
    if labels.len() != features {
        return Err(FeddxError::BatchSizeMismatch {
            output: "class",
            features,
            labels: labels.len(),
        });
    }
    if features == 0 {
        return Err(FeddxError::EmptyBatch);
    }
    Ok(features)
}

/// `n` points around three centres, labelled by their centre, drawn with `seed`.
pub(crate) fn blobs(n: usize, seed: u64) -> ClientDataOf<TinyModel> {
    const CENTRES: [[f32; 2]; 3] = [[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let label = rng.gen_range(0..3);
            let [a, b] = CENTRES[label];
            let x = [a + rng.gen_range(-0.5..0.5), b + rng.gen_range(-0.5..0.5)];
            (x, label)
        })
        .collect()
}

/// Six clients of 1 to 7 examples, each drawn with its own seed.
pub(crate) fn population() -> Vec<ClientDataOf<TinyModel>> {
    [4, 7, 1, 5, 3, 6]
        .iter()
        .enumerate()
        .map(|(i, &n)| blobs(n, 10 + i as u64))
        .collect()
}
