//! Flower's SecAgg+ quantisation and the integer arithmetic around it, bit for bit.
//!
//! Follows `flwr/common/secure_aggregation/quantization.py` and
//! `ndarrays_arithmetic.py` of flwr 1.42.0 with numpy 2.x's dtypes at every step:
//!
//! - `parameters_multiply(arrays, dq_ratio)` multiplies `float32` arrays by a Python
//!   float, which NEP 50 casts to `float32` first: the product is a `float32` product
//!   ([`multiply`]);
//! - `quantize` clips to `±clipping_range` and shifts and scales in `float32` (the
//!   Python floats again cast to `float32`), takes `np.ceil` in `float32`, casts to
//!   `int32`, then steps down by one where a uniform draw is below `ret - arr`, a
//!   difference `int32 - float32` that numpy computes in `float64` ([`quantize`]);
//! - `factor_combine` prepends `np.array([q_ratio])`, an `int64` array of shape `(1,)`,
//!   and every later sum with the `int64` masks is `int64`, wrapping as numpy's does
//!   ([`factor_combine`], [`parameters_mod`]);
//! - `dequantize` casts to `float64` and maps `[0, target_range]` back onto
//!   `[-clipping_range, clipping_range]` ([`dequantize`]).
//!
//! The stochastic rounding takes its draws from a caller-given [`RngCore`], turned into
//! doubles as numpy turns MT19937's words into them ([`next_double`]): a node passes a
//! cryptographic generator, and tests pass a [`RandomState`](super::numpy_random::RandomState)
//! seeded as `np.random.seed(seed)` to replay Python's exact draws.

use rand::RngCore;

use super::numpy_random::next_double;
use super::SecAggError;

/// An integer array: its shape and its values in C order.
pub type IntArray = (Vec<usize>, Vec<i64>);

/// The largest integer up to which every integer is an exact `f64`.
const EXACT_F64: i64 = 1 << 53;

/// How much a node's update weighs in the sum: `q_ratio`, the integer factor it sends
/// in front of its arrays, and `dq_ratio = q_ratio / target_range`, which scales its
/// arrays before quantisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightFactor {
    /// `round(num_examples / max_weight * target_range)` (Python's `round`: ties to even).
    pub q_ratio: i64,
    /// `q_ratio / target_range` as a Python `float`.
    pub dq_ratio: f64,
}

/// The weight factor `_collect_masked_vectors` computes from `num_examples`.
///
/// An error for a `max_weight` that is not a positive finite number, a `target_range`
/// outside `1..=2^53`, or a `q_ratio` beyond `2^53` in magnitude (where Python's exact
/// integer division and an `f64` division could part ways).
pub fn weight_factor(
    num_examples: usize,
    max_weight: f64,
    target_range: i64,
) -> Result<WeightFactor, SecAggError> {
    if !(max_weight.is_finite() && max_weight > 0.0) {
        return Err(SecAggError::Mask(format!(
            "max_weight must be a positive number, got {max_weight}"
        )));
    }
    check_target_range(target_range)?;
    // Python: `num_examples / max_weight`, the int first rounded to a float.
    let ratio = num_examples as f64 / max_weight;
    let q_ratio = (ratio * target_range as f64).round_ties_even();
    if !q_ratio.is_finite() || q_ratio.abs() > EXACT_F64 as f64 {
        return Err(SecAggError::Mask(format!(
            "the weight factor of {num_examples} examples over max_weight {max_weight} \
             with target_range {target_range} is {q_ratio}, beyond 2^53"
        )));
    }
    let q_ratio = q_ratio as i64;
    Ok(WeightFactor {
        q_ratio,
        // Both are exact as f64, so one division is Python's correctly rounded `int / int`.
        dq_ratio: q_ratio as f64 / target_range as f64,
    })
}

/// `parameters_multiply` for a `float32` array: each value times `multiplier` cast to
/// `float32`, in `float32`.
pub fn multiply(values: &[f32], multiplier: f64) -> Vec<f32> {
    let multiplier = multiplier as f32;
    values.iter().map(|&value| value * multiplier).collect()
}

/// Flower's `quantize(arrays, clipping_range, target_range)`: each `float32` array
/// mapped to `int32` values in about `[0, target_range]`, with stochastic rounding
/// drawing one double from `rng` per value, array after array, in C order.
///
/// An error for settings Python could not use (a `clipping_range` that is not a
/// positive finite number, a `target_range` outside `1..=2^53`), for a NaN weight
/// (numpy would cast it to an arbitrary integer), and for a value beyond `int32`.
pub fn quantize(
    arrays: &[Vec<f32>],
    clipping_range: f64,
    target_range: i64,
    rng: &mut impl RngCore,
) -> Result<Vec<Vec<i32>>, SecAggError> {
    arrays
        .iter()
        .map(|values| quantize_array(values, clipping_range, target_range, rng))
        .collect()
}

