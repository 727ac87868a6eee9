//! Bulyan: Krum's selection, then a trimmed mean around the coordinate-wise median.
//!
//! El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed
//! Learning in Byzantium", ICML 2018. With `n >= 4f + 3` updates of which up to `f`
//! are Byzantine:
//!
//! 1. *selection*: `θ = n - 2f` updates are chosen by Krum applied again and again,
//!    each chosen update removed from the candidates before the next choice;
//! 2. *aggregation*: in each coordinate, the mean of the `β = θ - 2f` values of the
//!    selected updates closest to their median.
//!
//! Krum alone can pick an update that is close to the others in `ℓ2` norm but far off
//! in a few coordinates; the second step bounds each coordinate. Flower's `Bulyan`
//! strategy (`aggregate_bulyan`) follows the same two steps.

use super::coordinates::{common_length, for_each_coordinate, value, Selector};
use super::krum::{lowest, pairwise_squared_distances, scores_within};
use super::median::median;
use crate::federated::ConfigError;
use crate::Result;

/// Writes Bulyan's aggregate of `vectors`, tolerating `f` Byzantine ones, into `out`
/// (El Mhamdi et al. 2018).
///
/// *Selection.* `θ = n - 2f` updates are chosen one at a time: each is the candidate
/// of lowest Krum score among the remaining candidates (ties to the lower index), and
/// is removed from them. A score counts the `r - f - 2` nearest other candidates when
/// `r` remain, at least one (as Flower's `aggregate_krum`, `max(1, r - f - 2)`): the
/// last choices are made among `r < 2f + 3` candidates, fewer than Krum alone needs.
/// The pairwise distances are computed once, by [`pairwise_squared_distances`].
///
/// *Aggregation.* In each coordinate `i`, with `m` the median of the `θ` selected
/// values (the mean of the two middle ones for an even `θ`, as
/// [`coordinate_median_into`](super::coordinate_median_into)), `out[i]` is the mean of
/// the `β = θ - 2f` selected values closest to `m`. Equal distances to `m` go to the
/// smaller value. Distances and the sum are in `f64`, the mean rounded once to `f32`.
///
/// `f = 0` selects every update and averages them all. The result is the same bits
/// whatever the number of rayon threads.
///
/// ```
/// use feddx_runtime::federated::aggregators::bulyan_into;
///
/// // Seven clients, f = 1: one attacker sends a huge update.
/// let vectors: Vec<[f32; 1]> = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0].map(|x| [x]).to_vec();
/// let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
/// let mut out = [0.0];
/// bulyan_into(&refs, 1, &mut out).unwrap();
/// // Selected: 3, 4, 2, 5, 1 (θ = 5); the β = 3 closest to their median 3: 2, 3, 4.
/// assert_eq!(out, [3.0]);
/// ```
///
/// # Errors
/// [`FeddxError::NoUpdates`](crate::FeddxError::NoUpdates) for no vectors,
/// [`FeddxError::UpdateLengthMismatch`](crate::FeddxError::UpdateLengthMismatch) for a
/// vector (or `out`) of another length than the first vector; then
/// [`ConfigError::TooManyByzantine`] (as [`FeddxError::Config`](crate::FeddxError::Config))
/// unless `n >= 4f + 3`. `out` is left alone then.
pub fn bulyan_into(vectors: &[&[f32]], f: usize, out: &mut [f32]) -> Result<()> {
    common_length(vectors, Some(out.len()))?;
    let n = vectors.len();
    let minimum = f.saturating_mul(4).saturating_add(3);
    if n < minimum {
        return Err(ConfigError::TooManyByzantine {
            aggregator: "Bulyan",
            f,
            clients: n,
            minimum,
        }
        .into());
    }
    let mut selected = select(vectors, f)?;
    // The second step is a function of the selected set: read it in client order.
    selected.sort_unstable();
    let chosen: Vec<&[f32]> = selected.iter().map(|&i| vectors[i]).collect();
    let beta = chosen.len() - 2 * f;
    for_each_coordinate(
        &chosen,
        out,
        || (Selector::default(), Vec::with_capacity(chosen.len())),
        |(selector, keys), column| mean_closest_to_median(column, beta, selector, keys),
    );
    Ok(())
}

