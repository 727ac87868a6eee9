//! Aggregation: the weighted mean of the clients' model deltas.
//!
//! `Δ = Σ_k p_k Δ_k` with `p_k = w_k / Σ_j w_j`, the weights being the clients'
//! example counts (McMahan et al. 2017's `n_k / n`) or uniform. The mean is computed
//! in one pass over the deltas, chunk by chunk of the output, the chunks in parallel
//! with rayon. Within an element the sum runs over the clients in the order given,
//! so the result is the same bits whatever the number of threads.

use rayon::prelude::*;

use crate::{FeddxError, Result};

/// Output elements per chunk: 128 KiB of `f32`, which stays in the L2 cache while
/// every client's slice is added to it. The mean is memory-bound (100 deltas of 1M
/// values are 400 MB to read); see `benches/aggregation.rs`.
const CHUNK: usize = 32 * 1024;

/// How much each client's delta counts in the mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weighting {
    /// By the client's number of examples, `n_k` (FedAvg's weighting).
    #[default]
    ByExamples,
    /// Every client with at least one example counts the same.
    Uniform,
}

impl Weighting {
    /// The weight of a client holding `num_examples` examples; 0 for a client without
    /// any, whose delta is zero and would only drag a uniform mean towards it.
    pub fn weight(self, num_examples: usize) -> f64 {
        match (self, num_examples) {
            (_, 0) => 0.0,
            (Weighting::ByExamples, n) => n as f64,
            (Weighting::Uniform, _) => 1.0,
        }
    }
}

/// The weighted mean of `vectors`: `Σ_k (weights[k] / Σ_j weights[j]) vectors[k]`.
///
/// # Errors
/// As [`weighted_mean_into`].
pub fn weighted_mean(vectors: &[&[f32]], weights: &[f64]) -> Result<Vec<f32>> {
    let len = vectors.first().map_or(0, |v| v.len());
    let mut out = vec![0.0; len];
    weighted_mean_into(vectors, weights, &mut out)?;
    Ok(out)
}

/// Writes the weighted mean of `vectors` into `out`.
///
/// Weights are normalised to sum to one (in `f64`, then rounded to `f32`); vectors
/// of weight 0 are not read. Each element is `Σ_k p_k v_k` summed in `f32` over `k`
/// in order.
///
/// # Errors
/// [`FeddxError::NoUpdates`] for no vectors, [`FeddxError::WeightCountMismatch`],
/// [`FeddxError::UpdateLengthMismatch`] for a vector (or `out`) of another length than
/// the first vector, [`FeddxError::InvalidAggregationWeight`] for a negative or
/// non-finite weight, and [`FeddxError::ZeroTotalWeight`]. `out` is left alone then.
pub fn weighted_mean_into(vectors: &[&[f32]], weights: &[f64], out: &mut [f32]) -> Result<()> {
    if vectors.is_empty() {
        return Err(FeddxError::NoUpdates);
    }
    if weights.len() != vectors.len() {
        return Err(FeddxError::WeightCountMismatch {
            vectors: vectors.len(),
            weights: weights.len(),
        });
    }
    common_length(vectors, Some(out.len()))?;
    if let Some((index, &weight)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
    {
        return Err(FeddxError::InvalidAggregationWeight { index, weight });
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return Err(FeddxError::ZeroTotalWeight {
            updates: vectors.len(),
        });
    }
    let terms: Vec<(&[f32], f32)> = vectors
        .iter()
        .zip(weights)
        .filter(|(_, &w)| w > 0.0)
        .map(|(v, &w)| (*v, (w / total) as f32))
        .collect();
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| accumulate(chunk, i * CHUNK, &terms));
    Ok(())
}

/// The common length of `vectors`, checked against `out` when given.
///
/// # Errors
/// [`FeddxError::NoUpdates`] for no vectors, [`FeddxError::UpdateLengthMismatch`] for
/// a vector of another length than the first, or for an `out` of another length
/// (reported with `index` = the number of vectors, as
/// [`weighted_mean_into`] does). The aggregation kernels all check their inputs so.
pub(crate) fn common_length(vectors: &[&[f32]], out: Option<usize>) -> Result<usize> {
    let Some(first) = vectors.first() else {
        return Err(FeddxError::NoUpdates);
    };
    let len = first.len();
    if let Some((index, v)) = vectors.iter().enumerate().find(|(_, v)| v.len() != len) {
        return Err(FeddxError::UpdateLengthMismatch {
            index,
            expected: len,
            actual: v.len(),
        });
    }
    match out {
        Some(actual) if actual != len => Err(FeddxError::UpdateLengthMismatch {
            index: vectors.len(),
            expected: len,
            actual,
        }),
        _ => Ok(len),
    }
}

