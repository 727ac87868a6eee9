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

use common::{Defaults, Knobs, Strategy};
use feddx::data::datasets;
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

fn main() -> std::process::ExitCode {
    common::report(run())
}

fn run() -> Result<(), feddx::ErrorReport> {
    let knobs = Knobs::parse_for("Federated training of a digit classifier on the UCI digits, spread over clients with skewed labels", &DEFAULTS);
    let config = knobs.config(&DEFAULTS)?;

    let split = common::split(datasets::digits()?, &knobs, &DEFAULTS, 1)?;
    let mut clients = split.train.clients(&split.parts);
    for k in knobs.label_flippers(clients.len()) {
        clients[k] = clients[k].with_labels_flipped(10);
    }

    let model = DigitClassifier::with_seed(knobs.seed);
    println!(
        "model: {} parameters, input spec {}",
        model.num_trainable_params(),
        DigitClassifier::input_spec()
    );
    let sim = Simulation::new(model, config).with_evaluation_data(split.test.to_client_data());
    common::run(sim, &clients, &knobs, "sparse_categorical_accuracy")?.print();
    Ok(())
}
