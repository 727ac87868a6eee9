//! Flower's Strategy API (`flwr.server.strategy`) in records: what a
//! `ServerApp(server_fn=...)` sends and what a Python `NumPyClient` behind a
//! SuperNode answers (`flwr/compat/common/recorddict_compat.py`).
//!
//! A `train` message carries `fitins.parameters` (an `ArrayRecord`) and
//! `fitins.config` (a `ConfigRecord`); the reply carries `fitres.metrics`,
//! `fitres.num_examples`, `fitres.parameters` and `fitres.status`, in that order.
//! `evaluate` is the same with `evaluateins.*` and `evaluateres.loss`,
//! `evaluateres.num_examples`, `evaluateres.metrics` and `evaluateres.status`.
//!
//! The legacy `Parameters` are a list of `.npy` files with no names: in records,
//! Flower names them `0`, `1`, ... and leaves each `Array`'s dtype empty and its
//! shape `()`, so the shape and dtype are read from the `.npy` header, and arrays are
//! matched to the model's tensors by position.

use feddx_runtime::weights::NamedTensor;

use crate::records::{
    Array, ArrayRecord, ConfigRecord, ConfigValue, MetricRecord, MetricValue, Record, RecordDict,
    STYPE_NUMPY,
};
use crate::{npy, ProtocolError};

/// The `ArrayRecord` of a `train` message's global model.
pub const FITINS_PARAMETERS: &str = "fitins.parameters";
/// The `ConfigRecord` of a `train` message's settings (the strategy's `on_fit_config_fn`).
pub const FITINS_CONFIG: &str = "fitins.config";
/// The `ArrayRecord` of an `evaluate` message's global model.
pub const EVALUATEINS_PARAMETERS: &str = "evaluateins.parameters";
/// The `ConfigRecord` of an `evaluate` message's settings.
pub const EVALUATEINS_CONFIG: &str = "evaluateins.config";

/// The key Flower uses for a `Parameters` with no tensors.
pub const EMPTY_TENSOR_KEY: &str = "_empty";

/// `Code.OK` of `flwr.common.Status`.
pub const STATUS_OK: i64 = 0;
/// The status message of a `NumPyClient`'s successful `fit` and `evaluate`.
pub const STATUS_SUCCESS: &str = "Success";

/// The message type the server sends for initial parameters when its strategy has
/// none (`MessageTypeLegacy.GET_PARAMETERS`).
pub const GET_PARAMETERS: &str = "get_parameters";

/// The flat weight vector of legacy `Parameters` that fit the model, for
/// `FederatedModel::set_weights_vec`.
///
/// `expected` gives the model's tensors (names and shapes; values are ignored).
/// The record must hold one `.npy` array per tensor, in the model's order, each
/// of the tensor's shape and `float32`, or `float64`, which is rounded to `float32`
/// (Flower's legacy strategies average in `float64`, and a Python client loads the
/// result into its `float32` model): a different count or shape is a
/// [`ProtocolError::ArraysMismatch`] naming the array by position and the tensor it
/// stands for, and bytes that are not a C-order `float32` or `float64` `.npy` file
/// a [`ProtocolError::Npy`].
pub fn parameters_to_weights(
    expected: &[NamedTensor],
    record: &ArrayRecord,
) -> Result<Vec<f32>, ProtocolError> {
    let mismatch = |reason: String| ProtocolError::ArraysMismatch { reason };
    let tensors: Vec<(&str, &Array)> = record
        .iter()
        .filter(|(name, _)| *name != EMPTY_TENSOR_KEY)
        .collect();
    if tensors.len() != expected.len() {
        return Err(mismatch(format!(
            "the model has {} arrays, the legacy Parameters have {}",
            expected.len(),
            tensors.len()
        )));
    }
    let total = expected
        .iter()
        .map(|tensor| tensor.shape.iter().product::<usize>())
        .sum();
    let mut flat = Vec::with_capacity(total);
    for (position, (tensor, (_, array))) in expected.iter().zip(tensors).enumerate() {
        let name = position.to_string();
        if array.stype != STYPE_NUMPY {
            return Err(ProtocolError::Npy {
                name,
                reason: format!("tensor type `{}`, expected `{STYPE_NUMPY}`", array.stype),
            });
        }
        let (shape, values) = npy::read_f32_or_f64(&name, &array.data)?;
        if shape != tensor.shape {
            return Err(mismatch(format!(
                "array {position} has shape {shape:?}, the model expects {:?} for `{}`",
                tensor.shape, tensor.name
            )));
        }
        flat.extend_from_slice(&values);
    }
    Ok(flat)
}

