//! A FedBuff run's state saved to and loaded from a safetensors file.
//!
//! The file is laid out as a synchronous run's [checkpoint](crate::federated::checkpoint)
//! (1-D `F32` tensors stored bit for bit, string metadata in sorted order, written
//! atomically), with the `format` `feddx-fedbuff-checkpoint`:
//!
//! | tensor | holds |
//! |---|---|
//! | `global_weights` | [`FedBuffState::global_weights`] |
//! | `server.m`, `server.v` | the server optimiser's moments (empty for SGD) |
//! | `aggregator` | [`FedBuffState::aggregator`], only when not empty |
//! | `version.<n>` | the weights of model version `n`, one per [`FedBuffState::versions`] |
//!
//! and metadata `version = "1"`, `steps_completed`, `server_step`,
//! `server_optimizer`, `now_us` and `last_step_us` (the simulated time and that of
//! the last server step, in microseconds), `next_task`,
//! `in_flight` and `buffered` (JSON arrays of `[task, client, version, start_us,
//! finish_us]`, a buffered reply with its staleness after them) and `versions` (a
//! JSON array of the saved versions).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use super::buffer::Buffered;
use super::engine::FedBuff;
use super::scheduler::Task;
use super::state::FedBuffState;
use crate::federated::time::SimTime;
use crate::federated::{CheckpointError, ServerOptimizerState};
use crate::safetensors_io::{f32_values, serialize, write_atomically, F32View};
use crate::{FederatedModel, Result};

/// Value of the `format` metadata of a FedBuff checkpoint.
pub const FEDBUFF_CHECKPOINT_FORMAT: &str = "feddx-fedbuff-checkpoint";
/// Value of its `version` metadata.
const VERSION: &str = "1";

/// A task as a row of integers: `[task, client, version, start_us, finish_us]`.
fn task_row(t: &Task) -> [u64; 5] {
    [
        t.task,
        t.client as u64,
        t.version,
        t.start.as_micros(),
        t.finish.as_micros(),
    ]
}

/// The task of a row of [`task_row`].
fn row_task(r: &[u64]) -> Task {
    Task {
        task: r[0],
        client: r[1] as usize,
        version: r[2],
        start: SimTime::from_micros(r[3]),
        finish: SimTime::from_micros(r[4]),
    }
}

/// Saves `state` to `path` atomically, naming `optimizer`.
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be written.
pub fn save_fedbuff_checkpoint(
    path: impl AsRef<Path>,
    state: &FedBuffState,
    optimizer: &str,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let in_flight: Vec<[u64; 5]> = state.in_flight.iter().map(task_row).collect();
    let buffered: Vec<[u64; 6]> = state
        .buffered
        .iter()
        .map(|b| {
            let [a, c, v, s, f] = task_row(&b.task);
            [a, c, v, s, f, b.staleness]
        })
        .collect();
    let versions: Vec<u64> = state.versions.iter().map(|(v, _)| *v).collect();
    let metadata = BTreeMap::from([
        ("format".to_owned(), FEDBUFF_CHECKPOINT_FORMAT.to_owned()),
        ("version".to_owned(), VERSION.to_owned()),
        (
            "steps_completed".to_owned(),
            state.steps_completed.to_string(),
        ),
        ("server_step".to_owned(), state.server.step.to_string()),
        ("server_optimizer".to_owned(), optimizer.to_owned()),
        ("now_us".to_owned(), state.now.as_micros().to_string()),
        (
            "last_step_us".to_owned(),
            state.last_step.as_micros().to_string(),
        ),
        ("next_task".to_owned(), state.next_task.to_string()),
        ("in_flight".to_owned(), to_json(&in_flight)),
        ("buffered".to_owned(), to_json(&buffered)),
        ("versions".to_owned(), versions_json(&versions)),
    ]);
    let names: Vec<String> = versions.iter().map(|v| format!("version.{v}")).collect();
    let mut tensors = vec![
        ("global_weights", F32View::flat(&state.global_weights)),
        ("server.m", F32View::flat(&state.server.m)),
        ("server.v", F32View::flat(&state.server.v)),
    ];
    if !state.aggregator.is_empty() {
        tensors.push(("aggregator", F32View::flat(&state.aggregator)));
    }
    for (name, (_, weights)) in names.iter().zip(&state.versions) {
        tensors.push((name.as_str(), F32View::flat(weights)));
    }
    let bytes = serialize(tensors, &metadata).map_err(|e| io_error(path, "serialise", e))?;
    write_atomically(path, &bytes).map_err(|f| io_error(&f.path, f.operation, f.error))
}

