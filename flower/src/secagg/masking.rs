//! PLACEHOLDER, replaced at merge by the masking helper's `secagg/masking.rs`:
//! Flower's `_collect_masked_vectors` after decryption (quantisation, numpy's
//! MT19937 masks through `pseudo_rand_gen`, `factor_combine`, mod). Only the
//! signature and [`MaskSettings`] are fixed here, so that the stage machine builds.

use super::SecAggError;

/// The quantisation and masking settings the server sends in the setup stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskSettings {
    /// `clipping_range`: updates are clipped to ± this before quantisation.
    pub clipping_range: f64,
    /// `target_range`: the quantisation range.
    pub target_range: i64,
    /// `mod_range`: masks and the masked vector are taken modulo this.
    pub mod_range: i64,
    /// `max_weight`: the largest `num_examples` the weighting expects.
    pub max_weight: f64,
}

/// Flower's `_collect_masked_vectors` after decryption: the masked, quantised vector,
/// each array as `.npy` bytes as Python's `ndarray_to_bytes`.
///
/// `rd_seed` is the node's 32-byte private mask seed; `pairwise_keys` holds, for
/// each neighbour whose shares arrived (in arrival order), the 44 bytes
/// `generate_shared_key(sk1, its pk1)` returns, used as they are as the seed of the
/// pairwise mask (added if `own_id` > the neighbour's id, subtracted otherwise).
pub fn masked_parameters(
    params: &[(Vec<usize>, Vec<f32>)],
    num_examples: usize,
    settings: &MaskSettings,
    own_id: u64,
    rd_seed: &[u8],
    pairwise_keys: &[(u64, Vec<u8>)],
) -> Result<Vec<Vec<u8>>, SecAggError> {
    let _ = (
        params,
        num_examples,
        settings,
        own_id,
        rd_seed,
        pairwise_keys,
    );
    Err(SecAggError::Mask("not merged".into()))
}
