//! What the node does with a message: Flower's `ClientApp`, in Rust, for a
//! [`FederatedModel`].
//!
//! A `train` message carries the global model (`ArrayRecord` "arrays") and the
//! round's settings (`ConfigRecord` "config"); the reply carries the locally trained
//! arrays and a `MetricRecord` "metrics" with `num-examples`, by which Flower's
//! strategies weight the average, and the training metrics. An `evaluate` message
//! gets `num-examples` and the evaluation metrics. Any other message type, and any
//! message the node cannot use, gets Flower's error reply: so does a config that
//! asks for more local training than the node's [`Limits`] allow, and a panic in
//! the model's code, which is caught. Nothing here touches the network:
//! [`ClientApp::handle`] maps a message to its reply.
//!
//! Before training, a `train` message is read for the client-side protocols it asks
//! for ([`ClientSide`]) and held to the owner's [`Policy`]; after training, the
//! update is clipped as Flower's client mods clip it ([`client_dp::apply`]).

use std::panic::{self, AssertUnwindSafe};

use feddx_runtime::federated::seeds::client_seed;
use feddx_runtime::federated::{
    evaluate, panic_message, train_client, Algorithm, BatchSize, ClientDataOf, LocalTraining,
};
use feddx_runtime::metrics::MetricValues;
use feddx_runtime::weights::NamedTensor;
use feddx_runtime::FederatedModel;

use crate::arrays::{record_to_weights, weights_to_record};
use crate::client_dp::{self, ClientDpError, Clipped};
use crate::limits::{LimitError, Limits};
use crate::message::{error_code, Message};
use crate::policy::{Policy, PolicyError};
use crate::protocols::ClientSide;
use crate::records::{ConfigRecord, MetricRecord, MetricValue, Record, RecordDict};
use crate::ProtocolError;

/// Name of the `ArrayRecord` with the model, in messages both ways.
pub const ARRAYS: &str = "arrays";
/// Name of the `ConfigRecord` with the round's settings.
pub const CONFIG: &str = "config";
/// Name of the `MetricRecord` in replies.
pub const METRICS: &str = "metrics";
/// Metric by which Flower's strategies weight a node's reply.
pub const NUM_EXAMPLES: &str = "num-examples";

/// Config keys the node reads from a `train` message, each overriding the node's
/// default: learning rate, local epochs, batch size, FedProx's `mu`, and the round.
pub mod config_keys {
    /// Client learning rate (float).
    pub const LEARNING_RATE: &str = "lr";
    /// Local epochs (non-negative integer).
    pub const LOCAL_EPOCHS: &str = "local-epochs";
    /// Batch size (non-negative integer; 0 for full batches).
    pub const BATCH_SIZE: &str = "batch-size";
    /// FedProx's proximal weight `mu` (float); 0 is FedAvg.
    pub const PROXIMAL_MU: &str = "proximal-mu";
    /// The server's round, 1-based; Flower's strategies set it.
    pub const SERVER_ROUND: &str = "server-round";
}

/// A node's model, data and local-training defaults.
pub struct ClientApp<M: FederatedModel> {
    model: M,
    train: ClientDataOf<M>,
    eval: Option<ClientDataOf<M>>,
    defaults: LocalTraining,
    seed: u64,
    client_index: usize,
    limits: Limits,
    policy: Policy,
}

/// What a train or evaluate message did, for the node's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The message type.
    pub message_type: String,
    /// The server round, when the message said.
    pub server_round: Option<u64>,
    /// Examples trained or evaluated on.
    pub num_examples: usize,
    /// Metrics sent back.
    pub metrics: MetricValues,
    /// What client-side clipping did to the update sent, if the message asked.
    pub clipping: Option<Clipped>,
}

impl<M: FederatedModel> ClientApp<M> {
    /// A node that trains `model` on `train` with the `defaults` a `train` message
    /// does not override.
    ///
    /// Local training is seeded exactly as client `client_index` of a
    /// [`Simulation`](feddx_runtime::federated::Simulation) with seed `seed`: the
    /// shuffles of round `r` derive from [`client_seed`]`(seed, r - 1, client_index)`,
    /// so a Flower run over the same partitions gives the simulation's weights.
    pub fn new(model: M, train: ClientDataOf<M>, defaults: LocalTraining) -> Self {
        Self {
            model,
            train,
            eval: None,
            defaults,
            seed: 0,
            client_index: 0,
            limits: Limits::default(),
            policy: Policy::default(),
        }
    }