/// [`quantize`] for one array.
pub fn quantize_array(
    values: &[f32],
    clipping_range: f64,
    target_range: i64,
    rng: &mut impl RngCore,
) -> Result<Vec<i32>, SecAggError> {
    let (clip, quantizer) = quantizer(clipping_range, target_range)?;
    values
        .iter()
        .map(|&value| {
            if value.is_nan() {
                return Err(SecAggError::Mask(
                    "a weight is NaN and cannot be quantised".to_string(),
                ));
            }
            // `(np.clip(arr, -c, c) + c) * quantizer`, all in float32.
            let pre = (value.clamp(-clip, clip) + clip) * quantizer;
            let ceil = pre.ceil();
            // 2^31 is exact in f32; anything at or above it does not fit in int32.
            if !(ceil >= i32::MIN as f32 && ceil < 2_147_483_648.0) {
                return Err(SecAggError::Mask(format!(
                    "the quantised weight {ceil} does not fit in int32 \
                     (target_range {target_range} is too large)"
                )));
            }
            let rounded = ceil as i32;
            // `ret[rand < ret - arr] -= 1`: `int32 - float32` is a float64 difference.
            let draw = next_double(rng);
            if draw < f64::from(rounded) - f64::from(pre) {
                Ok(rounded - 1)
            } else {
                Ok(rounded)
            }
        })
        .collect()
}

/// The clipping bound and the scale of `quantize`, as the `float32` values numpy
/// applies to a `float32` array.
fn quantizer(clipping_range: f64, target_range: i64) -> Result<(f32, f32), SecAggError> {
    if !(clipping_range.is_finite() && clipping_range > 0.0) {
        return Err(SecAggError::Mask(format!(
            "clipping_range must be a positive number, got {clipping_range}"
        )));
    }
    check_target_range(target_range)?;
    let quantizer = target_range as f64 / (2.0 * clipping_range);
    Ok((clipping_range as f32, quantizer as f32))
}

fn check_target_range(target_range: i64) -> Result<(), SecAggError> {
    if (1..=EXACT_F64).contains(&target_range) {
        Ok(())
    } else {
        Err(SecAggError::Mask(format!(
            "target_range must be in 1..=2^53, got {target_range}"
        )))
    }
}

/// Flower's `dequantize`: integers back to `float64` in `[-clipping_range,
/// clipping_range]` (`v * (2 * clipping_range / target_range) - clipping_range`).
pub fn dequantize(arrays: &[Vec<i64>], clipping_range: f64, target_range: i64) -> Vec<Vec<f64>> {
    let quantizer = (2.0 * clipping_range) / target_range as f64;
    let shift = -clipping_range;
    arrays
        .iter()
        .map(|values| {
            values
                .iter()
                .map(|&value| value as f64 * quantizer + shift)
                .collect()
        })
        .collect()
}

/// Flower's `factor_combine(q_ratio, arrays)`: the factor as an `int64` array of shape
/// `(1,)` in front of the arrays, widened from `int32` to `int64` as numpy widens them
/// when the `int64` masks are added.
pub fn factor_combine(q_ratio: i64, arrays: Vec<(Vec<usize>, Vec<i32>)>) -> Vec<IntArray> {
    std::iter::once((vec![1], vec![q_ratio]))
        .chain(
            arrays
                .into_iter()
                .map(|(shape, values)| (shape, values.into_iter().map(i64::from).collect())),
        )
        .collect()
}

