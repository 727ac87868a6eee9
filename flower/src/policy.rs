//! What the node's owner requires of the rounds the node takes part in.
//!
//! Flower's privacy protocols are chosen by the `ServerApp`: it wraps its strategy in
//! `DifferentialPrivacyClientSide*Clipping` and sends a clipping norm, or runs
//! `SecAggPlusWorkflow`. A node's owner who has promised that the node's data only
//! ever leaves it clipped, or only ever masked, cannot rely on every `ServerApp` doing
//! so. A [`Policy`] makes the node refuse, with Flower's error reply naming the
//! setting, a `train` message that does not meet it; the node goes on serving.
//!
//! Set it with [`NodeBuilder::policy`](crate::NodeBuilder::policy); the
//! `flower_node` example sets it from `--require-secure-aggregation`,
//! `--require-client-clipping`, `--max-clipping-norm` and `--clipping-mod`.

use thiserror::Error;

use crate::protocols::ClientSide;

/// How the node answers a clipping norm: as which of Flower's client mods.
///
/// Flower's server-side wrappers send the same `clipping_norm` whether they clip
/// adaptively or not, so the node cannot tell them apart (see
/// [`client_dp`](crate::client_dp)); both mods clip alike and differ only in the
/// `norm_bit` metric of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClippingMod {
    /// As `adaptiveclipping_mod`: clip, and report `norm_bit` (whether the update
    /// was clipped). `DifferentialPrivacyClientSideAdaptiveClipping` needs it; the
    /// fixed wrapper takes it too when every node reports it. The default.
    #[default]
    Adaptive,
    /// As `fixedclipping_mod`: clip, and report nothing more. For a federation with
    /// `DifferentialPrivacyClientSideFixedClipping` that mixes feddx nodes with
    /// Python nodes running `fixedclipping_mod`: Flower's Message API strategies
    /// refuse replies whose metrics have different keys.
    Fixed,
}

/// The node owner's requirements; [`Policy::default`] requires nothing and answers
/// clipping norms as `adaptiveclipping_mod`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Policy {
    /// Refuse a `train` message that is not part of a SecAgg+ round (Flower's
    /// `SecAggPlusWorkflow` or `SecAggWorkflow`), so that the node's update only
    /// ever leaves it masked. `--require-secure-aggregation`.
    pub require_secure_aggregation: bool,
    /// Refuse a `train` message without a `clipping_norm` (one from a `ServerApp`
    /// that does not wrap its strategy in `DifferentialPrivacyClientSide*Clipping`),
    /// so that the node's update only ever leaves it clipped.
    /// `--require-client-clipping`.
    pub require_client_clipping: bool,
    /// Refuse a clipping norm above this: a larger norm clips less, and so protects
    /// the node's data less. Positive and finite. `--max-clipping-norm`.
    pub max_clipping_norm: Option<f64>,
    /// Which Flower mod the node acts as when it clips. `--clipping-mod`.
    pub clipping_mod: ClippingMod,
}

/// Why a policy cannot be used, or why it refuses a message.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The cap on the clipping norm is not a positive finite number.
    #[error("the maximum clipping norm must be a positive finite number, not {0}")]
    InvalidMaxClippingNorm(f64),
    /// A `train` message outside SecAgg+ on a node that requires it.
    #[error(
        "this node requires secure aggregation (--require-secure-aggregation): the train \
         message is not part of a SecAgg+ round; run the ServerApp with Flower's \
         SecAggPlusWorkflow"
    )]
    SecureAggregationRequired,
    /// A `train` message without a clipping norm on a node that requires one.
    #[error(
        "this node requires client-side clipping (--require-client-clipping): the train \
         message has no `clipping_norm`; wrap the ServerApp's strategy in Flower's \
         DifferentialPrivacyClientSideFixedClipping or \
         DifferentialPrivacyClientSideAdaptiveClipping"
    )]
    ClientClippingRequired,
    /// A clipping norm above the node's cap.
    #[error(
        "the clipping norm {norm} is above this node's maximum of {max} \
         (--max-clipping-norm): it would clip the update too little"
    )]
    ClippingNormAboveMax {
        /// The norm the message asks for.
        norm: f64,
        /// The node's cap.
        max: f64,
    },
}

