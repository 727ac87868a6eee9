//! The errors of feddx: what types cannot see and is checked at run time.

use thiserror::Error;

use crate::federated::{CheckpointError, ConfigError};

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
    /// A data set is malformed: it cannot be decompressed or parsed, or its values are
    /// out of range.
    #[error("malformed data: {what}")]
    Data {
        /// What is wrong, and where.
        what: String,
    },
    /// A user's data set cannot be built: ragged rows, non-finite values, labels out
    /// of range, or a CSV file that does not fit.
    #[error(transparent)]
    InvalidData(#[from] crate::data::DataError),
    /// A partition or split was asked for with arguments it cannot honour.
    #[error("invalid partition: {reason}")]
    InvalidPartition {
        /// Which argument was wrong, and its value.
        reason: String,
    },
    /// A federated setting is invalid (see [`ConfigError`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An input of the privacy accountant is out of range (see
    /// [`PrivacyError`](crate::privacy::PrivacyError)).
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    /// A checkpoint could not be saved or loaded (see [`CheckpointError`]).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A round was asked to sample from an empty population.
    #[error("no clients to sample from: a round needs at least one client")]
    NoClients,
    /// Training on one client failed; `source` says why.
    #[error("client {client} failed in round {round}: {source}")]
    ClientUpdate {
        /// Number of the round in which the client failed, from 1, as
        /// [`RoundReport::round`](crate::federated::RoundReport::round) counts them
        /// (the round's seeds use the 0-based index `round - 1`).
        round: usize,
        /// Index of the client in the population.
        client: usize,
        /// What went wrong on the client.
        source: Box<FeddxError>,
    },
    /// dfdx's optimiser could not update a client model.
    #[error("the client optimiser failed to update the weights: {message}")]
    ClientOptimizer {
        /// dfdx's description of the failure.
        message: String,
    },
    /// None of the clients sampled for a round holds an example, so there is nothing to average.
    #[error("none of the {clients} clients sampled in round {round} holds an example")]
    EmptyRound {
        /// Number of the round, from 1, as
        /// [`RoundReport::round`](crate::federated::RoundReport::round) counts them.
        round: usize,
        /// Clients sampled.
        clients: usize,
    },
    /// An aggregation was asked to average no vectors.
    #[error("nothing to aggregate: at least one client update is needed")]
    NoUpdates,
    /// Vectors to aggregate and their weights differ in number.
    #[error("{vectors} vectors to aggregate but {weights} weights")]
    WeightCountMismatch {
        /// Vectors handed in.
        vectors: usize,
        /// Weights handed in.
        weights: usize,
    },
    /// A vector to aggregate has another length than the first one.
    #[error("update {index} has {actual} values but update 0 has {expected}")]
    UpdateLengthMismatch {
        /// Position of the offending update.
        index: usize,
        /// Length of the first update.
        expected: usize,
        /// Length of the offending update.
        actual: usize,
    },
    /// An aggregation weight is negative or not finite.
    #[error("aggregation weight {weight} of update {index} is not a finite non-negative number")]
    InvalidAggregationWeight {
        /// Position of the offending update.
        index: usize,
        /// Its weight.
        weight: f64,
    },
    /// The aggregation weights add up to zero: the mean is undefined.
    #[error("the aggregation weights of {updates} updates add up to zero")]
    ZeroTotalWeight {
        /// Updates handed in.
        updates: usize,
    },
    /// Too few updates were left in a round, after failures and rejections, for it
    /// to go on; the run is left as it was before the round.
    #[error("round {round} was left with {accepted} usable updates but needs at least {required} (`min_successful_clients`): {failed} clients failed and {rejected} updates were rejected")]
    TooFewUpdates {
        /// Number of the round, from 1.
        round: usize,
        /// Updates left to aggregate.
        accepted: usize,
        /// Updates needed.
        required: usize,
        /// Sampled clients that failed (error, panic, dropout, deadline).
        failed: usize,
        /// Updates rejected by zeroing (non-finite, or above the zeroing norm).
        rejected: usize,
    },
    /// A sampled client did not answer: it dropped out of the round.
    #[error("the client dropped out of the round")]
    ClientDroppedOut,
    /// A client's training panicked.
    #[error("the client's training panicked: {message}")]
    ClientPanicked {
        /// The panic's message.
        message: String,
    },
    /// A client took longer than the round deadline.
    #[error("the client took {elapsed:?}, beyond the round deadline of {deadline:?}")]
    DeadlineExceeded {
        /// The client's simulated time (its steps and injected delay).
        elapsed: std::time::Duration,
        /// The deadline.
        deadline: std::time::Duration,
    },
    /// An aggregator's saved state does not fit the configured aggregation.
    #[error("the aggregator's saved state does not fit its settings: {reason}")]
    AggregatorStateMismatch {
        /// What does not fit.
        reason: String,
    },
    /// A server optimiser state does not fit the model or the optimiser.
    #[error("server optimiser state `{part}` has {actual} values but {expected} are needed")]
    ServerStateMismatch {
        /// The part of the state: `m` or `v`.
        part: &'static str,
        /// Values the optimiser and model need.
        expected: usize,
        /// Values found.
        actual: usize,
    },
    /// A weights file could not be saved or loaded (see
    /// [`WeightsFileError`](crate::weights_file::WeightsFileError)).
    #[error(transparent)]
    WeightsFile(#[from] crate::weights_file::WeightsFileError),
    /// Predictions were asked of an output the model does not have.
    #[error("the model has no output `{name}`; its outputs are {}", crate::predict::quoted(.outputs))]
    UnknownOutput {
        /// The name asked for.
        name: String,
        /// The model's outputs, in order.
        outputs: &'static [&'static str],
    },
    /// A shortcut of [`Predictions`](crate::predict::Predictions) for a model of one
    /// output was used on the predictions of a model with several.
    #[error(
        "`{accessor}()` is for a model with one output, but this one has {}: {}; \
         take one by name with `output(name)`",
        .outputs.len(), crate::predict::quoted(.outputs)
    )]
    SeveralOutputs {
        /// The shortcut used: `single`, `classes`, `probabilities` or `values`.
        accessor: &'static str,
        /// The model's outputs, in order.
        outputs: &'static [&'static str],
    },
    /// [`Predictions::values`](crate::predict::Predictions::values), one value a
    /// row, was used on an output with several values a row.
    #[error(
        "`values()` gives one value a row, but output `{output}` has {width}; \
         take its rows with `output(\"{output}\")?.iter_rows()`"
    )]
    SeveralValuesPerRow {
        /// The output's name.
        output: &'static str,
        /// Its values a row.
        width: usize,
    },
    /// A FedBuff setting or saved state is wrong (see
    /// [`FedBuffError`](crate::federated::fedbuff::FedBuffError)).
    #[error(transparent)]
    FedBuff(#[from] crate::federated::fedbuff::FedBuffError),
}

/// `Result` with [`FeddxError`].
pub type Result<T, E = FeddxError> = std::result::Result<T, E>;
