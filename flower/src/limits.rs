//! How much a node takes from its SuperLink: bounds on what it reads and on the
//! work a message may ask for, set by the node's owner.
//!
//! A SuperLink that is compromised or buggy must not take a node down. Every answer
//! the node reads is bounded before it is read ([`Limits::max_response_bytes`]), a
//! message's object tree is bounded in objects and in bytes
//! ([`Limits::max_objects`], [`Limits::max_message_bytes`]), and the local training
//! a `train` message's config asks for is bounded in epochs, batch size, learning
//! rate and FedProx's `mu`. A message over a limit gets Flower's error reply naming
//! the limit and its value, and the node goes on to the next message.

use std::fmt;

use thiserror::Error;

/// What a node accepts from its SuperLink; [`Limits::default`] allows any normal
/// Flower run of a model up to 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest body of one answer of the SuperLink, in bytes: a `Content-Length`
    /// over it is refused unread, and a body without one is read up to it.
    /// Default 64 MiB: Flower sends a model in objects of at most one 5 MiB chunk
    /// ([`ARRAY_CHUNK_SIZE`](crate::message::ARRAY_CHUNK_SIZE)), so this leaves room
    /// for a ServerApp that raises its chunk size twelvefold,
    /// while a hostile answer costs at most this much memory.
    pub max_response_bytes: u64,
    /// Most objects in one message's object tree. Default 10,000: a message is a few
    /// objects, one per record and per array, and one per 5 MiB chunk of array data,
    /// so a model of 1 GiB in 4,000 arrays fits; a hostile tree is refused before
    /// any of its objects is fetched.
    pub max_objects: usize,
    /// Most bytes of one message's objects, summed as they arrive. Default 1 GiB
    /// (a model of 250 million `f32` weights), the most array data
    /// [`Message::inflate`](crate::Message::inflate) builds.
    pub max_message_bytes: u64,
    /// Most local epochs a `train` message's `local-epochs` may ask for. Default 100.
    pub max_local_epochs: usize,
    /// Largest batch a `train` message's `batch-size` may ask for; `0` (full
    /// batches) counts as the node's number of examples. Default 65,536.
    pub max_batch_size: usize,
    /// Largest learning rate a `train` message's `lr` may ask for. Default 10.
    pub max_learning_rate: f64,
    /// Largest FedProx `mu` a `train` message's `proximal-mu` may ask for.
    /// Default 100.
    pub max_proximal_mu: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: 64 << 20,
            max_objects: 10_000,
            max_message_bytes: 1 << 30,
            max_local_epochs: 100,
            max_batch_size: 65_536,
            max_learning_rate: 10.0,
            max_proximal_mu: 100.0,
        }
    }
}

/// A message that asks for more than the node's [`Limits`] allow.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The message's object tree names too many objects.
    #[error("the message's object tree has {count} objects, over the limit of {limit} (`max_objects`); raise it with `Limits::max_objects` (`--max-objects` of flower_node)")]
    Objects {
        /// Objects in the tree.
        count: usize,
        /// [`Limits::max_objects`].
        limit: usize,
    },
    /// The message's objects add up to more bytes than allowed.
    #[error("the message's objects add up to more than the {} limit (`max_message_bytes`); raise it with `Limits::max_message_bytes` (`--max-message-bytes` of flower_node)", Size(*limit))]
    MessageBytes {
        /// [`Limits::max_message_bytes`].
        limit: u64,
    },
    /// A config value of a `train` message is over the node's limit.
    #[error("config `{key}` is {value}, over this node's limit of {limit} (`{setting}`); its owner can raise it with `Limits::{setting}` (`--{flag}` of flower_node)", flag = setting.replace('_', "-"))]
    Config {
        /// The config key, such as `local-epochs`.
        key: &'static str,
        /// The value the message sent.
        value: String,
        /// The node's limit.
        limit: String,
        /// The [`Limits`] field.
        setting: &'static str,
    },
}

impl Limits {
    /// Checks the size of a message's object tree.
    ///
    /// # Errors
    /// [`LimitError::Objects`] for more than [`max_objects`](Self::max_objects).
    pub fn check_objects(&self, count: usize) -> Result<(), LimitError> {
        if count > self.max_objects {
            return Err(LimitError::Objects {
                count,
                limit: self.max_objects,
            });
        }
        Ok(())
    }

    /// Checks the bytes of a message's objects received so far.
    ///
    /// # Errors
    /// [`LimitError::MessageBytes`] for more than
    /// [`max_message_bytes`](Self::max_message_bytes).
    pub fn check_message_bytes(&self, bytes: u64) -> Result<(), LimitError> {
        if bytes > self.max_message_bytes {
            return Err(LimitError::MessageBytes {
                limit: self.max_message_bytes,
            });
        }
        Ok(())
    }

    /// Checks a `train` message's `local-epochs`.
    ///
    /// # Errors
    /// [`LimitError::Config`] over [`max_local_epochs`](Self::max_local_epochs).
    pub fn check_local_epochs(&self, epochs: u64) -> Result<usize, LimitError> {
        match usize::try_from(epochs) {
            Ok(e) if e <= self.max_local_epochs => Ok(e),
            _ => Err(config(
                crate::client_app::config_keys::LOCAL_EPOCHS,
                epochs,
                self.max_local_epochs,
                "max_local_epochs",
            )),
        }
    }

