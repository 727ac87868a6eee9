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
//! ## Training across clients
//!
//! [`federated::Simulation`] runs rounds of a federated algorithm over clients that
//! keep their data: here FedAvg on the digits, spread over 10 clients by a
//! Dirichlet(0.5) label skew. Rounds are numbered from 1 (`r.round`, errors, progress
//! and CSV alike), and the test data is evaluated after every round unless
//! `eval_every` says otherwise. The `?`s sit in a `fn main() -> Result<(), ErrorReport>`:
//! on an error, [`ErrorReport`] prints the message and its causes, hints included,
//! rather than the error's `Debug`.
//!
//! ```
//! use feddx::data::{datasets, partition};
//! use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
//! use feddx::prelude::*;
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
//! # fn main() -> Result<(), feddx::ErrorReport> {
//! let (train, test) = datasets::digits()?.train_test_split(0.2, 0)?;
//! let parts = partition::Dirichlet::default().clients(10).alpha(0.5).min_size(2).split(&train.labels)?;
//! let clients = train.clients(&parts);
//!
//! let config = FedConfig::builder()
//!     .rounds(3)
//!     .clients_per_round(ClientsPerRound::Count(5))
//!     .local_epochs(1)
//!     .batch_size(20)
//!     .client_learning_rate(0.1)
//!     .build()?;
//! let mut sim = Simulation::new(Digits::with_seed(0), config)
//!     .with_evaluation_data(test.to_client_data());
//! let reports = sim.run(&clients, |r| println!("round {}: {}", r.round, r.train))?;
//! assert_eq!(reports[0].round, 1); // the first round is round 1
//! # // What the README quotes of this run.
//! # assert_eq!(
//! #     reports[0].train.to_string(),
//! #     "loss=2.1339 num_examples=851 num_batches=45 sparse_categorical_accuracy=0.3373"
//! # );
//! assert!(reports.iter().all(|r| r.eval.is_some())); // each evaluated (`eval_every` 1)
//! let accuracy = reports[2].eval.as_ref().and_then(|e| e.get("sparse_categorical_accuracy"));
//! assert!(accuracy.is_some_and(|a| (0.0..=1.0).contains(&a)));
//! # Ok(())
//! # }
//! ```
//!
//! ## Your own data
//!
//! A CSV file in, a trained model out: [`data::read_csv`] checks every line (each
//! bad one is an error naming the file and the line), the run reports the test
//! split's metrics each round in `r.eval`, the model is saved with
//! [`FederatedModel::save_weights`], and it predicts plain rows read with
//! [`data::read_features`]. Regression works the same with `Dataset<N, [f32; 1]>`
//! and `Targets<1>`, and `predictions.values()?` for the predicted values. The
//! README shows this test's lines without those marked `#`, and
//! `tests/readme.rs` checks that it does.
//!
//! ```
//! use feddx::data::{partition, read_csv, read_features, CsvOptions, Dataset, LabelColumn};
//! use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
//! use feddx::prelude::*;
//!
//! #[federated_model(
//!     input_spec = (Features<6>, ClassLabels),
//!     loss = SparseCategoricalCrossentropy,
//!     metrics = [SparseCategoricalAccuracy],
//! )]
//! struct Plants {
//!     net: Built<(Linear<6, 32>, ReLU, Linear<32, 3>)>,
//! }
//!
//! # fn main() -> Result<(), feddx::ErrorReport> {
//! let options = CsvOptions::default().label(LabelColumn::Name("species".into()));
//! let data: Dataset<6> = read_csv("examples/own_data/plants.csv", &options)?;
//! let (train, test) = data.train_test_split(0.2, 0)?;
//! let parts = partition::Iid::default().clients(10).split(train.len())?;
//! let config = FedConfig::builder().rounds(20).clients_per_round(ClientsPerRound::Count(5)).build()?;
//! let mut sim = Simulation::new(Plants::with_seed(0), config).with_evaluation_data(test.to_client_data());
//! let reports = sim.run(&train.clients(&parts), |r| {
//!     let test = r.eval.as_ref().and_then(|e| e.get("sparse_categorical_accuracy"));
//!     println!("round {}: {} test_accuracy={:.4}", r.round, r.train, test.unwrap_or(f64::NAN));
//! })?;
//! let model = sim.into_model();
//! let path = std::env::temp_dir().join("plants.safetensors");
//! model.save_weights(&path)?;                 // and `load_weights` into a fresh model
//!
//! let new_rows: Vec<[f32; 6]> = read_features("examples/own_data/new_plants.csv", &options)?;
//! let predictions = model.predict(&new_rows)?;
//! println!("{predictions}");                  // a table: each row's logits and argmax
//! let species = predictions.classes()?;       // as `model.predict_class(&new_rows)?`
//! # assert_eq!(species, model.predict_class(&new_rows)?);
//! # assert_eq!(species.len(), 5);
//! # let accuracy = reports[19].eval.as_ref().and_then(|e| e.get("sparse_categorical_accuracy"));
//! # assert!(accuracy.is_some_and(|a| a > 0.8), "{accuracy:?}");
//! # std::fs::remove_file(&path).ok();
//! # Ok(())
//! # }
//! ```
//!
//! ## The attribute
//!
//! | key | forms | rules |
//! |---|---|---|
//! | `input_spec` | `(X, Y)` or `input_spec(x = X, y = Y)` | required; exactly two elements: the features fed to the module and the labels; with several outputs `Y` is a tuple, one spec per output |
//! | `outputs` | `outputs(a, b, ...)` | optional (default: one output, `output`); unique names; the module must have this many outputs |
//! | `loss` | `loss = L`, `loss = [L1, L2, ...]`, `loss(a = L1, ...)` | required; one for all, one per output in order, or one per output by name; `L` is an expression or a Keras name (below) |
//! | `loss_weights` | `loss_weights = [w1, ...]`, `loss_weights(a = w1, ...)` | optional; number literals; missing outputs weigh 1.0 |
//! | `metrics` | `metrics = [M1, ...]`, `metrics(a = [M1, ...], ...)` | optional; a list for every output, or lists by output name; each `M` is an expression or a Keras name (below) |
//!
//! A loss or a metric can be written as its Keras name, a string resolved at compile
//! time to the built-in; any other string is a compile error listing these:
//!
//! | Keras name | loss | metric |
//! |---|---|---|
//! | `"sparse_categorical_crossentropy"` | [`SparseCategoricalCrossentropy`](losses::SparseCategoricalCrossentropy) | |
//! | `"categorical_crossentropy"` | [`CategoricalCrossentropy`](losses::CategoricalCrossentropy) | |
//! | `"binary_crossentropy"` | [`BinaryCrossentropy`](losses::BinaryCrossentropy) | |
//! | `"huber"` | [`Huber { delta: 1.0 }`](losses::Huber) | |
//! | `"mean_squared_error"`, `"mse"` | [`MeanSquaredError`](losses::MeanSquaredError) | `MeanSquaredError` |
//! | `"mean_absolute_error"`, `"mae"` | [`MeanAbsoluteError`](losses::MeanAbsoluteError) | `MeanAbsoluteError` |
//! | `"accuracy"`, `"acc"` | | [`Accuracy`](metrics::Accuracy), reported as `accuracy` |
//! | `"sparse_categorical_accuracy"` | | [`SparseCategoricalAccuracy`](metrics::SparseCategoricalAccuracy) |
//! | `"categorical_accuracy"` | | [`CategoricalAccuracy`](metrics::CategoricalAccuracy) |
//! | `"binary_accuracy"` | | [`BinaryAccuracy { threshold: 0.5 }`](metrics::BinaryAccuracy) |
//! | `"precision"` | | [`Precision { threshold: 0.5 }`](metrics::Precision) |
//! | `"recall"` | | [`Recall { threshold: 0.5 }`](metrics::Recall) |
//! | `"mean"` | | [`Mean`](metrics::Mean) |
//!
//! `"accuracy"` is the accuracy the output's labels and width call for, as Keras picks
//! it from the loss: sparse categorical with `ClassLabels`, binary with `Targets<1>`,
//! categorical with `Targets<N>`, `N > 1`. The pick is made by the type system at
//! compile time, so it costs what the picked metric costs.
//!
//! ```
//! use feddx::prelude::*;
//!
//! #[federated_model(
//!     input_spec = (Features<4>, ClassLabels),
//!     loss = "sparse_categorical_crossentropy",
//!     metrics = ["accuracy"],
//! )]
//! struct Iris {
//!     net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
//! }
//!
//! let model = Iris::with_seed(0);
//! let names: Vec<String> = model.finalize_metrics(&model.metrics_state()).names().map(String::from).collect();
//! assert_eq!(names, ["loss", "num_examples", "num_batches", "accuracy"]);
//! ```
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

/// Nodes that join a [Flower](https://flower.ai) federation: the `feddx-flower` crate,
/// with the `flower` feature.
#[cfg(feature = "flower")]
pub use feddx_flower as flower;
