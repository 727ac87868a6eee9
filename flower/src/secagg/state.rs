//! The SecAgg+ stage machine of one node: Flower's `secaggplus_mod` with its
//! `SecAggPlusState`, `check_stage`, `check_configs` and the four stage handlers.
//!
//! [`SecAggPlusState::handle`] takes the `secaggplus_configs` record of a `train`
//! message and returns the `secaggplus_configs` record of the reply, as Python's
//! `ConfigRecord(res, False)`:
//!
//! | stage                    | reply entries, in order                                  |
//! |--------------------------|----------------------------------------------------------|
//! | `setup`                  | `pk1`: bytes, `pk2`: bytes (SubjectPublicKeyInfo PEM)    |
//! | `share_keys`             | `dsts`: list of ints, `ctxts`: list of bytes (Fernet)    |
//! | `collect_masked_vectors` | `masked_params`: list of bytes (`.npy`, one per array)   |
//! | `unmask`                 | `nids`: list of ints, `shares`: list of bytes            |
//!
//! An empty list goes out as Python sends one (see
//! [`ConfigRecord`]'s wire form). In the collect stage Python's
//! reply also carries the `ClientApp`'s `fitres.*` content with its arrays cleared;
//! building that is the caller's part.

use std::collections::BTreeMap;

use p384::SecretKey;
use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng};

use super::config;
use super::fernet;
use super::keys::{self, bytes_to_public_key, generate_shared_key};
use super::masking::{self, MaskSettings};
use super::plaintext::SharePlaintext;
use super::shamir::create_shares;
use super::stage::{key, Stage};
use super::SecAggError;
use crate::{ConfigRecord, ConfigValue};

/// What the collect stage's training returns: the trained arrays, each as its shape
/// and its values in C order, and the number of examples trained on.
pub type TrainedArrays = (Vec<(Vec<usize>, Vec<f32>)>, usize);

/// This node's two key pairs of a round: pair 1 makes the pairwise masks, pair 2
/// encrypts the shares.
#[derive(Clone)]
struct KeyPairs {
    sk1: SecretKey,
    /// `sk1` as PKCS#8 PEM: the secret shared for a dropped node's unmasking.
    sk1_bytes: Vec<u8>,
    pk1: Vec<u8>,
    sk2: SecretKey,
    pk2: Vec<u8>,
}

/// One node's SecAgg+ state across the stages of a round (Python's
/// `SecAggPlusState`, kept in the node's run context). Keep one per run.
#[derive(Clone)]
pub struct SecAggPlusState {
    stage: Stage,
    nid: u64,
    settings: Option<config::Setup>,
    keys: Option<KeyPairs>,
    /// The private mask seed, 32 bytes.
    rd_seed: Vec<u8>,
    /// Node id to its share of `rd_seed`, for each neighbour (and this node).
    rd_seed_share_dict: BTreeMap<u64, Vec<u8>>,
    /// Node id to its share of `sk1`, for each neighbour (and this node).
    sk1_share_dict: BTreeMap<u64, Vec<u8>>,
    /// Node id to the Fernet key shared with it through pair 2.
    ss2_dict: BTreeMap<u64, Vec<u8>>,
    /// The neighbours' public keys (pk1, pk2), in the order the server sent them.
    public_keys_dict: config::KeyDict,
}

impl std::fmt::Debug for SecAggPlusState {
    /// The stage and node only: the rest is secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecAggPlusState")
            .field("stage", &self.stage)
            .field("nid", &self.nid)
            .finish_non_exhaustive()
    }
}

impl Default for SecAggPlusState {
    fn default() -> Self {
        Self::new()
    }
}

impl SecAggPlusState {
    /// A node's state before any round: as after an `unmask`, so that the next
    /// stage must be `setup`.
    pub fn new() -> SecAggPlusState {
        SecAggPlusState {
            stage: Stage::Unmask,
            nid: 0,
            settings: None,
            keys: None,
            rd_seed: Vec::new(),
            rd_seed_share_dict: BTreeMap::new(),
            sk1_share_dict: BTreeMap::new(),
            ss2_dict: BTreeMap::new(),
            public_keys_dict: Vec::new(),
        }
    }

