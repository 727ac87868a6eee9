//! Checkpoints: a [`SimulationState`] saved to and loaded from a safetensors file.
//!
//! A checkpoint is a [safetensors](https://github.com/huggingface/safetensors) file
//! with three 1-D `F32` tensors, stored bit for bit:
//!
//! | tensor | holds |
//! |---|---|
//! | `global_weights` | [`SimulationState::global_weights`] |
//! | `server.m` | [`ServerOptimizerState::m`] (empty for server SGD) |
//! | `server.v` | [`ServerOptimizerState::v`] (empty for server SGD) |
//! | `aggregator` | [`SimulationState::aggregator`], only when not empty (adaptive clipping's norm) |
//!
//! and string metadata (`__metadata__`): `format = "feddx-checkpoint"`,
//! `version = "1"`, `rounds_completed`, `server_step` and, when saved from a
//! [`Simulation`], `server_optimizer` (the optimiser's [name](ServerOptimizer::name)),
//! which [`Simulation::restore_checkpoint`] checks against the config. The
//! metadata's keys are written in sorted order, so the same state writes the same
//! bytes: two identical runs leave identical checkpoint files.
//!
//! Saving is atomic: the file is written to `<name>.tmp-<pid>` in the same directory,
//! synced to disk, then renamed over `path`, so a crash mid-write leaves either the
//! previous checkpoint or the new one, never a broken file.
//!
//! ```
//! use feddx_runtime::federated::{load_checkpoint, save_checkpoint, ServerOptimizerState, SimulationState};
//!
//! let state = SimulationState {
//!     rounds_completed: 3,
//!     global_weights: vec![0.5, -1.25],
//!     server: ServerOptimizerState { step: 3, m: vec![], v: vec![] },
//!     aggregator: vec![],
//! };
//! let path = std::env::temp_dir().join(format!("feddx-doc-{}.safetensors", std::process::id()));
//! save_checkpoint(&path, &state)?;
//! assert_eq!(load_checkpoint(&path)?, state);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), feddx_runtime::federated::CheckpointError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use thiserror::Error;

use super::server_optimizer::{ServerOptimizer, ServerOptimizerState};
use super::simulation::{Simulation, SimulationState};
use crate::safetensors_io::{f32_values, serialize, write_atomically, F32View};
use crate::{FederatedModel, Result};

/// Value of the `format` metadata of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "feddx-checkpoint";
/// Value of the `version` metadata of the checkpoints this crate writes and reads.
pub const CHECKPOINT_VERSION: &str = "1";

/// Name of the tensor holding the global weights.
const GLOBAL_WEIGHTS: &str = "global_weights";
/// Name of the tensor holding the server optimiser's first moment.
const SERVER_M: &str = "server.m";
/// Name of the tensor holding the server optimiser's second moment.
const SERVER_V: &str = "server.v";
/// Name of the tensor holding the aggregation's state, written only when not empty.
const AGGREGATOR: &str = "aggregator";

/// Metadata keys.
const FORMAT_KEY: &str = "format";
const VERSION_KEY: &str = "version";
const ROUNDS_KEY: &str = "rounds_completed";
const STEP_KEY: &str = "server_step";
const OPTIMIZER_KEY: &str = "server_optimizer";

