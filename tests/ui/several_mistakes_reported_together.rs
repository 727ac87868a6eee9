use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels, Targets<1>),
    outputs(digit, parity),
    los = SparseCategoricalCrossentropy,
    loss_weights = [1.0],
    metrics(digti = [SparseCategoricalAccuracy]),
)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
