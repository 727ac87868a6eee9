//! FedBuff: asynchronous federated learning with a buffer, on a simulated clock.
//!
//! Nguyen et al., "Federated Learning with Buffered Asynchronous Aggregation",
//! AISTATS 2022: `concurrency` clients train at once, each from the model version
//! current when it started; the server steps every `K` replies
//! ([`buffer`](FedBuffConfig::buffer)), each reply scaled down by its staleness
//! (`1 / sqrt(1 + s)`, [`Staleness`]), with a server learning rate.
//!
//! The parts, one job each:
//! - [`events`]: the clients in flight as a min-heap of finish times, which moves
//!   the simulated clock (no sleeping, no reading `Instant`);
//! - [`scheduler`]: which client starts next, and from which version;
//! - [`staleness`] and [`buffer`]: how replies are weighted and collected;
//! - [`config`]: the settings, beside the run's [`FedConfig`](super::FedConfig);
//! - [`engine`]: [`FedBuff`], the loop that ties them together, and [`report`]:
//!   what a server step did; [`state`]: what a run's later steps depend on, and
//!   [`checkpoint`]: that state in a safetensors file.

pub mod buffer;
pub mod checkpoint;
pub mod config;
pub mod engine;
mod error;
pub mod events;
pub mod report;
pub mod scheduler;
pub mod staleness;
pub mod state;

pub use buffer::{contributions, Buffer, Buffered, Reply};
pub use checkpoint::{load_fedbuff_checkpoint, save_fedbuff_checkpoint, FEDBUFF_CHECKPOINT_FORMAT};
pub use config::{FedBuffConfig, FedBuffConfigBuilder};
pub use engine::FedBuff;
pub use error::FedBuffError;
pub use events::{Event, EventInThePast, EventQueue};
pub use report::StepReport;
pub use scheduler::{Scheduler, Task};
pub use staleness::Staleness;
pub use state::FedBuffState;
