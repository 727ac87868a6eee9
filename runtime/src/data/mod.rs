//! Client data: the examples each client keeps, and how they are batched; the
//! embedded real data sets, and the partitioners that split them across clients.

mod client;
pub mod datasets;
pub mod partition;

pub use client::ClientData;
pub use datasets::Dataset;
