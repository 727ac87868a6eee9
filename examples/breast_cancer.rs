//! Federated binary classification on the UCI breast cancer data (Wisconsin
//! diagnostic): logistic-style MLP, binary cross-entropy, and FedAdam on the server
//! (Reddi et al. 2021) or FedProx on the clients (Li et al. 2020).
//!
//! ```text
//! cargo run --release --example breast_cancer
//! cargo run --release --example breast_cancer -- --algorithm fedprox --mu 0.1
//! ```
//!
//! Features are standardised with statistics of the training split only, so
//! nothing of the test split leaks into training.

mod common;

use common::{Defaults, Knobs, Strategy};
use feddx::data::datasets;
use feddx::federated::Simulation;
use feddx::prelude::*;

type Net = (Linear<30, 16>, ReLU, Linear<16, 1>);

/// Benign (1) or malignant (0), from 30 measurements of a cell nucleus image.
#[federated_model(
    input_spec = (Features<30>, Targets<1>),
    loss = BinaryCrossentropy,
    metrics = [BinaryAccuracy::default(), Precision::default(), Recall::default()],
)]
struct Diagnosis {
    net: Built<Net>,
}

const DEFAULTS: Defaults = Defaults {
    rounds: 30,
    clients: 10,
    clients_per_round: 5,
    alpha: 1.0,
    algorithm: Strategy::Fedadam,
    local_epochs: 1,
    batch_size: 16,
    lr: 0.05,
};

fn main() -> std::process::ExitCode {
    common::report(run())
}

fn run() -> Result<(), feddx::ErrorReport> {
    let knobs = Knobs::parse_for(
        "Federated binary classification on the UCI breast cancer data",
        &DEFAULTS,
    );
    let config = knobs.config(&DEFAULTS)?;

    let split = common::split(datasets::breast_cancer_raw()?, &knobs, &DEFAULTS, 5)?;
    let mut clients = split.train.binary_clients(&split.parts);
    for k in knobs.label_flippers(clients.len()) {
        // A 0/1 target flipped: benign for malignant and back.
        clients[k] = clients[k]
            .examples()
            .iter()
            .map(|(x, y)| (*x, [1.0 - y[0]]))
            .collect();
    }

    let model = Diagnosis::with_seed(knobs.seed);
    let sim =
        Simulation::new(model, config).with_evaluation_data(split.test.to_binary_client_data());
    common::run(sim, &clients, &knobs, "binary_accuracy")?.print();
    Ok(())
}
