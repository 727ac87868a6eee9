//! Classification metrics: accuracies, precision and recall.
//!
//! Predictions are logits, as the losses take them: a class is the row's argmax, and
//! a binary decision is `sigmoid(z) > threshold`.

use dfdx::shapes::HasShape;

use super::{ratio, ratio_or_zero, Metric, MetricKind};
use crate::losses::check_rows;
use crate::spec::{ClassLabels, Targets};
use crate::tensor::Batch;
use crate::Result;

/// Accuracy of whichever kind the output's labels call for, as Keras' `"accuracy"`:
/// [`SparseCategoricalAccuracy`] with `ClassLabels`, [`BinaryAccuracy`] (threshold 0.5)
/// with `Targets<1>`, and [`CategoricalAccuracy`] with one-hot `Targets<C>`, `C > 1`.
///
/// The kind is picked at compile time from the label spec and the width, so it costs
/// what the picked metric costs. It is reported as `accuracy`, as Keras reports it.
///
/// ```
/// use feddx_runtime::prelude::*;
///
/// let dev = Cpu::default();
/// let logits: Batch<2> = dev.tensor_from_vec(vec![2.0, 0.0, 0.0, 1.0], (2, Const::<2>));
/// let mut sums = [0.0; 2];
/// Metric::<2, ClassLabels>::accumulate(&Accuracy, &logits, &vec![0, 0], &mut sums).unwrap();
/// assert_eq!(Accuracy.finalize(&sums), 0.5);
/// assert_eq!(Accuracy.name(), "accuracy");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accuracy;

/// Fraction of rows whose argmax is the integer label.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SparseCategoricalAccuracy;

/// Fraction of rows whose argmax is the argmax of the one-hot target.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CategoricalAccuracy;

/// Fraction of elements where `sigmoid(logit) > threshold` agrees with `target > 0.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryAccuracy {
    /// Probability above which a prediction counts as positive.
    pub threshold: f32,
}

/// `true positives / predicted positives` of a binary output.
///
/// With no predicted positive (nothing above the threshold, or nothing seen) the
/// ratio has an empty denominator and finalises to 0, not NaN, as Keras'
/// `Precision` does (`divide_no_nan`). That holds for merged states too: the
/// clients' sums are added first, so the value is 0 only if no client predicted a
/// positive.
///
/// ```
/// use feddx_runtime::prelude::*;
///
/// let dev = Cpu::default();
/// let logits: Batch<1> = dev.tensor_from_vec(vec![-2.0, -1.0], (2, Const::<1>));
/// let targets: Batch<1> = dev.tensor_from_vec(vec![1.0, 0.0], (2, Const::<1>));
/// let mut sums = [0.0; 2];
/// Metric::<1, Targets<1>>::accumulate(&Precision::default(), &logits, &targets, &mut sums)
///     .unwrap();
/// assert_eq!(Precision::default().finalize(&sums), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    /// Probability above which a prediction counts as positive.
    pub threshold: f32,
}

/// `true positives / actual positives` of a binary output.
///
/// With no actual positive (no target above 0.5, or nothing seen) the ratio has an
/// empty denominator and finalises to 0, not NaN, as Keras' `Recall` does
/// (`divide_no_nan`), merged states included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recall {
    /// Probability above which a prediction counts as positive.
    pub threshold: f32,
}

macro_rules! default_threshold {
    ($($t:ident),+) => {$(
        impl Default for $t {
            /// `threshold = 0.5`.
            fn default() -> Self {
                $t { threshold: 0.5 }
            }
        }
    )+};
}
default_threshold!(BinaryAccuracy, Precision, Recall);

macro_rules! ratio_kind {
    ($t:ident, $name:literal) => {
        ratio_kind!($t, $name, ratio);
    };
    ($t:ident, $name:literal, $finalize:ident) => {
        impl MetricKind for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn num_sums(&self) -> usize {
                2
            }
            fn finalize(&self, sums: &[f64]) -> f64 {
                $finalize(sums)
            }
        }
    };
}
ratio_kind!(Accuracy, "accuracy");
ratio_kind!(SparseCategoricalAccuracy, "sparse_categorical_accuracy");
ratio_kind!(CategoricalAccuracy, "categorical_accuracy");
ratio_kind!(BinaryAccuracy, "binary_accuracy");
ratio_kind!(Precision, "precision", ratio_or_zero);
ratio_kind!(Recall, "recall", ratio_or_zero);