    /// Checks a `train` message's `batch-size` for a node of `examples` examples
    /// (`0`, full batches, is a batch of all of them).
    ///
    /// # Errors
    /// [`LimitError::Config`] over [`max_batch_size`](Self::max_batch_size).
    pub fn check_batch_size(&self, batch: u64, examples: usize) -> Result<usize, LimitError> {
        let effective = if batch == 0 { examples as u64 } else { batch };
        let value = if batch == 0 {
            format!("0 (full batches of {examples} examples)")
        } else {
            batch.to_string()
        };
        match usize::try_from(batch) {
            Ok(b) if effective <= self.max_batch_size as u64 => Ok(b),
            _ => Err(config(
                crate::client_app::config_keys::BATCH_SIZE,
                value,
                self.max_batch_size,
                "max_batch_size",
            )),
        }
    }

    /// Checks a `train` message's `lr` (its sign and finiteness are checked with
    /// the rest of the local training).
    ///
    /// # Errors
    /// [`LimitError::Config`] over [`max_learning_rate`](Self::max_learning_rate).
    pub fn check_learning_rate(&self, lr: f64) -> Result<f64, LimitError> {
        if lr > self.max_learning_rate {
            return Err(config(
                crate::client_app::config_keys::LEARNING_RATE,
                lr,
                self.max_learning_rate,
                "max_learning_rate",
            ));
        }
        Ok(lr)
    }

    /// Checks a `train` message's `proximal-mu` (its sign and finiteness are
    /// checked with the rest of the local training).
    ///
    /// # Errors
    /// [`LimitError::Config`] over [`max_proximal_mu`](Self::max_proximal_mu).
    pub fn check_proximal_mu(&self, mu: f64) -> Result<f64, LimitError> {
        if mu > self.max_proximal_mu {
            return Err(config(
                crate::client_app::config_keys::PROXIMAL_MU,
                mu,
                self.max_proximal_mu,
                "max_proximal_mu",
            ));
        }
        Ok(mu)
    }
}

fn config(
    key: &'static str,
    value: impl fmt::Display,
    limit: impl fmt::Display,
    setting: &'static str,
) -> LimitError {
    LimitError::Config {
        key,
        value: value.to_string(),
        limit: limit.to_string(),
        setting,
    }
}

/// A byte count for people: `64 MiB`, `12 KiB`, or `1000 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if n >= 1 << shift && n % (1 << shift) == 0 {
                return write!(f, "{} {unit}", n >> shift);
            }
        }
        write!(f, "{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_their_largest_exact_unit() {
        assert_eq!(Size(64 << 20).to_string(), "64 MiB");
        assert_eq!(Size(1 << 30).to_string(), "1 GiB");
        assert_eq!(Size(3 << 10).to_string(), "3 KiB");
        assert_eq!(Size(1000).to_string(), "1000 bytes");
        assert_eq!(Size(0).to_string(), "0 bytes");
    }

    #[test]
    fn each_check_names_its_key_value_and_limit() {
        let limits = Limits::default();
        let e = limits.check_local_epochs(1_000_000_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config `local-epochs` is 1000000000, over this node's limit of 100 \
             (`max_local_epochs`); its owner can raise it with `Limits::max_local_epochs` \
             (`--max-local-epochs` of flower_node)"
        );
        assert_eq!(limits.check_local_epochs(100), Ok(100));
        assert_eq!(limits.check_batch_size(65_536, 10), Ok(65_536));
        assert!(limits
            .check_batch_size(65_537, 10)
            .unwrap_err()
            .to_string()
            .contains("`batch-size` is 65537, over this node's limit of 65536"));
        assert_eq!(limits.check_batch_size(0, 65_536), Ok(0));
        assert!(limits
            .check_batch_size(0, 70_000)
            .unwrap_err()
            .to_string()
            .contains("`batch-size` is 0 (full batches of 70000 examples)"));
        assert!(limits
            .check_learning_rate(10.5)
            .unwrap_err()
            .to_string()
            .contains("`lr` is 10.5, over this node's limit of 10 (`max_learning_rate`)"));
        assert_eq!(limits.check_learning_rate(10.0), Ok(10.0));
        assert!(limits
            .check_proximal_mu(1e9)
            .unwrap_err()
            .to_string()
            .contains("`proximal-mu` is 1000000000, over this node's limit of 100"));
        assert_eq!(limits.check_objects(10_000), Ok(()));
        assert!(limits
            .check_objects(10_001)
            .unwrap_err()
            .to_string()
            .contains("10001 objects, over the limit of 10000 (`max_objects`)"));
        assert_eq!(limits.check_message_bytes(1 << 30), Ok(()));
        assert!(limits
            .check_message_bytes((1 << 30) + 1)
            .unwrap_err()
            .to_string()
            .contains("more than the 1 GiB limit (`max_message_bytes`)"));
    }
}
