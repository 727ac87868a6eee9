//! A model's trainable weights as an [`ArrayRecord`], and back.
//!
//! The record holds one `float32` array per trainable tensor, named as the model names
//! it (`0.weight`, `0.bias`, ...) and in the model's order, so that a Python
//! `ServerApp` sees the arrays a PyTorch state dict of the same model would give.

use feddx_runtime::weights::NamedTensor;

use crate::records::{Array, ArrayRecord};
use crate::ProtocolError;

/// The record of a model's trainable weights: one `float32` array per tensor, in order.
pub fn weights_to_record(weights: &[NamedTensor]) -> ArrayRecord {
    weights
        .iter()
        .map(|tensor| {
            (
                tensor.name.as_str(),
                Array::from_f32(&tensor.shape, &tensor.values),
            )
        })
        .collect()
}

/// The flat weight vector of a record that fits the model, for
/// `FederatedModel::set_weights_vec`.
///
/// `expected` gives the model's tensors (their names and shapes; values are ignored).
/// The record must hold exactly those tensors, in that order, as `float32`; any
/// difference is a [`ProtocolError::ArraysMismatch`] naming it, and bytes that are not
/// a valid `.npy` array are a [`ProtocolError::Npy`]. The arrays are named as the
/// model names them, or `0`, `1`, ... as Flower names the arrays of a Python list
/// (`ArrayRecord([a, b])`); then only their order and shapes are checked.
pub fn record_to_weights(
    expected: &[NamedTensor],
    record: &ArrayRecord,
) -> Result<Vec<f32>, ProtocolError> {
    let mismatch = |reason: String| ProtocolError::ArraysMismatch { reason };
    if record.len() != expected.len() {
        return Err(mismatch(format!(
            "the model has {} arrays, the message has {}",
            expected.len(),
            record.len()
        )));
    }

    let total = expected
        .iter()
        .map(|tensor| tensor.shape.iter().product::<usize>())
        .sum();
    let positional = record
        .names()
        .enumerate()
        .all(|(i, name)| name == i.to_string());
    let mut flat = Vec::with_capacity(total);
    for (position, (tensor, (name, array))) in expected.iter().zip(record.iter()).enumerate() {
        if name != tensor.name && !positional {
            return Err(mismatch(format!(
                "array {position} is `{name}`, the model expects `{}` there",
                tensor.name
            )));
        }
        if array.dtype != "float32" {
            return Err(mismatch(format!(
                "array `{name}` has dtype `{}`, the model needs `float32`",
                array.dtype
            )));
        }
        if array.shape != tensor.shape {
            return Err(mismatch(format!(
                "array `{name}` has shape {:?}, the model expects {:?}",
                array.shape, tensor.shape
            )));
        }
        let (_, values) = array.to_f32(name)?;
        flat.extend_from_slice(&values);
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, shape: &[usize], values: Vec<f32>) -> NamedTensor {
        NamedTensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            values,
        }
    }

    fn model() -> Vec<NamedTensor> {
        vec![
            tensor("0.weight", &[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            tensor("0.bias", &[2], vec![-1.0, -2.0]),
        ]
    }

    fn reason(result: Result<Vec<f32>, ProtocolError>) -> String {
        match result {
            Err(ProtocolError::ArraysMismatch { reason }) => reason,
            other => panic!("expected ArraysMismatch, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_in_model_order() {
        let record = weights_to_record(&model());
        assert_eq!(record.names().collect::<Vec<_>>(), ["0.weight", "0.bias"]);
        assert_eq!(record.get("0.bias").unwrap().shape, vec![2]);
        assert_eq!(
            record_to_weights(&model(), &record),
            Ok(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, -2.0])
        );
    }

    #[test]
    fn names_each_mismatch() {
        let mut short = ArrayRecord::new();
        short.insert("0.weight", Array::from_f32(&[2, 3], &[0.0; 6]));
        assert_eq!(
            reason(record_to_weights(&model(), &short)),
            "the model has 2 arrays, the message has 1"
        );

        // Flower's `ArrayRecord([ndarray, ...])` names arrays "0", "1", ...: taken
        // by position, shapes still checked.
        let numbered: ArrayRecord = [
            ("0", Array::from_f32(&[2, 3], &[1.0; 6])),
            ("1", Array::from_f32(&[2], &[2.0; 2])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            record_to_weights(&model(), &numbered),
            Ok(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0])
        );
        let numbered_swapped: ArrayRecord = [
            ("0", Array::from_f32(&[2], &[0.0; 2])),
            ("1", Array::from_f32(&[2, 3], &[0.0; 6])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            reason(record_to_weights(&model(), &numbered_swapped)),
            "array `0` has shape [2], the model expects [2, 3]"
        );
        let half_numbered: ArrayRecord = [
            ("0", Array::from_f32(&[2, 3], &[0.0; 6])),
            ("0.bias", Array::from_f32(&[2], &[0.0; 2])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            reason(record_to_weights(&model(), &half_numbered)),
            "array 0 is `0`, the model expects `0.weight` there"
        );

        let swapped: ArrayRecord = [
            ("0.bias", Array::from_f32(&[2], &[0.0; 2])),
            ("0.weight", Array::from_f32(&[2, 3], &[0.0; 6])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            reason(record_to_weights(&model(), &swapped)),
            "array 0 is `0.bias`, the model expects `0.weight` there"
        );

        let mut transposed = weights_to_record(&model());
        transposed.insert("0.weight", Array::from_f32(&[3, 2], &[0.0; 6]));
        assert_eq!(
            reason(record_to_weights(&model(), &transposed)),
            "array `0.weight` has shape [3, 2], the model expects [2, 3]"
        );

        let mut float64 = weights_to_record(&model());
        let mut bias = float64.get("0.bias").unwrap().clone();
        bias.dtype = "float64".to_string();
        float64.insert("0.bias", bias);
        assert_eq!(
            reason(record_to_weights(&model(), &float64)),
            "array `0.bias` has dtype `float64`, the model needs `float32`"
        );
    }

    #[test]
    fn npy_errors_pass_through() {
        let mut record = weights_to_record(&model());
        let mut bias = record.get("0.bias").unwrap().clone();
        bias.data.truncate(bias.data.len() - 1);
        record.insert("0.bias", bias);
        match record_to_weights(&model(), &record) {
            Err(ProtocolError::Npy { name, reason }) => {
                assert_eq!(name, "0.bias");
                assert_eq!(reason, "shape (2,) needs 8 bytes of data, found 7");
            }
            other => panic!("expected Npy, got {other:?}"),
        }
    }
}
