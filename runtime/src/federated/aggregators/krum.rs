//! Krum and Multi-Krum: the updates closest to their nearest neighbours.
//!
//! Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine Learning with Adversaries:
//! Byzantine Tolerant Gradient Descent", NeurIPS 2017. With `n` updates of which up
//! to `f` are Byzantine, and `n >= 2f + 3` (the paper's `2f + 2 < n`), the score of
//! update `i` is the sum of its squared Euclidean distances to its `n - f - 2`
//! nearest other updates; Krum picks the update of lowest score, Multi-Krum the `m`
//! of lowest scores (and averages them). Flower's `Krum` strategy
//! (`aggregate_krum`) computes the same scores.
//!
//! The cost is in [`pairwise_squared_distances`]: `n (n - 1) / 2` distances over
//! `d` coordinates. They are computed block by block of coordinates, so that each
//! block of all `n` vectors is read from memory once and stays in the cache while
//! every pair is computed on it; blocks run in parallel with rayon.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::coordinates::{common_length, transpose};
use crate::federated::ConfigError;
use crate::Result;

/// Coordinates over which a pair's squared differences are summed in `f32`, one after
/// the other, before the sum is added in `f64`. A run of all `n` vectors, transposed
/// (25 KiB for 100 clients), stays in the L1 cache while every pair is computed on it.
const RUN: usize = 64;

/// Pairs whose sums are computed together, one SSE register: the transposed runs
/// are padded to a multiple of it.
const GROUP: usize = 4;

/// Coordinates per parallel task (512 runs): each task adds its runs into its own
/// `n x n` matrix, and the tasks' matrices are added in order.
const CHUNK: usize = 32 * 1024;

/// Bytes of per-task matrices held at once: tasks run in batches of at most this
/// much, a whole 1M-coordinate vector's worth of tasks for 100 clients.
const BATCH_BYTES: usize = 64 << 20;

