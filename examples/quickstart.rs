//! The smallest complete use of feddx: declare a single-output model, train it
//! centrally for a few epochs on the UCI digits, and evaluate it.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use feddx::data::datasets;
use feddx::prelude::*;

type Mlp = (Linear<64, 32>, ReLU, Linear<32, 10>);

/// A digit classifier: 64 pixel features in, 10 logits out.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<Mlp>,
}

fn main() -> Result<(), feddx::ErrorReport> {
    let digits = datasets::digits()?;
    let (mut train, mut test) = digits.train_test_split(0.2, 0)?;
    // Zero mean and unit variance per pixel, with statistics of the training part.
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let (train, test) = (train.to_client_data(), test.to_client_data());

    let dev = Cpu::seed_from_u64(0);
    let mut model = Digits::build(&dev);
    println!(
        "{} parameters, input spec {}",
        model.num_trainable_params(),
        Digits::input_spec()
    );

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
        let mut state = model.metrics_state();
        for (x, y) in train.batches(32, Some(epoch), &dev) {
            let out = model.forward_pass(x.traced(grads), &y)?;
            model.update_metrics(
                &mut state,
                &out.predictions,
                &y,
                out.loss.array(),
                out.num_examples,
            )?;
            grads = out.loss.backward();
            opt.update(model.module_mut(), &grads)
                .expect("every weight has a gradient");
            model.module().zero_grads(&mut grads);
        }
        // Epochs counted from 1, as rounds are; the shuffle's seed is the 0-based index.
        println!(
            "epoch {}: train {}",
            epoch + 1,
            model.finalize_metrics(&state)
        );
    }

    let mut state = model.metrics_state();
    for (x, y) in test.batches(256, None, &dev) {
        model.evaluate_into(&mut state, x, &y)?;
    }
    let values = model.finalize_metrics(&state);
    println!("test {values}");
    println!(
        "test accuracy: {:.4}",
        values
            .get("sparse_categorical_accuracy")
            .unwrap_or(f64::NAN)
    );
    Ok(())
}
