//! Which of Flower's two APIs a `train` or `evaluate` message speaks, what it asks
//! for, and the reply in the same API.
//!
//! - The **Message API** (`flwr.serverapp.strategy`): the global model in the
//!   `ArrayRecord` "arrays", settings in the `ConfigRecord` "config"; the reply holds
//!   "arrays" (trained, `train` only) and the `MetricRecord` "metrics", led by
//!   `num-examples`.
//! - The **Strategy API** (`flwr.server.strategy` behind `ServerApp(server_fn=...)`):
//!   `fitins.*`/`evaluateins.*` in, `fitres.*`/`evaluateres.*` out, as a Python
//!   `NumPyClient` behind a SuperNode answers (see [`crate::legacy`]).
//!
//! Both decode to one [`Request`] and encode from one [`TrainReply`] or
//! [`EvaluateReply`], so the node trains and evaluates the same way whichever API
//! the server uses.

use feddx_runtime::weights::NamedTensor;

use crate::arrays::{record_to_weights, weights_to_record};
use crate::legacy;
use crate::records::{ConfigRecord, ConfigValue, MetricRecord, MetricValue, Record, RecordDict};
use crate::ProtocolError;

/// Name of the Message API's `ArrayRecord` with the model, in messages both ways.
pub const ARRAYS: &str = "arrays";
/// Name of the Message API's `ConfigRecord` with the round's settings.
pub const CONFIG: &str = "config";
/// Name of the Message API's `MetricRecord` in replies.
pub const METRICS: &str = "metrics";
/// Metric by which the Message API's strategies weight a node's reply.
pub const NUM_EXAMPLES: &str = "num-examples";

/// One of Flower's two ways of asking a node to train or evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `flwr.serverapp.strategy`: records "arrays", "config" and "metrics".
    Message,
    /// `flwr.server.strategy` (legacy): records `fitins.*`, `fitres.*`, ...
    Strategy,
}

/// What the server asks of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A `train` message.
    Train,
    /// An `evaluate` message.
    Evaluate,
}

impl Task {
    /// The message type that asks for it.
    pub fn message_type(self) -> &'static str {
        match self {
            Task::Train => "train",
            Task::Evaluate => "evaluate",
        }
    }

    /// The Strategy API's records for it: parameters and config.
    fn legacy_records(self) -> (&'static str, &'static str) {
        match self {
            Task::Train => (legacy::FITINS_PARAMETERS, legacy::FITINS_CONFIG),
            Task::Evaluate => (legacy::EVALUATEINS_PARAMETERS, legacy::EVALUATEINS_CONFIG),
        }
    }
}

/// A `train` or `evaluate` message, decoded: the API it speaks, the global model and
/// the server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The API to answer in.
    pub api: Api,
    /// The global model, flat in the model's order (`FederatedModel::weights_vec`).
    pub global: Vec<f32>,
    /// The server's settings: "config" (Message API, empty if absent) or
    /// `fitins.config`/`evaluateins.config` (Strategy API).
    pub config: ConfigRecord,
}

