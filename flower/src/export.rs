//! A model's arrays on disk, as the example ServerApp (`examples/flower/`) reads and
//! writes them: `names.json` (the array names, in order) and one `.npy` file per
//! array (`0.npy`, `1.npy`, ...), which `numpy.load` opens. The initial model goes
//! to the ServerApp this way, so Python never needs to know the model, and the
//! ServerApp's global models come back this way to be evaluated or compared.

use std::path::{Path, PathBuf};

use feddx_runtime::weights::NamedTensor;
use thiserror::Error;

use crate::arrays::record_to_weights;
use crate::npy;
use crate::records::{Array, ArrayRecord};
use crate::ProtocolError;

/// Arrays that cannot be written, read, or fitted to the model.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `names.json` is not a JSON list of strings.
    #[error("{path} is not a JSON list of array names: {reason}")]
    Names {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        reason: String,
    },
    /// The arrays do not fit the model, or a file is not a float32 `.npy` array.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `weights` to `dir` (created if missing).
///
/// # Errors
/// [`ExportError::Io`].
pub fn save_arrays(dir: &Path, weights: &[NamedTensor]) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let names: Vec<&str> = weights.iter().map(|w| w.name.as_str()).collect();
    let names_path = dir.join("names.json");
    let json = serde_json::to_string(&names).expect("a list of strings always serialises");
    std::fs::write(&names_path, json).map_err(io(&names_path))?;
    for (i, w) in weights.iter().enumerate() {
        let path = dir.join(format!("{i}.npy"));
        std::fs::write(&path, npy::write_f32(&w.shape, &w.values)).map_err(io(&path))?;
    }
    Ok(())
}

/// Reads the arrays in `dir` as the flat weight vector of a model whose trainable
/// tensors are `expected` (names and shapes; values are ignored).
///
/// # Errors
/// [`ExportError::Io`], [`ExportError::Names`], and
/// [`ProtocolError::ArraysMismatch`] or [`ProtocolError::Npy`] for arrays that do
/// not fit: another count, name, shape or dtype.
pub fn load_arrays(dir: &Path, expected: &[NamedTensor]) -> Result<Vec<f32>, ExportError> {
    let names_path = dir.join("names.json");
    let text = std::fs::read_to_string(&names_path).map_err(io(&names_path))?;
    let names: Vec<String> = serde_json::from_str(&text).map_err(|e| ExportError::Names {
        path: names_path.clone(),
        reason: e.to_string(),
    })?;
    let mut record = ArrayRecord::new();
    for (i, name) in names.iter().enumerate() {
        let path = dir.join(format!("{i}.npy"));
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let (shape, values) = npy::read_f32(name, &bytes)?;
        record.insert(name.as_str(), Array::from_f32(&shape, &values));
    }
    Ok(record_to_weights(expected, &record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<NamedTensor> {
        vec![
            NamedTensor {
                name: "0.weight".into(),
                shape: vec![2, 3],
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
            NamedTensor {
                name: "0.bias".into(),
                shape: vec![2],
                values: vec![-1.0, 0.5],
            },
        ]
    }

    #[test]
    fn arrays_round_trip_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        save_arrays(dir.path(), &tensors()).unwrap();
        let flat = load_arrays(dir.path(), &tensors()).unwrap();
        assert_eq!(flat, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, 0.5]);
    }

    #[test]
    fn arrays_of_another_model_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        save_arrays(dir.path(), &tensors()).unwrap();
        let mut other = tensors();
        other[1].name = "1.bias".into();
        let err = load_arrays(dir.path(), &other).unwrap_err();
        assert!(
            err.to_string()
                .contains("array 1 is `0.bias`, the model expects `1.bias`"),
            "{err}"
        );
        other = tensors();
        other[0].shape = vec![3, 2];
        let err = load_arrays(dir.path(), &other).unwrap_err();
        assert!(
            err.to_string()
                .contains("shape [2, 3], the model expects [3, 2]"),
            "{err}"
        );
        let err = load_arrays(dir.path(), &tensors()[..1]).unwrap_err();
        assert!(
            err.to_string()
                .contains("the model has 1 arrays, the message has 2"),
            "{err}"
        );
    }
}
