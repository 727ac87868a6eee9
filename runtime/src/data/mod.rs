//! Client data: the examples each client keeps, and how they are batched; the
//! embedded real data sets, and the partitioners that split them across clients; a
//! population's examples in one shared store ([`ClientStore`], in memory or mapped
//! from a file), and the Synthetic(alpha, beta) benchmark generated per client.

mod client;
mod csv;
mod dataset;
pub mod datasets;
mod error;
mod label;
mod mmap;
pub mod partition;
mod source;
mod store;
pub mod store_file;
mod synthetic;

pub use client::ClientData;
pub use csv::{parse_csv, parse_features, read_csv, read_features, CsvOptions, LabelColumn};
pub use dataset::{as_image, standardize_rows, Dataset};
pub use error::DataError;
pub use label::{Label, LabelProblem};
pub use mmap::StoreAccess;
pub use source::{batch_indices, batches, ClientExamples, ClientSource};
pub use store::{ClientStore, ClientView};
pub use store_file::{StoreError, StoreWriter, StoredLabel};
pub use synthetic::{
    ClientSizes, Synthetic, SyntheticClient, SyntheticFeatures, SyntheticPopulation,
    SYNTHETIC_CLASSES, SYNTHETIC_FEATURES,
};
