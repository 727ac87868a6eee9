//! The coordinate-wise trimmed mean of the clients' updates.
//!
//! Yin et al., "Byzantine-Robust Distributed Learning: Towards Optimal Statistical
//! Rates", ICML 2018, define the `β`-trimmed mean: in each coordinate, remove the
//! largest and the smallest `β` fraction of the values and average the rest, for
//! `β ∈ [0, 1/2)`. With `n` clients this removes `⌊β n⌋` values from each side,
//! as `scipy.stats.trim_mean(x, β)` does ("slices off less if proportion results in a
//! non-integer slice index") and so as Flower's `FedTrimmedAvg`
//! (`aggregate_trimmed_avg`, a copy of scipy's `trim_mean`). `β = 0` is the plain mean.
//!
//! Coordinates are processed as in [`median`](super::median): cache-sized blocks
//! transposed into a scratch buffer, the two cut values found by selection, then one
//! pass adds the values between them, blocks in parallel.

use super::coordinates::{common_length, for_each_coordinate, mean, value, Selector};
use crate::federated::ConfigError;
use crate::Result;

/// Writes the coordinate-wise `beta`-trimmed mean of `vectors` into `out`.
///
/// With `n` vectors and `t = ⌊beta n⌋`, `out[i]` is the mean of the values
/// `vectors[k][i]` left after removing the `t` smallest and the `t` largest: `n - 2t`
/// values, at least one since `beta < 0.5`. This is Yin et al. 2018's trimmed mean
/// with scipy's `trim_mean` rounding (Flower's `FedTrimmedAvg`): `n = 10, beta = 0.15`
/// trims one value from each side, `beta = 0` none.
///
/// The kept values are summed in `f64` in the order of `vectors` (the values equal
/// to a cut value last, as a count times the value) and the mean is rounded once to
/// `f32`, so the result is the same bits whatever the number of rayon threads.
///
/// ```
/// use feddx_runtime::federated::aggregators::trimmed_mean_into;
///
/// let vectors: Vec<[f32; 1]> = [1.0, 2.0, 3.0, 4.0, 100.0].map(|x| [x]).to_vec();
/// let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
/// let mut out = [0.0];
/// trimmed_mean_into(&refs, 0.2, &mut out).unwrap(); // trims 1 and 100
/// assert_eq!(out, [3.0]);
/// ```
///
/// # Errors
/// [`ConfigError::TrimBetaOutOfRange`] (as [`FeddxError::Config`](crate::FeddxError::Config))
/// for a `beta` outside `[0, 0.5)` or NaN, checked first;
/// [`FeddxError::NoUpdates`](crate::FeddxError::NoUpdates) for no vectors,
/// [`FeddxError::UpdateLengthMismatch`](crate::FeddxError::UpdateLengthMismatch) for a
/// vector (or `out`) of another length than the first vector. `out` is left alone then.
pub fn trimmed_mean_into(vectors: &[&[f32]], beta: f64, out: &mut [f32]) -> Result<()> {
    if !(0.0..0.5).contains(&beta) {
        return Err(ConfigError::TrimBetaOutOfRange { beta }.into());
    }
    common_length(vectors, Some(out.len()))?;
    let trim = trimmed_per_side(vectors.len(), beta);
    for_each_coordinate(vectors, out, Selector::default, |selector, column| {
        trimmed_mean(column, trim, selector)
    });
    Ok(())
}

/// `⌊beta n⌋`, the values trimmed from each side (Python's `int(beta * n)`), capped
/// so that at least one value is kept.
fn trimmed_per_side(n: usize, beta: f64) -> usize {
    ((beta * n as f64) as usize).min((n - 1) / 2)
}

