//! The federated model trait: what federated algorithms need of a model.

use std::path::Path;

use dfdx::prelude::{AsArray, Cpu, NoneTape, Tape};

use crate::metrics::{MetricValues, MetricsState};
use crate::module::{FeatureBatch, ModuleFor};
use crate::predict::{self, ModuleOutputs, OneOutput, OutputValues};
use crate::spec::{input_spec, FeatureSpec, InputSpec, LabelSpec};
use crate::tensor::{Scalar, Traced};
use crate::weights::{self, NamedTensor};
use crate::{weights_file, Result};

/// Labels batch of model `M`.
pub type LabelBatch<M> = <<M as FederatedModel>::Labels as LabelSpec>::Batch;

/// What one forward pass over a batch gives.
#[derive(Debug, Clone)]
pub struct ForwardOutput<P, T: Tape<f32, Cpu> = NoneTape> {
    /// The module's outputs, detached from the tape: one tensor, or a tuple of them.
    pub predictions: P,
    /// `sum_k w_k * L_k`: on [`Traced`], ready for `backward()`.
    pub loss: Scalar<T>,
    /// Examples in the batch.
    pub num_examples: usize,
}

/// A model that federated algorithms can train and evaluate: a dfdx module with an
/// input spec, named outputs, weighted losses and metrics.
///
/// `#[federated_model(...)]` writes this impl from a struct's annotations and checks
/// them at compile time; it can also be written by hand (with an empty
/// [`OneOutput`] impl for a model of one output, for `predict_proba` and
/// `predict_class`).
///
/// A trained model is then used through the provided methods: its weights saved to
/// and loaded from a file ([`save_weights`](Self::save_weights),
/// [`load_weights`](Self::load_weights), which also reads a checkpoint), and its
/// predictions for plain rows of features ([`predict`](Self::predict),
/// [`predict_proba`](Self::predict_proba), [`predict_class`](Self::predict_class)).
pub trait FederatedModel: Sized + Send + Sync {
    /// The dfdx module holding the weights.
    type Module: ModuleFor<Self::Features, Self>;
    /// The features spec `X` (first element of the input spec).
    type Features: FeatureSpec;
    /// The labels spec `Y` (second element): one label spec per output.
    type Labels: LabelSpec;
    /// The module's untraced outputs: one tensor per output.
    type Predictions: ModuleOutputs;

