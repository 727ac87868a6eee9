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

    /// Whether the value named `name` is a count of things, shown as an integer:
    /// `num_examples`, `num_batches`, and any name whose last `/`-separated part
    /// starts with `num_` (such as `digit/num_positives`).
    ///
    /// ```
    /// use feddx_runtime::MetricValues;
    ///
    /// assert!(MetricValues::is_count("num_examples"));
    /// assert!(MetricValues::is_count("digit/num_batches"));
    /// assert!(!MetricValues::is_count("sparse_categorical_accuracy"));
    /// ```
    pub fn is_count(name: &str) -> bool {
        let last = name.rsplit('/').next().unwrap_or(name);
        last.starts_with("num_")
    }
}

impl fmt::Display for MetricValues {
    /// `loss=0.1234 num_examples=480 num_batches=24 sparse_categorical_accuracy=0.9125`:
    /// counts ([`is_count`](Self::is_count)) as integers, every other value with
    /// four decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if Self::is_count(n) && v.is_finite() && v.fract() == 0.0 {
                write!(f, "{n}={v:.0}")?;
            } else {
                write!(f, "{n}={v:.4}")?;
            }
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
    fn display_shows_counts_as_integers_and_other_values_with_four_decimals() {
        let mut v = MetricValues::default();
        v.push("loss", 0.5);
        v.push("num_examples", 480.0);
        v.push("num_batches", 24.0);
        v.push("sparse_categorical_accuracy", 1.0);
        v.push("parity/num_positives", 7.0);
        v.push("mean", 3.0);
        assert_eq!(
            v.to_string(),
            "loss=0.5000 num_examples=480 num_batches=24 sparse_categorical_accuracy=1.0000 \
             parity/num_positives=7 mean=3.0000"
        );
        // A count that is not whole (never made by feddx) keeps its decimals.
        let mut odd = MetricValues::default();
        odd.push("num_examples", 2.5);
        odd.push("num_batches", f64::NAN);
        assert_eq!(odd.to_string(), "num_examples=2.5000 num_batches=NaN");
    }

    #[test]
    fn merging_different_layouts_is_an_error() {
        let mut a = MetricsState::new(2);
        let err = a.merge(&MetricsState::new(3)).unwrap_err();
        assert_eq!(err, FeddxError::MetricLayoutMismatch { left: 2, right: 3 });
    }
}
