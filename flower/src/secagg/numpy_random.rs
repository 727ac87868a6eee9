//! numpy's legacy `RandomState`, as far as Flower's SecAgg+ uses it.
//!
//! Every SecAgg+ mask is `pseudo_rand_gen(seed, mod_range, shapes)`
//! (`flwr/common/secure_aggregation/secaggplus_utils.py`): the seed's bytes folded into
//! a 32-bit integer, `np.random.RandomState(seed32)`, then one
//! `randint(0, mod_range - 1, shape, dtype=np.int64)` per array. Python nodes and the
//! server must draw the very same integers, so this module follows numpy 2.x exactly:
//!
//! - the generator is MT19937 (the [`rand_mt`] crate's reference implementation);
//! - an integer seed goes through `_legacy_seeding` in `numpy/random/_mt19937.pyx`,
//!   which calls `mt19937_seed` (`numpy/random/src/mt19937/mt19937.c`): Matsumoto and
//!   Nishimura's `init_genrand`, which is [`rand_mt::Mt::new`]. numpy seeds with
//!   `init_by_array` only for a sequence of integers, which Flower never passes;
//! - `randint` with `dtype=np.int64` is `_rand_int64` in
//!   `numpy/random/_bounded_integers.pyx`, called by `RandomState.randint`
//!   (`numpy/random/mtrand.pyx`) with `_masked=True`: the legacy masked rejection
//!   sampling of `random_bounded_uint64_fill` in
//!   `numpy/random/src/distributions/distributions.c` ([`RandInt64`]);
//! - 64-bit words are `mt19937_next64` (high word first) and uniform doubles
//!   `mt19937_next_double` (`numpy/random/src/mt19937/mt19937.h`), which is what
//!   `np.random.rand` returns after `np.random.seed` ([`next_double`]).

use rand::RngCore;
use rand_mt::Mt;

use super::SecAggError;

/// numpy's legacy `RandomState` over MT19937, seeded with a 32-bit integer.
///
/// Not a cryptographic generator: it makes SecAgg+ masks from secret seeds, as Flower
/// does, and replays numpy's draws in tests.
#[derive(Clone, Debug)]
pub struct RandomState {
    mt: Mt,
}

impl RandomState {
    /// `np.random.RandomState(seed)` (and `np.random.seed(seed)`) for an integer seed:
    /// `mt19937_seed`, that is `init_genrand(seed)`.
    pub fn new(seed: u32) -> Self {
        Self { mt: Mt::new(seed) }
    }

    /// The generator `pseudo_rand_gen` makes from `seed`: see [`flower_seed`].
    pub fn from_flower_seed(seed: &[u8]) -> Result<Self, SecAggError> {
        flower_seed(seed).map(Self::new)
    }

    /// One 32-bit output of MT19937 (`mt19937_next32`).
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// `mt19937_next64`: two 32-bit outputs, the first one high.
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.mt.next_u32());
        (high << 32) | u64::from(self.mt.next_u32())
    }

    /// `random_sample()` / `np.random.rand()`: a double in `[0, 1)`; see [`next_double`].
    pub fn random_sample(&mut self) -> f64 {
        next_double(self)
    }

    /// `randint(low, high, size=count, dtype=np.int64)`: `count` integers in
    /// `[low, high)`, in C order. An error if `low >= high`, as numpy raises.
    pub fn randint_i64(
        &mut self,
        low: i64,
        high: i64,
        count: usize,
    ) -> Result<Vec<i64>, SecAggError> {
        let range = RandInt64::new(low, high)?;
        Ok((0..count).map(|_| range.sample(self)).collect())
    }
}

/// Lets a [`RandomState`] stand where a caller-given RNG is asked for (the stochastic
/// rounding of [`quantize`](super::quantize)), so that tests replay the exact draws of
/// `np.random.seed(seed); np.random.rand(...)`.
impl RngCore for RandomState {
    fn next_u32(&mut self) -> u32 {
        RandomState::next_u32(self)
    }