/// What can go wrong saving or loading a checkpoint.
///
/// `Clone` and `PartialEq` like [`FeddxError`](crate::FeddxError), which wraps it:
/// an I/O failure keeps its [`io::ErrorKind`] and message rather than the
/// [`io::Error`] itself.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("cannot {operation} checkpoint `{}`: {message}", .path.display())]
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
    /// The file is not a readable safetensors file: truncated, or not safetensors at all.
    #[error("checkpoint `{}` is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader found wrong.
        reason: String,
    },
    /// The file is safetensors but not a feddx checkpoint of this version: a
    /// metadata entry is missing or has another value.
    #[error(
        "`{}` is not a feddx checkpoint of version {CHECKPOINT_VERSION}: metadata `{key}` should be {expected} but is {}",
        .path.display(),
        found_value(.found)
    )]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: &'static str,
        /// What the value should be.
        expected: String,
        /// The value found, `None` when the key is missing.
        found: Option<String>,
    },
    /// A tensor a checkpoint holds is not in the file.
    #[error("checkpoint `{}` has no tensor `{name}`", .path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The missing tensor.
        name: &'static str,
    },
    /// A tensor is not `F32`.
    #[error("tensor `{name}` of checkpoint `{}` is {found}, not F32", .path.display())]
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: &'static str,
        /// Its data type, as safetensors names it.
        found: String,
    },
    /// A tensor is not one-dimensional.
    #[error("tensor `{name}` of checkpoint `{}` has shape {shape:?}, not a 1-D shape", .path.display())]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// The server moments `m` and `v` differ in length.
    #[error("checkpoint `{}` holds {m} values of `server.m` but {v} of `server.v`", .path.display())]
    MomentLengthMismatch {
        /// The file.
        path: PathBuf,
        /// Values of `server.m`.
        m: usize,
        /// Values of `server.v`.
        v: usize,
    },
    /// The checkpoint was saved with another server optimiser than the one configured.
    #[error(
        "checkpoint `{}` was saved with server optimiser `{saved}` but the simulation uses `{configured}`",
        .path.display()
    )]
    OptimizerMismatch {
        /// The file.
        path: PathBuf,
        /// The optimiser named in the checkpoint.
        saved: String,
        /// The optimiser of the simulation's config.
        configured: &'static str,
    },
}

/// `` `value` `` for a metadata value found, `missing` for none.
fn found_value(found: &Option<String>) -> String {
    match found {
        Some(value) => format!("`{value}`"),
        None => "missing".to_owned(),
    }
}

/// Saves `state` to `path` atomically (see the [module docs](self)).
///
/// The checkpoint names no server optimiser; [`Simulation::save_checkpoint`] does.
/// Saves to one path must not overlap in time within a process: they would share
/// the temporary file.
///
/// # Errors
/// [`CheckpointError::Io`] if the temporary file cannot be created, written, synced
/// or renamed over `path` (the temporary file is removed then, and `path` is
/// untouched).
pub fn save_checkpoint(
    path: impl AsRef<Path>,
    state: &SimulationState,
) -> Result<(), CheckpointError> {
    write_checkpoint(path.as_ref(), state, None)
}

/// Loads the state saved at `path`, bit for bit.
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be read, [`CheckpointError::Corrupt`]
/// if it is not a whole safetensors file, [`CheckpointError::WrongFormat`] if its
/// metadata is not that of a feddx checkpoint of version 1,
/// [`CheckpointError::MissingTensor`], [`CheckpointError::WrongDtype`] and
/// [`CheckpointError::WrongShape`] for tensors that are missing or not 1-D `F32`,
/// and [`CheckpointError::MomentLengthMismatch`].
pub fn load_checkpoint(path: impl AsRef<Path>) -> Result<SimulationState, CheckpointError> {
    read_checkpoint(path.as_ref()).map(|(state, _)| state)
}

impl<M: FederatedModel> Simulation<M> {
    /// Saves the simulation's [`state`](Self::state) to `path` atomically, with the
    /// name of its server optimiser (see [`save_checkpoint`]).
    ///
    /// # Errors
    /// As [`save_checkpoint`].
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        write_checkpoint(
            path.as_ref(),
            &self.state(),
            Some(self.config().server_optimizer()),
        )
    }

    /// Loads the checkpoint at `path` and [`restore`](Self::restore)s it; with the
    /// same config and clients, the run continues as the one that saved it.
    ///
    /// # Errors
    /// [`FeddxError::Checkpoint`](crate::FeddxError::Checkpoint) with the errors of
    /// [`load_checkpoint`], or [`CheckpointError::OptimizerMismatch`] if the
    /// checkpoint names another server optimiser than the config's; then the errors
    /// of [`restore`](Self::restore). The simulation is unchanged on error.
    pub fn restore_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let (state, optimizer) = read_checkpoint(path)?;
        let configured = self.config().server_optimizer().name();
        if let Some(saved) = optimizer {
            if saved != configured {
                return Err(CheckpointError::OptimizerMismatch {
                    path: path.to_owned(),
                    saved,
                    configured,
                }
                .into());
            }
        }
        self.restore(state)
    }
}