/// Loads a FedBuff state saved at `path`, and the server optimiser it names.
///
/// # Errors
/// [`CheckpointError::Io`], [`CheckpointError::Corrupt`], [`CheckpointError::WrongFormat`]
/// for metadata that is missing or unreadable (a synchronous run's checkpoint
/// among them), [`CheckpointError::MissingTensor`], [`CheckpointError::WrongDtype`]
/// and [`CheckpointError::WrongShape`].
pub fn load_fedbuff_checkpoint(
    path: impl AsRef<Path>,
) -> Result<(FedBuffState, String), CheckpointError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error(path, "read", e))?;
    let corrupt = |e: safetensors::SafeTensorError| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(corrupt)?;
    let empty = HashMap::new();
    let metadata = header.metadata().as_ref().unwrap_or(&empty);
    let wrong = |key: &'static str, expected: &str| CheckpointError::WrongFormat {
        path: path.to_owned(),
        key,
        expected: expected.to_owned(),
        found: metadata.get(key).cloned(),
    };
    for (key, expected) in [("format", FEDBUFF_CHECKPOINT_FORMAT), ("version", VERSION)] {
        if metadata.get(key).map(String::as_str) != Some(expected) {
            return Err(wrong(key, &format!("`{expected}`")));
        }
    }
    let int = |key: &'static str| -> Result<u64, CheckpointError> {
        metadata
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| wrong(key, "an unsigned integer"))
    };
    let rows = |key: &'static str, width: usize| -> Result<Vec<Vec<u64>>, CheckpointError> {
        metadata
            .get(key)
            .and_then(|v| serde_json::from_str::<Vec<Vec<u64>>>(v).ok())
            .filter(|rows| rows.iter().all(|r| r.len() == width))
            .ok_or_else(|| wrong(key, &format!("a JSON array of rows of {width} integers")))
    };
    let steps_completed = int("steps_completed")? as usize;
    let step = int("server_step")?;
    let now = SimTime::from_micros(int("now_us")?);
    let last_step = SimTime::from_micros(int("last_step_us")?);
    let next_task = int("next_task")?;
    let optimizer = metadata
        .get("server_optimizer")
        .cloned()
        .ok_or_else(|| wrong("server_optimizer", "the server optimiser's name"))?;
    let in_flight = rows("in_flight", 5)?.iter().map(|r| row_task(r)).collect();
    let buffered = rows("buffered", 6)?
        .iter()
        .map(|r| Buffered {
            task: row_task(r),
            staleness: r[5],
        })
        .collect();
    let versions: Vec<u64> = metadata
        .get("versions")
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| wrong("versions", "a JSON array of integers"))?;

    let tensors = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
    let read = |name: &str, label: &'static str| -> Result<Vec<f32>, CheckpointError> {
        let view = tensors
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor {
                path: path.to_owned(),
                name: label,
            })?;
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::WrongDtype {
                path: path.to_owned(),
                name: label,
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape().len() != 1 {
            return Err(CheckpointError::WrongShape {
                path: path.to_owned(),
                name: label,
                shape: view.shape().to_vec(),
            });
        }
        Ok(f32_values(&view))
    };
    let aggregator = if tensors.names().contains(&"aggregator") {
        read("aggregator", "aggregator")?
    } else {
        Vec::new()
    };
    let m = read("server.m", "server.m")?;
    let v = read("server.v", "server.v")?;
    if m.len() != v.len() {
        return Err(CheckpointError::MomentLengthMismatch {
            path: path.to_owned(),
            m: m.len(),
            v: v.len(),
        });
    }
    let versions = versions
        .into_iter()
        .map(|n| Ok((n, read(&format!("version.{n}"), "version.<n>")?)))
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let state = FedBuffState {
        steps_completed,
        global_weights: read("global_weights", "global_weights")?,
        server: ServerOptimizerState { step, m, v },
        aggregator,
        now,
        last_step,
        next_task,
        in_flight,
        buffered,
        versions,
    };
    Ok((state, optimizer))
}

impl<M: FederatedModel> FedBuff<M> {
    /// Saves the run's [`state`](Self::state) to `path` atomically (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// As [`save_fedbuff_checkpoint`].
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        save_fedbuff_checkpoint(path, &self.state(), self.server_optimizer().name())
    }

    /// Loads the checkpoint at `path` and [`restore`](Self::restore)s it; with the
    /// same configs and clients, the run continues as the one that saved it.
    ///
    /// # Errors
    /// The errors of [`load_fedbuff_checkpoint`], [`CheckpointError::OptimizerMismatch`]
    /// for a checkpoint of another server optimiser, then those of
    /// [`restore`](Self::restore). The run is unchanged on error.
    pub fn restore_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let (state, saved) = load_fedbuff_checkpoint(path)?;
        let configured = self.server_optimizer().name();
        if saved != configured {
            return Err(CheckpointError::OptimizerMismatch {
                path: path.to_owned(),
                saved,
                configured,
            }
            .into());
        }
        self.restore(state)
    }
}

