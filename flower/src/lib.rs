//! # feddx-flower
//!
//! A feddx node that joins a [Flower](https://flower.ai) federation: it takes the place
//! of `flower-supernode` and its `ClientApp`, talks to a `flower-superlink` over the
//! Fleet API (protobuf over HTTP), and trains a [`FederatedModel`](feddx_runtime::FederatedModel)
//! on data that never leaves the node.

pub mod proto;
pub mod error;

pub use error::ProtocolError;