/// The indices of Bulyan's `θ = n - 2f` selected updates, in the order chosen.
fn select(vectors: &[&[f32]], f: usize) -> Result<Vec<usize>> {
    let n = vectors.len();
    let distances = pairwise_squared_distances(vectors)?;
    let theta = n - 2 * f;
    let mut remaining: Vec<usize> = (0..n).collect();
    let mut selected = Vec::with_capacity(theta);
    while selected.len() < theta {
        let r = remaining.len();
        let neighbours = r.saturating_sub(f + 2).max(1).min(r - 1);
        let scores = scores_within(&distances, n, &remaining, neighbours);
        let best = lowest(&scores, 1)[0];
        selected.push(remaining.remove(best));
    }
    Ok(selected)
}

/// The mean of the `beta` values of `keys` closest to their median, equal distances
/// going to the smaller value; `selector` and `closest` are scratch space.
fn mean_closest_to_median(
    keys: &[i32],
    beta: usize,
    selector: &mut Selector,
    closest: &mut Vec<(f64, f32)>,
) -> f32 {
    let m = median(keys, selector);
    closest.clear();
    closest.extend(keys.iter().map(|&k| {
        let x = value(k);
        ((f64::from(x) - m).abs(), x)
    }));
    if beta < closest.len() {
        closest.select_nth_unstable_by(beta - 1, |a, b| {
            a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
        });
    }
    let sum: f64 = closest[..beta].iter().map(|&(_, x)| f64::from(x)).sum();
    (sum / beta as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::super::coordinates::key;
    use super::*;
    use crate::FeddxError;

    fn refs(vectors: &[Vec<f32>]) -> Vec<&[f32]> {
        vectors.iter().map(Vec::as_slice).collect()
    }

    fn keys_of(values: &[f32]) -> Vec<i32> {
        values.iter().map(|&x| key(x)).collect()
    }

    fn bulyan(vectors: &[Vec<f32>], f: usize) -> Result<Vec<f32>> {
        let mut out = vec![0.0; vectors[0].len()];
        bulyan_into(&refs(vectors), f, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_hand_worked_case() {
        // n = 7, f = 1: θ = 5, β = 3. Two coordinates; update 6 is far off in the
        // first, update 5 only a little off in the second.
        let v: Vec<Vec<f32>> = vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![2.0, 0.0],
            vec![3.0, 0.0],
            vec![4.0, 0.0],
            vec![2.0, 6.0],
            vec![40.0, 0.0],
        ];
        // Squared distances from update 2 = (2, 0): 4 1 0 1 4 36 1444, so its 4
        // nearest others give 1 + 1 + 4 + 4 = 10, the lowest score: chosen first.
        // Among {0, 1, 3, 4, 5, 6}, 3 nearest: 0: 1 + 9 + 16 = 26, 1: 1 + 4 + 9 = 14,
        // 3: 1 + 4 + 9 = 14, 4: 26, 5: 37 + 37 + 40 -> 1 (the lower index of a tie).
        // Among {0, 3, 4, 5, 6}, 2 nearest: 0: 9 + 16, 3: 1 + 9, 4: 1 + 16,
        // 5: 37 + 40 -> 3. Among {0, 4, 5, 6}, max(1, 4 - 3) = 1 nearest: 0: 16,
        // 4: 16, 5: 40 -> 0. Among {4, 5, 6}: 4: 40, 5: 40 -> 4.
        assert_eq!(select(&refs(&v), 1).unwrap(), vec![2, 1, 3, 0, 4]);
        // Selected {0, 1, 2, 3, 4}: first coordinate 0 1 2 3 4, median 2, closest three
        // 1 2 3 -> 2; second coordinate all 0 -> 0.
        assert_eq!(bulyan(&v, 1).unwrap(), vec![2.0, 0.0]);
    }

    #[test]
    fn the_coordinate_step_trims_around_the_median() {
        // One coordinate: median 3 of 0 2.5 3 5 9, the three closest 2.5 3 5.
        let column = [9.0, 0.0, 5.0, 3.0, 2.5];
        let (mut selector, mut keys) = (Selector::default(), Vec::new());
        assert_eq!(
            mean_closest_to_median(&keys_of(&column), 3, &mut selector, &mut keys),
            3.5
        );
        // Even count: median (2 + 4) / 2 = 3 of 0 2 4 10; the two closest 2 4.
        assert_eq!(
            mean_closest_to_median(
                &keys_of(&[10.0, 4.0, 0.0, 2.0]),
                2,
                &mut selector,
                &mut keys
            ),
            3.0
        );
        // 1 and 5 are both 2 from the median 3: the smaller one goes in.
        assert_eq!(
            mean_closest_to_median(&keys_of(&[5.0, 3.0, 1.0]), 2, &mut selector, &mut keys),
            2.0
        );
        // beta = all values: the plain mean.
        assert_eq!(
            mean_closest_to_median(&keys_of(&[5.0, 3.0, 1.0, 7.0]), 4, &mut selector, &mut keys),
            4.0
        );
    }

    #[test]
    fn f_zero_averages_every_update() {
        let v: Vec<Vec<f32>> = vec![vec![1.0, 10.0], vec![2.0, 20.0], vec![6.0, 0.0]];
        assert_eq!(bulyan(&v, 0).unwrap(), vec![3.0, 10.0]);
    }

    #[test]
    fn fewer_than_4f_plus_3_updates_are_a_config_error() {
        let v: Vec<Vec<f32>> = (0..10).map(|k| vec![k as f32]).collect();
        let err = bulyan(&v, 2).unwrap_err();
        assert_eq!(
            err,
            FeddxError::Config(ConfigError::TooManyByzantine {
                aggregator: "Bulyan",
                f: 2,
                clients: 10,
                minimum: 11
            })
        );
        assert_eq!(
            err.to_string(),
            "Bulyan tolerating `f = 2` Byzantine clients needs at least `11` updates, got `10`"
        );
        assert!(bulyan(&v[..2], 0).is_err());
        assert!(bulyan(&v, usize::MAX).is_err());
        // n = 4f + 3 is enough.
        assert!(bulyan(&v[..7], 1).is_ok());
        assert!(bulyan(&v[..3], 0).is_ok());
    }

    #[test]
    fn bad_shapes_are_errors_and_leave_out_alone() {
        let mut out = [9.0; 2];
        assert_eq!(
            bulyan_into(&[], 0, &mut out).unwrap_err(),
            FeddxError::NoUpdates
        );
        let a: &[f32] = &[1.0, 2.0];
        assert_eq!(
            bulyan_into(&[a, a, &[1.0]], 0, &mut out).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 2,
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(
            bulyan_into(&[a, a, a], 0, &mut out[..1]).unwrap_err(),
            FeddxError::UpdateLengthMismatch {
                index: 3,
                expected: 2,
                actual: 1
            }
        );
        assert_eq!(out, [9.0; 2]);
    }

    #[test]
    fn the_attackers_are_left_out_and_threads_do_not_change_the_bits() {
        let len = 3 * super::super::coordinates::BLOCK + 7;
        // Nine honest updates around 0.5 and two attackers (n = 11 = 4f + 3, f = 2).
        let mut v: Vec<Vec<f32>> = (0..9)
            .map(|k| {
                (0..len)
                    .map(|i| 0.5 + ((i * 7 + k * 5) % 13) as f32 / 130.0)
                    .collect()
            })
            .collect();
        v.insert(3, vec![1e6; len]);
        v.push(
            (0..len)
                .map(|i| if i % 2 == 0 { 50.0 } else { -50.0 })
                .collect(),
        );
        let r = refs(&v);
        let run = |threads| {
            crate::federated::aggregators::on_threads(threads, || {
                let mut out = vec![0.0; len];
                bulyan_into(&r, 2, &mut out).unwrap();
                out
            })
        };
        let (one, two) = (run(1), run(2));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two));
        assert!(one.iter().all(|&x| (0.5..0.6).contains(&x)), "{one:?}");
        let mut chosen = select(&r, 2).unwrap();
        chosen.sort_unstable();
        assert!(!chosen.contains(&3) && !chosen.contains(&10), "{chosen:?}");
    }
}