impl Request {
    /// Decodes `content` of a `task` message for a model whose tensors are
    /// `expected` (names and shapes; values are ignored).
    ///
    /// The Strategy API's records win when present. Content with neither API's model
    /// record is a [`ProtocolError::UnknownLayout`] naming what was expected and what
    /// came; arrays that do not fit the model are a [`ProtocolError::ArraysMismatch`]
    /// or [`ProtocolError::Npy`].
    pub fn decode(
        task: Task,
        content: &RecordDict,
        expected: &[NamedTensor],
    ) -> Result<Request, ProtocolError> {
        let (parameters, legacy_config) = task.legacy_records();
        if content.get(parameters).is_some() {
            let record = content.array_record(parameters)?;
            return Ok(Request {
                api: Api::Strategy,
                global: legacy::parameters_to_weights(expected, record)?,
                config: content.config_record(legacy_config)?.clone(),
            });
        }
        if content.get(ARRAYS).is_some() {
            return Ok(Request {
                api: Api::Message,
                global: record_to_weights(expected, content.array_record(ARRAYS)?)?,
                config: content.config_record(CONFIG).cloned().unwrap_or_default(),
            });
        }
        Err(ProtocolError::UnknownLayout {
            message_type: task.message_type().to_string(),
            expected: format!(
                "an ArrayRecord `{ARRAYS}` (Message API) or `{parameters}` and a \
                 ConfigRecord `{legacy_config}` (Strategy API)"
            ),
            found: content
                .iter()
                .map(|(name, record)| format!("{} `{name}`", record.kind()))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// What local training gives back, before it is encoded in the request's API.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReply {
    /// The trained weights, flat in the model's order.
    pub weights: Vec<f32>,
    /// Examples trained on: the weight of this reply in the server's average.
    pub num_examples: usize,
    /// Metrics for the server, in the order sent: the Strategy API's `fitres.metrics`
    /// as they are; the Message API's "metrics" after `num-examples`, where a bool
    /// is sent as 0 or 1 (a `MetricRecord` holds numbers only, and Flower's mods
    /// send `int(norm_bit)` there).
    pub metrics: ConfigRecord,
}

/// What evaluation gives back, before it is encoded in the request's API.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateReply {
    /// The loss on the evaluation data: `evaluateres.loss` in the Strategy API.
    pub loss: f64,
    /// Examples evaluated on.
    pub num_examples: usize,
    /// Metrics for the server, as in [`TrainReply::metrics`].
    pub metrics: ConfigRecord,
}

impl Api {
    /// The content of the reply to a `train` message. `layout` gives the model's
    /// tensors (names and shapes), by which `reply.weights` is split.
    ///
    /// # Errors
    /// [`ProtocolError::ArraysMismatch`] if the weights do not fill the layout, and
    /// [`ProtocolError::MetricType`] for a Message API metric that is not a number.
    pub fn train_reply(
        self,
        reply: &TrainReply,
        layout: &[NamedTensor],
    ) -> Result<RecordDict, ProtocolError> {
        let tensors = split(&reply.weights, layout)?;
        match self {
            Api::Strategy => Ok(legacy::fit_res(
                legacy::weights_to_parameters(&tensors),
                reply.num_examples,
                reply.metrics.clone(),
            )),
            Api::Message => {
                let mut content = RecordDict::new();
                content.insert(ARRAYS, Record::Array(weights_to_record(&tensors)));
                content.insert(
                    METRICS,
                    Record::Metric(metric_record(reply.num_examples, &reply.metrics)?),
                );
                Ok(content)
            }
        }
    }

    /// The content of the reply to an `evaluate` message.
    ///
    /// # Errors
    /// [`ProtocolError::MetricType`] for a Message API metric that is not a number.
    pub fn evaluate_reply(self, reply: &EvaluateReply) -> Result<RecordDict, ProtocolError> {
        match self {
            Api::Strategy => Ok(legacy::evaluate_res(
                reply.loss,
                reply.num_examples,
                reply.metrics.clone(),
            )),
            Api::Message => {
                let mut content = RecordDict::new();
                content.insert(
                    METRICS,
                    Record::Metric(metric_record(reply.num_examples, &reply.metrics)?),
                );
                Ok(content)
            }
        }
    }
}

/// The Message API's "metrics": `num-examples` first, then `metrics` as numbers.
fn metric_record(
    num_examples: usize,
    metrics: &ConfigRecord,
) -> Result<MetricRecord, ProtocolError> {
    let mut record = MetricRecord::new();
    record.insert(NUM_EXAMPLES, MetricValue::Int(num_examples as i64));
    for (name, value) in metrics.iter() {
        let value = match value {
            ConfigValue::Double(v) => MetricValue::Double(*v),
            ConfigValue::Int(v) => MetricValue::Int(*v),
            ConfigValue::Uint(v) => MetricValue::Uint(*v),
            ConfigValue::Bool(v) => MetricValue::Int(i64::from(*v)),
            ConfigValue::DoubleList(v) => MetricValue::DoubleList(v.clone()),
            ConfigValue::IntList(v) => MetricValue::IntList(v.clone()),
            ConfigValue::UintList(v) => MetricValue::UintList(v.clone()),
            ConfigValue::Str(_)
            | ConfigValue::Bytes(_)
            | ConfigValue::BoolList(_)
            | ConfigValue::StrList(_)
            | ConfigValue::BytesList(_) => {
                return Err(ProtocolError::MetricType {
                    key: name.to_string(),
                })
            }
        };
        record.insert(name, value);
    }
    Ok(record)
}

/// `flat` cut into the tensors of `layout`.
fn split(flat: &[f32], layout: &[NamedTensor]) -> Result<Vec<NamedTensor>, ProtocolError> {
    let needed: usize = layout
        .iter()
        .map(|tensor| tensor.shape.iter().product::<usize>())
        .sum();
    if needed != flat.len() {
        return Err(ProtocolError::ArraysMismatch {
            reason: format!("the reply has {} weights, the model {needed}", flat.len()),
        });
    }
    let mut rest = flat;
    Ok(layout
        .iter()
        .map(|tensor| {
            let (values, tail) = rest.split_at(tensor.shape.iter().product());
            rest = tail;
            NamedTensor {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                values: values.to_vec(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ArrayRecord;

    fn layout() -> Vec<NamedTensor> {
        vec![
            NamedTensor {
                name: "0.weight".into(),
                shape: vec![2, 3],
                values: vec![0.0; 6],
            },
            NamedTensor {
                name: "0.bias".into(),
                shape: vec![2],
                values: vec![0.0; 2],
            },
        ]
    }

    fn weights() -> Vec<f32> {
        (0..8).map(|i| i as f32 * 0.5).collect()
    }

    fn metrics() -> ConfigRecord {
        [
            ("loss", ConfigValue::Double(0.25)),
            ("norm_bit", ConfigValue::Bool(true)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_reply_decodes_as_a_request_in_either_api() {
        let reply = TrainReply {
            weights: weights(),
            num_examples: 7,
            metrics: metrics(),
        };
        for api in [Api::Message, Api::Strategy] {
            let content = api.train_reply(&reply, &layout()).unwrap();
            // A reply's model record is named as the request's, with `res` for `ins`.
            let mut request = RecordDict::new();
            let (arrays, config) = match api {
                Api::Message => (ARRAYS, CONFIG),
                Api::Strategy => (legacy::FITINS_PARAMETERS, legacy::FITINS_CONFIG),
            };
            let record = match api {
                Api::Message => content.array_record(ARRAYS),
                Api::Strategy => content.array_record("fitres.parameters"),
            };
            request.insert(arrays, record.unwrap().clone());
            request.insert(config, metrics());
            let decoded = Request::decode(Task::Train, &request, &layout()).unwrap();
            assert_eq!(
                decoded,
                Request {
                    api,
                    global: weights(),
                    config: metrics()
                }
            );
        }
    }

    #[test]
    fn message_api_metrics_lead_with_num_examples_and_are_numbers() {
        let reply = EvaluateReply {
            loss: 0.25,
            num_examples: 7,
            metrics: metrics(),
        };
        let content = Api::Message.evaluate_reply(&reply).unwrap();
        let record = content.metric_record(METRICS).unwrap();
        let entries: Vec<_> = record.iter().collect();
        assert_eq!(
            entries,
            [
                (NUM_EXAMPLES, &MetricValue::Int(7)),
                ("loss", &MetricValue::Double(0.25)),
                ("norm_bit", &MetricValue::Int(1)),
            ]
        );
        let mut text = metrics();
        text.insert("name", "x");
        let reply = EvaluateReply {
            metrics: text,
            ..reply
        };
        assert_eq!(
            Api::Message.evaluate_reply(&reply),
            Err(ProtocolError::MetricType { key: "name".into() })
        );
        // The Strategy API's metrics are a ConfigRecord: they go as they are.
        let content = Api::Strategy.evaluate_reply(&reply).unwrap();
        assert_eq!(
            content.config_record("evaluateres.metrics"),
            Ok(&reply.metrics)
        );
    }

    #[test]
    fn content_of_neither_api_names_what_was_expected() {
        let mut content = RecordDict::new();
        content.insert("weights", ArrayRecord::new());
        content.insert("config", ConfigRecord::new());
        let error = Request::decode(Task::Evaluate, &content, &layout()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the `evaluate` message has neither API's records: expected an ArrayRecord \
             `arrays` (Message API) or `evaluateins.parameters` and a ConfigRecord \
             `evaluateins.config` (Strategy API), found ArrayRecord `weights`, \
             ConfigRecord `config`"
        );

        // The Strategy API's parameters without their config, as Python's
        // `recorddict_to_fitins` would also refuse.
        let mut content = RecordDict::new();
        content.insert(
            legacy::FITINS_PARAMETERS,
            legacy::weights_to_parameters(&layout()),
        );
        assert_eq!(
            Request::decode(Task::Train, &content, &layout()),
            Err(ProtocolError::MissingRecord {
                kind: "ConfigRecord",
                name: legacy::FITINS_CONFIG.into()
            })
        );
    }

    #[test]
    fn weights_that_do_not_fill_the_model_are_an_error() {
        let reply = TrainReply {
            weights: vec![0.0; 7],
            num_examples: 1,
            metrics: ConfigRecord::new(),
        };
        assert!(matches!(
            Api::Strategy.train_reply(&reply, &layout()),
            Err(ProtocolError::ArraysMismatch { .. })
        ));
    }
}