/// Integers as a JSON array.
fn versions_json(versions: &[u64]) -> String {
    let cells: Vec<String> = versions.iter().map(u64::to_string).collect();
    format!("[{}]", cells.join(","))
}

/// Rows of integers as a JSON array (of arrays, or of integers).
fn to_json<R: AsRef<[u64]>>(rows: &[R]) -> String {
    let row = |r: &R| {
        let cells: Vec<String> = r.as_ref().iter().map(u64::to_string).collect();
        format!("[{}]", cells.join(","))
    };
    format!("[{}]", rows.iter().map(row).collect::<Vec<_>>().join(","))
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
    use crate::federated::fedbuff::{FedBuffConfig, FedBuffError};
    use crate::federated::test_model::{population, TinyModel};
    use crate::federated::{save_checkpoint, FedConfig, SimDuration, SimulationState, SpeedModel};
    use crate::FeddxError;

    fn bits(w: &[f32]) -> Vec<u32> {
        w.iter().map(|x| x.to_bits()).collect()
    }

    fn run() -> FedBuff<TinyModel> {
        let config = FedConfig::builder()
            .rounds(4)
            .speed(SpeedModel::LogNormal {
                median: SimDuration::from_millis(5),
                sigma: 1.0,
            })
            .seed(2)
            .build()
            .unwrap();
        let fedbuff = FedBuffConfig::builder()
            .concurrency(4)
            .buffer(2)
            .build()
            .unwrap();
        FedBuff::new(TinyModel::with_seed(0), config, fedbuff).unwrap()
    }

    #[test]
    fn a_state_round_trips_bit_for_bit() {
        let mut sim = run();
        sim.run_step(&population()).unwrap();
        let mut state = sim.state();
        assert!(!state.in_flight.is_empty() && !state.versions.is_empty());
        state.global_weights[0] = f32::from_bits(0x7fc0_1234);
        state.buffered.push(Buffered {
            task: state.in_flight[0],
            staleness: 3,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.safetensors");
        save_fedbuff_checkpoint(&path, &state, "sgd").unwrap();
        let (loaded, optimizer) = load_fedbuff_checkpoint(&path).unwrap();
        assert_eq!(optimizer, "sgd");
        assert_eq!(bits(&loaded.global_weights), bits(&state.global_weights));
        assert_eq!(loaded.in_flight, state.in_flight);
        assert_eq!(loaded.buffered, state.buffered);
        assert_eq!(loaded.versions.len(), state.versions.len());
        assert_eq!(
            (loaded.now, loaded.last_step, loaded.next_task),
            (state.now, state.last_step, state.next_task)
        );
        // The same state writes the same bytes.
        let again = dir.path().join("g.safetensors");
        save_fedbuff_checkpoint(&again, &state, "sgd").unwrap();
        assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
    }

    #[test]
    fn a_synchronous_checkpoint_or_another_optimiser_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sync = dir.path().join("sync.safetensors");
        save_checkpoint(
            &sync,
            &SimulationState {
                rounds_completed: 1,
                global_weights: vec![0.0; 9],
                server: ServerOptimizerState {
                    step: 1,
                    m: vec![],
                    v: vec![],
                },
                aggregator: vec![],
            },
        )
        .unwrap();
        let mut sim = run();
        let before = sim.state();
        let err = sim.restore_checkpoint(&sync).unwrap_err();
        assert!(
            matches!(
                &err,
                FeddxError::Checkpoint(CheckpointError::WrongFormat { key: "format", .. })
            ),
            "{err}"
        );
        let adam = dir.path().join("adam.safetensors");
        save_fedbuff_checkpoint(&adam, &before, "fedadam").unwrap();
        assert!(matches!(
            sim.restore_checkpoint(&adam).unwrap_err(),
            FeddxError::Checkpoint(CheckpointError::OptimizerMismatch { .. })
        ));
        assert_eq!(sim.state(), before);
    }

    #[test]
    fn a_state_without_a_tasks_version_is_refused() {
        let mut sim = run();
        sim.run_step(&population()).unwrap();
        let mut state = sim.state();
        state.versions.clear();
        let err = sim.restore(state).unwrap_err();
        assert!(
            matches!(&err, FeddxError::FedBuff(FedBuffError::StateMismatch { reason }) if reason.contains("whose weights are not saved")),
            "{err}"
        );
    }
}
