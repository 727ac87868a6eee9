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
//! - [`config`]: the settings, beside the run's [`FedConfig`](super::FedConfig)
//!   (which says how clients train, how fast they are, and how many server steps
//!   to run);
//! - [`engine`]: [`FedBuff`], the loop that ties them together, and [`report`]:
//!   what a server step did; [`state`]: what a run's later steps depend on, and
//!   [`checkpoint`]: that state in a safetensors file.
//!
//! ```
//! use feddx_runtime::federated::fedbuff::{FedBuffConfig, Staleness};
//! use feddx_runtime::federated::{FedConfig, SimDuration, SpeedModel};
//!
//! // 100 server steps; each client's local step takes a log-normal time.
//! let config = FedConfig::builder()
//!     .rounds(100)
//!     .speed(SpeedModel::LogNormal { median: SimDuration::from_millis(50), sigma: 1.0 })
//!     .build()
//!     .unwrap();
//! // 50 clients in flight, a server step every 10 replies.
//! let fedbuff = FedBuffConfig::builder()
//!     .concurrency(50)
//!     .buffer(10)
//!     .staleness(Staleness::FEDBUFF)
//!     .server_learning_rate(1.0)
//!     .build()
//!     .unwrap();
//! assert_eq!(fedbuff.buffer(), 10);
//! // FedBuff::new(model, config, fedbuff)?.run(&clients, |step| println!("{}", step.time))
//! ```

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
