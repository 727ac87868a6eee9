//! What the node does with a message: Flower's `ClientApp`, in Rust, for a
//! [`FederatedModel`].
//!
//! A `train` message carries the global model and the round's settings; the reply
//! carries the locally trained weights, the number of examples, by which Flower's
//! strategies weight the average, and the training metrics. An `evaluate` message
//! gets the number of examples, the loss and the evaluation metrics. Both of
//! Flower's APIs are answered, each in its own records (see [`crate::api`]): the
//! Message API (`flwr.serverapp.strategy`) and the Strategy API
//! (`flwr.server.strategy` in a `ServerApp(server_fn=...)`), which also asks for
//! initial parameters with `get_parameters` when its strategy has none.
//!
//! One path serves both APIs: read what client-side protocols the message asks for
//! ([`ClientSide`]) and hold them to the owner's [`Policy`] → decode a [`Request`] →
//! train → [`ClientApp`]'s `before_reply` step, where the global weights, the
//! trained weights and the reply's metrics are all in hand and the update is
//! clipped as Flower's client mods clip it ([`client_dp::apply`]) → encode the
//! [`TrainReply`] in the request's API.
//!
//! Any other message type, and any message the node cannot use, gets Flower's error
//! reply: so does a config that asks for more local training than the node's
//! [`Limits`] allow, and a panic in the model's code, which is caught. Nothing here
//! touches the network: [`ClientApp::handle`] maps a message to its reply.

use std::panic::{self, AssertUnwindSafe};

use feddx_runtime::federated::seeds::client_seed;
use feddx_runtime::federated::{
    evaluate, panic_message, train_client, Algorithm, BatchSize, ClientDataOf, LocalTraining,
};
use feddx_runtime::metrics::MetricValues;
use feddx_runtime::FederatedModel;

pub use crate::api::{EvaluateReply, Request, TrainReply, ARRAYS, CONFIG, METRICS, NUM_EXAMPLES};

use crate::api::Task;
use crate::client_dp::{self, ClientDpError, Clipped};
use crate::legacy;
use crate::limits::{LimitError, Limits};
use crate::message::{error_code, Message};
use crate::policy::{Policy, PolicyError};
use crate::protocols::{ClientSide, SECAGGPLUS_CONFIGS};
use crate::records::{ArrayRecord, ConfigRecord, ConfigValue, Record, RecordDict};
use crate::secagg::{SecAggError, SecAggPlusState, Stage};
use crate::ProtocolError;

