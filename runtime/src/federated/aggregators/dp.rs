//! DP-FedAvg's noised mean: the sum of clipped updates, Gaussian noise, a fixed denominator.

use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::{Aggregator, Contribution, RoundContext, Tally};
use crate::federated::aggregation::weighted_mean_into;
use crate::federated::NoiseKey;
use crate::Result;

/// Coordinates per block of noise: each block draws from its own stream of the
/// round's key, so the noise is the same bits whatever the number of threads.
const BLOCK: usize = 32 * 1024;

/// The Gaussian mechanism of DP-FedAvg (McMahan et al. 2018): with every update
/// already clipped to norm `C` (by a [`Clip`](super::Clip) around it),
/// `Δ = (Σ_k Δ_k + N(0, (z C)² I)) / n`, where `n` is the number of clients a round
/// samples on average ([`RoundContext::expected_clients`]: the count, or `q N` for
/// Poisson sampling) — the fixed denominator, which does not reveal how many updates
/// arrived. The noise is drawn from ChaCha20 keyed with the round's
/// [`noise_key`](RoundContext::noise_key), secret unless the run opted out of privacy.
///
/// Each update counts once, whatever its example count: weighting by examples would
/// let one client move the sum by more than `C`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpMean {
    /// `z`, the noise's standard deviation as a multiple of the clipping norm.
    pub noise_multiplier: f64,
    /// `C`, the norm the updates were clipped to.
    pub clip_norm: f32,
}

impl Aggregator for DpMean {
    fn aggregate(
        &mut self,
        round: &RoundContext,
        updates: Vec<Contribution>,
        out: &mut [f32],
        _tally: &mut Tally,
    ) -> Result<()> {
        let deltas: Vec<&[f32]> = updates.iter().map(|u| u.delta.as_slice()).collect();
        // The mean of the k updates that arrived, times k / n: their sum over n. A
        // round that sampled nobody releases the noise alone.
        let n = round.expected_clients;
        if deltas.is_empty() {
            out.fill(0.0);
        } else {
            weighted_mean_into(&deltas, &vec![1.0; deltas.len()], out)?;
            let scale = (deltas.len() as f64 / n) as f32;
            if scale != 1.0 {
                out.iter_mut().for_each(|v| *v *= scale);
            }
        }
        let stddev = (self.noise_multiplier * f64::from(self.clip_norm) / n) as f32;
        if stddev > 0.0 {
            add_gaussian_noise(out, stddev, &round.noise_key);
        }
        Ok(())
    }
}

/// Adds `N(0, stddev²)` to every value of `out`, block by block in parallel, each
/// block from its own stream (the block's index) of ChaCha20 keyed with `key`.
pub(crate) fn add_gaussian_noise(out: &mut [f32], stddev: f32, key: &NoiseKey) {
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(block, values)| {
            let mut rng = key.generator(block as u64);
            for v in values {
                let z: f32 = StandardNormal.sample(&mut rng);
                *v += stddev * z;
            }
        });
}