/// Legacy `Parameters` of a model's weights, as `parameters_to_arrayrecord(
/// ndarrays_to_parameters(arrays))` makes them: `.npy` bytes named `0`, `1`, ...,
/// with an empty dtype and shape, or one empty `_empty` array if there are none.
pub fn weights_to_parameters(weights: &[NamedTensor]) -> ArrayRecord {
    let mut record: ArrayRecord = weights
        .iter()
        .enumerate()
        .map(|(position, tensor)| {
            (
                position.to_string(),
                legacy_array(npy::write_f32(&tensor.shape, &tensor.values)),
            )
        })
        .collect();
    if record.is_empty() {
        record.insert(EMPTY_TENSOR_KEY, legacy_array(Vec::new()));
    }
    record
}

/// An `Array` as `parameters_to_arrayrecord` makes it from one tensor of `Parameters`.
fn legacy_array(data: Vec<u8>) -> Array {
    Array {
        dtype: String::new(),
        shape: Vec::new(),
        stype: STYPE_NUMPY.to_string(),
        data,
    }
}

/// The `<res>.status` record of a successful reply.
fn status_ok() -> ConfigRecord {
    [
        ("code", ConfigValue::Int(STATUS_OK)),
        ("message", ConfigValue::from(STATUS_SUCCESS)),
    ]
    .into_iter()
    .collect()
}

/// The `<res>.num_examples` record.
fn num_examples_record(num_examples: usize) -> MetricRecord {
    [("num_examples", MetricValue::Int(num_examples as i64))]
        .into_iter()
        .collect()
}

/// The content of a `train` reply, as `fitres_to_recorddict` builds it from a
/// `NumPyClient`'s `fit` result: `(parameters, num_examples, metrics)`.
pub fn fit_res(parameters: ArrayRecord, num_examples: usize, metrics: ConfigRecord) -> RecordDict {
    let mut content = RecordDict::new();
    content.insert("fitres.metrics", Record::Config(metrics));
    content.insert(
        "fitres.num_examples",
        Record::Metric(num_examples_record(num_examples)),
    );
    content.insert("fitres.parameters", Record::Array(parameters));
    content.insert("fitres.status", Record::Config(status_ok()));
    content
}

/// The content of an `evaluate` reply, as `evaluateres_to_recorddict` builds it from
/// a `NumPyClient`'s `evaluate` result: `(loss, num_examples, metrics)`.
pub fn evaluate_res(loss: f64, num_examples: usize, metrics: ConfigRecord) -> RecordDict {
    let mut content = RecordDict::new();
    content.insert(
        "evaluateres.loss",
        Record::Metric([("loss", MetricValue::Double(loss))].into_iter().collect()),
    );
    content.insert(
        "evaluateres.num_examples",
        Record::Metric(num_examples_record(num_examples)),
    );
    content.insert("evaluateres.metrics", Record::Config(metrics));
    content.insert("evaluateres.status", Record::Config(status_ok()));
    content
}

