//! Losses: how far predictions are from the labels, as a scalar to minimise.
//!
//! Every built-in loss reduces to the mean over the batch and takes raw outputs
//! (logits) where probabilities are involved, so it is numerically stable. A plain
//! function generic over the tape is a loss too:
//!
//! ```
//! use feddx_runtime::prelude::*;
//!
//! fn squared_error<T: Tape<f32, Cpu>>(pred: Batch<1, T>, y: &Batch<1>) -> Scalar<T> {
//!     (pred - y.clone()).square().mean()
//! }
//!
//! let dev = Cpu::default();
//! let pred: Batch<1> = dev.tensor_from_vec(vec![1.0, 3.0], (2, Const::<1>));
//! let y: Batch<1> = dev.tensor_from_vec(vec![0.0, 1.0], (2, Const::<1>));
//! let l = Loss::<1, NoneTape, Targets<1>>::loss(&squared_error, pred, &y).unwrap();
//! assert_eq!(l.array(), 2.5);
//! ```

mod crossentropy;
mod regression;

pub use crossentropy::{
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
};
pub use regression::{Huber, MeanAbsoluteError, MeanSquaredError};

use dfdx::prelude::{Cpu, Tape};

use crate::spec::LabelSpec;
use crate::tensor::{Batch, Scalar};
use crate::{FeddxError, Result};

/// A loss for an output with `C`-wide predictions recorded on tape `T`, against labels `Y`.
///
/// Implemented by the built-in losses and by every function
/// `fn(Batch<C, T>, &Y::Batch) -> Scalar<T>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a loss for {C}-wide predictions with labels `{Y}`",
    label = "this loss does not accept its output's predictions and labels",
    note = "class logits take `SparseCategoricalCrossentropy` with `ClassLabels`, or `CategoricalCrossentropy` with one-hot `Targets<C>` of the output's width",
    note = "regression and binary losses take `Targets<N>` of the output's width N"
)]
pub trait Loss<const C: usize, T: Tape<f32, Cpu>, Y: LabelSpec> {
    /// The mean loss over the batch.
    fn loss(&self, predictions: Batch<C, T>, labels: &Y::Batch) -> Result<Scalar<T>>;
}

impl<F, const C: usize, T, Y> Loss<C, T, Y> for F
where
    F: Fn(Batch<C, T>, &Y::Batch) -> Scalar<T>,
    T: Tape<f32, Cpu>,
    Y: LabelSpec,
{
    fn loss(&self, predictions: Batch<C, T>, labels: &Y::Batch) -> Result<Scalar<T>> {
        Ok(self(predictions, labels))
    }
}

/// Checks that a batch of `predictions` rows has `labels` rows and is not empty.
pub(crate) fn check_rows(predictions: usize, labels: usize) -> Result<()> {
    if predictions != labels {
        return Err(FeddxError::PredictionLabelMismatch {
            predictions,
            labels,
        });
    }
    if predictions == 0 {
        return Err(FeddxError::EmptyBatch);
    }
    Ok(())
}