    /// Output names, in the module's output order.
    const OUTPUTS: &'static [&'static str];
    /// Loss weight of each output, in output order.
    const LOSS_WEIGHTS: &'static [f32];

    /// Builds the model with fresh weights drawn from `device`'s generator.
    fn build(device: &Cpu) -> Self;
    /// The dfdx module.
    fn module(&self) -> &Self::Module;
    /// The dfdx module, mutably (for optimisers).
    fn module_mut(&mut self) -> &mut Self::Module;

    /// A training forward pass: predictions, the weighted total loss on the tape of
    /// `x` (call `backward()` on it), and the number of examples. TFF's `training=True`.
    ///
    /// # Errors
    /// Batch sizes that disagree, an empty batch, or labels the losses reject.
    fn forward_pass(
        &self,
        x: FeatureBatch<Self::Features, Traced>,
        y: &LabelBatch<Self>,
    ) -> Result<ForwardOutput<Self::Predictions, Traced>>;

    /// The weighted total loss of a batch on the tape of `x`, ready for `backward()`:
    /// a training step that needs no predictions.
    ///
    /// The default takes the loss of [`forward_pass`](Self::forward_pass).
    /// `#[federated_model]` writes one that keeps no copy of the outputs, so the loss
    /// ops reuse their buffers and the step costs what the same model written by
    /// hand in dfdx costs (see `benches/train_step.rs`).
    ///
    /// # Errors
    /// As [`forward_pass`](Self::forward_pass).
    fn training_loss(
        &self,
        x: FeatureBatch<Self::Features, Traced>,
        y: &LabelBatch<Self>,
    ) -> Result<Scalar<Traced>> {
        Ok(self.forward_pass(x, y)?.loss)
    }

    /// An evaluation forward pass, recording nothing. TFF's `training=False`.
    ///
    /// # Errors
    /// As [`forward_pass`](Self::forward_pass).
    fn evaluate_batch(
        &self,
        x: FeatureBatch<Self::Features>,
        y: &LabelBatch<Self>,
    ) -> Result<ForwardOutput<Self::Predictions>>;

    /// The module's outputs for a batch.
    fn predict_on_batch(&self, x: FeatureBatch<Self::Features>) -> Self::Predictions;

    /// An empty metrics state for this model.
    fn metrics_state(&self) -> MetricsState;

    /// Adds a batch to `state`: its loss, counts, and every metric's sums.
    ///
    /// # Errors
    /// Labels a metric rejects.
    fn update_metrics(
        &self,
        state: &mut MetricsState,
        predictions: &Self::Predictions,
        y: &LabelBatch<Self>,
        loss: f32,
        num_examples: usize,
    ) -> Result<()>;

    /// Finalises a (merged) state into named values.
    fn finalize_metrics(&self, state: &MetricsState) -> MetricValues;

    /// Builds the model on a CPU device seeded with `seed`.
    fn with_seed(seed: u64) -> Self {
        Self::build(&Cpu::seed_from_u64(seed))
    }

    /// The readable input spec: shapes and dtypes, batch dimension dynamic.
    fn input_spec() -> InputSpec {
        input_spec::<Self::Features, Self::Labels>()
    }

    /// The trainable tensors, named by their path in the module.
    fn trainable_weights(&self) -> Vec<NamedTensor> {
        weights::named_weights(self.module().net())
    }

    /// The trainable weights as one flat vector.
    fn weights_vec(&self) -> Vec<f32> {
        weights::flat_weights(self.module().net())
    }

    /// Number of trainable parameters.
    fn num_trainable_params(&self) -> usize {
        weights::num_trainable(self.module().net())
    }

    /// Writes a flat weight vector back.
    ///
    /// # Errors
    /// [`FeddxError::WeightLengthMismatch`](crate::FeddxError::WeightLengthMismatch) on a wrong length.
    fn set_weights_vec(&mut self, values: &[f32]) -> Result<()> {
        weights::set_flat_weights(self.module_mut().net_mut(), values)
    }

    /// Saves the trainable weights to a safetensors file at `path`, atomically
    /// (see [`weights_file`](crate::weights_file)).
    ///
    /// # Errors
    /// As [`save_weights`](crate::weights_file::save_weights).
    fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        weights_file::save_weights(self, path)
    }

    /// Loads the weights of a file from [`save_weights`](Self::save_weights) or of
    /// a checkpoint (see [`weights_file`](crate::weights_file)), checking every
    /// tensor's name, dtype and shape; the model is unchanged on error.
    ///
    /// # Errors
    /// As [`load_weights`](crate::weights_file::load_weights).
    fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        weights_file::load_weights(self, path)
    }

    /// The module's outputs for plain rows of features (`&[[f32; N]]` for
    /// `Features<N>`), per output by name (see [`predict`](crate::predict)). The
    /// rows go through the module in batches of at most
    /// [`PREDICT_BATCH_ROWS`](crate::predict::PREDICT_BATCH_ROWS).
    ///
    /// # Errors
    /// [`FeddxError::EmptyBatch`](crate::FeddxError::EmptyBatch) if `rows` is empty.
    fn predict(
        &self,
        rows: &[<Self::Features as FeatureSpec>::Example],
    ) -> Result<predict::Predictions> {
        predict::predict_rows(self, rows)
    }

    /// The probabilities of each row of a single-output classification model: the
    /// softmax of its logits, or the sigmoid of a binary output's one logit (see
    /// [`OutputValues::probabilities`]). A model with several outputs takes
    /// [`predict_proba_of`](Self::predict_proba_of); [`OneOutput`], which
    /// `#[federated_model]` implements for a model of one output, tells them apart.
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    fn predict_proba(
        &self,
        rows: &[<Self::Features as FeatureSpec>::Example],
    ) -> Result<OutputValues>
    where
        Self: OneOutput,
    {
        Ok(self.predict(rows)?.into_first().probabilities())
    }

    /// The predicted class of each row of a single-output classification model:
    /// the argmax of its logits, or `logit > 0` (probability above 0.5) for a
    /// binary output (see [`OutputValues::classes`]). A model with several outputs
    /// takes [`predict_class_of`](Self::predict_class_of) (see [`OneOutput`]).
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    fn predict_class(&self, rows: &[<Self::Features as FeatureSpec>::Example]) -> Result<Vec<usize>>
    where
        Self: OneOutput,
    {
        Ok(self.predict(rows)?.into_first().classes())
    }

    /// [`predict_proba`](Self::predict_proba) for output `output` of a model.
    ///
    /// # Errors
    /// [`FeddxError::UnknownOutput`](crate::FeddxError::UnknownOutput) if the model
    /// has no output of that name, then as [`predict`](Self::predict).
    fn predict_proba_of(
        &self,
        output: &str,
        rows: &[<Self::Features as FeatureSpec>::Example],
    ) -> Result<OutputValues> {
        predict::output_index(Self::OUTPUTS, output)?;
        Ok(self.predict(rows)?.into_output(output)?.probabilities())
    }

    /// [`predict_class`](Self::predict_class) for output `output` of a model.
    ///
    /// # Errors
    /// [`FeddxError::UnknownOutput`](crate::FeddxError::UnknownOutput) if the model
    /// has no output of that name, then as [`predict`](Self::predict).
    fn predict_class_of(
        &self,
        output: &str,
        rows: &[<Self::Features as FeatureSpec>::Example],
    ) -> Result<Vec<usize>> {
        predict::output_index(Self::OUTPUTS, output)?;
        Ok(self.predict(rows)?.into_output(output)?.classes())
    }

    /// Evaluates a batch and adds it to `state`.
    ///
    /// # Errors
    /// As [`evaluate_batch`](Self::evaluate_batch) and [`update_metrics`](Self::update_metrics).
    fn evaluate_into(
        &self,
        state: &mut MetricsState,
        x: FeatureBatch<Self::Features>,
        y: &LabelBatch<Self>,
    ) -> Result<()> {
        let out = self.evaluate_batch(x, y)?;
        self.update_metrics(
            state,
            &out.predictions,
            y,
            out.loss.array(),
            out.num_examples,
        )
    }
}
