//! The masked vector a SecAgg+ node uploads in the collect_masked_vectors stage.
//!
//! Follows `_collect_masked_vectors` in
//! `flwr/client/mod/secure_aggregation/secaggplus_mod.py` (flwr 1.42.0) from its "Fit"
//! step on, once the neighbours' shares are decrypted:
//!
//! 1. the weight factor: `q_ratio = round(num_examples / max_weight * target_range)`
//!    and `dq_ratio = q_ratio / target_range`;
//! 2. the arrays times `dq_ratio` (in `float32`), quantised with stochastic rounding
//!    into `[0, target_range]`, and `q_ratio` put in front as an array of shape `(1,)`;
//! 3. plus the private mask `pseudo_rand_gen(rd_seed, mod_range, shapes)`;
//! 4. for each neighbour that sent shares, plus the pairwise mask made from their
//!    shared key if the node's id is the larger, minus it otherwise, so that the
//!    server's sum cancels each pair;
//! 5. every value modulo `mod_range`, each array written as `int64` `.npy` bytes
//!    (`ndarray_to_bytes`).
//!
//! See [`quantize`](super::quantize) for the dtypes of each step and
//! [`numpy_random`](super::numpy_random) for the masks.

use rand::RngCore;

use super::numpy_random::{mask_range, RandInt64, RandomState};
use super::quantize::{
    factor_combine, multiply, parameters_mod, quantize, weight_factor, IntArray,
};
use super::SecAggError;
use crate::npy;

/// The SecAgg+ settings the server sends in the setup stage (`clipping_range`,
/// `target_range`, `mod_range`, `max_weight` in its `ConfigRecord`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskSettings {
    /// Weights, once scaled by the node's weight factor, are clipped to
    /// `[-clipping_range, clipping_range]` (Flower's default: 8.0).
    pub clipping_range: f64,
    /// The clipped range maps onto the integers `[0, target_range]` (Flower's
    /// `quantization_range`; default 2^22).
    pub target_range: i64,
    /// Everything uploaded is modulo this (Flower's `modulus_range`; default 2^32).
    pub mod_range: i64,
    /// The number of examples that weighs 1 (default 1000.0).
    pub max_weight: f64,
}

/// Flower's `_collect_masked_vectors` after decryption: the masked, quantised vector.
///
/// `params` are the trained arrays (shape and C-order values, in order); `rd_seed` the
/// node's private mask seed; `pairwise_keys` the shared key bytes (Flower's
/// `generate_shared_key` of the node's `sk1` and the neighbour's `pk1`) of each
/// neighbour that sent shares; `rng` gives the stochastic rounding's draws (a
/// cryptographic generator on a node). Returns the arrays Flower uploads as
/// `masked_parameters`: first the weight factor's, then one per array, each as the
/// `.npy` bytes of an `int64` array.
///
/// An error for an array whose values do not fill its shape, settings Flower could not
/// use (see [`weight_factor`] and [`quantize`]; `mod_range < 2`), a NaN weight, a seed
/// or key whose length is not a multiple of 4 bytes, or a pairwise key for the node's
/// own id.
pub fn masked_parameters(
    params: &[(Vec<usize>, Vec<f32>)],
    num_examples: usize,
    settings: &MaskSettings,
    own_id: u64,
    rd_seed: &[u8],
    pairwise_keys: &[(u64, Vec<u8>)],
    rng: &mut impl RngCore,
) -> Result<Vec<Vec<u8>>, SecAggError> {
    for (index, (shape, values)) in params.iter().enumerate() {
        let count = shape
            .iter()
            .try_fold(1usize, |count, &dim| count.checked_mul(dim));
        if count != Some(values.len()) {
            return Err(SecAggError::Mask(format!(
                "array {index} has shape {shape:?} but {} values",
                values.len()
            )));
        }
    }
    if let Some((id, _)) = pairwise_keys.iter().find(|(id, _)| *id == own_id) {
        return Err(SecAggError::Mask(format!(
            "a pairwise key for node {id}, the node itself"
        )));
    }
    let range = mask_range(settings.mod_range)?;
    let factor = weight_factor(num_examples, settings.max_weight, settings.target_range)?;

    let scaled: Vec<Vec<f32>> = params
        .iter()
        .map(|(_, values)| multiply(values, factor.dq_ratio))
        .collect();
    let quantized = quantize(&scaled, settings.clipping_range, settings.target_range, rng)?;
    let shapes = params.iter().map(|(shape, _)| shape.clone());
    let mut vector = factor_combine(factor.q_ratio, shapes.zip(quantized).collect());

    // The private mask, then each pairwise one: added if the node's id is the larger.
    let mut masks = vec![(RandomState::from_flower_seed(rd_seed)?, true)];
    for (neighbour, key) in pairwise_keys {
        masks.push((RandomState::from_flower_seed(key)?, own_id > *neighbour));
    }
    add_masks(&mut vector, &mut masks, range);

    vector
        .into_iter()
        .map(|(shape, mut values)| {
            parameters_mod(&mut values, settings.mod_range)?;
            Ok(npy::write_i64(&shape, &values))
        })
        .collect()
}