/// Serialises `state` and writes it atomically to `path`.
fn write_checkpoint(
    path: &Path,
    state: &SimulationState,
    optimizer: Option<&ServerOptimizer>,
) -> Result<(), CheckpointError> {
    // Sorted keys: identical runs write identical files.
    let mut metadata = BTreeMap::from([
        (FORMAT_KEY.to_owned(), CHECKPOINT_FORMAT.to_owned()),
        (VERSION_KEY.to_owned(), CHECKPOINT_VERSION.to_owned()),
        (ROUNDS_KEY.to_owned(), state.rounds_completed.to_string()),
        (STEP_KEY.to_owned(), state.server.step.to_string()),
    ]);
    if let Some(optimizer) = optimizer {
        metadata.insert(OPTIMIZER_KEY.to_owned(), optimizer.name().to_owned());
    }
    let mut tensors = vec![
        (GLOBAL_WEIGHTS, F32View::flat(&state.global_weights)),
        (SERVER_M, F32View::flat(&state.server.m)),
        (SERVER_V, F32View::flat(&state.server.v)),
    ];
    if !state.aggregator.is_empty() {
        tensors.push((AGGREGATOR, F32View::flat(&state.aggregator)));
    }
    // Only a header over 100 MB fails here: no 1-D tensors of four names do.
    let bytes = serialize(tensors, &metadata).map_err(|e| io_error(path, "serialise", e))?;
    write_atomically(path, &bytes).map_err(|f| io_error(&f.path, f.operation, f.error))
}

/// Reads the state at `path` and the server optimiser it names, if any.
fn read_checkpoint(path: &Path) -> Result<(SimulationState, Option<String>), CheckpointError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, "read", e))?;
    parse_checkpoint(path, &bytes)
}

/// Whether safetensors metadata is that of a feddx checkpoint (of any version).
pub(crate) fn is_checkpoint(metadata: Option<&HashMap<String, String>>) -> bool {
    metadata.and_then(|m| m.get(FORMAT_KEY)).map(String::as_str) == Some(CHECKPOINT_FORMAT)
}

/// The state in `bytes`, read from `path`, and the server optimiser it names, if any.
pub(crate) fn parse_checkpoint(
    path: &Path,
    bytes: &[u8],
) -> Result<(SimulationState, Option<String>), CheckpointError> {
    let corrupt = |e: safetensors::SafeTensorError| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let empty = HashMap::new();
    let metadata = header.metadata().as_ref().unwrap_or(&empty);
    let entry = |key: &'static str| metadata.get(key).map(String::as_str);
    let wrong = |key: &'static str, expected: String| CheckpointError::WrongFormat {
        path: path.to_owned(),
        key,
        expected,
        found: metadata.get(key).cloned(),
    };
    for (key, expected) in [
        (FORMAT_KEY, CHECKPOINT_FORMAT),
        (VERSION_KEY, CHECKPOINT_VERSION),
    ] {
        if entry(key) != Some(expected) {
            return Err(wrong(key, format!("`{expected}`")));
        }
    }
    let rounds_completed = entry(ROUNDS_KEY)
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or_else(|| wrong(ROUNDS_KEY, "an unsigned integer".to_owned()))?;
    let step = entry(STEP_KEY)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| wrong(STEP_KEY, "an unsigned integer".to_owned()))?;
    let optimizer = entry(OPTIMIZER_KEY).map(str::to_owned);

    let tensors = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let read = |name: &'static str| -> Result<Vec<f32>, CheckpointError> {
        let view = tensors
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor {
                path: path.to_owned(),
                name,
            })?;
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::WrongDtype {
                path: path.to_owned(),
                name,
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape().len() != 1 {
            return Err(CheckpointError::WrongShape {
                path: path.to_owned(),
                name,
                shape: view.shape().to_vec(),
            });
        }
        Ok(f32_values(&view))
    };
    let global_weights = read(GLOBAL_WEIGHTS)?;
    let aggregator = if tensors.names().contains(&AGGREGATOR) {
        read(AGGREGATOR)?
    } else {
        Vec::new()
    };
    let m = read(SERVER_M)?;
    let v = read(SERVER_V)?;
    if m.len() != v.len() {
        return Err(CheckpointError::MomentLengthMismatch {
            path: path.to_owned(),
            m: m.len(),
            v: v.len(),
        });
    }
    let state = SimulationState {
        rounds_completed,
        global_weights,
        server: ServerOptimizerState { step, m, v },
        aggregator,
    };
    Ok((state, optimizer))
}

