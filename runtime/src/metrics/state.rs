//! The mergeable state of a model's metrics and its finalised values.

use std::fmt;

use crate::{FeddxError, Result};

/// Unfinalised sums of a model's metrics: loss, counts, and each metric's sums.
///
/// Update it batch by batch with [`FederatedModel::update_metrics`](crate::FederatedModel::update_metrics),
/// [`merge`](Self::merge) states from different clients, and finalise once with
/// [`FederatedModel::finalize_metrics`](crate::FederatedModel::finalize_metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsState {
    /// Sum over batches of `mean batch loss * batch size`.
    pub loss_sum: f64,
    /// Examples seen.
    pub num_examples: u64,
    /// Batches seen.
    pub num_batches: u64,
    /// Every metric's sums, one after the other in declaration order.
    pub sums: Vec<f64>,
}

impl MetricsState {
    /// An empty state with room for `num_sums` metric sums.
    pub fn new(num_sums: usize) -> Self {
        MetricsState {
            loss_sum: 0.0,
            num_examples: 0,
            num_batches: 0,
            sums: vec![0.0; num_sums],
        }
    }

    /// Records one batch's mean loss and size.
    pub fn record_batch(&mut self, mean_loss: f32, num_examples: usize) {
        self.loss_sum += f64::from(mean_loss) * num_examples as f64;
        self.num_examples += num_examples as u64;
        self.num_batches += 1;
    }

    /// Adds another state's sums to this one.
    ///
    /// # Errors
    /// [`FeddxError::MetricLayoutMismatch`] if the states come from different models.
    pub fn merge(&mut self, other: &MetricsState) -> Result<()> {
        if self.sums.len() != other.sums.len() {
            return Err(FeddxError::MetricLayoutMismatch {
                left: self.sums.len(),
                right: other.sums.len(),
            });
        }
        self.loss_sum += other.loss_sum;
        self.num_examples += other.num_examples;
        self.num_batches += other.num_batches;
        self.sums
            .iter_mut()
            .zip(&other.sums)
            .for_each(|(a, b)| *a += b);
        Ok(())
    }

    /// The example-weighted mean loss (NaN before any example).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.num_examples as f64
    }
}

/// Finalised metric values, in a fixed order: `loss`, `num_examples`, `num_batches`,
/// then each metric (`output/metric` when the model has several outputs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricValues {
    entries: Vec<(String, f64)>,
}

impl MetricValues {
    /// Appends a named value.
    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.entries.push((name.into(), value));
    }

    /// The value named `name`, if any.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }

    /// All `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
}

impl fmt::Display for MetricValues {
    /// `loss=0.1234 num_examples=10 ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{n}={v:.4}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_every_sum() {
        let mut a = MetricsState::new(2);
        a.record_batch(1.0, 2);
        a.sums.copy_from_slice(&[1.0, 2.0]);
        let mut b = MetricsState::new(2);
        b.record_batch(4.0, 1);
        b.sums.copy_from_slice(&[0.0, 1.0]);
        a.merge(&b).unwrap();
        assert_eq!(a.num_examples, 3);
        assert_eq!(a.num_batches, 2);
        assert_eq!(a.sums, vec![1.0, 3.0]);
        assert!((a.mean_loss() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn merging_different_layouts_is_an_error() {
        let mut a = MetricsState::new(2);
        let err = a.merge(&MetricsState::new(3)).unwrap_err();
        assert_eq!(err, FeddxError::MetricLayoutMismatch { left: 2, right: 3 });
    }
}
