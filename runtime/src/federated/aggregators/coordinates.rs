//! What the coordinate-wise kernels share: the shape checks, a blocked transpose
//! that hands the `n` values of each coordinate to a function, blocks in parallel,
//! and the selection of a coordinate's `k`-th smallest value.

use rayon::prelude::*;

pub(super) use crate::federated::aggregation::common_length;

/// Coordinates per block. A block's transpose, `BLOCK x n` values (100 KiB for 100
/// clients), stays in the L2 cache while each of its coordinates is reduced.
pub(super) const BLOCK: usize = 256;

/// `out[i] = reduce(state, column)` for every coordinate `i`, where `column` holds
/// the [`key`]s of `vectors[k][i]` for `k` in order.
///
/// Blocks of [`BLOCK`] coordinates run in parallel, each worker with its own
/// `init()` state; a coordinate's column is the same whatever the block or thread,
/// so the result is the same bits on any number of threads. `vectors` must be
/// non-empty and as long as `out` ([`common_length`]).
pub(super) fn for_each_coordinate<S, I, R>(vectors: &[&[f32]], out: &mut [f32], init: I, reduce: R)
where
    I: Fn() -> S + Sync + Send,
    R: Fn(&mut S, &[i32]) -> f32 + Sync + Send,
{
    let n = vectors.len();
    out.par_chunks_mut(BLOCK).enumerate().for_each_init(
        || (vec![0i32; BLOCK * n], init()),
        |(columns, state), (block, out)| {
            let start = block * BLOCK;
            for (k, v) in vectors.iter().enumerate() {
                for (c, &x) in v[start..start + out.len()].iter().enumerate() {
                    columns[c * n + k] = key(x);
                }
            }
            for (o, column) in out.iter_mut().zip(columns.chunks_exact(n)) {
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

/// The mean of the values of `keys`, summed in `f64` in slice order and rounded once
/// to `f32`.
///
/// The `f64` sum of a few hundred `f32` whose magnitudes lie within a factor `2^20`
/// of each other is exact, so it does not depend on the order of `values`; past that
/// it may, in the last bits only.
pub(super) fn mean(keys: &[i32]) -> f32 {
    let sum: f64 = keys.iter().map(|&k| f64::from(value(k))).sum();
    (sum / keys.len() as f64) as f32
}

/// `f32::total_cmp`'s order as an `i32`: `key(a) < key(b)` exactly when `a` comes
/// before `b` (`-NaN < -inf < ... < -0 < +0 < ... < inf < NaN`).
pub(super) fn key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// The `f32` whose [`key`] is `key`.
pub(super) fn value(key: i32) -> f32 {
    f32::from_bits((key ^ (((key >> 31) as u32) >> 1) as i32) as u32)
}

/// Ranges this short are finished by the standard library's selection in
/// [`Selector::select`].
const QUICK_SMALL: usize = 12;

/// Windows this short are finished by counting ranks in [`Selector::select_pair`].
const SMALL: usize = 16;

/// Samples a narrowing round of [`Selector::select_pair`] sorts to choose the
/// window's bounds among.
const SAMPLES: usize = 7;

/// Where a round takes its samples, as fractions of the length in units of `2^-16`:
/// the fractional parts of `(j + 1) φ`, spread out but not evenly spaced, so that
/// values that repeat with the client's index (as a round-robin order might make
/// them) do not all fall on samples of the same rank.
const SPREAD: [usize; SAMPLES] = [40503, 15470, 55974, 30941, 5909, 46412, 21380];

/// Narrowing rounds before the rest is left to the standard library's selection.
const ROUNDS: usize = 4;

/// Finds the `k`-th smallest of a coordinate's values (or the `k`-th and the next),
/// with scratch space reused from one coordinate to the next. Both work on the
/// values' [`key`]s.
///
/// [`select`](Self::select) is a quickselect that partitions out of place, from one
/// buffer into the other, without branches on the data: each value is written to
/// both ends of the output and only the end it belongs to advances. The pivot is
/// the one of three samples nearest to the rank sought (the smallest of them for a
/// low rank). After `2 log2 n + 4` passes, or below [`QUICK_SMALL`] values, the rest
/// is left to `select_nth_unstable`, whose worst case is linear, so that values
/// chosen by an attacker cannot make a coordinate quadratic.
///
/// [`select_pair`](Self::select_pair) narrows a window around the two ranks: a round
/// sorts [`SAMPLES`] keys and counts, by branch-free (vectorised) passes, how many
/// keys lie below some of them, to find the closest two samples that still bracket
/// the ranks; one more branch-free pass copies out the keys between those two, and
/// the ranks are shifted by the count below the window. A window of at most
/// [`SMALL`] keys is finished by counting each key's rank without branches; one that
/// did not shrink, or the one left after [`ROUNDS`] rounds, by `select_nth_unstable`.
/// Every round is linear, so here too a coordinate cannot be made quadratic.
#[derive(Debug, Default)]
pub(super) struct Selector {
    front: Vec<i32>,
    back: Vec<i32>,
}

impl Selector {
    /// The key of rank `k` (from 0) among `keys`.
    pub(super) fn select(&mut self, keys: &[i32], k: usize) -> i32 {
        let n = keys.len();
        assert!(k < n, "rank {k} of {n} values");
        if self.front.len() < n {
            self.front.resize(n, 0);
            self.back.resize(n, 0);
        }
        let (mut src, mut dst) = (&mut self.front[..n], &mut self.back[..n]);
        // The first pass reads `keys` themselves, later ones the last pass's output,
        // `src[range]`.
        let (mut range, mut first) = (0..n, true);
        let mut k = k;
        let mut passes_left = 2 * (usize::BITS - n.leading_zeros()) + 4;
        loop {
            let input: &[i32] = if first { keys } else { &src[range.clone()] };
            let len = input.len();
            if len <= QUICK_SMALL || passes_left == 0 {
                let rest = if first {
                    dst[..len].copy_from_slice(keys);
                    &mut dst[..len]
                } else {
                    &mut src[range]
                };
                return *rest.select_nth_unstable(k).1;
            }
            passes_left -= 1;
            let pivot = pivot(input, k);
            let out = &mut dst[..len];
            let below = partition(input, out, |x| x < pivot);
            range = if k < below {
                0..below
            } else if below > 0 {
                k -= below;
                below..len
            } else {
                // The pivot is the smallest: split off the keys equal to it.
                let equal = partition(input, out, |x| x <= pivot);
                if k < equal {
                    return pivot;
                }
                k -= equal;
                equal..len
            };
            std::mem::swap(&mut src, &mut dst);
            first = false;
        }
    }

    /// The keys of ranks `k` and `k + 1` (from 0) among `keys`.
    pub(super) fn select_pair(&mut self, keys: &[i32], k: usize) -> (i32, i32) {
        let (window, k) = self.narrow(keys, k, k + 1);
        if window.len() <= SMALL {
            return (of_rank(window, k), of_rank(window, k + 1));
        }
        let (below, &mut upper, _) = window.select_nth_unstable(k + 1);
        // Everything before rank k + 1 is in `below`, which holds rank k too.
        let lower = below.iter().copied().max().unwrap_or(upper);
        (lower, upper)
    }

    /// A window of keys holding the ranks `first..=last` of `keys`, and `first`'s rank
    /// within it.
    fn narrow(&mut self, keys: &[i32], first: usize, last: usize) -> (&mut [i32], usize) {
        let n = keys.len();
        assert!(
            first <= last && last < n,
            "ranks {first}..={last} of {n} values"
        );
        if self.front.len() < n {
            self.front.resize(n, 0);
            self.back.resize(n, 0);
        }
        let (mut src, mut dst) = (&mut self.front[..n], &mut self.back[..n]);
        // The first round reads `keys` themselves, later ones the last round's
        // output, `src[..len]`.
        let (mut len, mut first_round) = (n, true);
        let (mut first, mut last) = (first, last);
        for _ in 0..ROUNDS {
            let input: &[i32] = if first_round { keys } else { &src[..len] };
            if len <= SMALL {
                break;
            }
            let (low, high) = bounds(input, first, last);
            let (below, inside) = window(input, &mut dst[..len], low, high);
            if inside == len {
                break;
            }
            (first, last, len) = (first - below, last - below, inside);
            std::mem::swap(&mut src, &mut dst);
            first_round = false;
        }
        if first_round {
            src[..len].copy_from_slice(keys);
        }
        (&mut src[..len], first)
    }
}

/// Writes the `keys` for which `low` holds to the front of `out` and the others to
/// its back (reversed), and returns how many are low.
#[inline(always)]
fn partition(keys: &[i32], out: &mut [i32], low: impl Fn(i32) -> bool) -> usize {
    let len = keys.len();
    let (mut front, mut back) = (0, 0);
    for &x in keys {
        let is_low = low(x);
        out[front] = x;
        out[len - 1 - back] = x;
        front += usize::from(is_low);
        back += usize::from(!is_low);
    }
    front
}

/// Of three samples of `keys` (more than [`QUICK_SMALL`]), the one whose rank among them
/// is nearest to `k`'s among `keys`.
fn pivot(keys: &[i32], k: usize) -> i32 {
    let len = keys.len();
    let mut sample = [keys[len / 4], keys[len / 2], keys[3 * len / 4]];
    sample.sort_unstable();
    match 3 * k {
        r if r < len => sample[0],
        r if r < 2 * len => sample[1],
        _ => sample[2],
    }
}

/// The key of rank `k` among a few `keys`: the one with at most `k` keys below it and
/// more than `k` at or below it, found without branches on the data.
fn of_rank(keys: &[i32], k: usize) -> i32 {
    let mut found = keys[0];
    for &x in keys {
        let (mut below, mut at_or_below) = (0, 0);
        for &y in keys {
            below += usize::from(y < x);
            at_or_below += usize::from(y <= x);
        }
        found = if below <= k && k < at_or_below {
            x
        } else {
            found
        };
    }
    found
}

/// How many of `keys` are below `bound`, in `u32` lanes a chunk at a time so that the
/// count vectorises.
#[inline(always)]
fn count_below(keys: &[i32], bound: i32) -> usize {
    keys.chunks(1 << 24)
        .map(|chunk| chunk.iter().map(|&x| u32::from(x < bound)).sum::<u32>() as usize)
        .sum()
}

/// Two keys `low <= high` such that the ranks `first..=last` of `keys` (more than
/// [`SAMPLES`]) are all of keys in `low..=high`: the closest such pair among the
/// [`SAMPLES`] samples, `i32::MIN` and `i32::MAX`.
fn bounds(keys: &[i32], first: usize, last: usize) -> (i32, i32) {
    let len = keys.len();
    let mut sample: [i32; SAMPLES] = std::array::from_fn(|j| keys[(SPREAD[j] * len) >> 16]);
    // Odd-even transposition sort: branch-free, and the samples are few.
    for round in 0..SAMPLES {
        for i in (round % 2..SAMPLES - 1).step_by(2) {
            let (a, b) = (sample[i], sample[i + 1]);
            (sample[i], sample[i + 1]) = (a.min(b), a.max(b));
        }
    }
    // The candidates are `i32::MIN`, the samples, `i32::MAX`, in order (indices 0 to
    // `SAMPLES + 1`). The low bound is the last candidate with at most `first` keys
    // below it (rank `first` is then at or above it); the search starts from the
    // sample expected there and steps, so that it usually counts twice.
    let candidate = |j: usize| match j {
        0 => i32::MIN,
        j if j > SAMPLES => i32::MAX,
        j => sample[j - 1],
    };
    let low_enough = |j: usize| j == 0 || count_below(keys, candidate(j)) <= first;
    let mut lo = (first * (SAMPLES + 1) / len).min(SAMPLES);
    if low_enough(lo) {
        while lo < SAMPLES && low_enough(lo + 1) {
            lo += 1;
        }
    } else {
        while !low_enough(lo) {
            lo -= 1;
        }
    }
    // The high bound is the first candidate, from the low one on, with more than
    // `last` keys at or below it (rank `last` is then at or below it); `x <= s` is
    // `x < s + 1`, and every key is at or below `i32::MAX`.
    let high_enough = |j: usize| match candidate(j).checked_add(1) {
        Some(t) => count_below(keys, t) > last,
        None => true,
    };
    let floor = lo.max(1);
    let mut hi = ((last + 1) * (SAMPLES + 1) / len + 1).clamp(floor, SAMPLES + 1);
    if high_enough(hi) {
        while hi > floor && high_enough(hi - 1) {
            hi -= 1;
        }
    } else {
        while !high_enough(hi) {
            hi += 1;
        }
    }
    let (low, high) = (candidate(lo), candidate(hi));
    (low, high)
}

/// Copies the `keys` in `low..=high` to the front of `out` (as long as `keys`), in
/// order; returns how many keys are below `low` and how many were copied.
#[inline(always)]
fn window(keys: &[i32], out: &mut [i32], low: i32, high: i32) -> (usize, usize) {
    let (mut below, mut inside) = (0, 0);
    for &x in keys {
        out[inside] = x;
        below += usize::from(x < low);
        inside += usize::from((low <= x) & (x <= high));
    }
    (below, inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_as_total_cmp_and_convert_back() {
        let values = [
            -f32::NAN,
            f32::NEG_INFINITY,
            -1.5,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            2.0,
            f32::INFINITY,
            f32::NAN,
        ];
        for (a, b) in values.iter().zip(&values[1..]) {
            assert!(key(*a) < key(*b), "{a} {b}");
            assert_eq!(a.total_cmp(b), key(*a).cmp(&key(*b)));
        }
        for x in values {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn selection_finds_every_rank_as_a_sort_does() {
        let mut selector = Selector::default();
        let mut state = 12345u64;
        for n in [1, 2, 3, 12, 13, 14, 16, 17, 18, 40, 100, 257] {
            for distinct in [1, 3, 1000] {
                let values: Vec<f32> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((state >> 33) % distinct) as f32 - 7.0
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_by(f32::total_cmp);
                let keys: Vec<i32> = values.iter().map(|&x| key(x)).collect();
                for (k, &expected) in sorted.iter().enumerate() {
                    let found = value(selector.select(&keys, k));
                    assert_eq!(found, expected, "n {n}, rank {k}");
                    if k + 1 < n {
                        let (lower, upper) = selector.select_pair(&keys, k);
                        assert_eq!((value(lower), value(upper)), (expected, sorted[k + 1]));
                    }
                }
            }
        }
        // Sorted, reversed and organ-pipe inputs, the classic bad cases of quickselect.
        let ramp: Vec<f32> = (0..500).map(|i| i as f32).collect();
        let reversed: Vec<f32> = ramp.iter().rev().copied().collect();
        let pipe: Vec<f32> = (0..500)
            .map(|i: i32| (250 - (i - 250).abs()) as f32)
            .collect();
        for values in [ramp, reversed, pipe] {
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            let keys: Vec<i32> = values.iter().map(|&x| key(x)).collect();
            for k in [0, 1, 49, 250, 449, 499] {
                assert_eq!(value(selector.select(&keys, k)), sorted[k]);
                let (lower, upper) = selector.select_pair(&keys, k.min(498));
                assert_eq!(value(lower), sorted[k.min(498)]);
                assert_eq!(value(upper), sorted[k.min(498) + 1]);
            }
        }
    }
}
