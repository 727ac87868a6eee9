//! Metrics whose state merges across clients.
//!
//! A metric keeps *unfinalised sums* (correct predictions and examples seen, say)
//! rather than a running average. Sums from different batches or clients add up, and
//! only the merged total is finalised into a value, as TensorFlow Federated does; a
//! mean of client means would weigh a client with 3 examples like one with 3000.

mod classification;
mod regression;
mod state;

pub use classification::{
    Accuracy, BinaryAccuracy, CategoricalAccuracy, Precision, Recall, SparseCategoricalAccuracy,
};
pub use regression::Mean;
pub use state::{MetricValues, MetricsState};

use crate::spec::LabelSpec;
use crate::tensor::Batch;
use crate::Result;

/// What every metric knows without seeing data: its name, how many sums it keeps
/// and how to finalise them.
pub trait MetricKind {
    /// Name reported next to the value, such as `sparse_categorical_accuracy`.
    fn name(&self) -> &'static str;
    /// Number of unfinalised sums in the state.
    fn num_sums(&self) -> usize;
    /// Turns the merged sums into the reported value: NaN when nothing was seen,
    /// except for [`Precision`] and [`Recall`], which give 0 on an empty
    /// denominator as Keras does.
    fn finalize(&self, sums: &[f64]) -> f64;
}

/// A metric of an output with `C`-wide predictions against labels `Y`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a metric for {C}-wide predictions with labels `{Y}`",
    label = "this metric does not accept its output's predictions and labels",
    note = "class logits take `SparseCategoricalAccuracy` with `ClassLabels`, or `CategoricalAccuracy` with one-hot `Targets<C>`",
    note = "binary and regression metrics take `Targets<N>` of the output's width N"
)]
pub trait Metric<const C: usize, Y: LabelSpec>: MetricKind {
    /// Adds one batch to `sums` (of length [`MetricKind::num_sums`]).
    fn accumulate(&self, predictions: &Batch<C>, labels: &Y::Batch, sums: &mut [f64])
        -> Result<()>;
}

/// `sums[0] / sums[1]`: the finalisation of every ratio metric.
pub(crate) fn ratio(sums: &[f64]) -> f64 {
    sums[0] / sums[1]
}

/// `sums[0] / sums[1]`, or 0 when `sums[1]` is 0: Keras' `divide_no_nan`, with
/// which its `Precision` and `Recall` finalise.
pub(crate) fn ratio_or_zero(sums: &[f64]) -> f64 {
    if sums[1] == 0.0 {
        0.0
    } else {
        sums[0] / sums[1]
    }
}