/// The squared Euclidean distances between all pairs of `vectors`, as an `n x n`
/// row-major matrix: `out[i * n + j] = Σ_c (vectors[i][c] - vectors[j][c])²`.
///
/// The matrix is symmetric to the bit with a zero diagonal. Each distance is summed
/// in a fixed order: the squared differences in `f32` over runs of 64 coordinates,
/// one after the other, and the runs' sums in `f64` in order, so that a distance's
/// relative error stays around `1e-6`. The result is the same bits whatever the
/// number of rayon threads.
///
/// # Errors
/// [`FeddxError::NoUpdates`](crate::FeddxError::NoUpdates) for no vectors,
/// [`FeddxError::UpdateLengthMismatch`](crate::FeddxError::UpdateLengthMismatch) for a
/// vector of another length than the first.
pub fn pairwise_squared_distances(vectors: &[&[f32]]) -> Result<Vec<f64>> {
    let len = common_length(vectors, None)?;
    let n = vectors.len();
    let mut total = vec![0.0f64; n * n];
    let chunks: Vec<usize> = (0..len).step_by(CHUNK).collect();
    let batch = (BATCH_BYTES / (n * n * std::mem::size_of::<f64>())).max(1);
    for starts in chunks.chunks(batch) {
        let partials: Vec<Vec<f64>> = starts
            .par_iter()
            .map(|&start| chunk_distances(vectors, start, (start + CHUNK).min(len)))
            .collect();
        // Added in the order of the coordinates, whichever thread computed them.
        for partial in &partials {
            for (t, p) in total.iter_mut().zip(partial) {
                *t += p;
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            total[i * n + j] = total[j * n + i];
        }
    }
    Ok(total)
}

/// The distances over coordinates `start..end`, in the upper triangle of an `n x n`
/// matrix (the rest is zero).
///
/// Run by run, the vectors are transposed so that a coordinate's `n` values are
/// contiguous (padded with zeros to a multiple of [`GROUP`]); then for each `i`, the
/// squared differences to every `j > i` are added to running sums for all those `j`
/// at once, a loop over contiguous `j` that the compiler vectorises. The loop starts at
/// the group holding `i + 1` and runs to the padded end, computing a few sums that are
/// not needed, so that it has no scalar remainder. Each sum adds its coordinates one
/// after the other.
fn chunk_distances(vectors: &[&[f32]], start: usize, end: usize) -> Vec<f64> {
    let n = vectors.len();
    let stride = n.div_ceil(GROUP) * GROUP;
    let mut sums = vec![0.0f64; n * n];
    let mut columns = vec![0.0f32; RUN * stride];
    let mut run_sums = vec![0.0f32; stride];
    for run_start in (start..end).step_by(RUN) {
        let len = RUN.min(end - run_start);
        transpose(vectors, run_start, len, stride, &mut columns);
        let columns = &columns[..len * stride];
        for i in 0..n {
            let first = (i + 1) / GROUP * GROUP;
            let run_sums = &mut run_sums[first..];
            run_sums.fill(0.0);
            let mut eights = columns.chunks_exact(8 * stride);
            for eight in &mut eights {
                let c: [&[f32]; 8] = std::array::from_fn(|k| &eight[k * stride..(k + 1) * stride]);
                add_eight_squared_differences(run_sums, c.map(|c| c[i]), c.map(|c| &c[first..]));
            }
            for c in eights.remainder().chunks_exact(stride) {
                add_squared_differences(run_sums, c[i], &c[first..]);
            }
            let row = &mut sums[i * n + i + 1..(i + 1) * n];
            for (total, &s) in row.iter_mut().zip(&run_sums[i + 1 - first..]) {
                *total += f64::from(s);
            }
        }
    }
    sums
}

/// `sums[j] += (x[0] - ys[0][j])² + ... + (x[7] - ys[7][j])²`, added one after the
/// other, for every `j` (each of `ys` at least as long as `sums`).
///
/// Not inlined: as a function of its own, `sums` cannot alias `ys`, and the loop is
/// vectorised without run-time overlap checks. Eight coordinates per pass load and
/// store each sum once for eight squared differences.
#[inline(never)]
fn add_eight_squared_differences(sums: &mut [f32], x: [f32; 8], ys: [&[f32]; 8]) {
    let [y0, y1, y2, y3, y4, y5, y6, y7] = ys;
    let ys = (y0.iter().zip(y1).zip(y2).zip(y3)).zip(y4.iter().zip(y5).zip(y6).zip(y7));
    for (s, ((((&y0, &y1), &y2), &y3), (((&y4, &y5), &y6), &y7))) in sums.iter_mut().zip(ys) {
        let (d0, d1, d2, d3) = (x[0] - y0, x[1] - y1, x[2] - y2, x[3] - y3);
        let (d4, d5, d6, d7) = (x[4] - y4, x[5] - y5, x[6] - y6, x[7] - y7);
        let low = *s + d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
        *s = low + d4 * d4 + d5 * d5 + d6 * d6 + d7 * d7;
    }
}

/// `sums[j] += (x - ys[j])²` for every `j`, as [`add_eight_squared_differences`].
#[inline(never)]
fn add_squared_differences(sums: &mut [f32], x: f32, ys: &[f32]) {
    for (s, &y) in sums.iter_mut().zip(ys) {
        let d = x - y;
        *s += d * d;
    }
}

/// Krum's score of each of `vectors`: the sum of its squared distances to its
/// `n - f - 2` nearest other vectors (Blanchard et al. 2017).
///
/// A vector's distances are summed in ascending order, in `f64`. The nearest are
/// taken among the *other* vectors (by index: a duplicate of a vector counts as a
/// neighbour at distance 0); a NaN distance counts as the farthest. Flower's `aggregate_krum` computes the same scores.
///
/// ```
/// use feddx_runtime::federated::aggregators::krum_scores;
///
/// let vectors: Vec<[f32; 1]> = [0.0, 1.0, 2.0, 3.0, 10.0].map(|x| [x]).to_vec();
/// let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
/// // n = 5, f = 1: the 2 nearest others.
/// assert_eq!(krum_scores(&refs, 1).unwrap(), vec![5.0, 2.0, 2.0, 5.0, 113.0]);
/// ```
///
/// # Errors
/// [`FeddxError::NoUpdates`](crate::FeddxError::NoUpdates) and
/// [`FeddxError::UpdateLengthMismatch`](crate::FeddxError::UpdateLengthMismatch) as
/// [`pairwise_squared_distances`]; then [`ConfigError::TooManyByzantine`] (as
/// [`FeddxError::Config`](crate::FeddxError::Config)) unless `n >= 2f + 3`.
pub fn krum_scores(vectors: &[&[f32]], f: usize) -> Result<Vec<f64>> {
    common_length(vectors, None)?;
    check_krum_bound("Krum", vectors.len(), f)?;
    let n = vectors.len();
    let distances = pairwise_squared_distances(vectors)?;
    let all: Vec<usize> = (0..n).collect();
    Ok(scores_within(&distances, n, &all, n - f - 2))
}

/// The indices of the `m` vectors of lowest Krum score, lowest first, ties broken by
/// the lower index: Multi-Krum's selection (Blanchard et al. 2017), whose mean is
/// Multi-Krum's aggregate; `m = 1` is Krum.
///
/// `m` must be in `1..=n - f`. The paper defines Multi-Krum for any `m` up to `n`
/// (`m = n` is the plain mean) and evaluates it with `m = n - f`; more than `n - f`
/// would select at least one of `f` Byzantine updates whatever their values, so it is
/// rejected. (Flower's `Krum` does not check `num_clients_to_keep`.)
///
/// ```
/// use feddx_runtime::federated::aggregators::multi_krum_select;
///
/// let vectors: Vec<[f32; 2]> = vec![[0.0, 0.0], [50.0, 50.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
/// let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
/// assert_eq!(multi_krum_select(&refs, 1, 1).unwrap(), vec![0]);
/// assert_eq!(multi_krum_select(&refs, 1, 4).unwrap(), vec![0, 2, 3, 4]);
/// ```
///
/// # Errors
/// As [`krum_scores`] (the aggregator named `Krum` for `m = 1`, else `Multi-Krum`);
/// then [`ConfigError::KrumSelectionOutOfRange`] for `m` outside `1..=n - f`.
pub fn multi_krum_select(vectors: &[&[f32]], f: usize, m: usize) -> Result<Vec<usize>> {
    common_length(vectors, None)?;
    let n = vectors.len();
    check_krum_bound(if m == 1 { "Krum" } else { "Multi-Krum" }, n, f)?;
    if !(1..=n - f).contains(&m) {
        return Err(ConfigError::KrumSelectionOutOfRange { m, maximum: n - f }.into());
    }
    let scores = krum_scores(vectors, f)?;
    Ok(lowest(&scores, m))
}

/// `Err(TooManyByzantine)` unless `n >= 2f + 3`.
fn check_krum_bound(aggregator: &'static str, n: usize, f: usize) -> Result<()> {
    let minimum = f.saturating_mul(2).saturating_add(3);
    if n < minimum {
        return Err(ConfigError::TooManyByzantine {
            aggregator,
            f,
            clients: n,
            minimum,
        }
        .into());
    }
    Ok(())
}

/// `total_cmp`, except that every NaN (of either sign) comes after every number, so
/// that a NaN distance or score is never among the lowest.
fn nan_last(a: f64, b: f64) -> Ordering {
    a.is_nan().cmp(&b.is_nan()).then(a.total_cmp(&b))
}

/// Krum's scores of the members of `set` (indices into the `n x n` `distances`),
/// counting the `neighbours` nearest other members, in the order of `set`.
/// `neighbours < set.len()`.
pub(super) fn scores_within(
    distances: &[f64],
    n: usize,
    set: &[usize],
    neighbours: usize,
) -> Vec<f64> {
    let mut row = Vec::with_capacity(set.len());
    set.iter()
        .map(|&i| {
            row.clear();
            row.extend(
                set.iter()
                    .filter(|&&j| j != i)
                    .map(|&j| distances[i * n + j]),
            );
            row.sort_unstable_by(|a, b| nan_last(*a, *b));
            row[..neighbours].iter().sum()
        })
        .collect()
}

/// The positions of the `m` lowest `scores`, lowest first, ties by lower position.
pub(super) fn lowest(scores: &[f64], m: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Stable: equal scores keep their order of positions.
    order.sort_by(|&a, &b| nan_last(scores[a], scores[b]));
    order.truncate(m);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeddxError;

    fn refs(vectors: &[Vec<f32>]) -> Vec<&[f32]> {
        vectors.iter().map(Vec::as_slice).collect()
    }

    /// Five points of the plane: a unit square and a far outlier.
    fn square_and_outlier() -> Vec<Vec<f32>> {
        vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![0.0, 2.0],
            vec![1.0, 2.0],
            vec![10.0, 0.0],
        ]
    }

    #[test]
    fn distances_of_a_small_example() {
        let v = square_and_outlier();
        let d = pairwise_squared_distances(&refs(&v)).unwrap();
        #[rustfmt::skip]
        let expected = vec![
              0.0,  1.0,  4.0,  5.0, 100.0,
              1.0,  0.0,  5.0,  4.0,  81.0,
              4.0,  5.0,  0.0,  1.0, 104.0,
              5.0,  4.0,  1.0,  0.0,  85.0,
            100.0, 81.0, 104.0, 85.0,  0.0,
        ];
        assert_eq!(d, expected);
    }

    #[test]
    fn krum_scores_of_a_hand_computed_example() {
        // n = 5, f = 1: each score sums the 2 smallest distances to the others.
        // 0: {1, 4, 5, 100} -> 1 + 4;  1: {1, 5, 4, 81} -> 1 + 4;
        // 2: {4, 5, 1, 104} -> 1 + 4;  3: {5, 4, 1, 85} -> 1 + 4;
        // 4: {100, 81, 104, 85} -> 81 + 85.
        let v = square_and_outlier();
        let scores = krum_scores(&refs(&v), 1).unwrap();
        assert_eq!(scores, vec![5.0, 5.0, 5.0, 5.0, 166.0]);
        // All four square corners tie: Krum takes the lowest index.
        assert_eq!(multi_krum_select(&refs(&v), 1, 1).unwrap(), vec![0]);
        // f = 0: the 3 nearest.  0: 1 + 4 + 5, 4: 81 + 85 + 100.
        let scores = krum_scores(&refs(&v), 0).unwrap();
        assert_eq!(scores, vec![10.0, 10.0, 10.0, 10.0, 266.0]);
    }

    #[test]
    fn ties_are_broken_by_the_lower_index() {
        // Points on a line: 3 and 1 are both at the centre of the same spread.
        let v: Vec<Vec<f32>> = [5.0, 1.0, 0.0, 1.0, 2.0, 9.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        let scores = krum_scores(&refs(&v), 1).unwrap();
        // n - f - 2 = 3 nearest: 1 and 3 are duplicates, {0, 1, 1} -> 2 each.
        assert_eq!(scores[1], scores[3]);
        assert_eq!(multi_krum_select(&refs(&v), 1, 1).unwrap(), vec![1]);
        assert_eq!(multi_krum_select(&refs(&v), 1, 2).unwrap(), vec![1, 3]);
        let reversed: Vec<Vec<f32>> = v.iter().rev().cloned().collect();
        assert_eq!(
            multi_krum_select(&refs(&reversed), 1, 2).unwrap(),
            vec![2, 4]
        );
    }

    #[test]
    fn multi_krum_picks_the_cluster_and_leaves_the_outliers() {
        // Seven updates near (1, 1, 1) and two attackers far away in opposite ways.
        let mut v: Vec<Vec<f32>> = (0..7)
            .map(|k| {
                let e = (k as f32 - 3.0) * 0.01;
                vec![1.0 + e, 1.0 - e, 1.0 + e * e]
            })
            .collect();
        v.insert(2, vec![100.0, -100.0, 100.0]);
        v.push(vec![-30.0, 40.0, 0.0]);
        let selected = multi_krum_select(&refs(&v), 2, 7).unwrap();
        let mut sorted = selected.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 3, 4, 5, 6, 7]);
        // Lowest scores first: the three middle points of the cluster (k = 2, 3, 4, now
        // at 3, 4, 5), whose 5 nearest are 1, 1, 2, 2 and 3 steps away.
        let mut first = selected[..3].to_vec();
        first.sort_unstable();
        assert_eq!(first, vec![3, 4, 5]);
        let scores = krum_scores(&refs(&v), 2).unwrap();
        assert!(selected.windows(2).all(|w| scores[w[0]] <= scores[w[1]]));
    }

    #[test]
    fn too_many_byzantine_clients_are_a_config_error_with_the_minimum() {
        let v = square_and_outlier();
        let err = krum_scores(&refs(&v), 2).unwrap_err();
        assert_eq!(
            err,
            FeddxError::Config(ConfigError::TooManyByzantine {
                aggregator: "Krum",
                f: 2,
                clients: 5,
                minimum: 7
            })
        );
        assert_eq!(
            err.to_string(),
            "Krum tolerating `f = 2` Byzantine clients needs at least `7` updates, got `5`"
        );
        assert_eq!(
            multi_krum_select(&refs(&v[..2]), 0, 2).unwrap_err(),
            FeddxError::Config(ConfigError::TooManyByzantine {
                aggregator: "Multi-Krum",
                f: 0,
                clients: 2,
                minimum: 3
            })
        );
        assert!(krum_scores(&refs(&v), usize::MAX).is_err());
        // n = 2f + 3 is enough.
        assert!(krum_scores(&refs(&v), 1).is_ok());
    }

    #[test]
    fn multi_krum_selects_between_one_and_n_minus_f() {
        let v = square_and_outlier();
        for m in [0, 5] {
            assert_eq!(
                multi_krum_select(&refs(&v), 1, m).unwrap_err(),
                FeddxError::Config(ConfigError::KrumSelectionOutOfRange { m, maximum: 4 })
            );
        }
        assert_eq!(
            FeddxError::from(ConfigError::KrumSelectionOutOfRange { m: 5, maximum: 4 }).to_string(),
            "Multi-Krum must select between 1 and n - f = `4` updates, got `m = 5`"
        );
        assert_eq!(
            multi_krum_select(&refs(&v), 1, 4).unwrap(),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(
            pairwise_squared_distances(&[]).unwrap_err(),
            FeddxError::NoUpdates
        );
        assert_eq!(krum_scores(&[], 0).unwrap_err(), FeddxError::NoUpdates);
        let a: &[f32] = &[1.0, 2.0];
        let b: &[f32] = &[1.0];
        assert_eq!(
            multi_krum_select(&[a, a, a, b], 0, 1).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 3,
                expected: 2,
                actual: 1
            }
        );
    }

    #[test]
    fn nan_and_infinities_do_not_panic() {
        let v = vec![
            vec![0.0, 1.0],
            vec![f32::NAN, 1.0],
            vec![0.0, f32::INFINITY],
            vec![0.5, 1.0],
            vec![0.0, 1.5],
        ];
        let selected = multi_krum_select(&refs(&v), 1, 3).unwrap();
        assert_eq!(selected, vec![0, 3, 4]);
    }

    /// Vectors long enough for several tasks and a tail shorter than a run.
    fn long_vectors(n: usize) -> Vec<Vec<f32>> {
        let len = 2 * CHUNK + RUN + 5;
        (0..n)
            .map(|k| {
                (0..len)
                    .map(|i| ((i * 29 + k * k * 13) % 97) as f32 / 31.0 - 1.5)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn blocked_parallel_distances_are_symmetric_and_match_one_thread_bit_for_bit() {
        let v = long_vectors(9);
        let r = refs(&v);
        let run = |threads| {
            crate::federated::aggregators::on_threads(threads, || {
                pairwise_squared_distances(&r).unwrap()
            })
        };
        let (one, two) = (run(1), run(2));
        let bits = |d: &[f64]| d.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two));
        let n = v.len();
        for i in 0..n {
            assert_eq!(one[i * n + i], 0.0);
            for j in 0..n {
                assert_eq!(one[i * n + j].to_bits(), one[j * n + i].to_bits());
                let exact: f64 = v[i]
                    .iter()
                    .zip(&v[j])
                    .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                    .sum();
                assert!(
                    (one[i * n + j] - exact).abs() <= 1e-5 * exact,
                    "{i} {j}: {} vs {exact}",
                    one[i * n + j]
                );
            }
        }
        let scores = |threads| {
            crate::federated::aggregators::on_threads(threads, || krum_scores(&r, 2).unwrap())
        };
        assert_eq!(bits(&scores(1)), bits(&scores(2)));
    }
}
