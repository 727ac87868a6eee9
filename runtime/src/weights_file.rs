//! A trained model's weights saved to and loaded from a safetensors file.
//!
//! A weights file is a [safetensors](https://github.com/huggingface/safetensors)
//! file with one `F32` tensor per trainable tensor of the model, under its name in
//! [`trainable_weights`](FederatedModel::trainable_weights) (`0.weight`, `0.bias`,
//! ...) and with its shape, stored bit for bit, and string metadata
//! `format = "feddx-weights"`, `version = "1"` (keys sorted, so the same weights
//! write the same bytes). The names and shapes are those of
//! PyTorch's `state_dict` for the same `nn.Sequential` (a `Linear`'s weight is
//! `[out, in]`), so other tools can read the file.
//!
//! Loading checks every name, dtype and shape against the model and changes
//! nothing unless all of them fit; the metadata is not required, so a safetensors
//! file written by another tool loads if its tensors fit. A
//! [checkpoint](crate::federated::checkpoint) (metadata `format =
//! "feddx-checkpoint"`) loads too: it holds the global weights as one flat vector,
//! not by name, so only its length is checked against the model's number of
//! trainable parameters.
//!
//! Saving is atomic like a checkpoint: the file is written to `<name>.tmp-<pid>` in
//! the same directory, synced, then renamed over `path`.
//!
//! ```
//! use feddx_runtime::weights_file::{load_weights, save_weights};
//! # use feddx_runtime::FederatedModel;
//! # fn demo<M: FederatedModel>(trained: &M, fresh: &mut M) -> feddx_runtime::Result<()> {
//! let path = std::env::temp_dir().join(format!("feddx-doc-{}.safetensors", std::process::id()));
//! save_weights(trained, &path)?;
//! load_weights(fresh, &path)?;
//! assert_eq!(fresh.weights_vec(), trained.weights_vec());
//! # std::fs::remove_file(&path).ok();
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use thiserror::Error;

use crate::federated::checkpoint::{is_checkpoint, parse_checkpoint};
use crate::safetensors_io::{f32_values, serialize, write_atomically, F32View};
use crate::weights::NamedTensor;
use crate::{FederatedModel, Result};

/// Value of the `format` metadata of a weights file.
pub const WEIGHTS_FORMAT: &str = "feddx-weights";
/// Value of the `version` metadata of the weights files this crate writes.
pub const WEIGHTS_VERSION: &str = "1";

/// What can go wrong saving or loading a weights file.
///
/// `Clone` and `PartialEq` like [`FeddxError`](crate::FeddxError), which wraps it
/// as [`FeddxError::WeightsFile`](crate::FeddxError::WeightsFile): an I/O failure
/// keeps its [`io::ErrorKind`] and message rather than the [`io::Error`] itself.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum WeightsFileError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("cannot {operation} weights file `{}`: {message}", .path.display())]
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// What was being done: `read`, `create`, `write`, `sync`, `rename`.
        operation: &'static str,
        /// The kind of the I/O error (`NotFound`, `PermissionDenied`, ...).
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// The file is not a whole safetensors file: truncated, or not safetensors at all.
    #[error("`{}` is not a readable safetensors file: {reason}", .path.display())]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader found wrong.
        reason: String,
    },
    /// A trainable tensor of the model is not in the file.
    #[error("weights file `{}` has no tensor `{name}`, which the model has", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The model's tensor.
        name: String,
    },
    /// The file holds a tensor the model does not have.
    #[error("weights file `{}` has a tensor `{name}`, which the model does not have", .path.display())]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The file's tensor.
        name: String,
    },
    /// A tensor of the file has another shape than the model's tensor of that name.
    #[error(
        "tensor `{name}` of weights file `{}` has shape {found:?} but the model's has shape {expected:?}",
        .path.display()
    )]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor of the file is not `F32`.
    #[error("tensor `{name}` of weights file `{}` is {found}, not F32", .path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its data type, as safetensors names it (`F16`, `I64`, ...).
        found: String,
    },
    /// A checkpoint's global weights are not one value per trainable parameter of
    /// the model.
    #[error(
        "checkpoint `{}` holds {found} weights but the model has {expected} trainable parameters",
        .path.display()
    )]
    ParameterCount {
        /// The file.
        path: PathBuf,
        /// Trainable parameters of the model.
        expected: usize,
        /// Values in the checkpoint.
        found: usize,
    },
}

