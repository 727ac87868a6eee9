//! What the coordinate-wise kernels share: the shape checks, and a blocked transpose
//! that hands the `n` values of each coordinate to a function, blocks in parallel.

use rayon::prelude::*;

use crate::{FeddxError, Result};

/// Coordinates per block. A block's transpose, `BLOCK x n` values (100 KiB for 100
/// clients), stays in the L2 cache while each of its coordinates is reduced.
pub(super) const BLOCK: usize = 256;

/// The common length of `vectors`, checked against `out` when given.
///
/// # Errors
/// [`FeddxError::NoUpdates`] for no vectors, [`FeddxError::UpdateLengthMismatch`] for
/// a vector of another length than the first, or for an `out` of another length
/// (reported with `index` = the number of vectors, as
/// [`weighted_mean_into`](crate::federated::weighted_mean_into) does).
pub(super) fn common_length(vectors: &[&[f32]], out: Option<usize>) -> Result<usize> {
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

/// `out[i] = reduce(state, column)` for every coordinate `i`, where `column` holds
/// `vectors[k][i]` for `k` in order (`reduce` may reorder it).
///
/// Blocks of [`BLOCK`] coordinates run in parallel, each worker with its own
/// `init()` state; a coordinate's column is the same whatever the block or thread,
/// so the result is the same bits on any number of threads. `vectors` must be
/// non-empty and as long as `out` ([`common_length`]).
pub(super) fn for_each_coordinate<S, I, R>(vectors: &[&[f32]], out: &mut [f32], init: I, reduce: R)
where
    I: Fn() -> S + Sync + Send,
    R: Fn(&mut S, &mut [f32]) -> f32 + Sync + Send,
{
    let n = vectors.len();
    out.par_chunks_mut(BLOCK).enumerate().for_each_init(
        || (vec![0.0f32; BLOCK * n], init()),
        |(columns, state), (block, out)| {
            let start = block * BLOCK;
            transpose(vectors, start, out.len(), n, columns);
            for (o, column) in out.iter_mut().zip(columns.chunks_exact_mut(n)) {
                *o = reduce(state, column);
            }
        },
    );
}

/// `columns[c * stride + k] = vectors[k][start + c]` for `c < len`; `stride` is at
/// least `vectors.len()`, and the values in between are left alone.
///
/// Each vector's `len` values are read in one contiguous run; the writes stride by
/// `stride` within the block's scratch, which is cache-resident.
pub(super) fn transpose(
    vectors: &[&[f32]],
    start: usize,
    len: usize,
    stride: usize,
    columns: &mut [f32],
) {
    for (k, v) in vectors.iter().enumerate() {
        for (c, &x) in v[start..start + len].iter().enumerate() {
            columns[c * stride + k] = x;
        }
    }
}

/// The mean of `values`, summed in `f64` in slice order and rounded once to `f32`.
///
/// The `f64` sum of a few hundred `f32` whose magnitudes lie within a factor `2^20`
/// of each other is exact, so it does not depend on the order of `values`; past that
/// it may, in the last bits only.
pub(super) fn mean(values: &[f32]) -> f32 {
    let sum: f64 = values.iter().map(|&x| f64::from(x)).sum();
    (sum / values.len() as f64) as f32
}