    /// The last stage this node completed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Answers one SecAgg+ message: `configs` is its `secaggplus_configs` record,
    /// `dst_node_id` the message's destination (this node's id, which setup records),
    /// and `train` runs the `ClientApp`'s training; it is called in the
    /// `collect_masked_vectors` stage only, after the neighbours' shares decrypted and
    /// checked. Returns the reply's `secaggplus_configs` record (see the module's
    /// table). On error the state is left as it was before the message.
    pub fn handle<E>(
        &mut self,
        configs: &ConfigRecord,
        dst_node_id: u64,
        train: impl FnOnce() -> Result<TrainedArrays, E>,
    ) -> Result<ConfigRecord, SecAggError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.handle_with(
            configs,
            dst_node_id,
            train,
            |params, num_examples, settings, own_id, rd_seed, pairwise_keys| {
                // The stochastic rounding's draws: a CSPRNG seeded by the OS, as the
                // rounding of each weight must not be predictable from outside.
                let mut rng = rand::rngs::StdRng::from_entropy();
                masking::masked_parameters(
                    params,
                    num_examples,
                    settings,
                    own_id,
                    rd_seed,
                    pairwise_keys,
                    &mut rng,
                )
            },
        )
    }

    /// [`handle`](Self::handle) with the masking function given in place of
    /// [`masking::masked_parameters`] (same arguments), so that the stage machine can
    /// be tested, against Python peers too, apart from the masking.
    pub fn handle_with<E, M>(
        &mut self,
        configs: &ConfigRecord,
        dst_node_id: u64,
        train: impl FnOnce() -> Result<TrainedArrays, E>,
        mask: M,
    ) -> Result<ConfigRecord, SecAggError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        M: FnOnce(
            &[(Vec<usize>, Vec<f32>)],
            usize,
            &MaskSettings,
            u64,
            &[u8],
            &[(u64, Vec<u8>)],
        ) -> Result<Vec<Vec<u8>>, SecAggError>,
    {
        let stage = config::next_stage(self.stage, configs)?;
        // Python saves its state only after a stage succeeds: work on a copy.
        let mut next = self.clone();
        next.stage = stage;
        let reply = match stage {
            Stage::Setup => next.setup(configs, dst_node_id)?,
            Stage::ShareKeys => next.share_keys(configs)?,
            Stage::CollectMaskedVectors => next.collect_masked_vectors(configs, train, mask)?,
            Stage::Unmask => next.unmask(configs)?,
        };
        *self = next;
        Ok(reply)
    }

    /// Flower's `_setup`: record the settings and answer with two fresh public keys.
    fn setup(&mut self, configs: &ConfigRecord, nid: u64) -> Result<ConfigRecord, SecAggError> {
        let settings = config::setup(configs)?;
        self.nid = nid;
        self.settings = Some(settings);
        self.rd_seed_share_dict.clear();
        self.sk1_share_dict.clear();
        self.ss2_dict.clear();
        let (sk1, pk1) = keys::generate_key_pair();
        let (sk2, pk2) = keys::generate_key_pair();
        let pairs = KeyPairs {
            sk1_bytes: keys::private_key_to_bytes(&sk1)?,
            pk1: keys::public_key_to_bytes(&pk1)?,
            sk1,
            pk2: keys::public_key_to_bytes(&pk2)?,
            sk2,
        };
        let reply = [
            (key::PUBLIC_KEY_1, ConfigValue::Bytes(pairs.pk1.clone())),
            (key::PUBLIC_KEY_2, ConfigValue::Bytes(pairs.pk2.clone())),
        ]
        .into_iter()
        .collect();
        self.keys = Some(pairs);
        Ok(reply)
    }

    /// Flower's `_share_keys`: check the key dict, make a fresh `rd_seed`, split it
    /// and `sk1` into shares, and encrypt each neighbour's shares for it.
    fn share_keys(&mut self, configs: &ConfigRecord) -> Result<ConfigRecord, SecAggError> {
        let dict = config::share_keys(configs)?;
        let (settings, pairs) = self.ready()?;
        self.public_keys_dict = dict;
        let neighbours = self.public_keys_dict.len();
        if (neighbours as i128) < i128::from(settings.threshold) {
            return Err(SecAggError::BelowThreshold {
                stage: Stage::ShareKeys.name(),
                available: neighbours,
                threshold: settings.threshold,
            });
        }
        let mut all_keys: Vec<&[u8]> = self
            .public_keys_dict
            .iter()
            .flat_map(|(_, [pk1, pk2])| [pk1.as_slice(), pk2.as_slice()])
            .collect();
        all_keys.sort_unstable();
        if all_keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(SecAggError::DuplicatePublicKeys);
        }
        let own = self.public_keys_dict.iter().find(|(id, _)| *id == self.nid);
        if !own.is_some_and(|(_, [pk1, pk2])| *pk1 == pairs.pk1 && *pk2 == pairs.pk2) {
            return Err(SecAggError::OwnKeys { node: self.nid });
        }
        // Python makes `share_num` shares and hands out the first ones in the dict's
        // order; it fails if the dict has more entries. Shares are independent
        // evaluations, so making only the ones handed out gives the same shares.
        if (neighbours as i128) > i128::from(settings.share_num) {
            return Err(SecAggError::TooManyNeighbours {
                neighbours,
                shares: settings.share_num,
            });
        }
        let threshold = usize::try_from(settings.threshold.max(0)).unwrap_or(usize::MAX);
        let mut rd_seed = vec![0u8; 32];
        OsRng.fill_bytes(&mut rd_seed);
        let b_shares = create_shares(&rd_seed, threshold, neighbours)?;
        let sk1_shares = create_shares(&pairs.sk1_bytes, threshold, neighbours)?;
        self.rd_seed = rd_seed;

        let mut dsts = Vec::new();
        let mut ciphertexts = Vec::new();
        let entries = self
            .public_keys_dict
            .iter()
            .zip(b_shares.into_iter().zip(sk1_shares));
        for ((nid, [_, pk2]), (b_share, sk1_share)) in entries {
            if *nid == self.nid {
                self.rd_seed_share_dict.insert(self.nid, b_share);
                self.sk1_share_dict.insert(self.nid, sk1_share);
                continue;
            }
            let public = bytes_to_public_key(pk2)
                .map_err(|source| SecAggError::PublicKey { node: *nid, source })?;
            let shared_key = generate_shared_key(&pairs.sk2, &public);
            let plaintext = SharePlaintext {
                src: self.nid,
                dst: *nid,
                rd_seed_share: b_share,
                sk1_share,
            }
            .concat();
            // The key is 44 bytes of urlsafe base64 by construction.
            let ciphertext = fernet::encrypt(&shared_key, &plaintext).map_err(|source| {
                SecAggError::Ciphertext {
                    src: self.nid,
                    source,
                }
            })?;
            self.ss2_dict.insert(*nid, shared_key);
            dsts.push(*nid);
            ciphertexts.push(ciphertext);
        }
        Ok([
            (key::DESTINATION_LIST, config::node_id_list(&dsts)),
            (key::CIPHERTEXT_LIST, ConfigValue::BytesList(ciphertexts)),
        ]
        .into_iter()
        .collect())
    }

    /// Flower's `_collect_masked_vectors`: decrypt and check the neighbours' shares,
    /// derive the pairwise keys, train, and answer with the masked update.
    fn collect_masked_vectors<E, M>(
        &mut self,
        configs: &ConfigRecord,
        train: impl FnOnce() -> Result<TrainedArrays, E>,
        mask: M,
    ) -> Result<ConfigRecord, SecAggError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        M: FnOnce(
            &[(Vec<usize>, Vec<f32>)],
            usize,
            &MaskSettings,
            u64,
            &[u8],
            &[(u64, Vec<u8>)],
        ) -> Result<Vec<Vec<u8>>, SecAggError>,
    {
        const STAGE: &str = "collect_masked_vectors";
        let (ciphertexts, srcs) = config::collect_masked_vectors(configs)?;
        let (settings, pairs) = self.ready()?;
        if ((ciphertexts.len() + 1) as i128) < i128::from(settings.threshold) {
            return Err(SecAggError::BelowThreshold {
                stage: STAGE,
                available: ciphertexts.len() + 1,
                threshold: settings.threshold,
            });
        }
        if ciphertexts.len() != srcs.len() {
            return Err(SecAggError::LengthMismatch {
                ciphertexts: ciphertexts.len(),
                sources: srcs.len(),
            });
        }
        let mut available = Vec::with_capacity(srcs.len());
        for (&src, ciphertext) in srcs.iter().zip(&ciphertexts) {
            let shared_key = self.ss2_dict.get(&src).ok_or(SecAggError::UnknownNode {
                stage: STAGE,
                node: src,
            })?;
            let plaintext = fernet::decrypt(shared_key, ciphertext)
                .map_err(|source| SecAggError::Ciphertext { src, source })?;
            let message = SharePlaintext::separate(&plaintext)
                .map_err(|source| SecAggError::Plaintext { src, source })?;
            if message.src != src {
                return Err(SecAggError::WrongSource {
                    own: self.nid,
                    src,
                    actual: message.src,
                });
            }
            if message.dst != self.nid {
                return Err(SecAggError::WrongDestination {
                    own: self.nid,
                    src,
                    dst: message.dst,
                });
            }
            available.push(src);
            self.rd_seed_share_dict.insert(src, message.rd_seed_share);
            self.sk1_share_dict.insert(src, message.sk1_share);
        }
        // Python derives these after training; a malformed key is found before here.
        let mut pairwise_keys = Vec::with_capacity(available.len());
        for &node in &available {
            let pk1 = self
                .public_keys_dict
                .iter()
                .find(|(id, _)| *id == node)
                .map(|(_, [pk1, _])| pk1)
                .ok_or(SecAggError::UnknownNode { stage: STAGE, node })?;
            let public = bytes_to_public_key(pk1)
                .map_err(|source| SecAggError::PublicKey { node, source })?;
            pairwise_keys.push((node, generate_shared_key(&pairs.sk1, &public)));
        }
        let (arrays, num_examples) = train().map_err(|error| SecAggError::Train(error.into()))?;
        let mask_settings = MaskSettings {
            clipping_range: settings.clipping_range,
            target_range: settings.target_range,
            mod_range: settings.mod_range,
            max_weight: settings.max_weight,
        };
        let masked = mask(
            &arrays,
            num_examples,
            &mask_settings,
            self.nid,
            &self.rd_seed,
            &pairwise_keys,
        )?;
        Ok([(key::MASKED_PARAMETERS, ConfigValue::BytesList(masked))]
            .into_iter()
            .collect())
    }

    /// Flower's `_unmask`: the `rd_seed` shares of the active neighbours and the
    /// `sk1` shares of the dead ones.
    fn unmask(&mut self, configs: &ConfigRecord) -> Result<ConfigRecord, SecAggError> {
        const STAGE: &str = "unmask";
        let (active, dead) = config::unmask(configs)?;
        let (settings, _) = self.ready()?;
        if (active.len() as i128) < i128::from(settings.threshold) {
            return Err(SecAggError::BelowThreshold {
                stage: STAGE,
                available: active.len(),
                threshold: settings.threshold,
            });
        }
        let share = |dict: &BTreeMap<u64, Vec<u8>>, node: u64| {
            dict.get(&node)
                .cloned()
                .ok_or(SecAggError::UnknownNode { stage: STAGE, node })
        };
        let mut shares = Vec::with_capacity(active.len() + dead.len());
        for &node in &active {
            shares.push(share(&self.rd_seed_share_dict, node)?);
        }
        for &node in &dead {
            shares.push(share(&self.sk1_share_dict, node)?);
        }
        let nids: Vec<u64> = active.into_iter().chain(dead).collect();
        Ok([
            (key::NODE_ID_LIST, config::node_id_list(&nids)),
            (key::SHARE_LIST, ConfigValue::BytesList(shares)),
        ]
        .into_iter()
        .collect())
    }

    /// The Fernet key shared with a neighbour, for tests that forge its messages.
    #[cfg(test)]
    pub(crate) fn shared_key_with(&self, node: u64) -> Option<&[u8]> {
        self.ss2_dict.get(&node).map(Vec::as_slice)
    }

    /// The settings and keys of setup, which the stage order guarantees are there
    /// after it; [`SecAggError::StageOrder`] otherwise.
    fn ready(&self) -> Result<(config::Setup, KeyPairs), SecAggError> {
        match (self.settings, &self.keys) {
            (Some(settings), Some(keys)) => Ok((settings, keys.clone())),
            _ => Err(SecAggError::StageOrder {
                expected: Stage::Setup,
                received: self.stage.name().to_string(),
            }),
        }
    }
}