/// Saves `model`'s trainable weights to `path` atomically (see the
/// [module docs](self) for the format).
///
/// Saves to one path must not overlap in time within a process: they would share
/// the temporary file.
///
/// # Errors
/// [`WeightsFileError::Io`] (as [`FeddxError::WeightsFile`](crate::FeddxError::WeightsFile))
/// if the temporary file cannot be created, written, synced or renamed over `path`;
/// the temporary file is removed then, and `path` is untouched.
pub fn save_weights<M: FederatedModel>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let weights = model.trainable_weights();
    let tensors = weights
        .iter()
        .map(|t| (t.name.as_str(), F32View::new(&t.values, t.shape.clone())));
    // Sorted keys: the same model writes the same bytes.
    let metadata = BTreeMap::from([
        ("format".to_owned(), WEIGHTS_FORMAT.to_owned()),
        ("version".to_owned(), WEIGHTS_VERSION.to_owned()),
    ]);
    // Only a header over 100 MB fails here: millions of tensor names.
    let bytes = serialize(tensors, &metadata).map_err(|e| io_error(path, "serialise", e))?;
    write_atomically(path, &bytes).map_err(|f| io_error(&f.path, f.operation, f.error))?;
    Ok(())
}

/// Loads the weights saved at `path` into `model`, bit for bit: a weights file
/// from [`save_weights`], a safetensors file with the same tensors, or a
/// checkpoint from [`Simulation::save_checkpoint`](crate::federated::Simulation::save_checkpoint)
/// or [`save_checkpoint`](crate::federated::save_checkpoint) (see the
/// [module docs](self)).
///
/// `model` is unchanged on error.
///
/// # Errors
/// As [`FeddxError::WeightsFile`](crate::FeddxError::WeightsFile):
/// [`WeightsFileError::Io`] if the file cannot be read,
/// [`WeightsFileError::NotSafetensors`] if it is not a whole safetensors file;
/// then, checking the model's tensors in order, [`WeightsFileError::Missing`] for
/// the first not in the file, [`WeightsFileError::Unexpected`] for a tensor of the
/// file the model lacks, and [`WeightsFileError::Dtype`] and
/// [`WeightsFileError::Shape`] for the first tensor that is not `F32` of the
/// model's shape. For a checkpoint, the errors of
/// [`load_checkpoint`](crate::federated::load_checkpoint) as
/// [`FeddxError::Checkpoint`](crate::FeddxError::Checkpoint), and
/// [`WeightsFileError::ParameterCount`] if its global weights do not fit the model.
pub fn load_weights<M: FederatedModel>(model: &mut M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error(path, "read", e))?;
    let not_safetensors = |e: safetensors::SafeTensorError| WeightsFileError::NotSafetensors {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
    let flat = if is_checkpoint(header.metadata().as_ref()) {
        let (state, _) = parse_checkpoint(path, &bytes)?;
        let expected = model.num_trainable_params();
        if state.global_weights.len() != expected {
            return Err(WeightsFileError::ParameterCount {
                path: path.to_owned(),
                expected,
                found: state.global_weights.len(),
            }
            .into());
        }
        state.global_weights
    } else {
        let file = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
        let unexpected = header.offset_keys();
        fitting_weights(path, &model.trainable_weights(), &file, &unexpected)?
    };
    model.set_weights_vec(&flat)
}