/// Index of the largest value of each `width`-wide row (the first on ties).
fn argmax_rows(values: &[f32], width: usize) -> impl Iterator<Item = usize> + '_ {
    values.chunks_exact(width).map(|row| {
        row.iter()
            .enumerate()
            .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
    })
}

/// The logit above which `sigmoid(logit) > threshold`.
fn logit(threshold: f32) -> f32 {
    (threshold / (1.0 - threshold)).ln()
}

/// `(predicted positive, actually positive)` per element of a binary output.
fn decisions<const C: usize>(
    predictions: &Batch<C>,
    labels: &Batch<C>,
    threshold: f32,
) -> Result<Vec<(bool, bool)>> {
    check_rows(predictions.shape().0, labels.shape().0)?;
    let cut = logit(threshold);
    Ok(predictions
        .as_vec()
        .into_iter()
        .zip(labels.as_vec())
        .map(|(z, y)| (z > cut, y > 0.5))
        .collect())
}

impl<const C: usize> Metric<C, ClassLabels> for SparseCategoricalAccuracy {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Vec<usize>,
        sums: &mut [f64],
    ) -> Result<()> {
        check_rows(predictions.shape().0, labels.len())?;
        let values = predictions.as_vec();
        let correct = argmax_rows(&values, C)
            .zip(labels)
            .filter(|(p, y)| p == *y)
            .count();
        sums[0] += correct as f64;
        sums[1] += labels.len() as f64;
        Ok(())
    }
}

impl<const C: usize> Metric<C, Targets<C>> for CategoricalAccuracy {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Batch<C>,
        sums: &mut [f64],
    ) -> Result<()> {
        check_rows(predictions.shape().0, labels.shape().0)?;
        let (p, y) = (predictions.as_vec(), labels.as_vec());
        let correct = argmax_rows(&p, C)
            .zip(argmax_rows(&y, C))
            .filter(|(a, b)| a == b)
            .count();
        sums[0] += correct as f64;
        sums[1] += predictions.shape().0 as f64;
        Ok(())
    }
}

impl<const C: usize> Metric<C, Targets<C>> for BinaryAccuracy {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Batch<C>,
        sums: &mut [f64],
    ) -> Result<()> {
        let d = decisions(predictions, labels, self.threshold)?;
        sums[0] += d.iter().filter(|(p, y)| p == y).count() as f64;
        sums[1] += d.len() as f64;
        Ok(())
    }
}

impl<const C: usize> Metric<C, Targets<C>> for Precision {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Batch<C>,
        sums: &mut [f64],
    ) -> Result<()> {
        let d = decisions(predictions, labels, self.threshold)?;
        sums[0] += d.iter().filter(|&&(p, y)| p && y).count() as f64;
        sums[1] += d.iter().filter(|&&(p, _)| p).count() as f64;
        Ok(())
    }
}

impl<const C: usize> Metric<C, Targets<C>> for Recall {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Batch<C>,
        sums: &mut [f64],
    ) -> Result<()> {
        let d = decisions(predictions, labels, self.threshold)?;
        sums[0] += d.iter().filter(|&&(p, y)| p && y).count() as f64;
        sums[1] += d.iter().filter(|&&(_, y)| y).count() as f64;
        Ok(())
    }
}

impl<const C: usize> Metric<C, ClassLabels> for Accuracy {
    #[inline]
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Vec<usize>,
        sums: &mut [f64],
    ) -> Result<()> {
        SparseCategoricalAccuracy.accumulate(predictions, labels, sums)
    }
}

impl<const C: usize> Metric<C, Targets<C>> for Accuracy {
    #[inline]
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        labels: &Batch<C>,
        sums: &mut [f64],
    ) -> Result<()> {
        // `C` is a constant: the branch not taken is compiled away.
        if C == 1 {
            BinaryAccuracy::default().accumulate(predictions, labels, sums)
        } else {
            CategoricalAccuracy.accumulate(predictions, labels, sums)
        }
    }
}
