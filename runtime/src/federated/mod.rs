//! Federated training, simulated: clients train locally, the server averages.
//!
//! A round of federated training, as in TensorFlow Federated's
//! `tff.learning.templates`, is built from small parts, one module each:
//!
//! - [`sampling`]: which clients take part in a round;
//! - [`client`]: what a client does with the global weights (FedAvg, FedSGD, FedProx);
//! - [`client_task`](mod@client_task): one client's whole task: faults, its duration against the
//!   deadline on the simulated clock, training with panics caught;
//! - [`aggregation`]: the weighted mean of the clients' model deltas;
//! - [`aggregators`]: a round's aggregation as a chain of parts: zeroing, clipping,
//!   robust estimators (median, trimmed mean, Krum, Bulyan), DP-FedAvg's noised mean;
//! - [`faults`]: dropouts, NaN updates, slow and Byzantine clients, injected seeded;
//! - [`server_optimizer`]: how the server applies that mean (SGD, FedAdagrad, FedAdam, FedYogi);
//! - [`server_step`](mod@server_step): aggregate, optimise, commit, or leave everything unchanged;
//! - [`population`]: how fast each client works and when it is available;
//! - [`time`]: the simulated clock every deadline and speed is measured on;
//! - [`evaluation`]: metrics merged over clients from unfinalised sums;
//! - [`simulation`]: the round loop that ties them together: sample, client tasks,
//!   server step, evaluation, report;
//! - [`fedbuff`]: the asynchronous engine, FedBuff, on the same simulated clock;
//! - [`config`]: the validated settings of a run, and [`seeds`]: where its randomness comes from;
//! - [`noise_source`]: where a DP run's secret noise and sample come from, and
//!   [`privacy_spent`]: what its epsilon is about;
//! - [`checkpoint`]: a run's state saved to and loaded from a safetensors file.
//!
//! A run is deterministic: every random choice derives from the run seed, the round
//! and the client, so a parallel run gives the same bits as a sequential one, and a
//! run resumed from a [`SimulationState`] continues as if it had never stopped. The
//! exception is a run with DP noise: its noise and client sample come from the
//! operating system ([`NoiseSource::Os`]), unless it opts out of privacy with
//! [`reproducible_noise_not_private`](FedConfigBuilder::reproducible_noise_not_private).
//!
//! ```
//! use feddx_runtime::federated::{Algorithm, ClientsPerRound, FedConfig, ServerOptimizer};
//!
//! let config = FedConfig::builder()
//!     .rounds(50)
//!     .clients_per_round(ClientsPerRound::Count(10))
//!     .local_epochs(1)
//!     .batch_size(20)
//!     .client_learning_rate(0.1)
//!     .algorithm(Algorithm::FedProx { mu: 0.01 })
//!     .server_optimizer(ServerOptimizer::adam(0.01))
//!     .seed(7)
//!     .build()
//!     .unwrap();
//! assert_eq!(config.rounds(), 50);
//! ```

pub mod aggregation;
pub mod aggregators;
pub mod checkpoint;
pub mod client;
pub mod client_task;
pub mod config;
pub mod evaluation;
pub mod faults;
pub mod fedbuff;
pub mod noise_source;
pub mod population;
pub mod privacy_spent;
pub mod sampling;
pub mod seeds;
pub mod server_optimizer;
pub mod server_step;
pub mod simulation;
#[cfg(test)]
pub(crate) mod test_model;
pub mod time;
mod workers;

pub use aggregation::{weighted_mean, weighted_mean_into, Weighting};
pub use checkpoint::{
    load_checkpoint, save_checkpoint, CheckpointError, CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
};
pub use client::{
    train_client, train_client_steps, Algorithm, ClientDataOf, ClientUpdate, LocalTraining,
};
pub use client_task::{client_task, ClientOutcome, StragglerPolicy, TaskSettings};
pub use config::{BatchSize, ConfigError, FedConfig, FedConfigBuilder};
pub use evaluation::{evaluate, evaluate_federated};
pub use faults::{byzantine_clients, Attack, Byzantine, Faults};
pub use noise_source::{NoiseKey, NoiseSource};
pub use population::{Availability, SpeedModel, SpeedTrace, SpeedTraceError};
pub use privacy_spent::PrivacySpent;
pub use sampling::{sample_clients, sample_clients_with, ClientsPerRound};
pub use server_optimizer::{ServerOptimizer, ServerOptimizerState};
pub use server_step::{server_step, ServerParts};
pub use simulation::{panic_message, RoundCounts, RoundReport, Simulation, SimulationState};
pub use time::{SimClock, SimDuration, SimTime};