/// A [`CheckpointError::Io`] for `operation` on `path`.
fn io_error(path: &Path, operation: &'static str, error: io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_owned(),
        operation,
        kind: error.kind(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::test_model::{population, TinyModel};
    use crate::federated::{Algorithm, ClientsPerRound, FedConfig};
    use crate::FeddxError;

    fn bits(w: &[f32]) -> Vec<u32> {
        w.iter().map(|x| x.to_bits()).collect()
    }

    fn state() -> SimulationState {
        SimulationState {
            rounds_completed: 7,
            global_weights: vec![
                1.5,
                -0.0,
                f32::MIN_POSITIVE / 4.0,     // subnormal
                f32::from_bits(0x7fc0_1234), // NaN with a payload
                f32::INFINITY,
                -3.25e-20,
            ],
            server: ServerOptimizerState {
                step: u64::MAX,
                m: vec![0.1, -0.2, 0.3, 0.0, 1e30, -1e-30],
                v: vec![1e-6; 6],
            },
            aggregator: vec![0.75],
        }
    }

    fn same_bits(a: &SimulationState, b: &SimulationState) {
        assert_eq!(a.rounds_completed, b.rounds_completed);
        assert_eq!(bits(&a.global_weights), bits(&b.global_weights));
        assert_eq!(a.server.step, b.server.step);
        assert_eq!(bits(&a.server.m), bits(&b.server.m));
        assert_eq!(bits(&a.server.v), bits(&b.server.v));
        assert_eq!(bits(&a.aggregator), bits(&b.aggregator));
    }

    #[test]
    fn round_trip_keeps_every_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        let saved = state();
        save_checkpoint(&path, &saved).unwrap();
        same_bits(&load_checkpoint(&path).unwrap(), &saved);

        let sgd = SimulationState {
            rounds_completed: 0,
            global_weights: vec![],
            server: ServerOptimizerState {
                step: 0,
                m: vec![],
                v: vec![],
            },
            aggregator: vec![],
        };
        save_checkpoint(&path, &sgd).unwrap();
        assert_eq!(
            load_checkpoint(&path).unwrap(),
            sgd,
            "overwrites, empty tensors"
        );
    }

    #[test]
    fn the_file_is_safetensors_with_the_documented_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        save_checkpoint(&path, &state()).unwrap();
        let bytes = fs::read(&path).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().as_ref().unwrap();
        assert_eq!(meta["format"], "feddx-checkpoint");
        assert_eq!(meta["version"], "1");
        assert_eq!(meta["rounds_completed"], "7");
        assert_eq!(meta["server_step"], u64::MAX.to_string());
        assert!(!meta.contains_key("server_optimizer"));
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = tensors.names();
        names.sort_unstable();
        assert_eq!(
            names,
            ["aggregator", "global_weights", "server.m", "server.v"]
        );
        assert_eq!(tensors.tensor("server.m").unwrap().shape(), [6]);
    }

    #[test]
    fn no_temporary_file_lingers_after_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        save_checkpoint(&path, &state()).unwrap();
        save_checkpoint(&path, &state()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["run.safetensors"]);
    }

    #[test]
    fn a_failed_save_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way of the rename.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let err = save_checkpoint(&path, &state()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Io { operation: "rename", path: p, .. } if p == &path),
            "{err}"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);

        let missing_dir = dir.path().join("no/such/dir/run.safetensors");
        assert!(matches!(
            save_checkpoint(&missing_dir, &state()).unwrap_err(),
            CheckpointError::Io {
                operation: "create",
                kind: io::ErrorKind::NotFound,
                ..
            }
        ));
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.safetensors");
        match load_checkpoint(&path).unwrap_err() {
            CheckpointError::Io {
                path: p,
                operation: "read",
                kind: io::ErrorKind::NotFound,
                ..
            } => assert_eq!(p, path),
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn truncated_and_garbage_files_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        save_checkpoint(&path, &state()).unwrap();
        let whole = fs::read(&path).unwrap();
        // Cut into the data, into the header, and into the length prefix.
        for len in [whole.len() - 3, 40, 5, 0] {
            fs::write(&path, &whole[..len]).unwrap();
            match load_checkpoint(&path).unwrap_err() {
                CheckpointError::Corrupt { path: p, reason } => {
                    assert_eq!(p, path);
                    assert!(!reason.is_empty());
                }
                e => panic!("unexpected {e} for {len} bytes"),
            }
        }
        fs::write(&path, b"this is not a checkpoint, only some text").unwrap();
        let err = load_checkpoint(&path).unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("is corrupt"), "{err}");
    }

    /// Writes a safetensors file of `tensors` with `metadata`.
    fn write_raw(
        path: &Path,
        tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>,
        metadata: &[(&str, &str)],
    ) {
        let views: Vec<_> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    *n,
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let metadata = metadata
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        safetensors::serialize_to_file(views, Some(metadata), path).unwrap();
    }

    const GOOD: &[(&str, &str)] = &[
        ("format", "feddx-checkpoint"),
        ("version", "1"),
        ("rounds_completed", "2"),
        ("server_step", "2"),
    ];

    fn f32s(n: usize) -> (Dtype, Vec<usize>, Vec<u8>) {
        (Dtype::F32, vec![n], vec![0; 4 * n])
    }

    #[test]
    fn other_safetensors_files_are_wrong_format_or_miss_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.safetensors");
        let all = |w: (Dtype, Vec<usize>, Vec<u8>)| {
            let (m, v) = (f32s(2), f32s(2));
            vec![
                ("global_weights", w.0, w.1, w.2),
                ("server.m", m.0, m.1, m.2),
                ("server.v", v.0, v.1, v.2),
            ]
        };

        write_raw(&path, all(f32s(2)), &[]);
        let err = load_checkpoint(&path).unwrap_err();
        assert_eq!(
            err,
            CheckpointError::WrongFormat {
                path: path.clone(),
                key: "format",
                expected: "`feddx-checkpoint`".to_owned(),
                found: None
            }
        );
        assert!(err
            .to_string()
            .contains("should be `feddx-checkpoint` but is missing"));

        let mut newer = GOOD.to_vec();
        newer[1] = ("version", "2");
        write_raw(&path, all(f32s(2)), &newer);
        assert!(matches!(
            load_checkpoint(&path).unwrap_err(),
            CheckpointError::WrongFormat { key: "version", found: Some(v), .. } if v == "2"
        ));

        let mut bad_rounds = GOOD.to_vec();
        bad_rounds[2] = ("rounds_completed", "-1");
        write_raw(&path, all(f32s(2)), &bad_rounds);
        let err = load_checkpoint(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                CheckpointError::WrongFormat {
                    key: "rounds_completed",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("an unsigned integer but is `-1`"),
            "{err}"
        );

        let mut no_v = all(f32s(2));
        no_v.pop();
        write_raw(&path, no_v, GOOD);
        assert_eq!(
            load_checkpoint(&path).unwrap_err(),
            CheckpointError::MissingTensor {
                path: path.clone(),
                name: "server.v"
            }
        );

        write_raw(&path, all((Dtype::F64, vec![2], vec![0; 16])), GOOD);
        assert_eq!(
            load_checkpoint(&path).unwrap_err(),
            CheckpointError::WrongDtype {
                path: path.clone(),
                name: "global_weights",
                found: "F64".to_owned()
            }
        );

        write_raw(&path, all((Dtype::F32, vec![2, 2], vec![0; 16])), GOOD);
        assert_eq!(
            load_checkpoint(&path).unwrap_err(),
            CheckpointError::WrongShape {
                path: path.clone(),
                name: "global_weights",
                shape: vec![2, 2]
            }
        );

        let mut short_v = all(f32s(2));
        short_v[2] = ("server.v", Dtype::F32, vec![1], vec![0; 4]);
        write_raw(&path, short_v, GOOD);
        assert_eq!(
            load_checkpoint(&path).unwrap_err(),
            CheckpointError::MomentLengthMismatch {
                path: path.clone(),
                m: 2,
                v: 1
            }
        );
    }

    fn config(server: ServerOptimizer) -> FedConfig {
        FedConfig::builder()
            .rounds(4)
            .clients_per_round(ClientsPerRound::Count(3))
            .local_epochs(2)
            .batch_size(2)
            .client_learning_rate(0.2)
            .algorithm(Algorithm::FedProx { mu: 0.1 })
            .server_optimizer(server)
            .seed(5)
            .build()
            .unwrap()
    }

    #[test]
    fn a_run_resumed_from_a_checkpoint_matches_an_uninterrupted_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        let clients = population();
        let server = ServerOptimizer::adam(0.05);

        let mut straight = Simulation::new(TinyModel::with_seed(0), config(server.clone()));
        let straight_reports = straight.run(&clients, |_| {}).unwrap();
        assert_eq!(straight_reports.len(), 4);

        let mut first = Simulation::new(TinyModel::with_seed(0), config(server.clone()));
        let mut reports = vec![
            first.run_round(&clients).unwrap(),
            first.run_round(&clients).unwrap(),
        ];
        save_checkpoint(&path, &first.state()).unwrap();
        drop(first);

        let mut resumed = Simulation::new(TinyModel::with_seed(42), config(server));
        resumed.restore(load_checkpoint(&path).unwrap()).unwrap();
        assert_eq!(resumed.rounds_completed(), 2);
        reports.extend(resumed.run(&clients, |_| {}).unwrap());

        assert_eq!(
            bits(straight.global_weights()),
            bits(resumed.global_weights())
        );
        assert_eq!(
            bits(&straight.model().weights_vec()),
            bits(&resumed.model().weights_vec())
        );
        same_bits(&straight.state(), &resumed.state());
        assert_eq!(reports.len(), 4);
        for (a, b) in straight_reports.iter().zip(&reports) {
            assert_eq!(a.round, b.round);
            assert_eq!(a.clients, b.clients);
            let (ta, tb): (Vec<_>, Vec<_>) = (a.train.iter().collect(), b.train.iter().collect());
            assert_eq!(ta.len(), tb.len());
            for ((na, va), (nb, vb)) in ta.iter().zip(&tb) {
                assert_eq!(na, nb);
                assert_eq!(va.to_bits(), vb.to_bits(), "{na} in round {}", a.round);
            }
        }
    }

    #[test]
    fn a_simulation_checks_the_optimiser_named_in_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        let clients = population();
        let mut adam =
            Simulation::new(TinyModel::with_seed(0), config(ServerOptimizer::adam(0.05)));
        adam.run_round(&clients).unwrap();
        adam.save_checkpoint(&path).unwrap();

        let mut yogi =
            Simulation::new(TinyModel::with_seed(0), config(ServerOptimizer::yogi(0.05)));
        let err = yogi.restore_checkpoint(&path).unwrap_err();
        assert_eq!(
            err,
            FeddxError::Checkpoint(CheckpointError::OptimizerMismatch {
                path: path.clone(),
                saved: "fedadam".to_owned(),
                configured: "fedyogi"
            })
        );
        assert_eq!(yogi.rounds_completed(), 0);

        let mut again =
            Simulation::new(TinyModel::with_seed(3), config(ServerOptimizer::adam(0.05)));
        again.restore_checkpoint(&path).unwrap();
        assert_eq!(again.state(), adam.state());

        // A state saved without an optimiser name is checked by `restore` alone.
        save_checkpoint(&path, &adam.state()).unwrap();
        let mut sgd = Simulation::new(TinyModel::with_seed(0), config(ServerOptimizer::fedavg()));
        assert!(matches!(
            sgd.restore_checkpoint(&path).unwrap_err(),
            FeddxError::ServerStateMismatch { part: "m", .. }
        ));
    }
}
