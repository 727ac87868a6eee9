//! SecAgg+'s stages and the names in its `ConfigRecord`s, as Flower's
//! `secaggplus_constants` spells them.

/// The `ConfigRecord` that carries SecAgg+'s configs, both ways.
pub const RECORD_KEY_CONFIGS: &str = "secaggplus_configs";

/// The stages of one SecAgg+ round, in order; after `Unmask` comes `Setup` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The server sends the settings; the node answers with two public keys.
    Setup,
    /// The server forwards the neighbours' public keys; the node answers with its
    /// shares, encrypted for each neighbour.
    ShareKeys,
    /// The server forwards the shares for the node (and the training instructions);
    /// the node trains and answers with its masked, quantised update.
    CollectMaskedVectors,
    /// The server names the surviving and dropped neighbours; the node answers with
    /// the shares that unmask the aggregate.
    Unmask,
}

impl Stage {
    /// The stages in protocol order: Flower's `Stage.all()`.
    pub const ALL: [Stage; 4] = [
        Stage::Setup,
        Stage::ShareKeys,
        Stage::CollectMaskedVectors,
        Stage::Unmask,
    ];

    /// The stage's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::ShareKeys => "share_keys",
            Stage::CollectMaskedVectors => "collect_masked_vectors",
            Stage::Unmask => "unmask",
        }
    }

    /// The stage a wire name names.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == name)
    }

    /// The stage that must follow this one (setup may also come at any time).
    pub fn next(self) -> Stage {
        match self {
            Stage::Setup => Stage::ShareKeys,
            Stage::ShareKeys => Stage::CollectMaskedVectors,
            Stage::CollectMaskedVectors => Stage::Unmask,
            Stage::Unmask => Stage::Setup,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The keys of SecAgg+'s configs: Flower's `Key`.
pub mod key {
    /// The stage (every message from the server).
    pub const STAGE: &str = "stage";
    /// Setup: the number of sampled nodes.
    pub const SAMPLE_NUMBER: &str = "sample_num";
    /// Setup: the number of shares each secret is split into.
    pub const SHARE_NUMBER: &str = "share_num";
    /// Setup: the number of shares that reconstruct a secret.
    pub const THRESHOLD: &str = "threshold";
    /// Setup: updates are clipped to ± this before quantisation.
    pub const CLIPPING_RANGE: &str = "clipping_range";
    /// Setup: the quantisation range.
    pub const TARGET_RANGE: &str = "target_range";
    /// Setup: the modulus of masks and masked vectors.
    pub const MOD_RANGE: &str = "mod_range";
    /// Setup: the largest number of examples the weighting expects.
    pub const MAX_WEIGHT: &str = "max_weight";
    /// Setup reply: the public key of the pairwise masks.
    pub const PUBLIC_KEY_1: &str = "pk1";
    /// Setup reply: the public key that encrypts the shares.
    pub const PUBLIC_KEY_2: &str = "pk2";
    /// Share-keys reply: the destination of each ciphertext.
    pub const DESTINATION_LIST: &str = "dsts";
    /// Share-keys reply and collect stage: the ciphertexts.
    pub const CIPHERTEXT_LIST: &str = "ctxts";
    /// Collect stage: the source of each ciphertext.
    pub const SOURCE_LIST: &str = "srcs";
    /// Collect reply: the masked update's arrays as `.npy` bytes.
    pub const MASKED_PARAMETERS: &str = "masked_params";
    /// Unmask stage: the neighbours still in the round.
    pub const ACTIVE_NODE_ID_LIST: &str = "active_nids";
    /// Unmask stage: the neighbours that dropped out.
    pub const DEAD_NODE_ID_LIST: &str = "dead_nids";
    /// Unmask reply: whose secret each share is of.
    pub const NODE_ID_LIST: &str = "nids";
    /// Unmask reply: the shares.
    pub const SHARE_LIST: &str = "shares";
}
