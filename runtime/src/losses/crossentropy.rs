//! Cross-entropy losses on logits: binary, categorical (one-hot) and sparse (class indices).

use dfdx::prelude::*;

use super::{check_rows, Loss};
use crate::spec::{ClassLabels, Targets};
use crate::tensor::{Batch, Scalar};
use crate::{FeddxError, Result};

/// Binary cross-entropy on logits: `mean(max(z, 0) - z y + ln(1 + e^{-|z|}))`,
/// with targets `y` in `[0, 1]`; one independent binary decision per column.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BinaryCrossentropy;

/// Categorical cross-entropy on logits with one-hot (or soft) targets:
/// `mean over rows of -sum_c y_c log softmax(z)_c`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CategoricalCrossentropy;

/// Sparse categorical cross-entropy on logits with integer class labels:
/// `mean over rows of -log softmax(z)_label`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SparseCategoricalCrossentropy;

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, Targets<C>> for BinaryCrossentropy {
    fn loss(&self, predictions: Batch<C, T>, labels: &Batch<C>) -> Result<Scalar<T>> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        Ok(binary_cross_entropy_with_logits_loss(
            predictions,
            labels.clone(),
        ))
    }
}

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, Targets<C>> for CategoricalCrossentropy {
    fn loss(&self, predictions: Batch<C, T>, labels: &Batch<C>) -> Result<Scalar<T>> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        Ok(cross_entropy_with_logits_loss(predictions, labels.clone()))
    }
}

impl<const C: usize, T: Tape<f32, Cpu>> Loss<C, T, ClassLabels> for SparseCategoricalCrossentropy {
    fn loss(&self, predictions: Batch<C, T>, labels: &Vec<usize>) -> Result<Scalar<T>> {
        let rows = predictions.shape().0;
        check_rows(rows, labels.len())?;
        check_classes(labels, C)?;
        let index = predictions
            .device()
            .tensor_from_vec(labels.clone(), (rows,));
        let picked: Tensor<(usize,), f32, Cpu, T> =
            predictions.log_softmax::<Axis<1>>().select(index);
        Ok(picked.mean().negate())
    }
}

/// Checks that every label is a class index below `classes`.
pub(crate) fn check_classes(labels: &[usize], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l >= classes) {
        Some(row) => Err(FeddxError::LabelOutOfRange {
            label: labels[row],
            row,
            classes,
        }),
        None => Ok(()),
    }
}