/// Adds (`true`) or subtracts (`false`) the mask `pseudo_rand_gen` makes from each
/// generator to `vector` in place, with numpy's wrapping `int64` arithmetic. Each
/// generator draws array after array in C order, as its own `pseudo_rand_gen` call
/// would; all of them in one pass over the vector.
fn add_masks(vector: &mut [IntArray], masks: &mut [(RandomState, bool)], range: RandInt64) {
    for (_, values) in vector.iter_mut() {
        for value in values.iter_mut() {
            for (state, add) in masks.iter_mut() {
                let mask = range.sample(state);
                *value = if *add {
                    value.wrapping_add(mask)
                } else {
                    value.wrapping_sub(mask)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secagg::numpy_random::pseudo_rand_gen;
    use crate::secagg::quantize::dequantize;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::Value;

    /// Written by `tests/fixtures/make_secagg_masks.py` with flwr 1.42.0 and numpy 2.4.6.
    const FIXTURE: &str = include_str!("../../tests/fixtures/secagg_masks.json");

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn masked_vectors_equal_flowers_byte_for_byte() {
        let all: Value = serde_json::from_str(FIXTURE).unwrap();
        let cases = all["masked"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let params: Vec<(Vec<usize>, Vec<f32>)> = case["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let shape = p[0]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect();
                    let values = p[1]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| f32::from_bits(b.as_u64().unwrap() as u32))
                        .collect();
                    (shape, values)
                })
                .collect();
            let settings = MaskSettings {
                clipping_range: case["clipping_range"].as_f64().unwrap(),
                target_range: case["target_range"].as_i64().unwrap(),
                mod_range: case["mod_range"].as_i64().unwrap(),
                max_weight: case["max_weight"].as_f64().unwrap(),
            };
            let pairwise: Vec<(u64, Vec<u8>)> = case["pairwise_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| (k[0].as_u64().unwrap(), unhex(k[1].as_str().unwrap())))
                .collect();
            let own_id = case["own_id"].as_u64().unwrap();
            let rd_seed = unhex(case["rd_seed"].as_str().unwrap());
            let num_examples = case["num_examples"].as_u64().unwrap() as usize;
            let expected: Vec<Vec<u8>> = case["masked"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| unhex(m.as_str().unwrap()))
                .collect();
            // np.random.seed(seed) before Flower's call: the same stochastic rounding.
            let mut draws = RandomState::new(case["seed"].as_u64().unwrap() as u32);
            let masked = masked_parameters(
                &params,
                num_examples,
                &settings,
                own_id,
                &rd_seed,
                &pairwise,
                &mut draws,
            )
            .unwrap();
            assert_eq!(masked.len(), params.len() + 1);
            assert_eq!(masked, expected, "node {own_id}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        let settings = MaskSettings {
            clipping_range: 8.0,
            target_range: 1 << 22,
            mod_range: 1 << 32,
            max_weight: 1000.0,
        };
        let mut rng = StdRng::seed_from_u64(0);
        let ok = [(vec![2], vec![0.5, -0.5])];
        let keys = [(2, vec![1; 44])];
        let run = |params: &[(Vec<usize>, Vec<f32>)],
                   settings: &MaskSettings,
                   seed: &[u8],
                   keys: &[(u64, Vec<u8>)],
                   rng: &mut StdRng| {
            masked_parameters(params, 10, settings, 1, seed, keys, rng)
        };
        assert!(run(&ok, &settings, &[0; 32], &keys, &mut rng).is_ok());
        assert!(run(
            &[(vec![3], vec![0.5])],
            &settings,
            &[0; 32],
            &keys,
            &mut rng
        )
        .is_err());
        assert!(run(
            &[(vec![usize::MAX, 2], vec![])],
            &settings,
            &[0; 32],
            &keys,
            &mut rng
        )
        .is_err());
        assert!(run(
            &[(vec![1], vec![f32::NAN])],
            &settings,
            &[0; 32],
            &keys,
            &mut rng
        )
        .is_err());
        assert!(run(&ok, &settings, &[0; 31], &keys, &mut rng).is_err());
        assert!(run(&ok, &settings, &[0; 32], &[(2, vec![1; 43])], &mut rng).is_err());
        assert!(run(&ok, &settings, &[0; 32], &[(1, vec![1; 44])], &mut rng).is_err());
        for bad in [
            MaskSettings {
                mod_range: 1,
                ..settings
            },
            MaskSettings {
                target_range: 0,
                ..settings
            },
            MaskSettings {
                clipping_range: -1.0,
                ..settings
            },
            MaskSettings {
                max_weight: 0.0,
                ..settings
            },
        ] {
            assert!(
                run(&ok, &bad, &[0; 32], &keys, &mut rng).is_err(),
                "{bad:?}"
            );
        }
    }

    /// One node's part in a test round: what the server learns only in the unmask
    /// stage (its `rd_seed`, recovered from shares), and its trained arrays.
    struct Client {
        id: u64,
        rd_seed: Vec<u8>,
        num_examples: usize,
        params: Vec<(Vec<usize>, Vec<f32>)>,
    }

    /// The pairwise key of two nodes: both derive the same bytes (ECDH is symmetric).
    fn pair_key(a: u64, b: u64) -> Vec<u8> {
        let (low, high) = (a.min(b), a.max(b));
        let mut key = low.to_le_bytes().repeat(3);
        key.extend_from_slice(&high.to_le_bytes().repeat(2));
        key.extend_from_slice(b"fern");
        key
    }

    /// The server's side, as `SecAggPlusWorkflow` (flwr 1.42.0,
    /// `server/workflow/secure_aggregation/secaggplus_workflow.py`) does it:
    /// collect_masked_vectors sums the uploads and takes the modulus; unmask subtracts
    /// each active node's private mask, removes the pairwise masks of each dropped node
    /// with its neighbours (added back if the dropped node's id is the larger,
    /// subtracted otherwise), takes the modulus, splits off the total weight factor,
    /// dequantises, shifts by `-(active - 1) * clipping_range` and multiplies by
    /// `target_range / q_total`.
    ///
    /// `unmasked` are the active nodes whose private masks the server removes (all of
    /// them in a real round).
    fn server_aggregate(
        uploads: &[Vec<Vec<u8>>],
        unmasked: &[&Client],
        dropped: &[&Client],
        neighbours: &[u64],
        settings: &MaskSettings,
    ) -> Vec<Vec<f64>> {
        let arrays: Vec<Vec<(Vec<usize>, Vec<i64>)>> = uploads
            .iter()
            .map(|upload| {
                upload
                    .iter()
                    .map(|b| npy::read_i64("m", b).unwrap())
                    .collect()
            })
            .collect();
        let shapes: Vec<Vec<usize>> = arrays[0].iter().map(|(s, _)| s.clone()).collect();
        let shape_refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
        let mut sum: Vec<Vec<i64>> = shapes.iter().map(|s| vec![0; s.iter().product()]).collect();
        let mut apply = |masks: Vec<Vec<i64>>, add: bool| {
            for (total, mask) in sum.iter_mut().zip(masks) {
                for (t, m) in total.iter_mut().zip(mask) {
                    *t = if add {
                        t.wrapping_add(m)
                    } else {
                        t.wrapping_sub(m)
                    };
                }
            }
        };
        for upload in arrays {
            apply(upload.into_iter().map(|(_, v)| v).collect(), true);
        }
        for client in unmasked {
            apply(
                pseudo_rand_gen(&client.rd_seed, settings.mod_range, &shape_refs).unwrap(),
                false,
            );
        }
        for client in dropped {
            for &neighbour in neighbours.iter().filter(|&&n| n != client.id) {
                let key = pair_key(client.id, neighbour);
                let mask = pseudo_rand_gen(&key, settings.mod_range, &shape_refs).unwrap();
                apply(mask, client.id > neighbour);
            }
        }
        for values in sum.iter_mut() {
            parameters_mod(values, settings.mod_range).unwrap();
        }
        let q_total = sum[0][0];
        let inv_dq_total_ratio = settings.target_range as f64 / q_total as f64;
        let offset = -((uploads.len() - 1) as f64) * settings.clipping_range;
        dequantize(&sum[1..], settings.clipping_range, settings.target_range)
            .into_iter()
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| (v + offset) * inv_dq_total_ratio)
                    .collect()
            })
            .collect()
    }

    /// Three nodes mask their updates; the server recovers the weighted average
    /// (FedAvg's) of those it unmasks, within the quantisation error: at most one step
    /// of `2 * clipping_range / target_range` per weight per node in the scaled domain,
    /// that is `n * 2 * clipping_range / q_total` after the server's final scaling, plus
    /// the weight factor's rounding of `num_examples / max_weight`.
    #[test]
    fn three_clients_unmask_to_the_weighted_average() {
        let settings = MaskSettings {
            clipping_range: 8.0,
            target_range: 1 << 22,
            mod_range: 1 << 32,
            max_weight: 1000.0,
        };
        let shapes = [vec![4, 3], vec![3], vec![]];
        let mut data_rng = StdRng::seed_from_u64(16);
        let clients: Vec<Client> = [
            (9_000_000_000_000_000_001u64, 120),
            (42, 300),
            (1 << 40, 75),
        ]
        .into_iter()
        .map(|(id, num_examples)| Client {
            id,
            rd_seed: (0..32).map(|_| data_rng.gen()).collect(),
            num_examples,
            params: shapes
                .iter()
                .map(|shape| {
                    let count = shape.iter().product();
                    let values = (0..count)
                        .map(|_| data_rng.gen_range(-3.0f32..3.0))
                        .collect();
                    (shape.clone(), values)
                })
                .collect(),
        })
        .collect();
        let ids: Vec<u64> = clients.iter().map(|c| c.id).collect();
        let mut rounding = StdRng::seed_from_u64(7);
        let uploads: Vec<Vec<Vec<u8>>> = clients
            .iter()
            .map(|client| {
                let keys: Vec<(u64, Vec<u8>)> = ids
                    .iter()
                    .filter(|&&id| id != client.id)
                    .map(|&id| (id, pair_key(client.id, id)))
                    .collect();
                masked_parameters(
                    &client.params,
                    client.num_examples,
                    &settings,
                    client.id,
                    &client.rd_seed,
                    &keys,
                    &mut rounding,
                )
                .unwrap()
            })
            .collect();

        let weighted_average = |members: &[&Client]| -> Vec<Vec<f64>> {
            let total: f64 = members.iter().map(|c| c.num_examples as f64).sum();
            (0..shapes.len())
                .map(|a| {
                    (0..members[0].params[a].1.len())
                        .map(|i| {
                            members
                                .iter()
                                .map(|c| c.num_examples as f64 * f64::from(c.params[a].1[i]))
                                .sum::<f64>()
                                / total
                        })
                        .collect()
                })
                .collect()
        };
        let check = |aggregate: Vec<Vec<f64>>, members: &[&Client]| {
            let expected = weighted_average(members);
            let q_total: f64 = members
                .iter()
                .map(|c| {
                    weight_factor(c.num_examples, 1000.0, 1 << 22)
                        .unwrap()
                        .q_ratio as f64
                })
                .sum();
            // The rounding moves each weight by up to 0.5 in q_total, on values up to 3;
            // float32 products add a little more.
            let bound = members.len() as f64 * 2.0 * settings.clipping_range / q_total
                + 2.0 * 3.0 * members.len() as f64 * 0.5 / q_total
                + 1e-6;
            let mut worst = 0.0f64;
            for (got, want) in aggregate.iter().flatten().zip(expected.iter().flatten()) {
                worst = worst.max((got - want).abs());
            }
            assert_eq!(aggregate.iter().flatten().count(), 16);
            assert!(worst <= bound, "error {worst} above {bound}");
        };

        let all: Vec<&Client> = clients.iter().collect();
        check(server_aggregate(&uploads, &all, &[], &ids, &settings), &all);

        // The third node drops after share_keys: the others masked against it, so the
        // server removes those pairwise masks with its reconstructed key.
        let (active, dropped) = (&all[..2], &all[2..]);
        check(
            server_aggregate(&uploads[..2], active, dropped, &ids, &settings),
            active,
        );

        // With one private mask left in, the sum is noise: the masks hide the updates.
        let summed = server_aggregate(&uploads, &all[1..], &[], &ids, &settings);
        assert!(summed.iter().flatten().any(|v| v.abs() > 1.0));
    }
}