impl Policy {
    /// Checks the policy's own values: a cap on the clipping norm must be a
    /// positive finite number.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match self.max_clipping_norm {
            Some(max) if !(max.is_finite() && max > 0.0) => {
                Err(PolicyError::InvalidMaxClippingNorm(max))
            }
            _ => Ok(()),
        }
    }

    /// Whether the node takes part in a `train` round that asks for `asked`: the
    /// first requirement it fails, if any.
    pub fn admit(&self, asked: &ClientSide) -> Result<(), PolicyError> {
        if self.require_secure_aggregation && !asked.secure_aggregation {
            return Err(PolicyError::SecureAggregationRequired);
        }
        match asked.clipping_norm {
            None if self.require_client_clipping => Err(PolicyError::ClientClippingRequired),
            Some(norm) => match self.max_clipping_norm {
                Some(max) if norm > max => Err(PolicyError::ClippingNormAboveMax { norm, max }),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(secure_aggregation: bool, clipping_norm: Option<f64>) -> ClientSide {
        ClientSide {
            secure_aggregation,
            clipping_norm,
        }
    }

    #[test]
    fn the_default_policy_admits_every_round() {
        let policy = Policy::default();
        assert_eq!(policy.validate(), Ok(()));
        for a in [
            asked(false, None),
            asked(true, None),
            asked(false, Some(1e9)),
            asked(true, Some(0.1)),
        ] {
            assert_eq!(policy.admit(&a), Ok(()), "{a:?}");
        }
        assert_eq!(policy.clipping_mod, ClippingMod::Adaptive);
    }

    #[test]
    fn requiring_client_clipping_refuses_a_round_without_a_norm() {
        let policy = Policy {
            require_client_clipping: true,
            ..Policy::default()
        };
        let refused = policy.admit(&asked(false, None)).unwrap_err();
        assert_eq!(refused, PolicyError::ClientClippingRequired);
        assert!(refused.to_string().contains("--require-client-clipping"));
        assert_eq!(policy.admit(&asked(false, Some(5.0))), Ok(()));
    }

    #[test]
    fn a_cap_refuses_larger_norms_only() {
        let policy = Policy {
            max_clipping_norm: Some(1.0),
            ..Policy::default()
        };
        assert_eq!(policy.admit(&asked(false, Some(1.0))), Ok(()));
        assert_eq!(policy.admit(&asked(false, Some(0.25))), Ok(()));
        let refused = policy.admit(&asked(false, Some(1.5))).unwrap_err();
        assert_eq!(
            refused,
            PolicyError::ClippingNormAboveMax {
                norm: 1.5,
                max: 1.0
            }
        );
        assert!(refused.to_string().contains("--max-clipping-norm"));
        // A cap alone does not require clipping.
        assert_eq!(policy.admit(&asked(false, None)), Ok(()));
    }

    #[test]
    fn requiring_secure_aggregation_refuses_a_plain_round() {
        let policy = Policy {
            require_secure_aggregation: true,
            require_client_clipping: true,
            ..Policy::default()
        };
        let refused = policy.admit(&asked(false, Some(1.0))).unwrap_err();
        assert_eq!(refused, PolicyError::SecureAggregationRequired);
        assert!(refused.to_string().contains("--require-secure-aggregation"));
        // Both requirements hold each on its own.
        assert_eq!(
            policy.admit(&asked(true, None)),
            Err(PolicyError::ClientClippingRequired)
        );
        assert_eq!(policy.admit(&asked(true, Some(1.0))), Ok(()));
    }

    #[test]
    fn a_cap_must_be_a_positive_finite_number() {
        for max in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let policy = Policy {
                max_clipping_norm: Some(max),
                ..Policy::default()
            };
            assert!(
                matches!(
                    policy.validate(),
                    Err(PolicyError::InvalidMaxClippingNorm(_))
                ),
                "{max}"
            );
        }
        let policy = Policy {
            max_clipping_norm: Some(0.5),
            ..Policy::default()
        };
        assert_eq!(policy.validate(), Ok(()));
    }
}