/// The content of a `get_parameters` reply, as `getparametersres_to_recorddict`
/// builds it.
pub fn get_parameters_res(parameters: ArrayRecord) -> RecordDict {
    let mut content = RecordDict::new();
    content.insert("getparametersres.parameters", Record::Array(parameters));
    content.insert("getparametersres.status", Record::Config(status_ok()));
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Deflated, Message};
    use crate::python_fixture::{self, assert_same};

    const FIXTURE: &str = include_str!("../tests/fixtures/flwr_legacy.json");
    /// The reply's clock in the fixture.
    const NOW: f64 = 1_795_753_666.25;

    fn tensor(name: &str, shape: &[usize], values: Vec<f32>) -> NamedTensor {
        NamedTensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            values,
        }
    }

    fn weight() -> Vec<f32> {
        (0..6).map(|i| i as f32 * 0.25 - 0.5).collect()
    }

    fn bias() -> Vec<f32> {
        vec![0.1, -0.2, 0.3]
    }

    /// The fixture's model: a (2, 3) weight and a (3,) bias.
    fn model(shift: f32) -> Vec<NamedTensor> {
        let plus = |values: Vec<f32>| values.into_iter().map(|v| v + shift).collect();
        vec![
            tensor("0.weight", &[2, 3], plus(weight())),
            tensor("0.bias", &[3], plus(bias())),
        ]
    }

    fn python(name: &str) -> Deflated {
        python_fixture::deflated(FIXTURE, name)
    }

    fn inflate(name: &str) -> Message {
        let deflated = python(name);
        let objects = deflated.objects.iter().cloned().collect();
        Message::inflate(&deflated.message_id, &deflated.tree, &objects).unwrap()
    }

    fn metrics() -> ConfigRecord {
        [
            ("loss", ConfigValue::Double(0.5)),
            ("accuracy", ConfigValue::Double(0.25)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn reads_the_parameters_and_config_a_strategy_sends() {
        let fit_ins = inflate("fit_ins");
        let content = fit_ins.content.as_ref().unwrap();
        let parameters = content.array_record(FITINS_PARAMETERS).unwrap();
        let mut expected = weight();
        expected.extend(bias());
        assert_eq!(parameters_to_weights(&model(0.0), parameters), Ok(expected));
        let config = content.config_record(FITINS_CONFIG).unwrap();
        assert_eq!(config.get_f64("proximal_mu"), Ok(Some(0.5)));
        assert_eq!(config.get_u64("server-round"), Ok(Some(1)));

        let evaluate_ins = inflate("evaluate_ins");
        let content = evaluate_ins.content.as_ref().unwrap();
        assert!(content.array_record(EVALUATEINS_PARAMETERS).is_ok());
        assert!(content
            .config_record(EVALUATEINS_CONFIG)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn replies_byte_for_byte_as_a_numpy_client() {
        let fit_ins = inflate("fit_ins");
        let content = fit_res(weights_to_parameters(&model(1.0)), 12, metrics());
        assert_same(&fit_ins.reply(content, NOW).deflate(), &python("fit_res"));

        let evaluate_ins = inflate("evaluate_ins");
        let content = evaluate_res(0.5, 12, metrics());
        assert_same(
            &evaluate_ins.reply(content, NOW).deflate(),
            &python("evaluate_res"),
        );

        let get_parameters_ins = inflate("get_parameters_ins");
        assert_eq!(get_parameters_ins.metadata.message_type, GET_PARAMETERS);
        let content = get_parameters_res(weights_to_parameters(&model(0.0)));
        assert_same(
            &get_parameters_ins.reply(content, NOW).deflate(),
            &python("get_parameters_res"),
        );
    }

    #[test]
    fn float64_parameters_of_fedadam_are_rounded_to_float32() {
        let deflated = python("aggregated_f64");
        let objects = deflated.objects.iter().cloned().collect();
        let message = Message::inflate(&deflated.message_id, &deflated.tree, &objects).unwrap();
        let content = message.content.as_ref().unwrap();
        let parameters = content.array_record(FITINS_PARAMETERS).unwrap();
        // FedAdam's step, computed in float64 by Python: rounded once to float32.
        let fixture: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        let expected: Vec<f32> = fixture["aggregated_f64_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(expected.len(), 9);
        assert_eq!(parameters_to_weights(&model(0.0), parameters), Ok(expected));
    }

    #[test]
    fn no_tensors_is_one_empty_array_as_in_python() {
        let record = weights_to_parameters(&[]);
        assert_eq!(record.names().collect::<Vec<_>>(), [EMPTY_TENSOR_KEY]);
        assert_eq!(parameters_to_weights(&[], &record), Ok(vec![]));
    }

    fn reason(result: Result<Vec<f32>, ProtocolError>) -> String {
        match result {
            Err(error) => error.to_string(),
            Ok(weights) => panic!("expected an error, got {weights:?}"),
        }
    }

    #[test]
    fn names_each_mismatch_by_position_and_tensor() {
        let mut short = weights_to_parameters(&model(0.0));
        short = short
            .iter()
            .take(1)
            .map(|(name, array)| (name, array.clone()))
            .collect();
        assert_eq!(
            reason(parameters_to_weights(&model(0.0), &short)),
            "the arrays do not fit the model: the model has 2 arrays, the legacy Parameters have 1"
        );

        let swapped =
            weights_to_parameters(&[tensor("b", &[3], bias()), tensor("w", &[2, 3], weight())]);
        assert_eq!(
            reason(parameters_to_weights(&model(0.0), &swapped)),
            "the arrays do not fit the model: array 0 has shape [3], the model expects [2, 3] \
             for `0.weight`"
        );

        let mut int32 = weights_to_parameters(&model(0.0));
        let mut array = int32.get("1").unwrap().clone();
        let at = array
            .data
            .windows(3)
            .position(|window| window == b"<f4")
            .unwrap();
        array.data[at + 1] = b'i';
        int32.insert("1", array);
        assert_eq!(
            reason(parameters_to_weights(&model(0.0), &int32)),
            "array `1` is not a valid .npy array: dtype `<i4`, expected `<f4` (float32) or \
             `<f8` (float64)"
        );

        let mut torch = weights_to_parameters(&model(0.0));
        let mut array = torch.get("0").unwrap().clone();
        array.stype = "torch.Tensor".to_string();
        torch.insert("0", array);
        assert!(reason(parameters_to_weights(&model(0.0), &torch))
            .contains("tensor type `torch.Tensor`, expected `numpy.ndarray`"));
    }
}
