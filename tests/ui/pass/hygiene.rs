//! The generated code's own names do not shadow the user's: loss and metric
//! expressions that name items called `x`, `y`, `state` or `device` see those items.
#![allow(non_upper_case_globals)]

use feddx::prelude::*;

const y: f32 = 2.0;
const state: f32 = 0.8;

fn device() -> BinaryAccuracy {
    BinaryAccuracy { threshold: state }
}

#[federated_model(
    input_spec = (Features<4>, Targets<1>),
    loss = Huber { delta: y },
    metrics = [device()],
)]
struct Model {
    net: Built<Linear<4, 1>>,
}

fn main() {
    let mut model = Model::with_seed(0);
    let zeros = vec![0.0; model.num_trainable_params()];
    model.set_weights_vec(&zeros).unwrap();
    let dev = Cpu::default();
    let x: Batch<4> = dev.tensor_from_vec(vec![1.0; 8], (2, Const::<4>));
    let targets: Batch<1> = dev.tensor_from_vec(vec![1.0, 4.0], (2, Const::<1>));
    // Huber with delta `y` = 2 on errors 1 and 4: (0.5 + 6) / 2.
    let loss = model.evaluate_batch(x.clone(), &targets).unwrap().loss.array();
    assert!((loss - 3.25).abs() < 1e-6, "{loss}");
    let mut metrics = model.metrics_state();
    model.evaluate_into(&mut metrics, x, &targets).unwrap();
    // Logit 0 is probability 0.5, below the threshold `state` = 0.8: both negative.
    let accuracy = model.finalize_metrics(&metrics).get("binary_accuracy");
    assert_eq!(accuracy, Some(0.0));
}