    /// Evaluates on `data` instead of the training data.
    pub fn with_evaluation_data(mut self, data: ClientDataOf<M>) -> Self {
        self.eval = Some(data);
        self
    }

    /// Seeds local training as client `client_index` of a run seeded with `seed`.
    pub fn with_seed(mut self, seed: u64, client_index: usize) -> Self {
        self.seed = seed;
        self.client_index = client_index;
        self
    }

    /// Holds local training to `limits` (the node's builder sets them).
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits a `train` message's config is checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Holds `train` messages to the owner's `policy` (the node's builder sets it).
    pub(crate) fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The owner's requirements a `train` message is held to.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The model, holding the weights of the last message handled.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The reply to `message`: its result, or Flower's error reply, never a panic.
    ///
    /// A panic in the model's code (training, evaluation, loading the weights) is
    /// caught and answered with an error reply naming it, as a
    /// [`Simulation`](feddx_runtime::federated::Simulation) takes a client that
    /// panics; the next message starts from the weights it carries, so what the
    /// panic left in the model does not matter.
    ///
    /// `now` is the reply's creation time in seconds since the Unix epoch.
    pub fn handle(&mut self, message: &Message, now: f64) -> (Message, Result<Handled, String>) {
        let outcome = match message.metadata.message_type.as_str() {
            "train" => catch_panic("training", || self.train(message)),
            "evaluate" => catch_panic("evaluation", || self.evaluate(message)),
            other => {
                let reason = format!(
                    "the feddx node handles `train` and `evaluate` messages, not `{other}`"
                );
                return (
                    message.error_reply(error_code::CLIENT_APP_RAISED_EXCEPTION, &reason, now),
                    Err(reason),
                );
            }
        };
        match outcome {
            Ok((content, handled)) => (message.reply(content, now), Ok(handled)),
            Err(e) => {
                let reason = e.to_string();
                (message.error_reply(e.code(), &reason, now), Err(reason))
            }
        }
    }

    fn train(&mut self, message: &Message) -> Result<(RecordDict, Handled), NodeAppError> {
        let content = content(message)?;
        // Before the arrays: a SecAgg+ stage carries none.
        let asked = ClientSide::of(content)?;
        self.policy.admit(&asked)?;
        let arrays = content.array_record(ARRAYS)?;
        let global = record_to_weights(&self.model.trainable_weights(), arrays)?;
        let config = content.config_record(CONFIG).ok();
        let training = self.training(config)?;
        let server_round = server_round(config)?;
        let round = server_round.map_or(0, |r| r.saturating_sub(1) as usize);
        let seed = client_seed(self.seed, round, self.client_index);
        let update = train_client(&mut self.model, &global, &self.train, &training, seed)?;
        // `train_client` leaves the trained weights in the model.
        let metrics = self.model.finalize_metrics(&update.metrics);
        let mut handled = Handled {
            message_type: "train".into(),
            server_round,
            num_examples: update.num_examples,
            metrics,
            clipping: None,
        };
        let mut tensors = self.model.trainable_weights();
        let sizes: Vec<usize> = tensors.iter().map(|t| t.values.len()).collect();
        let mut trained: Vec<f32> = tensors.iter().flat_map(|t| t.values.clone()).collect();
        let mut metrics = metric_record(&handled);
        handled.clipping = client_dp::apply(
            &self.policy,
            &asked,
            &sizes,
            &global,
            &mut trained,
            &mut metrics,
        )?;
        set_values(&mut tensors, &trained);
        let mut reply = RecordDict::default();
        reply.insert(ARRAYS, Record::Array(weights_to_record(&tensors)));
        reply.insert(METRICS, Record::Metric(metrics));
        Ok((reply, handled))
    }

    fn evaluate(&mut self, message: &Message) -> Result<(RecordDict, Handled), NodeAppError> {
        let content = content(message)?;
        let arrays = content.array_record(ARRAYS)?;
        let global = record_to_weights(&self.model.trainable_weights(), arrays)?;
        self.model.set_weights_vec(&global)?;
        let server_round = server_round(content.config_record(CONFIG).ok())?;
        let data = self.eval.as_ref().unwrap_or(&self.train);
        let metrics = evaluate(&self.model, data, self.defaults.batch_size)?;
        let handled = Handled {
            message_type: "evaluate".into(),
            server_round,
            num_examples: data.len(),
            metrics,
            clipping: None,
        };
        let mut reply = RecordDict::default();
        reply.insert(METRICS, Record::Metric(metric_record(&handled)));
        Ok((reply, handled))
    }

    /// The node's defaults, overridden by the message's config, each value held
    /// to the node's [`Limits`].
    fn training(&self, config: Option<&ConfigRecord>) -> Result<LocalTraining, NodeAppError> {
        let mut training = self.defaults;
        let Some(config) = config else {
            return Ok(training);
        };
        let limits = &self.limits;
        if let Some(lr) = config.get_f64(config_keys::LEARNING_RATE)? {
            training.learning_rate = limits.check_learning_rate(lr)? as f32;
        }
        if let Some(epochs) = config.get_u64(config_keys::LOCAL_EPOCHS)? {
            training.local_epochs = limits.check_local_epochs(epochs)?;
        }
        if let Some(batch) = config.get_u64(config_keys::BATCH_SIZE)? {
            training.batch_size = match limits.check_batch_size(batch, self.train.len())? {
                0 => BatchSize::Full,
                n => BatchSize::Examples(n),
            };
        }
        if let Some(mu) = config.get_f64(config_keys::PROXIMAL_MU)? {
            training.algorithm = Algorithm::FedProx {
                mu: limits.check_proximal_mu(mu)? as f32,
            };
        }
        training
            .validate()
            .map_err(|e| NodeAppError::Model(e.into()))?;
        Ok(training)
    }
}

/// The reply's metrics: `num-examples` (an integer) and every finalised metric.
fn metric_record(handled: &Handled) -> MetricRecord {
    let mut record = MetricRecord::default();
    record.insert(NUM_EXAMPLES, MetricValue::Int(handled.num_examples as i64));
    for (name, value) in handled.metrics.iter() {
        if name != "num_examples" && name != "num_batches" {
            record.insert(name, MetricValue::Double(value));
        }
    }
    record
}

/// Puts the flat `values` back into `tensors`, in order.
fn set_values(tensors: &mut [NamedTensor], values: &[f32]) {
    let mut rest = values;
    for tensor in tensors {
        let (head, tail) = rest.split_at(tensor.values.len().min(rest.len()));
        tensor.values[..head.len()].copy_from_slice(head);
        rest = tail;
    }
}

/// The server's round, if the message's config says.
fn server_round(config: Option<&ConfigRecord>) -> Result<Option<u64>, ProtocolError> {
    config.map_or(Ok(None), |c| c.get_u64(config_keys::SERVER_ROUND))
}

/// Runs `work`, taking a panic for an error that names its message.
fn catch_panic<T>(
    during: &'static str,
    work: impl FnOnce() -> Result<T, NodeAppError>,
) -> Result<T, NodeAppError> {
    panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(NodeAppError::Panicked {
            during,
            message: panic_message(payload.as_ref()),
        })
    })
}

fn content(message: &Message) -> Result<&RecordDict, NodeAppError> {
    message.content.as_ref().ok_or(NodeAppError::NoContent)
}

/// Why a message could not be handled: sent back in Flower's error reply.
#[derive(Debug, thiserror::Error)]
enum NodeAppError {
    #[error("the message has no content")]
    NoContent,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Model(#[from] feddx_runtime::FeddxError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    ClientDp(#[from] ClientDpError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("the node's {during} panicked: {message}")]
    Panicked {
        during: &'static str,
        message: String,
    },
}

impl NodeAppError {
    /// The error reply's code: what the node's mods refuse is a failed precondition,
    /// as Flower's mods report theirs; the rest, an exception of the `ClientApp`.
    fn code(&self) -> i64 {
        match self {
            NodeAppError::ClientDp(_) | NodeAppError::Policy(_) => {
                error_code::MOD_FAILED_PRECONDITION
            }
            _ => error_code::CLIENT_APP_RAISED_EXCEPTION,
        }
    }
}
