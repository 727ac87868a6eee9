//! The coordinate-wise median of the clients' updates.
//!
//! Each coordinate of the result is the median of that coordinate over the clients:
//! the middle value of an odd count, the mean of the two middle values of an even
//! count, as `numpy.median` computes it and so as Flower's `FedMedian`
//! (`aggregate_median`) aggregates. Yin et al., "Byzantine-Robust Distributed
//! Learning: Towards Optimal Statistical Rates", ICML 2018, analyse it as the
//! coordinate-wise median rule: it tolerates any minority of Byzantine clients in
//! each coordinate.
//!
//! Coordinates are processed in cache-sized blocks: a block of coordinates is
//! transposed into a scratch buffer of `block x n` values, and each coordinate's
//! middle is found by a branch-free quickselect for an odd count, or both middle
//! values at once by narrowing a window around them for an even count (see
//! `Selector`; expected linear time, and linear in the worst case), blocks in
//! parallel with rayon.

use super::coordinates::{common_length, for_each_coordinate, value, Selector};
use crate::Result;

/// Writes the coordinate-wise median of `vectors` into `out`.
///
/// `out[i]` is the median of `vectors[k][i]` over `k`: the middle value of an odd
/// number of vectors; for an even number, the mean of the two middle values,
/// computed in `f64` (exact) and rounded once to `f32`. This is `numpy.median` along
/// the clients' axis, as Flower's `FedMedian` (Yin et al. 2018).
///
/// The result is the same bits whatever the number of rayon threads, and whatever
/// the order of `vectors`.
///
/// ```
/// use feddx_runtime::federated::aggregators::coordinate_median_into;
///
/// let (a, b, c, d) = ([1.0, -4.0], [9.0, 0.0], [2.0, 8.0], [3.0, 1.0]);
/// let mut out = [0.0; 2];
/// coordinate_median_into(&[&a, &b, &c], &mut out).unwrap();
/// assert_eq!(out, [2.0, 0.0]);
/// coordinate_median_into(&[&a, &b, &c, &d], &mut out).unwrap();
/// assert_eq!(out, [2.5, 0.5]);
/// ```
///
/// # Errors
/// [`FeddxError::NoUpdates`](crate::FeddxError::NoUpdates) for no vectors,
/// [`FeddxError::UpdateLengthMismatch`](crate::FeddxError::UpdateLengthMismatch) for a
/// vector (or `out`) of another length than the first vector. `out` is left alone then.
pub fn coordinate_median_into(vectors: &[&[f32]], out: &mut [f32]) -> Result<()> {
    common_length(vectors, Some(out.len()))?;
    for_each_coordinate(vectors, out, Selector::default, |selector, column| {
        median(column, selector) as f32
    });
    Ok(())
}

/// The median of the values of `keys` (not empty): the middle one of an odd count,
/// the mean of the two middle ones of an even count, exact in `f64`.
pub(super) fn median(keys: &[i32], selector: &mut Selector) -> f64 {
    let n = keys.len();
    if n % 2 == 1 {
        return f64::from(value(selector.select(keys, n / 2)));
    }
    let (lower, upper) = selector.select_pair(keys, n / 2 - 1);
    (f64::from(value(lower)) + f64::from(value(upper))) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeddxError;

    fn median_of(vectors: &[&[f32]]) -> Vec<f32> {
        let mut out = vec![0.0; vectors[0].len()];
        coordinate_median_into(vectors, &mut out).unwrap();
        out
    }

    #[test]
    fn an_odd_count_takes_the_middle_value() {
        let a = [5.0, -1.0, 0.0];
        let b = [1.0, 7.0, 0.5];
        let c = [3.0, 2.0, -0.5];
        assert_eq!(median_of(&[&a, &b, &c]), vec![3.0, 2.0, 0.0]);
        assert_eq!(median_of(&[&a]), a.to_vec());
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_two_middle_values() {
        let a = [4.0, 10.0];
        let b = [1.0, -2.0];
        let c = [2.0, 3.0];
        let d = [100.0, 0.0];
        // Sorted: 1 2 | 4 100 -> 3; -2 0 | 3 10 -> 1.5.
        assert_eq!(median_of(&[&a, &b, &c, &d]), vec![3.0, 1.5]);
        // Two values: their mean, without overflow in f32.
        assert_eq!(median_of(&[&[f32::MAX], &[f32::MAX]]), vec![f32::MAX]);
        // The mean of the two middle values, rounded once: 1 and 1 + 2^-23 have no f32
        // between them, and the tie rounds to even.
        let next = f32::from_bits(1.0f32.to_bits() + 1);
        assert_eq!(median_of(&[&[1.0], &[next]]), vec![1.0]);
    }

    #[test]
    fn ties_are_values_like_any_other() {
        let columns: [(&[f32], f32); 4] = [
            (&[2.0, 2.0, 7.0], 2.0),
            (&[7.0, 2.0, 7.0, 2.0], 4.5),
            (&[3.0, 3.0, 3.0, 3.0], 3.0),
            (&[1.0, 5.0, 5.0, 9.0, 5.0, 0.0], 5.0),
        ];
        for (column, expected) in columns {
            let vectors: Vec<[f32; 1]> = column.iter().map(|&x| [x]).collect();
            let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
            assert_eq!(median_of(&refs), vec![expected], "{column:?}");
        }
    }

    #[test]
    fn nan_and_infinities_do_not_panic() {
        let a = [f32::NAN, f32::INFINITY, 1.0];
        let b = [0.0, f32::NEG_INFINITY, f32::NAN];
        let c = [1.0, 2.0, f32::NAN];
        let out = median_of(&[&a, &b, &c]);
        // NaN sorts above +inf in `total_cmp`: 0 1 NaN -> 1; -inf 2 inf -> 2.
        assert_eq!(&out[..2], &[1.0, 2.0]);
        assert!(out[2].is_nan());
    }

    #[test]
    fn blocks_in_parallel_match_one_thread_and_a_sort_bit_for_bit() {
        let len = 5 * super::super::coordinates::BLOCK + 3;
        for n in [6, 7] {
            let vectors: Vec<Vec<f32>> = (0..n)
                .map(|k| {
                    (0..len)
                        .map(|i| ((i * 37 + k * 11) % 23) as f32 / 7.0 - 1.5)
                        .collect()
                })
                .collect();
            let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
            let run =
                |threads| crate::federated::aggregators::on_threads(threads, || median_of(&refs));
            let (one, two) = (run(1), run(2));
            assert_eq!(bits(&one), bits(&two));
            for i in 0..len {
                let mut column: Vec<f32> = vectors.iter().map(|v| v[i]).collect();
                column.sort_by(f32::total_cmp);
                let expected = if n % 2 == 1 {
                    column[n / 2]
                } else {
                    ((f64::from(column[n / 2 - 1]) + f64::from(column[n / 2])) / 2.0) as f32
                };
                assert_eq!(one[i].to_bits(), expected.to_bits(), "coordinate {i}");
            }
        }
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn bad_shapes_are_errors_and_leave_out_alone() {
        let mut out = [9.0; 2];
        assert_eq!(
            coordinate_median_into(&[], &mut out).unwrap_err(),
            FeddxError::NoUpdates
        );
        assert_eq!(
            coordinate_median_into(&[&[1.0, 2.0], &[1.0]], &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 1,
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(
            coordinate_median_into(&[&[1.0, 2.0, 3.0]], &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 1,
                expected: 3,
                actual: 2
            }
        );
        assert_eq!(out, [9.0; 2]);
    }
}
