//! The estimator at the heart of a chain: the weighted mean or a robust estimate.

use super::{bulyan, krum, median, trimmed_mean};
use super::{Aggregator, Contribution, Estimator, RoundContext, Tally};
use crate::federated::aggregation::weighted_mean_into;
use crate::Result;

/// Combines the updates that reach it as its [`Estimator`] says.
///
/// The mean and Multi-Krum's mean of the kept updates use the updates' weights; the
/// median, trimmed mean, Krum and Bulyan count every update once, as their papers
/// and Flower's strategies do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate(pub Estimator);

impl Aggregator for Estimate {
    fn aggregate(
        &mut self,
        _round: &RoundContext,
        updates: Vec<Contribution>,
        out: &mut [f32],
        _tally: &mut Tally,
    ) -> Result<()> {
        let deltas: Vec<&[f32]> = updates.iter().map(|u| u.delta.as_slice()).collect();
        let weights = || updates.iter().map(|u| u.weight).collect::<Vec<f64>>();
        self.0.check_updates(deltas.len())?;
        match self.0 {
            Estimator::Mean => weighted_mean_into(&deltas, &weights(), out),
            Estimator::Median => median::coordinate_median_into(&deltas, out),
            Estimator::TrimmedMean { beta } => trimmed_mean::trimmed_mean_into(&deltas, beta, out),
            Estimator::Krum { f } => {
                let best = krum::multi_krum_select(&deltas, f, 1)?;
                out.copy_from_slice(deltas[best[0]]);
                Ok(())
            }
            Estimator::MultiKrum { f, m } => {
                let keep = m.unwrap_or(deltas.len() - f);
                let mut kept = krum::multi_krum_select(&deltas, f, keep)?;
                // The mean runs over the kept updates in the round's order, so its
                // bits do not depend on the order of the scores.
                kept.sort_unstable();
                let all = weights();
                let chosen: Vec<&[f32]> = kept.iter().map(|&i| deltas[i]).collect();
                let chosen_weights: Vec<f64> = kept.iter().map(|&i| all[i]).collect();
                weighted_mean_into(&chosen, &chosen_weights, out)
            }
            Estimator::Bulyan { f } => bulyan::bulyan_into(&deltas, f, out),
        }
    }
}
