//! Everything of a FedBuff run that later steps depend on, besides its configs.

use super::buffer::Buffered;
use super::scheduler::Task;
use crate::federated::time::SimTime;
use crate::federated::ServerOptimizerState;

/// The state of a [`FedBuff`](super::FedBuff) run: save it to checkpoint a run,
/// [`restore`](super::FedBuff::restore) it to resume one bit for bit.
///
/// A task in flight, or a buffered reply, is not saved with its update: it is
/// trained again on resume from the weights of the model version it started from,
/// which are saved, one vector per version (`versions`). That costs one weight
/// vector per distinct start version (about `concurrency / buffer` in a steady run,
/// fewer than the `concurrency` updates it replaces when `buffer > 1`) and the
/// retraining of the tasks in flight on resume.
#[derive(Debug, Clone, PartialEq)]
pub struct FedBuffState {
    /// Server steps completed: the model's version.
    pub steps_completed: usize,
    /// The global model's trainable weights, flat.
    pub global_weights: Vec<f32>,
    /// The server optimiser's state.
    pub server: ServerOptimizerState,
    /// The aggregation's state (adaptive clipping's norm); empty when stateless.
    pub aggregator: Vec<f32>,
    /// The simulated time.
    pub now: SimTime,
    /// When the last server step was taken (zero before any).
    pub last_step: SimTime,
    /// The number of the next task to start.
    pub next_task: u64,
    /// The tasks in flight, by number.
    pub in_flight: Vec<Task>,
    /// The replies buffered for the next step, in arrival order.
    pub buffered: Vec<Buffered>,
    /// The weights of every version a task in flight or buffered started from.
    pub versions: Vec<(u64, Vec<f32>)>,
}
