//! What a `train` message asks of the node's side of Flower's privacy protocols,
//! read before the node trains.
//!
//! A `ServerApp` asks for a client-side protocol by what it puts in the message,
//! and a Python `ClientApp` takes part only if it runs the matching mod; without it,
//! the message is not what the app expects and it fails. The node must not quietly
//! train as if nothing had been asked, so it answers with Flower's error reply what
//! it does not speak. What Flower 1.42's servers put in a `train` message:
//!
//! - `clipping_norm` in the config, from `DifferentialPrivacyClientSideFixedClipping`
//!   and `DifferentialPrivacyClientSideAdaptiveClipping` (both APIs): the node clips
//!   its update ([`client_dp`]);
//! - a `ConfigRecord` named [`SECAGGPLUS_CONFIGS`], from `SecAggPlusWorkflow` and from
//!   `SecAggWorkflow` (a subclass that sends the same stages): SecAgg+, which the
//!   node speaks ([`crate::secagg`]);
//! - `dpfedavg_clip_norm`, `dpfedavg_noise_stddev` and
//!   `dpfedavg_adaptive_clip_enabled` in the config, from the deprecated
//!   `DPFedAvgFixed` and `DPFedAvgAdaptive` strategies, for a `DPFedAvgNumPyClient`:
//!   an error reply naming the strategies that replace them.
//!
//! (Flower's `LocalDpMod` is the client's own choice: the server sends nothing.)

use crate::client_dp::{self, ClientDpError};
use crate::records::{Record, RecordDict};

/// The `ConfigRecord` of every stage of Flower's SecAgg+ (and SecAgg) protocol.
pub const SECAGGPLUS_CONFIGS: &str = "secaggplus_configs";

/// The prefix of the config keys of the deprecated `DPFedAvgFixed` and
/// `DPFedAvgAdaptive` strategies.
pub const DPFEDAVG_PREFIX: &str = "dpfedavg_";

/// The client-side protocols a `train` message asks the node to take part in.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClientSide {
    /// The message is a stage of a SecAgg+ round.
    pub secure_aggregation: bool,
    /// The norm to clip the update to, from a `DifferentialPrivacyClientSide*`
    /// wrapper.
    pub clipping_norm: Option<f64>,
}

impl ClientSide {
    /// What `content`, the content of a `train` message, asks for; an error for a
    /// protocol the node does not speak, or a clipping norm it cannot use.
    pub fn of(content: &RecordDict) -> Result<Self, ClientDpError> {
        for (_, record) in content.iter() {
            if let Record::Config(config) = record {
                if config.names().any(|key| key.starts_with(DPFEDAVG_PREFIX)) {
                    return Err(ClientDpError::Unsupported {
                        protocol: "DPFedAvgFixed/DPFedAvgAdaptive (dpfedavg_* config keys)",
                        hint: "these deprecated strategies need Python's \
                               DPFedAvgNumPyClient; wrap the strategy in \
                               DifferentialPrivacyClientSideFixedClipping or \
                               DifferentialPrivacyClientSideAdaptiveClipping instead",
                    });
                }
            }
        }
        Ok(ClientSide {
            secure_aggregation: content.get(SECAGGPLUS_CONFIGS).is_some(),
            clipping_norm: client_dp::clipping_norm(content)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ArrayRecord, ConfigRecord};

    fn train_content(config: ConfigRecord) -> RecordDict {
        let mut content = RecordDict::new();
        content.insert("arrays", ArrayRecord::new());
        content.insert("config", config);
        content
    }

    #[test]
    fn a_plain_round_asks_for_nothing_and_a_dp_round_for_its_norm() {
        let plain = train_content([("lr", 0.1)].into_iter().collect());
        assert_eq!(ClientSide::of(&plain).unwrap(), ClientSide::default());
        let dp = train_content(
            [("server-round", 1.0), ("clipping_norm", 0.5)]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            ClientSide::of(&dp).unwrap(),
            ClientSide {
                secure_aggregation: false,
                clipping_norm: Some(0.5)
            }
        );
    }

    #[test]
    fn every_secagg_stage_asks_for_secure_aggregation_and_the_fit_config_for_clipping() {
        // `SecAggPlusWorkflow`'s setup stage: the record alone.
        let mut setup = RecordDict::new();
        setup.insert(
            SECAGGPLUS_CONFIGS,
            [("stage", "setup")].into_iter().collect::<ConfigRecord>(),
        );
        assert_eq!(
            ClientSide::of(&setup).unwrap(),
            ClientSide {
                secure_aggregation: true,
                clipping_norm: None
            }
        );
        // Its collect_masked_vectors stage carries the fit too, whose config may ask
        // for clipping: the stage record does not count as a second config.
        let mut masked = RecordDict::new();
        masked.insert("fitins.parameters", ArrayRecord::new());
        masked.insert(
            "fitins.config",
            [("clipping_norm", 2.0)]
                .into_iter()
                .collect::<ConfigRecord>(),
        );
        masked.insert(
            SECAGGPLUS_CONFIGS,
            [("stage", "collect_masked_vectors")]
                .into_iter()
                .collect::<ConfigRecord>(),
        );
        assert_eq!(
            ClientSide::of(&masked).unwrap(),
            ClientSide {
                secure_aggregation: true,
                clipping_norm: Some(2.0)
            }
        );
    }

    #[test]
    fn the_deprecated_dpfedavg_keys_are_refused() {
        let mut content = RecordDict::new();
        content.insert("fitins.parameters", ArrayRecord::new());
        content.insert(
            "fitins.config",
            [("dpfedavg_clip_norm", 1.0)]
                .into_iter()
                .collect::<ConfigRecord>(),
        );
        let err = ClientSide::of(&content).unwrap_err();
        assert!(err.to_string().contains("DPFedAvgFixed"), "{err}");
        assert!(
            err.to_string()
                .contains("DifferentialPrivacyClientSideFixedClipping"),
            "{err}"
        );
    }
}
