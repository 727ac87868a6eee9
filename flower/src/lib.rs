//! # feddx-flower
//!
//! A feddx node that joins a [Flower](https://flower.ai) federation: it takes the place
//! of `flower-supernode` and its `ClientApp`, talks to a `flower-superlink` over the
//! Fleet API (protobuf over HTTP), and trains a [`FederatedModel`](feddx_runtime::FederatedModel)
//! on data that never leaves the node. It speaks the protocol of `flwr==1.42.0`.
//!
//! The crate is layered so that each part can be tested without the others:
//!
//! - the wire: [`proto`] (the Fleet API's messages, from the pinned wheel), [`fleet`]
//!   (one HTTP call per RPC) and [`auth`] (the node's signed identity);
//! - Flower's message model: [`npy`], [`object`] (content-addressed objects),
//!   [`records`], [`message`] (deflate to and inflate from an object tree) and
//!   [`arrays`] (a model's weights as an `ArrayRecord`);
//! - the node's behaviour: [`client_app`] (a message in, its reply out), [`node`]
//!   (the connection loop: register, poll, fetch, reply, heartbeat, reconnect, leave)
//!   and [`limits`] (how much it takes from its SuperLink);
//! - Flower's privacy protocols: [`protocols`] (what a message asks of the node),
//!   [`client_dp`] (client-side clipping, as Flower's mods), [`policy`] (what the
//!   node's owner requires) and [`secagg`] (the client side of SecAgg+: its
//!   cryptography and stage machine);
//! - [`export`]: a model's arrays on disk, for a Python `ServerApp` to read.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use feddx::data::datasets;
//! use feddx::federated::{Algorithm, BatchSize, LocalTraining};
//! use feddx::prelude::*;
//! use feddx_flower::{ClientApp, NodeBuilder};
//!
//! #[federated_model(
//!     input_spec = (Features<64>, ClassLabels),
//!     loss = SparseCategoricalCrossentropy,
//!     metrics = [SparseCategoricalAccuracy],
//! )]
//! struct Digits {
//!     net: Built<(Linear<64, 32>, ReLU, Linear<32, 10>)>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = datasets::digits()?.to_client_data();
//! let training = LocalTraining {
//!     algorithm: Algorithm::FedAvg,
//!     local_epochs: 1,
//!     batch_size: BatchSize::Examples(32),
//!     learning_rate: 0.1,
//! };
//! let app = ClientApp::new(Digits::with_seed(0), data, training);
//! let mut node = NodeBuilder::new("127.0.0.1:9092").insecure().build(app)?;
//! let stop = AtomicBool::new(false); // set it (on Ctrl-C) to leave the federation
//! node.run(&stop, |event| println!("{event}"))?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod arrays;
pub mod auth;
pub mod client_app;
pub mod client_dp;
pub mod error;
pub mod export;
pub mod fleet;
pub mod legacy;
pub mod limits;
pub mod message;
pub mod node;
pub mod npy;
pub mod object;
pub mod policy;
pub mod proto;
pub mod protocols;
#[cfg(test)]
mod python_fixture;
pub mod records;
pub mod secagg;

pub use auth::NodeKeys;
pub use client_app::ClientApp;
pub use error::ProtocolError;
pub use fleet::{FleetClient, FleetError, Transport};
pub use limits::{LimitError, Limits};
pub use message::{Deflated, Message};
pub use node::{Backoff, Node, NodeBuilder, NodeError, NodeEvent, NodeSummary};
pub use policy::{ClippingMod, Policy, PolicyError};
pub use records::{
    Array, ArrayRecord, ConfigRecord, ConfigValue, MetricRecord, MetricValue, Record, RecordDict,
};
