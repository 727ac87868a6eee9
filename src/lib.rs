//! # feddx
//!
//! Federated learning on [`dfdx`] with models checked at compile time.
//!
//! `#[federated_model(...)]` goes on a struct that holds a dfdx module. It reads the
//! input spec, named outputs, losses, loss weights and metrics, turns every mistake
//! into a compile error at the offending token, and implements [`FederatedModel`],
//! which the federated algorithms train and evaluate. It is the compile-time
//! counterpart of TensorFlow Federated's `tff.learning.from_keras_model`.
//!
//! ```
//! use feddx::prelude::*;
//!
//! type Net = (Linear<4, 8>, ReLU, Linear<8, 3>);
//!
//! #[federated_model(
//!     input_spec = (Features<4>, ClassLabels),
//!     loss = SparseCategoricalCrossentropy,
//!     metrics = [SparseCategoricalAccuracy],
//! )]
//! struct Iris {
//!     net: Built<Net>,
//! }
//!
//! let model = Iris::with_seed(0);
//! assert_eq!(Iris::OUTPUTS, ["output"]);
//! assert_eq!(Iris::input_spec().to_string(), "(x: f32[?, 4], y: usize[?])");
//! assert_eq!(model.num_trainable_params(), 4 * 8 + 8 + 8 * 3 + 3);
//! ```
//!
//! ## The attribute
//!
//! | key | forms | rules |
//! |---|---|---|
//! | `input_spec` | `(X, Y)` or `input_spec(x = X, y = Y)` | required; exactly two elements: the features fed to the module and the labels; with several outputs `Y` is a tuple, one spec per output |
//! | `outputs` | `outputs(a, b, ...)` | optional (default: one output, `output`); unique names; the module must have this many outputs |
//! | `loss` | `loss = L`, `loss = [L1, L2, ...]`, `loss(a = L1, ...)` | required; one for all, one per output in order, or one per output by name |
//! | `loss_weights` | `loss_weights = [w1, ...]`, `loss_weights(a = w1, ...)` | optional; number literals; missing outputs weigh 1.0 |
//! | `metrics` | `metrics = [M1, ...]`, `metrics(a = [M1, ...], ...)` | optional; a list for every output, or lists by output name |
//!
//! With several fields, the one holding the module is marked `#[model]`; the others
//! are built with `Default`.
#![warn(missing_docs)]

pub use feddx_macros::federated_model;
pub use feddx_runtime::*;

/// Everything a model definition needs: dfdx's prelude, feddx's specs, losses,
/// metrics and traits, and `#[federated_model]`.
pub mod prelude {
    pub use feddx_macros::federated_model;
    pub use feddx_runtime::prelude::*;
}