/// Config keys the node reads from a `train` message, each overriding the node's
/// default: learning rate, local epochs, batch size, FedProx's `mu`, and the round.
/// The Strategy API's config is whatever the strategy's `on_fit_config_fn` returns;
/// the same keys are read there, and FedProx's own `proximal_mu`.
pub mod config_keys {
    /// Client learning rate (float).
    pub const LEARNING_RATE: &str = "lr";
    /// Local epochs (non-negative integer).
    pub const LOCAL_EPOCHS: &str = "local-epochs";
    /// Batch size (non-negative integer; 0 for full batches).
    pub const BATCH_SIZE: &str = "batch-size";
    /// FedProx's proximal weight `mu` (float); 0 is FedAvg.
    pub const PROXIMAL_MU: &str = "proximal-mu";
    /// FedProx's `mu` as `flwr.server.strategy.FedProx` sends it; `proximal-mu`
    /// wins if both are set.
    pub const LEGACY_PROXIMAL_MU: &str = "proximal_mu";
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
    /// The SecAgg+ state of the run it belongs to, kept between stages as Python's
    /// `secaggplus_mod` keeps it in the run's context.
    secagg: Option<(u64, SecAggPlusState)>,
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
    /// The SecAgg+ stage the message was, if it was one.
    pub secagg_stage: Option<Stage>,
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
            secagg: None,
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
            legacy::GET_PARAMETERS => Ok(self.get_parameters()),
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
        let asked = ClientSide::of(content(message)?)?;
        // Before the arrays and before training: a refused round costs nothing.
        self.policy.admit(&asked)?;
        if asked.secure_aggregation {
            return self.secure_aggregation_stage(message, &asked);
        }
        let request = self.decode(Task::Train, message)?;
        let server_round = server_round(&request.config, message)?;
        let mut reply = self.train_locally(&request, server_round)?;
        let clipping = self.before_reply(&request, &asked, &mut reply)?;
        let content = request
            .api
            .train_reply(&reply, &self.model.trainable_weights())?;
        let handled = Handled {
            message_type: "train".into(),
            server_round,
            num_examples: reply.num_examples,
            metrics: metric_values(&reply.metrics),
            clipping,
            secagg_stage: None,
        };
        Ok((content, handled))
    }

    /// One stage of a SecAgg+ round, as Python's `secaggplus_mod` answers it: the
    /// reply's `secaggplus_configs` record from the [`SecAggPlusState`] of the
    /// message's run; in the collect_masked_vectors stage the node trains as for any
    /// `train` message (clipping included, when asked), and the reply carries the
    /// Strategy API's `fitres.*` with its arrays emptied: the update leaves the node
    /// only masked.
    fn secure_aggregation_stage(
        &mut self,
        message: &Message,
        asked: &ClientSide,
    ) -> Result<(RecordDict, Handled), NodeAppError> {
        let content = content(message)?;
        let configs = content.config_record(SECAGGPLUS_CONFIGS)?;
        let run_id = message.metadata.run_id;
        let mut state = match self.secagg.take() {
            Some((run, state)) if run == run_id => state,
            _ => SecAggPlusState::new(),
        };
        let mut trained = None;
        let answer = state.handle(configs, message.metadata.dst_node_id, || {
            let request = self.decode(Task::Train, message)?;
            let server_round = server_round(&request.config, message)?;
            let mut reply = self.train_locally(&request, server_round)?;
            let clipping = self.before_reply(&request, asked, &mut reply)?;
            let tensors = self.model.trainable_weights();
            let mut arrays = Vec::with_capacity(tensors.len());
            let mut rest = reply.weights.as_slice();
            for tensor in &tensors {
                let (values, tail) = rest.split_at(tensor.values.len().min(rest.len()));
                arrays.push((tensor.shape.clone(), values.to_vec()));
                rest = tail;
            }
            let content = request.api.train_reply(&reply, &tensors)?;
            let num_examples = reply.num_examples;
            trained = Some((content, server_round, reply, clipping));
            Ok::<_, NodeAppError>((arrays, num_examples))
        });
        self.secagg = Some((run_id, state));
        let stage = answer?;
        let secagg_stage = self.secagg.as_ref().map(|(_, state)| state.stage());
        let (mut reply_content, handled) = match trained {
            Some((mut content, server_round, reply, clipping)) => {
                let arrays: Vec<String> = content
                    .iter()
                    .filter(|(_, record)| matches!(record, Record::Array(_)))
                    .map(|(name, _)| name.to_string())
                    .collect();
                for name in arrays {
                    content.insert(name, Record::Array(ArrayRecord::new()));
                }
                let handled = Handled {
                    message_type: "train".into(),
                    server_round,
                    num_examples: reply.num_examples,
                    metrics: metric_values(&reply.metrics),
                    clipping,
                    secagg_stage,
                };
                (content, handled)
            }
            None => {
                let handled = Handled {
                    message_type: "train".into(),
                    server_round: None,
                    num_examples: 0,
                    metrics: MetricValues::default(),
                    clipping: None,
                    secagg_stage,
                };
                (RecordDict::default(), handled)
            }
        };
        reply_content.insert(SECAGGPLUS_CONFIGS, Record::Config(stage));
        Ok((reply_content, handled))
    }

    /// The request of a `train` or `evaluate` message, in either API.
    fn decode(&self, task: Task, message: &Message) -> Result<Request, NodeAppError> {
        let content = content(message)?;
        Ok(Request::decode(
            task,
            content,
            &self.model.trainable_weights(),
        )?)
    }

    /// Local training from the request's global weights, with its config over the
    /// node's defaults; the trained weights stay in the model too.
    fn train_locally(
        &mut self,
        request: &Request,
        server_round: Option<u64>,
    ) -> Result<TrainReply, NodeAppError> {
        let training = self.training(&request.config)?;
        let round = server_round.map_or(0, |r| r.saturating_sub(1) as usize);
        let seed = client_seed(self.seed, round, self.client_index);
        let update = train_client(
            &mut self.model,
            &request.global,
            &self.train,
            &training,
            seed,
        )?;
        let metrics = self.model.finalize_metrics(&update.metrics);
        Ok(TrainReply {
            weights: self.model.weights_vec(),
            num_examples: update.num_examples,
            metrics: config_metrics(&metrics),
        })
    }

    /// **The step between training and the reply**, the same for both APIs.
    ///
    /// Here `request.global` (the global weights), `reply.weights` (the trained
    /// weights, flat in the model's order), `reply.num_examples` and `reply.metrics`
    /// are all in hand, and `request.api`, `request.config` and `asked` say what the
    /// server asked. What this step leaves in `reply` is what is sent, encoded in the
    /// request's API; an error here is sent as Flower's error reply instead. Here the
    /// update is clipped, when the server asked for client-side clipping, as Flower's
    /// `fixedclipping_mod` / `adaptiveclipping_mod` clip it, with the norm bit in the
    /// metrics.
    fn before_reply(
        &mut self,
        request: &Request,
        asked: &ClientSide,
        reply: &mut TrainReply,
    ) -> Result<Option<Clipped>, NodeAppError> {
        let sizes: Vec<usize> = self
            .model
            .trainable_weights()
            .iter()
            .map(|t| t.values.len())
            .collect();
        Ok(client_dp::apply(
            &self.policy,
            asked,
            &sizes,
            &request.global,
            &mut reply.weights,
            &mut reply.metrics,
        )?)
    }

    fn evaluate(&mut self, message: &Message) -> Result<(RecordDict, Handled), NodeAppError> {
        let request = self.decode(Task::Evaluate, message)?;
        let server_round = server_round(&request.config, message)?;
        self.model.set_weights_vec(&request.global)?;
        let data = self.eval.as_ref().unwrap_or(&self.train);
        let metrics = evaluate(&self.model, data, self.defaults.batch_size)?;
        let loss = metrics.get(LOSS).ok_or(NodeAppError::NoLoss)?;
        let reply = EvaluateReply {
            loss,
            num_examples: data.len(),
            metrics: config_metrics(&metrics),
        };
        let content = request.api.evaluate_reply(&reply)?;
        let handled = Handled {
            message_type: "evaluate".into(),
            server_round,
            num_examples: reply.num_examples,
            metrics,
            clipping: None,
            secagg_stage: None,
        };
        Ok((content, handled))
    }

    /// The Strategy API's `get_parameters`: the node's current weights, which are
    /// its initial ones until a message sets others (a strategy without
    /// `initial_parameters` asks one node for them).
    fn get_parameters(&self) -> (RecordDict, Handled) {
        let weights = self.model.trainable_weights();
        let content = legacy::get_parameters_res(legacy::weights_to_parameters(&weights));
        let handled = Handled {
            message_type: legacy::GET_PARAMETERS.into(),
            server_round: None,
            num_examples: 0,
            metrics: MetricValues::default(),
            clipping: None,
            secagg_stage: None,
        };
        (content, handled)
    }

    /// The node's defaults, overridden by the message's config, each value held
    /// to the node's [`Limits`].
    fn training(&self, config: &ConfigRecord) -> Result<LocalTraining, NodeAppError> {
        let mut training = self.defaults;
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
        let mu = match config.get_f64(config_keys::PROXIMAL_MU)? {
            Some(mu) => Some(mu),
            None => config.get_f64(config_keys::LEGACY_PROXIMAL_MU)?,
        };
        if let Some(mu) = mu {
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

/// The metric a model's evaluation reports its loss under.
const LOSS: &str = "loss";

/// Finalised metrics as the reply's metrics: every one as a float, but the counts
/// the reply carries on its own (`num_examples`, `num_batches`).
fn config_metrics(metrics: &MetricValues) -> ConfigRecord {
    metrics
        .iter()
        .filter(|(name, _)| *name != "num_examples" && *name != "num_batches")
        .map(|(name, value)| (name, ConfigValue::Double(value)))
        .collect()
}

/// The reply's numeric metrics, for the node's log.
fn metric_values(metrics: &ConfigRecord) -> MetricValues {
    let mut values = MetricValues::default();
    for (name, value) in metrics.iter() {
        let value = match value {
            ConfigValue::Double(v) => *v,
            ConfigValue::Int(v) => *v as f64,
            ConfigValue::Uint(v) => *v as f64,
            ConfigValue::Bool(v) => f64::from(u8::from(*v)),
            _ => continue,
        };
        values.push(name, value);
    }
    values
}

/// The server's round: the config's `server-round`, else the message's group id
/// when it is a number (both APIs' servers set it to the round).
fn server_round(config: &ConfigRecord, message: &Message) -> Result<Option<u64>, ProtocolError> {
    match config.get_u64(config_keys::SERVER_ROUND)? {
        Some(round) => Ok(Some(round)),
        None => Ok(message.metadata.group_id.parse().ok()),
    }
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
    #[error("the model's evaluation reports no `loss`, which the reply needs")]
    NoLoss,
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
    #[error("secure aggregation (SecAgg+): {0}")]
    SecAgg(#[from] SecAggError),
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
