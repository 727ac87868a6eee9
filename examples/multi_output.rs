//! A model with two heads: which digit (10 classes) and whether it is odd (binary),
//! with per-output losses, loss weights and metrics, trained centrally on the UCI digits.
//!
//! ```text
//! cargo run --release --example multi_output
//! ```

use feddx::data::datasets;
use feddx::prelude::*;

type Net = (
    (Linear<64, 32>, ReLU),
    SplitInto<(Linear<32, 10>, Linear<32, 1>)>,
);

/// Digit and parity from the same 64 pixels.
#[federated_model(
    input_spec = (Features<64>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    loss_weights(digit = 1.0, parity = 0.5),
    metrics(digit = [SparseCategoricalAccuracy], parity = [BinaryAccuracy::default(), Precision::default(), Recall::default()]),
)]
struct DigitModel {
    net: Built<Net>,
}

/// Labels of both outputs for each example.
fn two_heads(
    data: &datasets::Dataset<64>,
) -> feddx::data::ClientData<Features<64>, (ClassLabels, Targets<1>)> {
    data.features
        .iter()
        .zip(&data.labels)
        .map(|(x, &d)| (*x, (d, [(d % 2) as f32])))
        .collect()
}

fn main() -> Result<(), feddx::ErrorReport> {
    let (mut train, mut test) = datasets::digits()?.train_test_split(0.2, 0)?;
    // Zero mean and unit variance per pixel, with statistics of the training part.
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let (train, test) = (two_heads(&train), two_heads(&test));
    println!(
        "outputs {:?}, loss weights {:?}",
        DigitModel::OUTPUTS,
        DigitModel::LOSS_WEIGHTS
    );
    println!("input spec {}", DigitModel::input_spec());

    let dev = Cpu::seed_from_u64(0);
    let mut model = DigitModel::build(&dev);
    let mut opt = Sgd::new(
        model.module(),
        SgdConfig {
            lr: 0.1,
            momentum: None,
            weight_decay: None,
        },
    );
    let mut grads = model.module().alloc_grads();
    for epoch in 0..10u64 {
        for (x, y) in train.batches(32, Some(epoch), &dev) {
            let out = model.forward_pass(x.traced(grads), &y)?;
            grads = out.loss.backward();
            opt.update(model.module_mut(), &grads)
                .expect("every weight has a gradient");
            model.module().zero_grads(&mut grads);
        }
    }

    let mut state = model.metrics_state();
    for (x, y) in test.batches(256, None, &dev) {
        model.evaluate_into(&mut state, x, &y)?;
    }
    for (name, value) in model.finalize_metrics(&state).iter() {
        if MetricValues::is_count(name) {
            println!("{name:>36}: {value}"); // `num_examples` and `num_batches`: 360, not 360.0000
        } else {
            println!("{name:>36}: {value:.4}");
        }
    }
    Ok(())
}
