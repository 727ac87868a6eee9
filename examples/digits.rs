//! The main example: federated training of a digit classifier on the UCI digits,
//! spread over clients with skewed labels.
//!
//! The digits are split 80/20; the training part is spread over 20 clients by a
//! Dirichlet(0.5) draw of label proportions, so each client sees a few digits far
//! more than others. FedAvg trains the MLP below for 50 rounds, 10 clients a round,
//! and the held-out 20% is evaluated after every round.
//!
//! ```text
//! cargo run --release --example digits
//! cargo run --release --example digits -- --help
//! ```
//!
//! Writes `rounds.csv`, `rounds.svg` and `checkpoint.safetensors` under
//! `target/feddx/` (`--out` to change); `--resume` continues from the checkpoint.

mod common;

use clap::Parser;
use common::{Defaults, Knobs, Strategy};
use feddx::data::{datasets, partition};
use feddx::federated::Simulation;
use feddx::prelude::*;

type Mlp = (Linear<64, 64>, ReLU, Linear<64, 10>);

/// A digit classifier: 8x8 pixels in, one logit per digit out.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct DigitClassifier {
    net: Built<Mlp>,
}

const DEFAULTS: Defaults = Defaults {
    rounds: 50,
    clients: 20,
    clients_per_round: 10,
    alpha: 0.5,
    algorithm: Strategy::Fedavg,
    local_epochs: 5,
    batch_size: 20,
    lr: 0.1,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let knobs = Knobs::parse();
    let config = knobs.config(&DEFAULTS)?;

    let (mut train, mut test) = datasets::digits()?.train_test_split(0.2, knobs.seed)?;
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
        2,
        knobs.seed,
    )?;
    let clients = train.clients(&parts);
    let sizes: Vec<usize> = clients.iter().map(|c| c.len()).collect();
    println!(
        "digits: {} train / {} test examples; {num_clients} clients by Dirichlet({alpha}) label skew, sizes {sizes:?}",
        train.len(),
        test.len()
    );

    let model = DigitClassifier::with_seed(knobs.seed);
    println!(
        "model: {} parameters, input spec {}",
        model.num_trainable_params(),
        DigitClassifier::input_spec()
    );
    let sim = Simulation::new(model, config).with_evaluation_data(test.to_client_data());
    let accuracy = common::run(sim, &clients, &knobs, "sparse_categorical_accuracy")?;
    println!("final test accuracy: {accuracy:.4}");
    Ok(())
}
