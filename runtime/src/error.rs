//! The errors of feddx: what types cannot see and is checked at run time.

use thiserror::Error;

/// Everything that can go wrong at run time in feddx.
///
/// Shapes, output counts and loss/label agreement are checked at compile time by
/// `#[federated_model]`; what is left are properties of the *values*: batch sizes,
/// label ranges, weight-vector lengths and numerical health.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FeddxError {
    /// A batch has no examples: a mean over it is undefined.
    #[error("empty batch: a loss or metric needs at least one example")]
    EmptyBatch,
    /// Features and labels disagree on the number of examples.
    #[error("features hold {features} examples but labels for output `{output}` hold {labels}")]
    BatchSizeMismatch {
        /// Output whose labels disagree.
        output: &'static str,
        /// Examples in the features batch.
        features: usize,
        /// Examples in the labels batch.
        labels: usize,
    },
    /// Predictions and labels handed to a loss or metric disagree on the batch size.
    #[error("predictions hold {predictions} rows but labels hold {labels}")]
    PredictionLabelMismatch {
        /// Rows of predictions.
        predictions: usize,
        /// Rows of labels.
        labels: usize,
    },
    /// An integer class label is not below the number of classes.
    #[error("label {label} at row {row} is out of range: the output has {classes} classes (0..{classes})")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// Its row in the batch.
        row: usize,
        /// Number of classes of the output.
        classes: usize,
    },
    /// A flat weight vector does not have one value per trainable parameter.
    #[error("weight vector has {actual} values but the model has {expected} trainable parameters")]
    WeightLengthMismatch {
        /// Trainable parameters of the model.
        expected: usize,
        /// Values supplied.
        actual: usize,
    },
    /// A loss came out NaN or infinite.
    #[error("the loss is not finite ({value}); lower the learning rate or check the inputs")]
    NonFiniteLoss {
        /// The loss value.
        value: f32,
    },
    /// Two metric states of different layouts were merged.
    #[error("cannot merge metric states of different layouts ({left} and {right} sums)")]
    MetricLayoutMismatch {
        /// Sums in the receiving state.
        left: usize,
        /// Sums in the merged state.
        right: usize,
    },
    /// An example row does not have the width the spec expects.
    #[error("example {row} has {actual} values but the spec expects {expected}")]
    ExampleWidth {
        /// Row of the bad example.
        row: usize,
        /// Width the spec expects.
        expected: usize,
        /// Width found.
        actual: usize,
    },
}

/// `Result` with [`FeddxError`].
pub type Result<T, E = FeddxError> = std::result::Result<T, E>;