    fn next_u64(&mut self) -> u64 {
        RandomState::next_u64(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let word = RandomState::next_u32(self).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// A uniform double in `[0, 1)` from two 32-bit words of `rng`, as numpy's MT19937
/// makes one (`mt19937_next_double`): `((a >> 5) * 2^26 + (b >> 6)) / 2^53`, with `a`
/// drawn first. With a [`RandomState`] as `rng` this is exactly `np.random.rand()`.
pub fn next_double(rng: &mut impl RngCore) -> f64 {
    let a = rng.next_u32() >> 5;
    let b = rng.next_u32() >> 6;
    (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
}

/// The 32-bit seed `pseudo_rand_gen` gives `RandomState`: the XOR of the seed's
/// little-endian 32-bit words (0 for no bytes). An error if the length is not a
/// multiple of 4, where Python's `assert` fails.
pub fn flower_seed(seed: &[u8]) -> Result<u32, SecAggError> {
    if seed.len() % 4 != 0 {
        return Err(SecAggError::Mask(format!(
            "a mask seed must be a whole number of 32-bit words, got {} bytes",
            seed.len()
        )));
    }
    Ok(seed
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        .fold(0, |acc, word| acc ^ word))
}

/// The bounds of `randint(low, high, dtype=np.int64)` on a legacy `RandomState`,
/// prepared once for many draws.
///
/// Follows `_rand_int64` (`high - 1` is the inclusive top, `rng = high - 1 - low`,
/// `off = low`) and `random_bounded_uint64_fill` with `use_masked`: no draw when
/// `rng == 0`; for `rng < 2^32 - 1`, 32-bit draws masked to the smallest `2^k - 1 >=
/// rng` and rejected while above `rng`; exactly `2^32 - 1`, one unmasked 32-bit draw;
/// above that, the same with 64-bit draws ([`RandomState::next_u64`]), and `2^64 - 1`
/// unmasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandInt64 {
    off: u64,
    rng: u64,
    mask: u64,
}

impl RandInt64 {
    /// Integers in `[low, high)`; an error if the range is empty (numpy's `low >= high`).
    pub fn new(low: i64, high: i64) -> Result<Self, SecAggError> {
        if low >= high {
            return Err(SecAggError::Mask(format!(
                "randint needs low < high, got low {low} and high {high}"
            )));
        }
        // `high - 1 - low` fits in u64 for any i64 pair; casts reinterpret bits as C does.
        let rng = ((high - 1) as u64).wrapping_sub(low as u64);
        Ok(Self {
            off: low as u64,
            rng,
            mask: gen_mask(rng),
        })
    }

    /// One draw, consuming the generator's words exactly as numpy does.
    pub fn sample(&self, state: &mut RandomState) -> i64 {
        let value = if self.rng == 0 {
            0
        } else if self.rng < 0xFFFF_FFFF {
            // `buffered_bounded_masked_uint32`: for 32 bits the buffer is unused.
            let mask = self.mask as u32;
            loop {
                let value = state.next_u32() & mask;
                if u64::from(value) <= self.rng {
                    break u64::from(value);
                }
            }
        } else if self.rng == 0xFFFF_FFFF {
            u64::from(state.next_u32())
        } else if self.rng == u64::MAX {
            state.next_u64()
        } else {
            // `bounded_masked_uint64`.
            loop {
                let value = state.next_u64() & self.mask;
                if value <= self.rng {
                    break value;
                }
            }
        };
        self.off.wrapping_add(value) as i64
    }
}

/// The smallest `2^k - 1` at or above `max` (`gen_mask` in `distributions.c`).
fn gen_mask(max: u64) -> u64 {
    let mut mask = max;
    for shift in [1, 2, 4, 8, 16, 32] {
        mask |= mask >> shift;
    }
    mask
}

/// Flower's `pseudo_rand_gen(seed, num_range, shapes)`: one array of `np.int64` per
/// shape, each in `[0, num_range - 2]` (Flower passes `num_range - 1` as numpy's
/// exclusive top), values in C order; a shape `()` holds one value.
///
/// An error for a seed whose length is not a multiple of 4, or `num_range < 2`
/// (where numpy raises on the empty range).
pub fn pseudo_rand_gen(
    seed: &[u8],
    num_range: i64,
    shapes: &[&[usize]],
) -> Result<Vec<Vec<i64>>, SecAggError> {
    let mut state = RandomState::from_flower_seed(seed)?;
    let range = mask_range(num_range)?;
    Ok(shapes
        .iter()
        .map(|shape| {
            let count = shape.iter().product();
            (0..count).map(|_| range.sample(&mut state)).collect()
        })
        .collect())
}

/// The `randint` bounds of a SecAgg+ mask: `[0, num_range - 1)`, as Flower calls it.
pub fn mask_range(num_range: i64) -> Result<RandInt64, SecAggError> {
    if num_range < 2 {
        return Err(SecAggError::Mask(format!(
            "the modulus range must be at least 2, got {num_range}"
        )));
    }
    RandInt64::new(0, num_range - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Written by `tests/fixtures/make_secagg_masks.py` with flwr 1.42.0 and numpy 2.4.6.
    const FIXTURE: &str = include_str!("../../tests/fixtures/secagg_masks.json");

    fn fixture(key: &str) -> Vec<Value> {
        let all: Value = serde_json::from_str(FIXTURE).unwrap();
        all[key].as_array().unwrap().clone()
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn usizes(value: &Value) -> Vec<usize> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    }

    #[test]
    fn masks_equal_flowers_pseudo_rand_gen() {
        let cases = fixture("pseudo_rand_gen");
        assert_eq!(cases.len(), 10);
        for case in cases {
            let seed = unhex(case["seed"].as_str().unwrap());
            let num_range = case["mod_range"].as_i64().unwrap();
            let shapes: Vec<Vec<usize>> = case["shapes"]
                .as_array()
                .unwrap()
                .iter()
                .map(usizes)
                .collect();
            let shape_refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
            let expected: Vec<Vec<i64>> = case["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    a.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect()
                })
                .collect();
            for dtype in case["dtypes"].as_array().unwrap() {
                assert_eq!(dtype, "int64");
            }
            let masks = pseudo_rand_gen(&seed, num_range, &shape_refs).unwrap();
            assert_eq!(masks, expected, "seed {} mod {num_range}", case["seed"]);
            assert!(masks
                .iter()
                .flatten()
                .all(|&v| (0..num_range - 1).contains(&v)));
        }
    }

    #[test]
    fn random_sample_equals_np_random_rand_after_seed() {
        for case in fixture("rand") {
            let seed = case["seed"].as_u64().unwrap() as u32;
            let mut state = RandomState::new(seed);
            for bits in case["bits"].as_array().unwrap() {
                assert_eq!(state.random_sample().to_bits(), bits.as_u64().unwrap());
            }
        }
    }

    #[test]
    fn seeds_fold_little_endian_words() {
        assert_eq!(flower_seed(&[]).unwrap(), 0);
        assert_eq!(flower_seed(&[1, 0, 0, 0, 0, 1, 0, 0]).unwrap(), 0x0000_0101);
        assert_eq!(flower_seed(&[0xff; 8]).unwrap(), 0);
        assert!(matches!(flower_seed(&[1, 2, 3]), Err(SecAggError::Mask(_))));
        assert!(pseudo_rand_gen(&[0; 5], 16, &[&[2]]).is_err());
    }

    #[test]
    fn randint_refuses_empty_ranges_and_covers_full_ones() {
        assert!(RandInt64::new(5, 5).is_err());
        assert!(RandInt64::new(6, 5).is_err());
        assert!(mask_range(1).is_err());
        assert!(mask_range(i64::MIN).is_err());
        // All of i64 but its top: masked 64-bit draws (mask 2^64 - 1), high word first.
        let mut a = RandomState::new(3);
        let mut b = RandomState::new(3);
        let full = RandInt64::new(i64::MIN, i64::MAX).unwrap();
        let value = full.sample(&mut a);
        let high = u64::from(b.next_u32());
        let low = u64::from(b.next_u32());
        let word = (high << 32) | low;
        assert_ne!(word, u64::MAX, "this seed's first word would be rejected");
        assert_eq!(value, (i64::MIN as u64).wrapping_add(word) as i64);
        assert_eq!(a.next_u32(), b.next_u32());
        // A one-value range draws nothing.
        let one = RandInt64::new(-7, -6).unwrap();
        let mut c = RandomState::new(3);
        assert_eq!(one.sample(&mut c), -7);
        assert_eq!(c.next_u32(), RandomState::new(3).next_u32());
    }
}
