//! The client side of Flower's SecAgg+ (`secaggplus_mod` of `flwr==1.42.0`), byte
//! for byte: a node that takes part in a `SecAggPlusWorkflow` round next to Python
//! SuperNodes.
//!
//! - [`keys`]: P-384 key pairs, their PEM bytes, and ECDH + HKDF-SHA256 shared keys;
//! - [`fernet`]: the Fernet tokens that carry shares between neighbours;
//! - [`gf128`] and [`shamir`]: PyCryptodome's Shamir secret sharing, with Flower's
//!   16-byte chunks and index prefix;
//! - [`plaintext`]: the layout of a share message;
//! - [`stage`] and [`state`]: the stage machine ([`SecAggPlusState`]) that answers
//!   each stage's `ConfigRecord`;
//! - [`masking`]: the masked, quantised update of the collect stage, from
//!   [`quantize`] (Flower's quantisation with stochastic rounding, and its
//!   arithmetic) and [`numpy_random`] (numpy's legacy `RandomState`, which makes
//!   every mask).

mod config;
pub mod fernet;
pub mod gf128;
pub mod keys;
pub mod masking;
pub mod numpy_random;
pub mod plaintext;
#[cfg(test)]
mod protocol_tests;
pub mod quantize;
pub mod shamir;
pub mod stage;
pub mod state;

use thiserror::Error;

pub use fernet::FernetError;
pub use keys::KeyError;
pub use masking::MaskSettings;
pub use plaintext::{PlaintextError, SharePlaintext};
pub use shamir::ShamirError;
pub use stage::{Stage, RECORD_KEY_CONFIGS};
pub use state::{SecAggPlusState, TrainedArrays};

/// Why a SecAgg+ stage cannot be answered. Each is an error reply of the node, which
/// keeps its state as it was before the message (as Python, which saves the state
/// only after a stage succeeds) and keeps serving.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SecAggError {
    /// A config the stage needs is missing (`stage` is "any" for the `stage` key).
    #[error("stage {stage}: the required key `{key}` is missing from the ConfigRecord")]
    MissingKey {
        /// The stage being answered.
        stage: &'static str,
        /// The missing key.
        key: String,
    },
    /// A config has another type than the stage needs.
    #[error("stage {stage}: the value for the key `{key}` must be {expected}")]
    WrongType {
        /// The stage being answered.
        stage: &'static str,
        /// The key.
        key: String,
        /// The type it must have.
        expected: &'static str,
    },
    /// A setting does not fit the node's integers.
    #[error("the setting `{key}` is out of range: {reason}")]
    OutOfRange {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The server skipped or repeated a stage (or named an unknown one).
    #[error("abort secure aggregation: expect {expected} stage, but receive {received} stage")]
    StageOrder {
        /// The stage that must come next (or setup).
        expected: Stage,
        /// The stage the server sent.
        received: String,
    },
    /// A key of the share-keys stage's dict is not a node id.
    #[error("stage share_keys: the key `{key}` is not a node id")]
    BadNodeId {
        /// The key.
        key: String,
    },
    /// A list of node ids holds a negative int.
    #[error("stage {stage}: {id} is not a node id")]
    NotANodeId {
        /// The stage being answered.
        stage: &'static str,
        /// The int.
        id: i64,
    },
    /// Fewer neighbours than the reconstruction threshold.
    #[error(
        "stage {stage}: {available} neighbours available, fewer than the threshold {threshold}"
    )]
    BelowThreshold {
        /// The stage being answered.
        stage: &'static str,
        /// How many there are (the node included).
        available: usize,
        /// The threshold of the setup stage.
        threshold: i64,
    },
    /// More neighbours than the secrets are split into (`share_num`).
    #[error(
        "stage share_keys: {neighbours} neighbours, more than the {shares} shares of each secret"
    )]
    TooManyNeighbours {
        /// The neighbours, the node included.
        neighbours: usize,
        /// `share_num` of the setup stage.
        shares: i64,
    },
    /// Two of the neighbours' public keys are the same.
    #[error("stage share_keys: some public keys are identical")]
    DuplicatePublicKeys,
    /// The key dict lacks this node, or shows other keys than the ones it sent.
    #[error(
        "stage share_keys: node {node}'s own public keys are missing or wrong in the key dict"
    )]
    OwnKeys {
        /// This node's id.
        node: u64,
    },
    /// A node id that is not among this node's neighbours (or has not sent it its
    /// shares): a ciphertext's source, or a node to unmask.
    #[error("stage {stage}: node {node} is not a neighbour with shares here")]
    UnknownNode {
        /// The stage being answered.
        stage: &'static str,
        /// The node id.
        node: u64,
    },
    /// The collect stage's ciphertexts and sources differ in number.
    #[error("stage collect_masked_vectors: {ciphertexts} ciphertexts but {sources} sources")]
    LengthMismatch {
        /// The number of ciphertexts.
        ciphertexts: usize,
        /// The number of sources.
        sources: usize,
    },
    /// A ciphertext that does not decrypt with the key shared with its source.
    #[error("stage collect_masked_vectors: the ciphertext from node {src}: {source}")]
    Ciphertext {
        /// Its stated source.
        src: u64,
        /// Why.
        #[source]
        source: FernetError,
    },
    /// A decrypted share message that is not Flower's layout.
    #[error("stage collect_masked_vectors: the message from node {src}: {source}")]
    Plaintext {
        /// Its stated source.
        src: u64,
        /// Why.
        #[source]
        source: PlaintextError,
    },
    /// A share message made by another node than the one it came from.
    #[error("node {own}: received ciphertext from {actual} instead of {src}")]
    WrongSource {
        /// This node.
        own: u64,
        /// The stated source.
        src: u64,
        /// The source inside the message.
        actual: u64,
    },
    /// A share message for another node.
    #[error("node {own}: received an encrypted message for node {dst} from node {src}")]
    WrongDestination {
        /// This node.
        own: u64,
        /// The source.
        src: u64,
        /// The destination inside the message.
        dst: u64,
    },
    /// A neighbour's public key that is not a PEM P-384 key.
    #[error("the public key of node {node}: {source}")]
    PublicKey {
        /// The neighbour.
        node: u64,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// This node's own key could not be written (should not happen).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Shares could not be made.
    #[error(transparent)]
    Shamir(#[from] ShamirError),
    /// The training of the collect stage failed.
    #[error("training failed: {0}")]
    Train(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Quantising or masking the update failed.
    #[error("masking failed: {0}")]
    Mask(String),
}
