//! The digits as 1x8x8 images, classified by a small conv net trained by FedAvg
//! across clients with skewed labels: the `digits` example with `Conv2D`,
//! `MaxPool2D` and `Flatten2D` instead of an MLP.
//!
//! The digits are split 80/20 and standardised with the mean and standard deviation
//! of all training pixels together (one scale for the whole image, which suits
//! filters shared across positions better than the MLP's pixel-by-pixel scaling); the training part is spread over 20 clients by a Dirichlet(0.5) draw
//! of label proportions. Each row of 64 pixels becomes a one-channel 8x8 image
//! (`Dataset::image_clients`), the input of the net below: 16 filters of 3x3 (padded,
//! so 16x8x8), ReLU, 2x2 max pooling (16x4x4), flattened to 256, then 64 hidden
//! units and 10 logits. FedAvg trains it for 50 rounds, 10 clients a round, 5 local
//! epochs of batch 20 at learning rate 0.2 (the MLP's 0.1 leaves this net still
//! learning at round 50), and the held-out 20% is evaluated after every round.
//!
//! ```text
//! cargo run --release --example digits_cnn
//! cargo run --release --example digits_cnn -- --help
//! ```
//!
//! Writes `rounds.csv`, `rounds.svg` and `checkpoint.safetensors` under
//! `target/feddx/digits_cnn/` (`--out DIR` writes under `DIR/digits_cnn/`, so that
//! the MLP's files of `digits` stay apart); `--resume` continues from the checkpoint.

mod common;

use common::{Defaults, Knobs, Scaling, Strategy};
use feddx::data::datasets;
use feddx::federated::Simulation;
use feddx::prelude::*;

/// dfdx chains tuples of up to 6 layers, so the convolution block is one element.
type Cnn = (
    (Conv2D<1, 16, 3, 1, 1>, ReLU, MaxPool2D<2, 2>),
    Flatten2D,
    Linear<256, 64>,
    ReLU,
    Linear<64, 10>,
);

/// A digit classifier: one 8x8 channel in, one logit per digit out.
#[federated_model(
    input_spec = (Images<1, 8, 8>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct DigitCnn {
    net: Built<Cnn>,
}

const DEFAULTS: Defaults = Defaults {
    rounds: 50,
    clients: 20,
    clients_per_round: 10,
    alpha: 0.5,
    algorithm: Strategy::Fedavg,
    local_epochs: 5,
    batch_size: 20,
    lr: 0.2,
};

fn main() -> std::process::ExitCode {
    common::report(run())
}

fn run() -> Result<(), feddx::ErrorReport> {
    let mut knobs = Knobs::parse_for(
        "Federated training of a conv net on the UCI digits as 1x8x8 images, spread over clients with skewed labels",
        &DEFAULTS,
    );
    knobs.out = knobs.out.join("digits_cnn");
    let config = knobs.config(&DEFAULTS)?;

    let split = common::split_scaled(datasets::digits()?, &knobs, &DEFAULTS, 2, Scaling::Global)?;
    let mut clients = split.train.image_clients::<1, 8, 8>(&split.parts);
    for k in knobs.label_flippers(clients.len()) {
        clients[k] = clients[k].with_labels_flipped(10);
    }

    let model = DigitCnn::with_seed(knobs.seed);
    println!(
        "model: {} parameters, input spec {}",
        model.num_trainable_params(),
        DigitCnn::input_spec()
    );
    let test = split.test.to_image_client_data::<1, 8, 8>();
    let sim = Simulation::new(model, config).with_evaluation_data(test);
    common::run(sim, &clients, &knobs, "sparse_categorical_accuracy")?.print();
    Ok(())
}