/// Flower's `parameters_mod(arrays, divisor)` on one array, in place: `v & (divisor - 1)`
/// for a power of two, else Python's floor `v % divisor`. An error unless `divisor > 0`.
pub fn parameters_mod(values: &mut [i64], divisor: i64) -> Result<(), SecAggError> {
    if divisor <= 0 {
        return Err(SecAggError::Mask(format!(
            "the modulus must be positive, got {divisor}"
        )));
    }
    if divisor.count_ones() == 1 {
        let mask = divisor - 1;
        values.iter_mut().for_each(|value| *value &= mask);
    } else {
        values
            .iter_mut()
            .for_each(|value| *value = value.rem_euclid(divisor));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secagg::numpy_random::RandomState;
    use serde_json::Value;

    /// Written by `tests/fixtures/make_secagg_masks.py` with flwr 1.42.0 and numpy 2.4.6.
    const FIXTURE: &str = include_str!("../../tests/fixtures/secagg_masks.json");

    fn fixture(key: &str) -> Vec<Value> {
        let all: Value = serde_json::from_str(FIXTURE).unwrap();
        all[key].as_array().unwrap().clone()
    }

    fn f32s(bits: &Value) -> Vec<f32> {
        bits.as_array()
            .unwrap()
            .iter()
            .map(|b| f32::from_bits(b.as_u64().unwrap() as u32))
            .collect()
    }

    #[test]
    fn quantize_equals_flowers_for_the_same_draws() {
        let cases = fixture("quantize");
        assert_eq!(cases.len(), 3);
        for case in cases {
            let arrays: Vec<Vec<f32>> = case["arrays"]
                .as_array()
                .unwrap()
                .iter()
                .map(f32s)
                .collect();
            let expected: Vec<Vec<i32>> = case["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    a.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap() as i32)
                        .collect()
                })
                .collect();
            for dtype in case["dtypes"].as_array().unwrap() {
                assert_eq!(dtype, "int32");
            }
            let clipping_range = case["clipping_range"].as_f64().unwrap();
            let target_range = case["target_range"].as_i64().unwrap();
            let mut draws = RandomState::new(case["seed"].as_u64().unwrap() as u32);
            let quantized = quantize(&arrays, clipping_range, target_range, &mut draws).unwrap();
            assert_eq!(quantized, expected);
            // With other draws some value rounds the other way: the draws are used.
            let mut other = RandomState::new(case["seed"].as_u64().unwrap() as u32 + 1);
            assert_ne!(
                quantize(&arrays, clipping_range, target_range, &mut other).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn multiply_equals_parameters_multiply_in_float32() {
        for case in fixture("multiply") {
            let values = f32s(&case["values"]);
            let dq_ratio = f64::from_bits(case["dq_ratio"].as_u64().unwrap());
            let product: Vec<u32> = multiply(&values, dq_ratio)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            let expected: Vec<u32> = f32s(&case["product"]).iter().map(|v| v.to_bits()).collect();
            assert_eq!(product, expected);
        }
    }

    #[test]
    fn weight_factor_rounds_half_to_even_as_python() {
        // 2.5 and 3.5 are ties: Python's round gives 2 and 4.
        assert_eq!(weight_factor(5, 2.0, 1).unwrap().q_ratio, 2);
        assert_eq!(weight_factor(7, 2.0, 1).unwrap().q_ratio, 4);
        let factor = weight_factor(37, 1000.0, 1 << 22).unwrap();
        assert_eq!(factor.q_ratio, 155_189); // round(0.037 * 4194304) = round(155189.248)
        assert_eq!(factor.dq_ratio, 155_189.0 / 4_194_304.0);
        assert!(weight_factor(1, 0.0, 10).is_err());
        assert!(weight_factor(1, f64::NAN, 10).is_err());
        assert!(weight_factor(1, 1.0, 0).is_err());
        assert!(weight_factor(usize::MAX, 1e-300, 1 << 22).is_err());
    }

    #[test]
    fn quantize_refuses_what_python_cannot_quantise() {
        let mut rng = RandomState::new(0);
        assert!(quantize_array(&[f32::NAN], 1.0, 10, &mut rng).is_err());
        assert!(quantize_array(&[1.0], 0.0, 10, &mut rng).is_err());
        assert!(quantize_array(&[1.0], f64::INFINITY, 10, &mut rng).is_err());
        assert!(quantize_array(&[1.0], 1.0, 0, &mut rng).is_err());
        // 2^31 overflows int32; 2^31 - 2^7 (the f32 just below) still fits.
        assert!(quantize_array(&[1.0], 1.0, 1 << 31, &mut rng).is_err());
        assert_eq!(
            quantize_array(&[1.0], 1.0, (1 << 31) - 128, &mut rng).unwrap(),
            vec![i32::MAX - 127]
        );
        // Infinities clip, as np.clip clips them.
        assert_eq!(
            quantize_array(&[f32::INFINITY, f32::NEG_INFINITY], 1.0, 10, &mut rng).unwrap(),
            vec![10, 0]
        );
    }

    #[test]
    fn dequantize_inverts_the_scale() {
        let restored = dequantize(&[vec![0, 5, 10]], 2.0, 10);
        assert_eq!(restored, vec![vec![-2.0, 0.0, 2.0]]);
    }

    #[test]
    fn mod_masks_powers_of_two_and_floors_the_rest() {
        let mut values = vec![-1, 5, 1 << 33, i64::MIN];
        parameters_mod(&mut values, 1 << 32).unwrap();
        assert_eq!(values, vec![(1 << 32) - 1, 5, 0, 0]);
        let mut values = vec![-1, 7, 1_000_003, -2_000_007];
        parameters_mod(&mut values, 1_000_003).unwrap();
        assert_eq!(values, vec![1_000_002, 7, 0, 1_000_002]);
        assert!(parameters_mod(&mut values, 0).is_err());
    }

    #[test]
    fn factor_combine_prepends_the_factor() {
        let combined = factor_combine(9, vec![(vec![2], vec![-1, 3]), (vec![], vec![4])]);
        assert_eq!(
            combined,
            vec![
                (vec![1], vec![9]),
                (vec![2], vec![-1, 3]),
                (vec![], vec![4])
            ]
        );
    }
}
