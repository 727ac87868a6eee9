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

use clap::Parser;
use common::{Defaults, Knobs, Strategy};
use feddx::data::{datasets, partition};
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let knobs = Knobs::parse();
    let config = knobs.config(&DEFAULTS)?;

    let (mut train, mut test) = datasets::breast_cancer_raw()?.train_test_split(0.2, knobs.seed)?;
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);

    let num_clients = knobs.clients.unwrap_or(DEFAULTS.clients);
    let alpha = knobs.alpha.unwrap_or(DEFAULTS.alpha);
    let parts = partition::dirichlet(
        &train.labels,
        train.num_classes,
        num_clients,
        alpha,
        5,
        knobs.seed,
    )?;
    let clients = train.binary_clients(&parts);
    println!(
        "breast cancer: {} train / {} test examples over {num_clients} clients (Dirichlet({alpha}))",
        train.len(),
        test.len()
    );

    let model = Diagnosis::with_seed(knobs.seed);
    let sim = Simulation::new(model, config).with_evaluation_data(test.to_binary_client_data());
    let accuracy = common::run(sim, &clients, &knobs, "binary_accuracy")?;
    println!("final test accuracy: {accuracy:.4}");
    Ok(())
}
