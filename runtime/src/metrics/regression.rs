//! Regression metrics: squared and absolute error (shared with the losses), and the mean.

use dfdx::shapes::HasShape;

use super::{ratio, Metric, MetricKind};
use crate::losses::{check_rows, MeanAbsoluteError, MeanSquaredError};
use crate::spec::{LabelSpec, Targets};
use crate::tensor::Batch;
use crate::Result;

/// Mean of the output's predictions over every element, whatever the labels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean;

macro_rules! elementwise_error {
    ($t:ident, $name:literal, |$e:ident| $f:expr) => {
        impl MetricKind for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn num_sums(&self) -> usize {
                2
            }
            fn finalize(&self, sums: &[f64]) -> f64 {
                ratio(sums)
            }
        }

        impl<const C: usize> Metric<C, Targets<C>> for $t {
            fn accumulate(&self, predictions: &Batch<C>, labels: &Batch<C>, sums: &mut [f64]) -> Result<()> {
                check_rows(predictions.shape().0, labels.shape().0)?;
                let (p, y) = (predictions.as_vec(), labels.as_vec());
                sums[0] += p.iter().zip(&y).map(|(a, b)| { let $e = f64::from(a - b); $f }).sum::<f64>();
                sums[1] += p.len() as f64;
                Ok(())
            }
        }
    };
}
elementwise_error!(MeanSquaredError, "mean_squared_error", |e| e * e);
elementwise_error!(MeanAbsoluteError, "mean_absolute_error", |e| e.abs());

impl MetricKind for Mean {
    fn name(&self) -> &'static str {
        "mean"
    }
    fn num_sums(&self) -> usize {
        2
    }
    fn finalize(&self, sums: &[f64]) -> f64 {
        ratio(sums)
    }
}

impl<const C: usize, Y: LabelSpec> Metric<C, Y> for Mean {
    fn accumulate(
        &self,
        predictions: &Batch<C>,
        _labels: &Y::Batch,
        sums: &mut [f64],
    ) -> Result<()> {
        let p = predictions.as_vec();
        sums[0] += p.iter().map(|&v| f64::from(v)).sum::<f64>();
        sums[1] += p.len() as f64;
        Ok(())
    }
}