/// The mean of the values of `keys` without their `trim` smallest and `trim`
/// largest; `2 * trim < keys.len()`.
fn trimmed_mean(keys: &[i32], trim: usize, selector: &mut Selector) -> f32 {
    let n = keys.len();
    if trim == 0 {
        return mean(keys);
    }
    // The kept values are those of ranks trim..n - trim: the ones strictly between
    // the values of ranks `trim` and `n - trim - 1`, and as many copies of those two
    // as fall within the ranks.
    let low = selector.select(keys, trim);
    let high = selector.select(keys, n - trim - 1);
    if low == high {
        return value(low);
    }
    let (mut sum, mut up_to_low, mut from_high) = (0.0f64, 0, 0);
    for &k in keys {
        let inside = low < k && k < high;
        sum += if inside { f64::from(value(k)) } else { 0.0 };
        up_to_low += usize::from(k <= low);
        from_high += usize::from(k >= high);
    }
    sum += (up_to_low - trim) as f64 * f64::from(value(low));
    sum += (from_high - trim) as f64 * f64::from(value(high));
    (sum / (n - 2 * trim) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeddxError;

    /// One vector per value, so that a test reads as one coordinate's column.
    fn trimmed(column: &[f32], beta: f64) -> Result<f32> {
        let vectors: Vec<[f32; 1]> = column.iter().map(|&x| [x]).collect();
        let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
        let mut out = [0.0];
        trimmed_mean_into(&refs, beta, &mut out)?;
        Ok(out[0])
    }

    #[test]
    fn beta_zero_is_the_plain_mean() {
        let a = [1.0, -3.0];
        let b = [2.0, 5.0];
        let c = [6.0, 1.0];
        let mut out = [0.0; 2];
        trimmed_mean_into(&[&a, &b, &c], 0.0, &mut out).unwrap();
        assert_eq!(out, [3.0, 1.0]);
        assert_eq!(trimmed(&[100.0, 1.0, 2.0, 5.0], 0.0).unwrap(), 27.0);
    }

    #[test]
    fn trims_floor_of_beta_n_from_each_side() {
        let ten = [10.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 90.0];
        // 0.15 * 10 = 1.5 -> one from each side: 0 and 90 go, (1 + ... + 10) / 8.
        assert_eq!(trimmed(&ten, 0.15).unwrap(), 38.0 / 8.0);
        // 0.1 * 10 = 1 exactly: the same.
        assert_eq!(trimmed(&ten, 0.1).unwrap(), 38.0 / 8.0);
        // 0.09 * 10 = 0.9 -> nothing trimmed: the plain mean.
        assert_eq!(trimmed(&ten, 0.09).unwrap(), 128.0 / 10.0);
        // 0.2 * 10 = 2: 0, 1 and 10, 90 go, (2 + ... + 7) / 6.
        assert_eq!(trimmed(&ten, 0.2).unwrap(), 27.0 / 6.0);
    }

    #[test]
    fn beta_just_below_a_half_keeps_the_middle() {
        let beta = 0.5 - f64::EPSILON;
        // Odd: 0.49.. * 5 -> 2 from each side, the median stays.
        assert_eq!(trimmed(&[9.0, -4.0, 3.0, 8.0, 1.0], beta).unwrap(), 3.0);
        // Even: 0.49.. * 4 -> 1 from each side, the two middle values stay.
        assert_eq!(trimmed(&[9.0, -4.0, 3.0, 1.0], beta).unwrap(), 2.0);
        // Two: nothing trimmed, their mean; one: itself.
        assert_eq!(trimmed(&[4.0, 1.0], beta).unwrap(), 2.5);
        assert_eq!(trimmed(&[4.0], beta).unwrap(), 4.0);
        for n in 1..200 {
            assert!(2 * trimmed_per_side(n, beta) < n, "n = {n}");
            assert!(2 * trimmed_per_side(n, 0.4999) < n, "n = {n}");
        }
    }

    #[test]
    fn ties_at_the_cuts_are_trimmed_as_values() {
        // Sorted 1 1 1 5 5 | trim 1 each side -> 1 1 5 -> 7 / 3.
        assert_eq!(
            trimmed(&[5.0, 1.0, 1.0, 5.0, 1.0], 0.2).unwrap(),
            7.0f32 / 3.0
        );
        assert_eq!(trimmed(&[2.0; 7], 0.3).unwrap(), 2.0);
    }

    #[test]
    fn beta_outside_zero_to_a_half_is_a_config_error() {
        for beta in [0.5, 0.7, -0.1, 1.0, f64::INFINITY] {
            assert_eq!(
                trimmed(&[1.0, 2.0, 3.0], beta).unwrap_err(),
                FeddxError::Config(ConfigError::TrimBetaOutOfRange { beta })
            );
        }
        match trimmed(&[1.0], f64::NAN).unwrap_err() {
            FeddxError::Config(ConfigError::TrimBetaOutOfRange { beta }) => {
                assert!(beta.is_nan())
            }
            e => panic!("unexpected {e}"),
        }
        let message = FeddxError::from(ConfigError::TrimBetaOutOfRange { beta: 0.7 });
        assert_eq!(
            message.to_string(),
            "trimmed mean `beta` must be in [0, 0.5), got `0.7`"
        );
    }

    #[test]
    fn bad_shapes_are_errors_and_leave_out_alone() {
        let mut out = [9.0; 2];
        assert_eq!(
            trimmed_mean_into(&[], 0.1, &mut out).unwrap_err(),
            FeddxError::NoUpdates
        );
        assert_eq!(
            trimmed_mean_into(&[&[1.0, 2.0], &[1.0, 2.0], &[1.0]], 0.1, &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 2,
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(
            trimmed_mean_into(&[&[1.0]], 0.1, &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 1,
                expected: 1,
                actual: 2
            }
        );
        assert_eq!(out, [9.0; 2]);
    }

    #[test]
    fn nan_and_infinities_do_not_panic() {
        let column = [f32::NAN, 1.0, f32::INFINITY, 2.0, f32::NEG_INFINITY];
        // -inf 1 2 inf NaN, one from each side: (1 + 2 + inf) / 3.
        assert_eq!(trimmed(&column, 0.2).unwrap(), f32::INFINITY);
        assert!(trimmed(&column, 0.0).unwrap().is_nan());
    }

    #[test]
    fn blocks_in_parallel_match_one_thread_and_a_sort_bit_for_bit() {
        let len = 5 * super::super::coordinates::BLOCK + 3;
        let n = 10;
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|k| {
                (0..len)
                    .map(|i| ((i * 37 + k * 11) % 23) as f32 / 7.0 - 1.5)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let run = |threads| {
            crate::federated::aggregators::on_threads(threads, || {
                let mut out = vec![0.0; len];
                trimmed_mean_into(&refs, 0.25, &mut out).unwrap();
                out
            })
        };
        let (one, two) = (run(1), run(2));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two));
        for i in 0..len {
            let mut column: Vec<f32> = vectors.iter().map(|v| v[i]).collect();
            column.sort_by(f32::total_cmp);
            let expected = (column[2..8].iter().map(|&x| f64::from(x)).sum::<f64>() / 6.0) as f32;
            assert_eq!(one[i].to_bits(), expected.to_bits(), "coordinate {i}");
        }
    }
}
