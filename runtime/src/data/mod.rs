//! Client data: the examples each client keeps, and how they are batched; the
//! embedded real data sets, and the partitioners that split them across clients.

mod client;
mod csv;
mod dataset;
pub mod datasets;
mod error;
mod label;
pub mod partition;
mod source;

pub use client::ClientData;
pub use csv::{parse_csv, parse_features, read_csv, read_features, CsvOptions, LabelColumn};
pub use dataset::{as_image, standardize_rows, Dataset};
pub use error::DataError;
pub use label::{Label, LabelProblem};
pub use source::{batch_indices, batches, ClientExamples, ClientSource};
