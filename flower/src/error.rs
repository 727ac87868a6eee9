//! The errors of a feddx node: the wire, the object tree, and the node's own settings.

use thiserror::Error;

/// What can be wrong with what came over the network: Flower's object tree, its
/// records, or the `.npy` bytes inside them. Each is answered with Flower's error
/// reply, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An object's bytes do not hash to the id it was sent under.
    #[error("object `{expected}` does not match its bytes, which hash to `{actual}`")]
    ObjectIdMismatch {
        /// The id the object was sent or asked for under.
        expected: String,
        /// SHA-256 of the bytes received.
        actual: String,
    },
    /// An object is not `Kind <children> <length>\0<body>`, or its body is not what
    /// its kind needs.
    #[error("object `{id}` is malformed: {reason}")]
    MalformedObject {
        /// The object's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object the tree names was not among the objects received.
    #[error("object `{id}` is missing from the message's object tree")]
    MissingObject {
        /// The missing object's id.
        id: String,
    },
    /// `.npy` bytes that are truncated, of another version, or not a C-order array.
    #[error("array `{name}` is not a valid .npy array: {reason}")]
    Npy {
        /// The array's name in its record.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A message lacks a record the node needs, or holds one of another kind.
    #[error("the message has no {kind} named `{name}`")]
    MissingRecord {
        /// `ArrayRecord`, `ConfigRecord` or `MetricRecord`.
        kind: &'static str,
        /// The record's name in the message's `RecordDict`.
        name: String,
    },
    /// The arrays of a message do not fit the model: names, order, shapes or dtype.
    #[error("the arrays do not fit the model: {reason}")]
    ArraysMismatch {
        /// Which array and how it differs.
        reason: String,
    },
    /// A config value has a type the node cannot use for that key.
    #[error("config value `{key}` must be {expected}")]
    ConfigType {
        /// The key in the `ConfigRecord`.
        key: String,
        /// The type the node expects.
        expected: &'static str,
    },
    /// A `train` or `evaluate` message holds neither the Message API's records nor
    /// the Strategy API's.
    #[error("the `{message_type}` message has neither API's records: expected {expected}, found {found}")]
    UnknownLayout {
        /// `train` or `evaluate`.
        message_type: String,
        /// The records each API would have sent.
        expected: String,
        /// The records the message holds, by kind and name.
        found: String,
    },
    /// A reply's metric is not a number, which a `MetricRecord` needs.
    #[error("metric `{key}` is not a number, which a MetricRecord needs")]
    MetricType {
        /// The metric's name.
        key: String,
    },
}
