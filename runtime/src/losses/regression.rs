//! Regression losses: squared, absolute and Huber error.

use dfdx::prelude::{huber_loss, mae_loss, mse_loss, Cpu, HasShape, Tape};

use super::{check_rows, Loss};
use crate::spec::Targets;
use crate::tensor::{Batch, Scalar};
use crate::Result;

/// Mean of `(prediction - target)^2` over every element (also a [metric](crate::metrics)).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanSquaredError;

/// Mean of `|prediction - target|` over every element (also a [metric](crate::metrics)).
///
/// Its gradient is `sign(prediction - target) / n` for `n` elements, and 0 where a
/// prediction equals its target: the subgradient of `|e|` at 0 that dfdx and
/// TensorFlow take, so an exact prediction is left where it is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanAbsoluteError;

/// Huber loss (Huber 1964): `0.5 e^2` where `|e| <= delta`, `delta (|e| - 0.5 delta)`
/// beyond, averaged over every element.
///
/// Its gradient is `e / n` inside `delta` (0 at `e = 0`) and `delta sign(e) / n`
/// beyond, for `n` elements; the two agree at `|e| = delta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Huber {
    /// Where the loss turns from quadratic to linear.
    pub delta: f32,
}

impl Default for Huber {
    /// `delta = 1.0`, as in Keras.
    fn default() -> Self {
        Huber { delta: 1.0 }
    }
}

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, Targets<C>> for MeanSquaredError {
    fn loss(&self, predictions: Batch<C, T>, labels: &Batch<C>) -> Result<Scalar<T>> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        Ok(mse_loss(predictions, labels.clone()))
    }
}

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, Targets<C>> for MeanAbsoluteError {
    fn loss(&self, predictions: Batch<C, T>, labels: &Batch<C>) -> Result<Scalar<T>> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        Ok(mae_loss(predictions, labels.clone()))
    }
}

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, Targets<C>> for Huber {
    fn loss(&self, predictions: Batch<C, T>, labels: &Batch<C>) -> Result<Scalar<T>> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        Ok(huber_loss(predictions, labels.clone(), self.delta))
    }
}