/// The flat weight vector of `file` if it holds exactly the tensors of `model`
/// (names and shapes; values are ignored), in the model's order.
///
/// `file_names` are the file's tensor names, in the order an unexpected one is
/// reported.
fn fitting_weights(
    path: &Path,
    model: &[NamedTensor],
    file: &SafeTensors<'_>,
    file_names: &[String],
) -> Result<Vec<f32>, WeightsFileError> {
    let path = || path.to_owned();
    let mut views = Vec::with_capacity(model.len());
    for tensor in model {
        let view = file
            .tensor(&tensor.name)
            .map_err(|_| WeightsFileError::Missing {
                path: path(),
                name: tensor.name.clone(),
            })?;
        views.push(view);
    }
    if let Some(name) = file_names
        .iter()
        .find(|name| !model.iter().any(|t| &t.name == *name))
    {
        return Err(WeightsFileError::Unexpected {
            path: path(),
            name: name.clone(),
        });
    }
    let mut flat = Vec::with_capacity(model.iter().map(|t| t.values.len()).sum());
    for (tensor, view) in model.iter().zip(&views) {
        if view.dtype() != Dtype::F32 {
            return Err(WeightsFileError::Dtype {
                path: path(),
                name: tensor.name.clone(),
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != tensor.shape {
            return Err(WeightsFileError::Shape {
                path: path(),
                name: tensor.name.clone(),
                expected: tensor.shape.clone(),
                found: view.shape().to_vec(),
            });
        }
        flat.extend(f32_values(view));
    }
    Ok(flat)
}

/// A [`WeightsFileError::Io`] for `operation` on `path`.
fn io_error(path: &Path, operation: &'static str, error: io::Error) -> WeightsFileError {
    WeightsFileError::Io {
        path: path.to_owned(),
        operation,
        kind: error.kind(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use safetensors::tensor::TensorView;

    use super::*;
    use crate::federated::test_model::TinyModel;
    use crate::federated::SimulationState;
    use crate::federated::{save_checkpoint, CheckpointError, ServerOptimizerState};
    use crate::FeddxError;

    fn bits(w: &[f32]) -> Vec<u32> {
        w.iter().map(|x| x.to_bits()).collect()
    }

    fn file_error(result: Result<()>) -> WeightsFileError {
        match result {
            Err(FeddxError::WeightsFile(e)) => e,
            other => panic!("expected a weights file error, got {other:?}"),
        }
    }

    /// A safetensors file of the given F32 tensors, with their values all `1.0`.
    fn write(path: &Path, tensors: &[(&str, &[usize])]) {
        let values: Vec<Vec<f32>> = tensors
            .iter()
            .map(|(_, shape)| vec![1.0; shape.iter().product()])
            .collect();
        let views = tensors
            .iter()
            .zip(&values)
            .map(|((name, shape), v)| (*name, F32View::new(v, shape.to_vec())));
        fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
    }

    #[test]
    fn round_trip_is_bit_for_bit_and_names_the_trainable_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let saved = TinyModel::with_seed(1);
        save_weights(&saved, &path).unwrap();

        let bytes = fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort_unstable();
        assert_eq!(names, ["bias", "weight"]);
        assert_eq!(file.tensor("weight").unwrap().shape(), [3, 2]);
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let metadata = header.metadata().as_ref().unwrap();
        assert_eq!(metadata["format"], WEIGHTS_FORMAT);
        assert_eq!(metadata["version"], WEIGHTS_VERSION);

        let mut loaded = TinyModel::with_seed(2);
        assert_ne!(bits(&loaded.weights_vec()), bits(&saved.weights_vec()));
        load_weights(&mut loaded, &path).unwrap();
        assert_eq!(bits(&loaded.weights_vec()), bits(&saved.weights_vec()));
    }

    #[test]
    fn every_mismatch_is_named_and_leaves_the_model_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut model = TinyModel::with_seed(0);
        let before = model.weights_vec();
        let p = || path.clone();

        write(&path, &[("weight", &[3, 2])]);
        assert_eq!(
            file_error(load_weights(&mut model, &path)),
            WeightsFileError::Missing {
                path: p(),
                name: "bias".into()
            }
        );
        write(
            &path,
            &[("weight", &[3, 2]), ("bias", &[3]), ("extra", &[1])],
        );
        assert_eq!(
            file_error(load_weights(&mut model, &path)),
            WeightsFileError::Unexpected {
                path: p(),
                name: "extra".into()
            }
        );
        write(&path, &[("weight", &[2, 3]), ("bias", &[3])]);
        assert_eq!(
            file_error(load_weights(&mut model, &path)),
            WeightsFileError::Shape {
                path: p(),
                name: "weight".into(),
                expected: vec![3, 2],
                found: vec![2, 3],
            }
        );
        let weight = [0u8; 6 * 4];
        let bias = [0u8; 3 * 8];
        let bytes = safetensors::serialize(
            [
                (
                    "weight",
                    TensorView::new(Dtype::F32, vec![3, 2], &weight).unwrap(),
                ),
                ("bias", TensorView::new(Dtype::I64, vec![3], &bias).unwrap()),
            ],
            None,
        )
        .unwrap();
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            file_error(load_weights(&mut model, &path)),
            WeightsFileError::Dtype {
                path: p(),
                name: "bias".into(),
                found: "I64".into()
            }
        );
        assert_eq!(model.weights_vec(), before);
    }

    #[test]
    fn truncated_garbage_and_absent_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut model = TinyModel::with_seed(0);
        save_weights(&model, &path).unwrap();
        let whole = fs::read(&path).unwrap();
        for len in [0, 4, 8, 20, whole.len() / 2, whole.len() - 1] {
            fs::write(&path, &whole[..len]).unwrap();
            assert!(
                matches!(
                    file_error(load_weights(&mut model, &path)),
                    WeightsFileError::NotSafetensors { .. }
                ),
                "{len} bytes"
            );
        }
        let absent = dir.path().join("absent.safetensors");
        assert!(matches!(
            file_error(load_weights(&mut model, &absent)),
            WeightsFileError::Io {
                operation: "read",
                kind: io::ErrorKind::NotFound,
                ..
            }
        ));
        let nowhere = dir.path().join("no-dir").join("w.safetensors");
        assert!(matches!(
            file_error(save_weights(&model, &nowhere)),
            WeightsFileError::Io {
                operation: "create",
                ..
            }
        ));
    }

    #[test]
    fn a_checkpoint_loads_by_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let n = TinyModel::with_seed(0).num_trainable_params();
        let weights: Vec<f32> = (0..n).map(|i| i as f32 / 7.0).collect();
        let state = |global_weights| SimulationState {
            rounds_completed: 1,
            global_weights,
            server: ServerOptimizerState {
                step: 1,
                m: vec![],
                v: vec![],
            },
            aggregator: vec![],
        };
        save_checkpoint(&path, &state(weights.clone())).unwrap();
        let mut model = TinyModel::with_seed(0);
        load_weights(&mut model, &path).unwrap();
        assert_eq!(bits(&model.weights_vec()), bits(&weights));

        save_checkpoint(&path, &state(vec![0.0; n + 1])).unwrap();
        assert_eq!(
            file_error(load_weights(&mut model, &path)),
            WeightsFileError::ParameterCount {
                path: path.clone(),
                expected: n,
                found: n + 1
            }
        );

        // A checkpoint with a broken tensor is the checkpoint's error.
        write(&path, &[("global_weights", &[n])]);
        let bytes = fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let view = file.tensor("global_weights").unwrap();
        let metadata = HashMap::from([
            ("format".to_owned(), "feddx-checkpoint".to_owned()),
            ("version".to_owned(), "1".to_owned()),
            ("rounds_completed".to_owned(), "1".to_owned()),
            ("server_step".to_owned(), "1".to_owned()),
        ]);
        let bytes = safetensors::serialize([("global_weights", view)], Some(metadata)).unwrap();
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            load_weights(&mut model, &path),
            Err(FeddxError::Checkpoint(CheckpointError::MissingTensor {
                path: path.clone(),
                name: "server.m"
            }))
        );
        assert_eq!(bits(&model.weights_vec()), bits(&weights));
    }
}