/// `out = Σ_k p_k v_k[start..start + out.len()]`, `k` in order.
///
/// Four clients are added per pass over the chunk, so the chunk is read and written
/// a quarter as often; each element still sums its terms one by one in client order.
fn accumulate(out: &mut [f32], start: usize, terms: &[(&[f32], f32)]) {
    let end = start + out.len();
    out.fill(0.0);
    let mut quads = terms.chunks_exact(4);
    for quad in &mut quads {
        let [(a, pa), (b, pb), (c, pc), (d, pd)] = [quad[0], quad[1], quad[2], quad[3]];
        let (a, b, c, d) = (
            &a[start..end],
            &b[start..end],
            &c[start..end],
            &d[start..end],
        );
        for (i, o) in out.iter_mut().enumerate() {
            let mut sum = *o;
            sum += pa * a[i];
            sum += pb * b[i];
            sum += pc * c[i];
            sum += pd * d[i];
            *o = sum;
        }
    }
    for &(v, p) in quads.remainder() {
        out.iter_mut()
            .zip(&v[start..end])
            .for_each(|(o, &x)| *o += p * x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_counts_weigh_one_and_three_as_a_quarter_and_three_quarters() {
        let a = [4.0, 0.0, -8.0];
        let b = [0.0, 4.0, 8.0];
        let w = [
            Weighting::ByExamples.weight(1),
            Weighting::ByExamples.weight(3),
        ];
        let mean = weighted_mean(&[&a, &b], &w).unwrap();
        assert_eq!(mean, vec![1.0, 3.0, 4.0]);
        let w = [Weighting::Uniform.weight(1), Weighting::Uniform.weight(3)];
        let mean = weighted_mean(&[&a, &b], &w).unwrap();
        assert_eq!(mean, vec![2.0, 2.0, 0.0]);
    }

    #[test]
    fn clients_without_examples_do_not_count() {
        assert_eq!(Weighting::Uniform.weight(0), 0.0);
        let mean = weighted_mean(&[&[2.0], &[0.0]], &[1.0, 0.0]).unwrap();
        assert_eq!(mean, vec![2.0]);
    }

    #[test]
    fn chunked_parallel_mean_matches_a_plain_loop_bit_for_bit() {
        let len = 3 * CHUNK + 17;
        let vectors: Vec<Vec<f32>> = (0..7)
            .map(|k| {
                (0..len)
                    .map(|i| ((i * 31 + k * 7) % 101) as f32 / 13.0 - 3.0)
                    .collect()
            })
            .collect();
        let weights: Vec<f64> = (0..7).map(|k| (k * 3 + 1) as f64).collect();
        let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let mean = weighted_mean(&refs, &weights).unwrap();
        let total: f64 = weights.iter().sum();
        for i in [0, CHUNK - 1, CHUNK, len - 1] {
            let mut e = 0.0f32;
            for (v, w) in vectors.iter().zip(&weights) {
                e += (w / total) as f32 * v[i];
            }
            assert_eq!(mean[i].to_bits(), e.to_bits());
        }
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| weighted_mean(&refs, &weights).unwrap());
        assert_eq!(single, mean);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a: &[f32] = &[1.0, 2.0];
        let b: &[f32] = &[1.0];
        assert_eq!(weighted_mean(&[], &[]).unwrap_err(), FeddxError::NoUpdates);
        assert_eq!(
            weighted_mean(&[a], &[1.0, 2.0]).unwrap_err(),
            FeddxError::WeightCountMismatch {
                vectors: 1,
                weights: 2
            }
        );
        assert_eq!(
            weighted_mean(&[a, b], &[1.0, 1.0]).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 1,
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(
            weighted_mean(&[a, a], &[1.0, -1.0]).unwrap_err(),
            FeddxError::InvalidAggregationWeight {
                index: 1,
                weight: -1.0
            }
        );
        assert_eq!(
            weighted_mean(&[a, a], &[0.0, 0.0]).unwrap_err(),
            FeddxError::ZeroTotalWeight { updates: 2 }
        );
        let mut out = [0.0; 3];
        assert_eq!(
            weighted_mean_into(&[a], &[1.0], &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 1,
                expected: 2,
                actual: 3
            }
        );
    }
}
