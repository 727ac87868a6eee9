//! The runtime of feddx: federated learning on [`dfdx`] models whose
//! annotations are checked at compile time by `#[federated_model]`.
//!
//! - [`spec`]: input specs, the types of features and labels;
//! - [`FederatedModel`]: what an algorithm needs of a model;
//! - [`losses`] and [`metrics`], with state that merges across clients;
//! - [`layers`]: `Conv2D`, `MaxPool2D` and `Flatten2D` for images, on stable Rust;
//! - [`weights`]: trainable weights by name or as one flat vector;
//! - [`weights_file`]: a trained model's weights saved to and loaded from a file;
//! - [`predict`]: predictions, probabilities and classes for plain rows of features;
//! - [`data`]: the examples each client keeps;
//! - [`federated`]: FedAvg, FedSGD, FedProx and adaptive server optimisers, simulated round by round,
//!   with checkpoints;
//! - [`privacy`]: the (ε, δ) that DP-FedAvg's rounds spend, by Rényi differential privacy
//!   of the subsampled Gaussian mechanism, as Google's dp-accounting computes it;
//! - `report` (feature `report`, on by default): per-round CSV, SVG plots and progress output;
//! - [`FeddxError`], and [`ErrorReport`] for `fn main() -> Result<(), ErrorReport>`, which
//!   prints an error's message and causes rather than its `Debug`.
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod data;
mod error;
mod error_report;
pub mod federated;
pub mod layers;
pub mod losses;
pub mod metrics;
mod model;
mod module;
pub mod predict;
pub mod privacy;
#[cfg(feature = "report")]
pub mod report;
mod safetensors_io;
pub mod spec;
pub mod tensor;
pub mod weights;
pub mod weights_file;

pub use error::{FeddxError, Result};
pub use error_report::ErrorReport;
pub use losses::Loss;
pub use metrics::{Metric, MetricKind, MetricValues, MetricsState};
pub use model::{FederatedModel, ForwardOutput, LabelBatch};
pub use module::{FeatureBatch, ModuleFor, OnTape, OutputFor, TracedOutput};
pub use predict::{OneOutput, OutputValues, Predictions};
pub use weights_file::{load_weights, save_weights, WeightsFileError};

pub use dfdx;

/// Everything a model definition needs, with dfdx's own prelude.
pub mod prelude {
    pub use dfdx::optim::{Optimizer, Sgd, SgdConfig};
    pub use dfdx::prelude::*;

    pub use crate::layers::builders::{Conv2D, Flatten2D, MaxPool2D};
    pub use crate::losses::*;
    pub use crate::metrics::{
        Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, Metric, MetricKind, MetricValues,
        MetricsState, Precision, Recall, SparseCategoricalAccuracy,
    };
    pub use crate::spec::{ClassLabels, FeatureSpec, Features, Images, LabelSpec, Targets};
    pub use crate::tensor::{Batch, Built, Scalar, Traced};
    pub use crate::{
        FeatureBatch, FeddxError, FederatedModel, ForwardOutput, LabelBatch, ModuleFor,
        OutputValues, Predictions, WeightsFileError,
    };
}
